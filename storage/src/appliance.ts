// The secondary storage role as a system-VM appliance: `appliance.ts --control <unix socket>`,
// speaking the appliance control protocol of the system-VM framework (JSON lines, relayed by the
// host agent; manager/src/systemvm/storage-role.ts):
//   {type:'configure', id, port, storeId?, dir?, secret?, uploadScheme?}
//       with a store: starts (or restarts, when port, store or key changed) the storage server on
//       0.0.0.0:<port> over <dir> with the base64 <secret>; without one (the zone has no image
//       store yet): only `GET /health` on the port → {type:'configured', id, listening:{port}, storeId?}
//   {type:'report', id} → {type:'report', id, role:'storage', listening, storeId?, images:{ready, transferring, failed}}
//   {type:'download', id, image:{id, kind, format, checksum?, maxBytes?}, url} → {type:'image', id, image: ImageState}
//   {type:'images', id, ids?:[…]} → {type:'images', id, images:[ImageState…]}
//   {type:'delete', id, image} → {type:'deleted', id, deleted}
// The manager drives transfers over this socket (the agent relays it), so it needs no route to
// the VM; hosts fetch templates from its control address, browsers post uploads and fetch
// extracts at its public address (both served by the same HTTP listener, storage/src/server.ts).
// storage/src/main.ts is the same server configured by environment instead.
import { rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { parseArgs } from 'node:util';
import { findBusybox } from './guest-template.ts';
import { startStorageServer, type StorageServer } from './server.ts';
import { ID, type ImageRequest } from './store.ts';

const { values } = parseArgs({ options: { control: { type: 'string' } } });
if (!values.control) { process.stderr.write('usage: appliance.ts --control <unix socket>\n'); process.exit(2); }

type Current = { port: number; storeId?: string; dir?: string; secret?: string } & ({ server: StorageServer; health?: undefined } | { server?: undefined; health: http.Server });
let current: Current | undefined;

const closeCurrent = async () => {
  const c = current; current = undefined;
  if (c?.server) await c.server.close();
  if (c?.health) await new Promise((r) => c.health!.close(r));
};

/** Health only (no image store in the zone yet): answers `GET /health` as the served store does. */
async function healthServer(port: number): Promise<http.Server> {
  const web = http.createServer((req, res) => {
    const ok = req.url === '/health' || req.url === '/healthz';
    res.writeHead(ok ? 200 : 404, { 'content-type': 'application/json' });
    res.end(JSON.stringify(ok ? { ok: true, role: 'storage', store: false } : { error: 'no image store is configured' }));
  });
  await new Promise<void>((resolve, reject) => { web.once('error', reject); web.listen(port, '0.0.0.0', resolve); });
  return web;
}

function imageRequest(v: unknown): ImageRequest | string {
  const m = (v ?? {}) as Record<string, unknown>;
  if (typeof m.id !== 'string' || !ID.test(m.id)) return 'image.id must be an image id';
  if (m.kind !== 'template' && m.kind !== 'iso') return 'image.kind must be template or iso';
  if (typeof m.format !== 'string' || !/^[A-Za-z0-9]{1,16}$/.test(m.format)) return 'image.format is missing';
  if (m.checksum !== undefined && typeof m.checksum !== 'string') return 'image.checksum must be a string';
  if (m.maxBytes !== undefined && !(Number.isSafeInteger(m.maxBytes) && (m.maxBytes as number) > 0)) return 'image.maxBytes must be a positive integer';
  return { id: m.id, kind: m.kind, format: m.format, ...(m.checksum ? { checksum: m.checksum as string } : {}), ...(m.maxBytes ? { maxBytes: m.maxBytes as number } : {}) };
}

async function handle(line: string): Promise<Record<string, unknown>> {
  let m: Record<string, unknown>;
  try { m = JSON.parse(line) as Record<string, unknown>; } catch { return { type: 'error', code: 'invalid_message', errors: ['not JSON'] }; }
  const id = typeof m.id === 'string' ? { id: m.id } : {};
  const store = current?.server?.store;
  if (m.type === 'report') {
    const images = store?.list() ?? [];
    return {
      type: 'report', ...id, role: 'storage', ...(current ? { listening: { port: current.port } } : {}), ...(current?.storeId ? { storeId: current.storeId } : {}),
      images: { ready: images.filter((i) => i.state === 'Ready').length, transferring: images.filter((i) => i.state === 'Downloading' || i.state === 'Uploading').length, failed: images.filter((i) => i.state === 'Error').length },
    };
  }
  if (m.type === 'configure') {
    const port = Number(m.port);
    const errors: string[] = [];
    if (!Number.isInteger(port) || port < 0 || port > 65535) errors.push('configure needs a port');
    const withStore = m.dir !== undefined || m.secret !== undefined;
    if (withStore && (typeof m.dir !== 'string' || !m.dir.startsWith('/'))) errors.push('configure needs dir, an absolute path');
    if (withStore && (typeof m.secret !== 'string' || Buffer.from(m.secret, 'base64').length < 32)) errors.push('configure needs secret, base64 of at least 32 bytes');
    if (m.storeId !== undefined && typeof m.storeId !== 'string') errors.push('storeId must be a string');
    if (errors.length) return { type: 'error', ...id, code: 'failed', errors };
    const dir = withStore ? m.dir as string : undefined; const secret = withStore ? m.secret as string : undefined;
    const storeId = m.storeId as string | undefined;
    if (!current || current.port !== port || current.dir !== dir || current.secret !== secret) {
      await closeCurrent();
      try {
        current = dir && secret
          ? { port, storeId, dir, secret, server: await startStorageServer({ dir, key: Buffer.from(secret, 'base64'), host: '0.0.0.0', port, uploadScheme: m.uploadScheme === 'https' ? 'https' : 'http', guestTemplate: { busybox: findBusybox() } }) }
          : { port, health: await healthServer(port) };
      } catch (e) {
        return { type: 'error', ...id, code: 'failed', errors: [(e as Error).message] };
      }
    }
    current.storeId = storeId;
    const bound = current.server ? Number(new URL(current.server.url).port) : (current.health!.address() as net.AddressInfo).port;
    return { type: 'configured', ...id, listening: { port: port || bound }, ...(storeId ? { storeId } : {}) };
  }
  if (m.type === 'download' || m.type === 'images' || m.type === 'delete') {
    if (!store) return { type: 'error', ...id, code: 'no_store', errors: ['this secondary storage VM has no image store configured'] };
    if (m.type === 'download') {
      const req = imageRequest(m.image);
      if (typeof req === 'string') return { type: 'error', ...id, code: 'failed', errors: [req] };
      if (typeof m.url !== 'string') return { type: 'error', ...id, code: 'failed', errors: ['download needs url'] };
      try { return { type: 'image', ...id, image: store.download(req, m.url) }; } catch (e) { return { type: 'error', ...id, code: 'failed', errors: [(e as Error).message] }; }
    }
    if (m.type === 'images') {
      const ids = Array.isArray(m.ids) ? m.ids.filter((x): x is string => typeof x === 'string') : undefined;
      return { type: 'images', ...id, images: ids ? ids.map((i) => store.get(i)).filter(Boolean) : store.list() };
    }
    if (typeof m.image !== 'string' || !ID.test(m.image)) return { type: 'error', ...id, code: 'failed', errors: ['delete needs image, an image id'] };
    return { type: 'deleted', ...id, deleted: await store.delete(m.image) };
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
const stop = () => { control.close(); void closeCurrent().then(() => process.exit(0)); };
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
