// The secondary storage role as a process (the SSVM's appliance entry point; storage/README.md).
//   FLT_STORAGE_DIR   the store's directory (required)
//   FLT_STORAGE_KEY   base64 secret shared with the manager, ≥ 32 bytes (required)
//   FLT_STORAGE_LISTEN host:port (default 0.0.0.0:8250)
//   FLT_STORAGE_UPLOAD_SCHEME http | https (the scheme clients post to; default http)
//   FLT_STORAGE_MAX_BYTES default size limit of a download (default 20 GiB)
// Prints one JSON line {"listening":"http://…"} on stdout when ready.
import { startStorageServer } from './server.ts';

const dir = process.env.FLT_STORAGE_DIR;
const key = Buffer.from(process.env.FLT_STORAGE_KEY ?? '', 'base64');
if (!dir || key.length < 32) {
  process.stderr.write('FLT_STORAGE_DIR and FLT_STORAGE_KEY (base64, ≥ 32 bytes) are required\n');
  process.exit(2);
}
const listen = process.env.FLT_STORAGE_LISTEN ?? '0.0.0.0:8250';
const at = listen.lastIndexOf(':');
const s = await startStorageServer({
  dir, key, host: listen.slice(0, at).replace(/^\[|\]$/g, ''), port: Number(listen.slice(at + 1)),
  uploadScheme: process.env.FLT_STORAGE_UPLOAD_SCHEME === 'https' ? 'https' : 'http',
  ...(process.env.FLT_STORAGE_MAX_BYTES ? { defaultMaxBytes: Number(process.env.FLT_STORAGE_MAX_BYTES) } : {}),
});
process.stdout.write(`${JSON.stringify({ listening: s.url })}\n`);
for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => { void s.close().then(() => process.exit(0)); });
