// The secondary storage service's HTTP face (I/O). One listener serves:
//   control API (the manager; `Authorization: Bearer <controlToken(key)>`):
//     GET /v1/images, GET /v1/images/<id>, POST /v1/images/<id>/download {url,kind,format,checksum?,maxBytes?},
//     DELETE /v1/images/<id>
//   POST /upload/<id>   a browser's upload (CloudStack's X-signature, X-metadata, X-expires headers;
//                       multipart/form-data with one file, or the raw file)
//   GET  /host/<id>?expires=…&signature=…     a host agent fetching a template (signed by the manager)
//   GET  /extract/<id>?expires=…&signature=…  extractTemplate's time-limited download
//   GET  /healthz
import { createReadStream } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import busboy from 'busboy';
import { controlToken, verifyUpload, verifyUrl, type UrlPurpose } from './signature.ts';
import { ID, ImageStore, StoreError, type ImageRequest } from './store.ts';

export interface StorageServerConfig {
  /** the store's directory (an image store's local path) */
  dir: string;
  /** the secret shared with the manager (≥ 32 bytes) */
  key: Buffer;
  host?: string;
  port?: number;
  /** scheme the upload signature covers (CloudStack: https when useHttpsToUpload) */
  uploadScheme?: 'http' | 'https';
  defaultMaxBytes?: number;
  /** build the built-in guest template into the store at start (from this busybox), as the
   *  storage VM and the manager's fallback do; stores of tests and benchmarks hold only theirs */
  guestTemplate?: { busybox: string };
}

export interface StorageServer { url: string; store: ImageStore; server: http.Server; close(): Promise<void> }

