// The secondary storage role as a system-VM appliance: `appliance.ts --control <unix socket>`,
// speaking the appliance control protocol of the system-VM framework (JSON lines; the sysvm
// branch's manager/src/systemvm/storage-role.ts): `{type:'configure', id, port, dir, secret,
// uploadScheme?}` starts (or restarts, when the store or key changed) the storage server on
// 0.0.0.0:<port> over <dir> with the base64 <secret> → `{type:'configured', id, listening:{port}}`;
// `{type:'report', id}` → `{type:'report', id, role:'storage', listening, images:{ready, transferring, failed}}`.
// storage/src/main.ts is the same server configured by environment instead.
import { rmSync } from 'node:fs';
import net from 'node:net';
import { parseArgs } from 'node:util';
import { startStorageServer, type StorageServer } from './server.ts';

const { values } = parseArgs({ options: { control: { type: 'string' } } });
if (!values.control) { process.stderr.write('usage: appliance.ts --control <unix socket>\n'); process.exit(2); }

let current: { server: StorageServer; port: number; dir: string; secret: string } | undefined;

async function handle(line: string): Promise<Record<string, unknown>> {
  let m: Record<string, unknown>;
  try { m = JSON.parse(line) as Record<string, unknown>; } catch { return { type: 'error', code: 'invalid_message', errors: ['not JSON'] }; }
  const id = typeof m.id === 'string' ? { id: m.id } : {};
  if (m.type === 'report') {
    const images = current?.server.store.list() ?? [];
    return {
      type: 'report', ...id, role: 'storage', ...(current ? { listening: { port: current.port } } : {}),
      images: { ready: images.filter((i) => i.state === 'Ready').length, transferring: images.filter((i) => i.state === 'Downloading' || i.state === 'Uploading').length, failed: images.filter((i) => i.state === 'Error').length },
    };
  }
  if (m.type === 'configure') {
    const port = Number(m.port);
    const errors: string[] = [];
    if (!Number.isInteger(port) || port < 1 || port > 65535) errors.push('configure needs a port');
    if (typeof m.dir !== 'string' || !m.dir.startsWith('/')) errors.push('configure needs dir, an absolute path');
    if (typeof m.secret !== 'string' || Buffer.from(m.secret, 'base64').length < 32) errors.push('configure needs secret, base64 of at least 32 bytes');
    if (errors.length) return { type: 'error', ...id, code: 'failed', errors };
    const dir = m.dir as string; const secret = m.secret as string;
    if (!current || current.port !== port || current.dir !== dir || current.secret !== secret) {
      await current?.server.close();
      current = undefined;
      try {
        const server = await startStorageServer({ dir, key: Buffer.from(secret, 'base64'), host: '0.0.0.0', port, uploadScheme: m.uploadScheme === 'https' ? 'https' : 'http' });
        current = { server, port, dir, secret };
      } catch (e) {
        return { type: 'error', ...id, code: 'failed', errors: [(e as Error).message] };
      }
    }
    return { type: 'configured', ...id, listening: { port } };
  }
  return { type: 'error', ...id, code: 'invalid_message', errors: [`unknown type ${JSON.stringify(m.type)}`] };
}

try { rmSync(values.control, { force: true }); } catch { /* stale */ }
const control = net.createServer((conn) => {
  let buf = '';
  conn.setEncoding('utf8');
  conn.on('error', () => undefined);
  conn.on('data', (chunk: string) => {
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl); buf = buf.slice(nl + 1);
      if (line.trim()) void handle(line).then((r) => { if (!conn.destroyed) conn.write(`${JSON.stringify(r)}\n`); });
    }
  });
});
const oldMask = process.umask(0o177);
try { control.listen(values.control); } finally { process.umask(oldMask); }
const stop = () => { control.close(); void (current?.server.close() ?? Promise.resolve()).then(() => process.exit(0)); };
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
