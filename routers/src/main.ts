// The router appliance's entry point: `main.ts --control <unix socket> [--state-dir <dir>]`.
// Runs inside the router's network namespace (netns driver) or VM (KVM image). The control
// socket speaks newline-delimited JSON (protocol/src/router.ts): {type:"apply",spec} (or a VPN
// peers delta, {type:"applyVpnPeers"}, protocol/src/vpn.ts) →
// {type:"applied"|"error"}, {type:"report"} → {type:"report"}. Requests on one connection are
// answered in order; applies from all connections are serialised by the Router.
import { rmSync } from 'node:fs';
import net from 'node:net';
import { parseArgs } from 'node:util';
import { Value } from '@sinclair/typebox/value';
import { RouterRequest, type RouterReply } from '@flotilla/protocol/router';
import { Router } from './router.ts';

const MAX_LINE = 32 << 20; // a spec with thousands of VMs and their user data fits

export function serveControl(router: Router, path: string): net.Server {
  try { rmSync(path, { force: true }); } catch { /* stale socket from a previous run */ }
  const server = net.createServer((conn) => {
    let buf = '';
    let queue = Promise.resolve();
    const reply = (m: RouterReply) => { if (!conn.destroyed) conn.write(JSON.stringify(m) + '\n'); };
    conn.setEncoding('utf8');
    conn.on('error', () => undefined);
    conn.on('data', (chunk: string) => {
      buf += chunk;
      if (buf.length > MAX_LINE && !buf.includes('\n')) { reply({ type: 'error', code: 'invalid_message', errors: [`line longer than ${MAX_LINE} bytes`] }); conn.destroy(); return; }
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl); buf = buf.slice(nl + 1);
        if (!line.trim()) continue;
        queue = queue.then(() => handle(router, line).then(reply));
      }
    });
  });
  // Only root may talk to the appliance: the socket is created 0600 (umask around the bind,
  // which happens synchronously for a path, so there is no window with wider permissions).
  const oldMask = process.umask(0o177);
  try { server.listen(path); } finally { process.umask(oldMask); }
  return server;
}

export async function handle(router: Router, line: string): Promise<RouterReply> {
  let msg: unknown;
  const t0 = performance.now();
  try { msg = JSON.parse(line); } catch (e) { return { type: 'error', code: 'invalid_message', errors: [`not JSON: ${(e as Error).message}`] }; }
  const parseMs = Math.round((performance.now() - t0) * 100) / 100;
  const type = (msg as { type?: unknown })?.type;
  const id = typeof (msg as { id?: unknown })?.id === 'string' ? (msg as { id: string }).id : undefined;
  const withId = <T extends object>(m: T): T => (id === undefined ? m : { ...m, id });
  if (type === 'apply') {
    // The spec is validated by the Router (all errors at once); here only the envelope.
    const spec = (msg as { spec?: unknown }).spec;
    const r = await router.apply(spec);
    if (r.ok) return withId({ type: 'applied', generation: r.generation, changed: r.changed, ...(r.timings ? { timings: { parse: parseMs, ...r.timings } } : {}) });
    return withId(r.generation === undefined ? { type: 'error', code: r.code, errors: r.errors } : { type: 'error', code: r.code, generation: r.generation, errors: r.errors });
  }
  if (type === 'applyVpnPeers') {
    // A VPN peers delta on the applied generation (protocol/src/vpn.ts), checked by the Router.
    const r = await router.applyVpnPeers(msg);
    if (r.ok) return withId({ type: 'applied', generation: r.generation, changed: r.changed, ...(r.timings ? { timings: { parse: parseMs, ...r.timings } } : {}) });
    return withId(r.generation === undefined ? { type: 'error', code: r.code, errors: r.errors } : { type: 'error', code: r.code, generation: r.generation, errors: r.errors });
  }
  if (!Value.Check(RouterRequest, msg)) {
    return withId({ type: 'error', code: 'invalid_message', errors: [...Value.Errors(RouterRequest, msg)].slice(0, 10).map((e) => `${e.path || '/'}: ${e.message}`) });
  }
  const firewallCounters = await router.firewallCounters();
  const lb = await router.lbStatus();
  return withId({ type: 'report', ...router.report(), ...(firewallCounters ? { firewallCounters } : {}), ...(lb ? { lb } : {}) });
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { control: { type: 'string' }, 'state-dir': { type: 'string', default: '/var/lib/flotilla/router' } } });
  if (!values.control) { process.stderr.write('usage: main.ts --control <unix socket path> [--state-dir <dir>]\n'); process.exit(2); }
  const router = new Router({ stateDir: values['state-dir']! });
  const server = serveControl(router, values.control);
  server.on('listening', () => process.stdout.write(`router: control socket ${values.control}\n`));
  const stop = () => { server.close(); void router.close().finally(() => process.exit(0)); };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

if (import.meta.url === `file://${process.argv[1]}`) void main();