export async function startStorageServer(cfg: StorageServerConfig): Promise<StorageServer> {
  if (cfg.key.length < 32) throw new Error('the storage key must be at least 32 bytes');
  const store = new ImageStore(cfg.dir, cfg.defaultMaxBytes);
  await store.open();
  // In the background: the service answers at once; the manager waits for the template's state.
  if (cfg.guestTemplate) void store.ensureGuestTemplate(cfg.guestTemplate.busybox);
  const token = controlToken(cfg.key);
  const server = http.createServer((req, res) => {
    handle(req, res).catch((e: Error) => {
      if (!res.headersSent) send(res, e instanceof StoreError ? 409 : 500, { error: e.message });
      else res.destroy();
    });
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const u = new URL(req.url ?? '/', 'http://x');
    const parts = u.pathname.split('/').filter(Boolean);
    if (u.pathname === '/healthz' || u.pathname === '/health') return send(res, 200, { ok: true, role: 'storage' });
    if (parts[0] === 'v1') {
      if (req.headers.authorization !== `Bearer ${token}`) return send(res, 401, { error: 'unauthorized' });
      if (parts[1] !== 'images') return send(res, 404, { error: 'not found' });
      if (parts.length === 2 && req.method === 'GET') return send(res, 200, { images: store.list() });
      const id = parts[2] ?? '';
      if (!ID.test(id)) return send(res, 400, { error: 'not an image id' });
      if (parts.length === 3 && req.method === 'GET') {
        const s = store.get(id);
        return s ? send(res, 200, s) : send(res, 404, { error: 'no such image' });
      }
      if (parts.length === 3 && req.method === 'DELETE') return send(res, 200, { deleted: await store.delete(id) });
      if (parts[3] === 'download' && req.method === 'POST') {
        const body = JSON.parse(await readBody(req, 64 * 1024)) as { url: string } & Omit<ImageRequest, 'id'>;
        return send(res, 202, store.download({ id, kind: body.kind ?? 'template', format: body.format ?? 'TAR', checksum: body.checksum, maxBytes: body.maxBytes }, body.url));
      }
      return send(res, 404, { error: 'not found' });
    }
    if (parts[0] === 'upload' && parts.length === 2) return upload(req, res, parts[1]!);
    if ((parts[0] === 'host' || parts[0] === 'extract') && parts.length === 2 && (req.method === 'GET' || req.method === 'HEAD')) {
      const id = parts[1]!;
      const why = verifyUrl(cfg.key, parts[0] as UrlPurpose, id, u.searchParams.get('expires'), u.searchParams.get('signature'));
      if (why) return send(res, 403, { error: why });
      const s = store.get(id);
      if (!s || s.state !== 'Ready') return send(res, 404, { error: 'no such image' });
      const headers: Record<string, string | number> = {
        'content-type': 'application/octet-stream', 'content-length': s.physicalSize, 'x-sha256': s.sha256 ?? '', 'x-compression': s.compression ?? 'none',
      };
      if (parts[0] === 'extract') headers['content-disposition'] = `attachment; filename="${id}.${s.kind === 'iso' ? 'iso' : s.compression === 'gzip' ? 'tar.gz' : 'tar'}"`;
      res.writeHead(200, headers);
      if (req.method === 'HEAD') return void res.end();
      createReadStream(store.file(id)).on('error', () => res.destroy()).pipe(res);
      return;
    }
    send(res, 404, { error: 'not found' });
  }

  async function upload(req: http.IncomingMessage, res: http.ServerResponse, id: string): Promise<void> {
    if (req.method !== 'POST') return text(res, 400, 'only post requests are allowed');
    const h = (n: string) => { const v = req.headers[n]; return Array.isArray(v) ? v[0] : v; };
    const host = h('x-forwarded-host') ?? h('host') ?? '';
    // Behind the manager's forward (`/storage/<store id>/upload/<id>` on the manager's address),
    // the post URL the signature covers carries that prefix. Trusting the header gives nothing
    // away: a signature still only matches the one URL (and image id) the manager signed.
    const fwd = h('x-forwarded-prefix') ?? '';
    const prefix = /^(\/[A-Za-z0-9._-]{1,64}){0,4}$/.test(fwd) ? fwd : '';
    const check = verifyUpload(cfg.key, { signature: h('x-signature'), metadata: h('x-metadata'), expires: h('x-expires') },
      `${cfg.uploadScheme ?? 'http'}://${host}${prefix}/upload/${id}`, id);
    if (!check.ok) { req.resume(); return text(res, 400, check.error); }
    const length = Number(h('content-length'));
    if (!(length > 0)) { req.resume(); return text(res, 400, 'content length is not set in the request or has invalid value.'); }
    const m = check.meta;
    const imgReq: ImageRequest = { id, kind: m.kind, format: m.format, checksum: m.checksum, maxBytes: m.maxBytes };
    if ((h('content-type') ?? '').startsWith('multipart/form-data')) {
      // The first file of the form is the image; other fields are ignored, as the SSVM does.
      const bb = busboy({ headers: req.headers, limits: { files: 1, fields: 20, fieldSize: 4096 } });
      const done = new Promise<string | undefined>((resolve) => {
        let landed = false;
        bb.on('file', (_name, file) => {
          landed = true;
          store.receive(imgReq, file).then((s) => resolve(s.state === 'Ready' ? undefined : s.status), (e: Error) => { file.resume(); resolve(e.message); });
        });
        bb.on('close', () => { if (!landed) resolve('received entity is not a file'); });
        bb.on('error', (e: Error) => resolve(e.message));
      });
      req.pipe(bb);
      const err = await done;
      return err ? text(res, err === 'received entity is not a file' ? 422 : 400, err) : text(res, 200, 'upload successful.');
    }
    const s = await store.receive(imgReq, req, length).catch((e: Error) => { req.resume(); return { state: 'Error', status: e.message }; });
    return s.state === 'Ready' ? text(res, 200, 'upload successful.') : text(res, 400, s.status);
  }

  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(cfg.port ?? 0, cfg.host ?? '127.0.0.1', resolve); });
  const a = server.address() as AddressInfo;
  const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
  return {
    url: `http://${host}:${a.port}`, store, server,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

function send(res: http.ServerResponse, code: number, body: unknown): void {
  const b = JSON.stringify(body);
  res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(b) }).end(b);
}
function text(res: http.ServerResponse, code: number, body: string): void {
  res.writeHead(code, { 'content-type': 'text/plain; charset=UTF-8', 'content-length': Buffer.byteLength(body) }).end(body);
}
async function readBody(req: http.IncomingMessage, limit: number): Promise<string> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of req) { n += (c as Buffer).length; if (n > limit) throw new Error('request body too large'); parts.push(c as Buffer); }
  return Buffer.concat(parts).toString('utf8');
}
