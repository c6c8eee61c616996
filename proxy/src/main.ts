// The console proxy VM's appliance: `main.ts --control <unix socket> --manager <unix socket>`.
// Runs inside the console proxy system VM (a network namespace with a public NIC on the netns
// driver), started by the host agent from its allow-list (role `proxy`). It serves the console
// pages and WebSocket (server.ts) on the VM's own addresses, opens tokens with the keys the
// manager hands it (current + previous: they rotate), and reaches a VM's console through the
// manager: `--manager` is a unix socket the host agent links to the manager's address (the
// system VM's link to the management network), over which it opens `/systemvm/console`; the
// manager checks the token again, asks the VM's host agent for the console and splices.
//
// Control socket (newline-delimited JSON, one reply per line, `id` echoed):
//   {type:'configure', id, vmId, secret, keys:[{epoch, key(base64)}], port, timeoutMs, trustProxy?}
//     → {type:'configured', id, listening:{port}}
//   {type:'report', id} → {type:'report', id, role:'proxy', sessions, epochs, listening}
import { rmSync } from 'node:fs';
import net from 'node:net';
import { parseArgs } from 'node:util';
import Fastify, { type FastifyInstance } from 'fastify';
import websocket from '@fastify/websocket';
import WebSocket from 'ws';
import { ConsoleProxy, type ConsoleStream } from './server.ts';

export interface ProxyConfig {
  vmId: string;
  secret: string;
  keys: Array<{ epoch: number; key: string }>;
  port: number;
  timeoutMs: number;
  trustProxy?: string[];
}

/** The route prefix inside the VM: what a reverse proxy (or the manager's forward) reaches. */
export const VM_PREFIX = '/console';

/** The console stream through the manager: a WebSocket over the agent's link socket. */
export function managerStream(link: string, cfg: () => ProxyConfig, token: string, from: string): Promise<ConsoleStream> {
  return new Promise((resolve, reject) => {
    const c = cfg();
    const ws = new WebSocket(`ws+unix://${link}:/systemvm/console`, {
      headers: { authorization: `Bearer ${c.secret}`, 'x-flotilla-systemvm': c.vmId },
      perMessageDeflate: false,
    });
    let ready = false;
    const dataCbs: Array<(b: Buffer) => void> = [];
    // Bytes that arrive before anyone listens (ws emits every frame of one TCP read in the same
    // tick: the manager's 'ready' and a VNC server's greeting often share one) are kept, not lost.
    let early: Buffer[] | undefined = [];
    const closeCbs: Array<(why: string) => void> = [];
    const timer = setTimeout(() => { ws.terminate(); reject(new Error('the manager did not answer in time')); }, 15_000);
    ws.on('open', () => ws.send(JSON.stringify({ type: 'open', token, from })));
    ws.on('message', (d, bin) => {
      const b = Array.isArray(d) ? Buffer.concat(d) : Buffer.from(d as ArrayBuffer);
      if (!ready) {
        if (bin) return;
        const m = JSON.parse(b.toString('utf8')) as { type?: string };
        if (m.type !== 'ready') return;
        ready = true;
        clearTimeout(timer);
        resolve({
          write: (x) => { if (ws.readyState === 1) ws.send(x); },
          close: () => { if (ws.readyState <= 1) ws.close(1000); },
          onData: (cb) => { dataCbs.push(cb); if (early) { const kept = early; early = undefined; for (const b of kept) cb(b); } },
          onClose: (cb) => { closeCbs.push(cb); },
        });
        return;
      }
      if (!bin) return;
      if (early && !dataCbs.length) early.push(b);
      else for (const cb of dataCbs) cb(b);
    });
    ws.on('close', (_code, reason) => {
      clearTimeout(timer);
      const why = reason.toString() || 'the manager closed the console';
      if (!ready) reject(new Error(why));
      else for (const cb of closeCbs) cb(why);
    });
    ws.on('error', (e) => { if (!ready) { clearTimeout(timer); reject(new Error(`manager link: ${e.message}`)); } });
  });
}

export class ProxyAppliance {
  private cfg: ProxyConfig | undefined;
  private app: FastifyInstance | undefined;
  private port: number | undefined;
  readonly proxy: ConsoleProxy;

