// The manager's `/storage/<store id>/{upload,extract,host}/<image id>` forward to the storage VM
// that serves the store (I/O). Browsers and curl reach a storage VM at its public address; on the
// single-machine cloud that address lives inside the uplink namespace, which the manager's own
// namespace cannot route to, so upload and extract URLs name the manager and it relays the
// request — body streamed both ways, nothing buffered — through the console's forwarder into
// that namespace (console/forward.ts: `ip netns exec <uplink> socat UNIX-LISTEN… TCP:<ip>:80`).
// The storage VM checks the upload signature against the URL the browser used: the manager's
// host and this prefix (`X-Forwarded-Host`, `X-Forwarded-Prefix`).
import http from 'node:http';
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../services.ts';
import { consoleService } from '../../console/index.ts';
import { storageOf, STORAGE_VM_PORT } from './runtime.ts';

const ROUTE = /^\/storage\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(\/(?:upload|extract|host)\/[0-9a-f-]{36}(?:\?[^#]*)?)$/;

/** The manager's own base URL for a store's forward, when the manager reaches storage VMs through
 *  a namespace (the single-machine cloud); undefined when it routes to their public addresses. */
export function storageForwardBase(s: Services, storeId: string): string | undefined {
  let c;
  try { c = consoleService(s); } catch { return undefined; }
  if (!c.netns) return undefined;
  const addr = c.app.server.address();
  const port = addr && typeof addr === 'object' ? addr.port : s.settings.port;
  const host = ['0.0.0.0', '::', ''].includes(s.settings.host) ? '127.0.0.1' : s.settings.host;
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}/storage/${storeId}`;
}

export function attachStorageForward(app: FastifyInstance, s: Services): void {
  void app.register(async (inst) => {
    // The body is the storage VM's to read (a multi-gigabyte upload): no parser consumes it here.
    inst.removeAllContentTypeParsers();
    inst.addContentTypeParser('*', (_req, _payload, done) => done(null));
    const handler = async (req: import('fastify').FastifyRequest, reply: import('fastify').FastifyReply) => {
      const m = ROUTE.exec(req.url);
      if (!m) return reply.code(404).type('text/plain').send('not found');
      const st = await storageOf(s).storeById(m[1]!);
      const vm = st ? await storageOf(s).storageVm(st).catch(() => undefined) : undefined;
      if (!st || !vm) return reply.code(503).type('text/plain').send('no secondary storage VM serves this image store');
      const ep = await consoleService(s).forwarder.endpoint({ ip: vm.publicIp, port: STORAGE_VM_PORT });
      reply.hijack();
      const res = reply.raw;
      const headers: http.OutgoingHttpHeaders = { ...req.headers, host: `${vm.publicIp}`, 'x-forwarded-host': req.headers.host ?? '', 'x-forwarded-prefix': `/storage/${st.id}`, 'x-forwarded-for': req.ip };
      const up = http.request({ ...ep, path: m[2], method: req.method, headers }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      up.on('error', (e) => { if (!res.headersSent) { res.writeHead(502, { 'content-type': 'text/plain' }); res.end(`secondary storage VM unreachable: ${e.message}`); } else res.destroy(); });
      req.raw.on('aborted', () => up.destroy());
      req.raw.pipe(up);
    };
    inst.route({ method: ['GET', 'HEAD', 'POST'], url: '/storage/:store/*', handler });
  });
}
