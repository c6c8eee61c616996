// The VNC console page's files: vnc.html + vnc.js (static/) and noVNC's ES modules (npm
// @novnc/novnc: core/ and vendor/, served as they ship under `novnc/`, nothing from the
// internet, no bundler: the browser loads the modules by their relative imports). The relay
// itself is server.ts's: RFB bytes pass unchanged as binary frames, whatever the console kind.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
// The pages' headers and caching (server.ts): no Referer (the token is in the page's address),
// only this origin's scripts and sockets, pages never stored, scripts revalidated by ETag.
import { sendAsset } from './server.ts';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

const JS = 'text/javascript; charset=utf-8';

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.js') ? [join(dir, e.name)] : []);
}

/** The page's static dir: next to the sources, or the repository's from an appliance bundle. */
function staticDir(): string {
  for (const d of [join(here, '../static'), join(here, '../../proxy/static')]) if (existsSync(join(d, 'vnc.html'))) return d;
  throw new Error(`VNC console page files not found next to ${here}`);
}

/** Every file the VNC page needs, by its path relative to the proxy's prefix. */
export function vncAssets(): Record<string, { type: string; body: Buffer }> {
  const root = dirname(require.resolve('@novnc/novnc'));
  const novnc = root.endsWith('/core') ? dirname(root) : root;
  const st = staticDir();
  const out: Record<string, { type: string; body: Buffer }> = {
    'vnc.html': { type: 'text/html; charset=utf-8', body: readFileSync(join(st, 'vnc.html')) },
    'vnc.js': { type: JS, body: readFileSync(join(st, 'vnc.js')) },
  };
  for (const sub of ['core', 'vendor']) {
    for (const f of files(join(novnc, sub))) out[`novnc/${relative(novnc, f)}`] = { type: JS, body: readFileSync(f) };
  }
  return out;
}

/** Serves the VNC page under `prefix` (the console proxy's route prefix, e.g. '/console'). */
export function registerVncPages(app: FastifyInstance, prefix: string): void {
  const p = prefix.replace(/\/$/, '');
  for (const [name, a] of Object.entries(vncAssets())) {
    app.get(`${p}/${name}`, async (req, reply) => sendAsset(req, reply, name, a));
  }
}