  constructor(private readonly link: string) {
    this.proxy = new ConsoleProxy({
      prefix: VM_PREFIX,
      keys: () => (this.cfg?.keys ?? []).map((k) => Buffer.from(k.key, 'base64')),
      timeoutMs: async () => this.cfg?.timeoutMs ?? 30_000,
      backend: {
        connect: (_claims, token, from) => managerStream(this.link, () => this.cfg!, token, from),
        // The manager records the console-open event when it opens the console for us.
        opened: async () => undefined,
      },
    });
  }

  /** Takes a configuration (keys, port); starts the web server on the first one. */
  async configure(c: ProxyConfig): Promise<{ port: number }> {
    const keys = c.keys.filter((k) => Buffer.from(k.key, 'base64').length === 32);
    if (!keys.length || !c.secret || !c.vmId || !Number.isInteger(c.port)) throw new Error('configure needs vmId, secret, 32-byte keys and a port');
    this.cfg = { ...c, keys: [...keys].sort((a, b) => b.epoch - a.epoch) };
    if (!this.app) {
      // The VM's namespace holds only its own NICs: listening on every address of it means its
      // public address (browsers) and its control address.
      // X-Forwarded-For is believed from the addresses the manager names (its forward), read at
      // each request so a later configuration changes it.
      const app = Fastify({ logger: false, trustProxy: (addr: string) => (this.cfg?.trustProxy ?? []).includes(addr.replace(/^::ffff:/, '')) });
      await app.register(websocket, { options: { maxPayload: 1 << 20 } });
      await this.proxy.register(app);
      app.get('/health', async () => ({ ok: true, role: 'proxy' }));
      await app.listen({ port: c.port, host: '0.0.0.0' });
      this.app = app;
      this.port = c.port;
    }
    return { port: this.port! };
  }

  report(): Record<string, unknown> {
    return { role: 'proxy', sessions: this.proxy.sessions, epochs: (this.cfg?.keys ?? []).map((k) => k.epoch), trustProxy: this.cfg?.trustProxy ?? [], ...(this.port ? { listening: { port: this.port } } : {}) };
  }

  async handle(line: string): Promise<Record<string, unknown>> {
    let msg: { type?: unknown; id?: unknown } & Record<string, unknown>;
    try { msg = JSON.parse(line); } catch (e) { return { type: 'error', code: 'invalid_message', errors: [`not JSON: ${(e as Error).message}`] }; }
    const id = typeof msg.id === 'string' ? { id: msg.id } : {};
    try {
      if (msg.type === 'configure') return { type: 'configured', ...id, listening: await this.configure(msg as unknown as ProxyConfig) };
      if (msg.type === 'report') return { type: 'report', ...id, ...this.report() };
      return { type: 'error', ...id, code: 'invalid_message', errors: [`unknown type ${JSON.stringify(msg.type)}`] };
    } catch (e) {
      return { type: 'error', ...id, code: 'failed', errors: [(e as Error).message] };
    }
  }

  async close(): Promise<void> { await this.app?.close(); }
}

/** Newline-delimited JSON on a unix socket only root may open (the router's convention). */
export function serveLines(path: string, handle: (line: string) => Promise<unknown>): net.Server {
  try { rmSync(path, { force: true }); } catch { /* stale socket */ }
  const server = net.createServer((conn) => {
    let buf = '';
    let queue = Promise.resolve();
    conn.setEncoding('utf8');
    conn.on('error', () => undefined);
    conn.on('data', (chunk: string) => {
      buf += chunk;
      if (buf.length > 1 << 20 && !buf.includes('\n')) { conn.destroy(); return; }
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl); buf = buf.slice(nl + 1);
        if (!line.trim()) continue;
        queue = queue.then(() => handle(line)).then((m) => { if (!conn.destroyed) conn.write(JSON.stringify(m) + '\n'); });
      }
    });
  });
  const oldMask = process.umask(0o177);
  try { server.listen(path); } finally { process.umask(oldMask); }
  return server;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { control: { type: 'string' }, manager: { type: 'string' } } });
  if (!values.control || !values.manager) { process.stderr.write('usage: main.ts --control <unix socket> --manager <unix socket>\n'); process.exit(2); }
  const appliance = new ProxyAppliance(values.manager);
  const server = serveLines(values.control, (line) => appliance.handle(line));
  server.on('listening', () => process.stdout.write(`console proxy: control socket ${values.control}\n`));
  const stop = () => { server.close(); void appliance.close().finally(() => process.exit(0)); };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

if (import.meta.url === `file://${process.argv[1]}`) void main();
