// The console proxy's I/O half: a Fastify plugin serving the console page (xterm.js, bundled
// from npm, nothing from the internet) and the WebSocket that relays a browser to a VM's
// console. It opens tokens with the shared key (token.ts), lets each open once, and asks its
// backend for the console's byte stream; the backend (the manager's agent gateway when the
// proxy runs inside the manager) checks where the VM is now and reaches the host agent.
//
// Wire: binary frames are terminal bytes both ways; text frames are JSON control messages
// from the proxy: {type:'ready'}, {type:'reconnect', token} (a fresh single-use token for the
// page's reconnect button, re-sent before the last one expires). A refusal closes with code
// 4403 (token) or 4404 (console unreachable) and a reason the page shows.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { registerVncPages } from './vnc.ts';
import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type WebSocket from 'ws';
import { newJti, openTokenWith, sealToken, UsedTokens, type ConsoleClaims } from './token.ts';

export interface ConsoleStream {
  write(data: Buffer): void;
  close(): void;
  onData(cb: (b: Buffer) => void): void;
  onClose(cb: (why: string) => void): void;
}

export interface ConsoleBackend {
  /** Opens the console the claims name, after checking the VM still runs on their host;
   *  throws an Error whose message the page may show. `token` is the token that opened (a
   *  backend on another machine — the console proxy VM's link to the manager — passes it on so
   *  the manager checks it too), `from` the browser's address. */
  connect(claims: ConsoleClaims, token: string, from: string): Promise<ConsoleStream>;
  /** One event per console opened: who, which VM, from where. */
  opened(claims: ConsoleClaims, from: string): Promise<void>;
}

export interface ConsoleProxyOptions {
  /** route prefix inside this server, e.g. '/console' (the public prefix may differ) */
  prefix: string;
  /** The keys tokens open with, the current one first (it seals reconnect tokens); the
   *  previous one stays valid for one rotation. */
  keys: () => readonly Buffer[];
  /** token lifetime for reconnect tokens, ms */
  timeoutMs: () => Promise<number>;
  backend: ConsoleBackend;
  log?: { info(o: object, m: string): void; warn(o: object, m: string): void };
  now?: () => number;
}

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

/** The page's own files: next to the sources (proxy/src → proxy/static), or — when this runs as
 *  the console proxy VM's appliance bundle (appliance-image/build/proxy.mjs) — the repository's
 *  proxy/static found from the bundle's place. */
function staticDir(): string {
  for (const d of [join(here, '../static'), join(here, '../../proxy/static')]) if (existsSync(join(d, 'console.html'))) return d;
  throw new Error(`console page files not found next to ${here}`);
}

export function assets(): Record<string, { type: string; body: Buffer }> {
  const xtermDir = dirname(dirname(require.resolve('@xterm/xterm')));
  const f = (p: string) => readFileSync(p);
  const st = staticDir();
  return {
    '': { type: 'text/html; charset=utf-8', body: f(join(st, 'console.html')) },
    'console-ws.js': { type: 'text/javascript; charset=utf-8', body: f(join(st, 'console-ws.js')) },
    'console.js': { type: 'text/javascript; charset=utf-8', body: f(join(st, 'console.js')) },
    'console.css': { type: 'text/css; charset=utf-8', body: f(join(st, 'console.css')) },
    'xterm.js': { type: 'text/javascript; charset=utf-8', body: f(join(xtermDir, 'lib/xterm.js')) },
    'xterm.css': { type: 'text/css; charset=utf-8', body: f(join(xtermDir, 'css/xterm.css')) },
    // xterm's own fit addon (npm @xterm/addon-fit): the terminal takes the window's size.
    'addon-fit.js': { type: 'text/javascript; charset=utf-8', body: f(require.resolve('@xterm/addon-fit')) },
  };
}

// Pages are immutable per build and carry no secret; the token stays in the query string of the
// page only (never in a Referer: no-referrer).
export const PAGE_HEADERS = { 'cache-control': 'no-store', 'referrer-policy': 'no-referrer', 'x-content-type-options': 'nosniff',
  'content-security-policy': "default-src 'self'; connect-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'self'" };

/** An asset's validator: its content's hash (the files change only with a new build). */
const etags = new WeakMap<Buffer, string>();
export function etagOf(body: Buffer): string {
  let e = etags.get(body);
  if (!e) { e = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`; etags.set(body, e); }
  return e;
}

/** Sends one of the pages' files. The page itself (`''`, `vnc.html`: the token's URL) is never
 *  stored; the scripts and styles (xterm.js is ~300 kB, noVNC ~40 modules) are revalidated by
 *  their ETag on every open (no-cache: never stale after an upgrade), so a browser that opened a
 *  console before gets 304s instead of the bytes again — the larger part of the time to the
 *  first prompt otherwise (bench:console). */
export function sendAsset(req: FastifyRequest, reply: FastifyReply, name: string, a: { type: string; body: Buffer }): FastifyReply {
  const page = name === '' || name.endsWith('.html');
  if (page) return reply.headers(PAGE_HEADERS).type(a.type).send(a.body);
  const etag = etagOf(a.body);
  reply.headers({ ...PAGE_HEADERS, 'cache-control': 'no-cache', etag }).type(a.type);
  if (req.headers['if-none-match'] === etag) return reply.code(304).send();
  return reply.send(a.body);
}

export const CLOSE_REFUSED = 4403;
export const CLOSE_UNREACHABLE = 4404;

export class ConsoleProxy {
  readonly used = new UsedTokens();
  sessions = 0;
  constructor(private readonly o: ConsoleProxyOptions) {}

  private now(): number { return (this.o.now ?? Date.now)(); }

  async register(app: FastifyInstance): Promise<void> {
    const files = assets();
    const p = this.o.prefix.replace(/\/$/, '');
    for (const [name, a] of Object.entries(files)) {
      app.get(`${p}/${name}`, async (req, reply) => sendAsset(req, reply, name, a));
    }
    registerVncPages(app, p);
    app.get(`${p}/ws`, { websocket: true }, (socket, req) => {
      const token = (req.query as Record<string, string | undefined>).token ?? '';
      void this.accept(socket as unknown as WebSocket, token, req.ip);
    });
  }

  private refuse(ws: WebSocket, code: number, reason: string): void {
    try { ws.close(code, reason.slice(0, 120)); } catch { /* already gone */ }
  }

  async accept(ws: WebSocket, token: string, from: string): Promise<void> {
    const keys = this.o.keys();
    if (!keys.length) return this.refuse(ws, CLOSE_UNREACHABLE, 'console proxy not configured yet');
    const opened = openTokenWith(keys, token, this.now());
    if (!opened.ok) {
      this.o.log?.warn({ from, reason: opened.reason }, 'console token refused');
      return this.refuse(ws, CLOSE_REFUSED, opened.reason === 'expired' ? 'token expired' : 'invalid token');
    }
    const claims = opened.claims;
    if (!this.used.claim(claims, this.now())) {
      this.o.log?.warn({ from, vm: claims.vmId }, 'console token reused');
      return this.refuse(ws, CLOSE_REFUSED, 'token already used');
    }
    let stream: ConsoleStream;
    try {
      stream = await this.o.backend.connect(claims, token, from);
    } catch (e) {
      return this.refuse(ws, CLOSE_UNREACHABLE, `console unavailable: ${(e as Error).message}`);
    }
    if (ws.readyState !== 1) { stream.close(); return; }
    this.sessions++;
    // The event is written while the console starts, not before it (an insert on every open's
    // way to the prompt otherwise); a failure to record it is logged.
    void this.o.backend.opened(claims, from).catch((e) => this.o.log?.warn({ err: e }, 'console event not recorded'));
    const timeoutMs = await this.o.timeoutMs();
    const sendReconnect = () => {
      const fresh: ConsoleClaims = { ...claims, jti: newJti(), exp: this.now() + timeoutMs };
      if (ws.readyState === 1) ws.send(JSON.stringify({ type: 'reconnect', token: sealToken(this.o.keys()[0]!, fresh) }));
    };
    ws.send(JSON.stringify({ type: 'ready', vm: claims.label }));
    sendReconnect();
    const refresher = setInterval(sendReconnect, Math.max(1000, Math.floor(timeoutMs / 2)));
    let done = false;
    const end = (why: string) => {
      if (done) return;
      done = true;
      this.sessions--;
      clearInterval(refresher);
      stream.close();
      if (ws.readyState === 1) ws.close(1000, why.slice(0, 120));
    };
    stream.onData((b) => { if (ws.readyState === 1) ws.send(b); });
    stream.onClose((why) => end(`console closed: ${why}`));
    ws.on('message', (data, isBinary) => {
      // Binary frames are keystrokes and pastes (the page encodes them); text frames are
      // control messages, none of which a serial console needs yet (resize is the guest's).
      if (!isBinary) return;
      stream.write(Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer));
    });
    ws.on('close', () => end('browser left'));
    ws.on('error', () => end('browser socket error'));
  }
}
