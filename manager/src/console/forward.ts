// How the manager reaches a console proxy VM's public address to forward `/console/` (pages and
// WebSocket) to it. Directly (TCP to <public ip>:<port>) where the manager can route there; on the
// single-machine cloud the public range lives inside the uplink namespace, which the manager's own
// namespace cannot reach, so FLOTILLA_CONSOLE_NETNS names that namespace and the manager starts one
// small forwarder per proxy VM there (`ip netns exec <ns> socat UNIX-LISTEN:<sock>,fork
// TCP:<ip>:<port>`): the same path a browser on the uplink takes, reached through a unix socket.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';

export interface ProxyTarget { ip: string; port: number }

const IPV4 = /^(\d{1,3})(\.\d{1,3}){3}$/;
const NETNS = /^[A-Za-z0-9_.-]{1,64}$/;

export class ConsoleForwarder {
  private dir: string | undefined;
  private readonly socats = new Map<string, { child: ChildProcess; path: string; ready: Promise<void> }>();
  constructor(private readonly netns: string | undefined) {
    if (netns !== undefined && !NETNS.test(netns)) throw new Error(`FLOTILLA_CONSOLE_NETNS ${JSON.stringify(netns)} is not a namespace name`);
  }

  /** Where to connect for this target: a unix socket (via the namespace) or host:port (the
   *  storage forward, commands/storage/forward.ts, reaches storage VMs the same way). */
  async endpoint(t: ProxyTarget): Promise<{ socketPath: string } | { host: string; port: number }> {
    if (!IPV4.test(t.ip) || !Number.isInteger(t.port)) throw new Error(`bad console proxy address ${t.ip}:${t.port}`);
    if (!this.netns) return { host: t.ip, port: t.port };
    const key = `${t.ip}:${t.port}`;
    let f = this.socats.get(key);
    if (!f || f.child.exitCode !== null || f.child.signalCode !== null) {
      this.dir ??= mkdtempSync(join(tmpdir(), 'flt-console-'));
      const path = join(this.dir, `${t.ip}-${t.port}.sock`);
      rmSync(path, { force: true });
      // backlog: socat's default (5) refused a burst of browsers opening at once (EAGAIN on the
      // unix socket's connect; bench:console's 100 sessions).
      const child = spawn('ip', ['netns', 'exec', this.netns, 'socat', `UNIX-LISTEN:${path},fork,mode=600,unlink-early,backlog=512`, `TCP:${t.ip}:${t.port},nodelay`], { stdio: 'ignore' });
      child.on('error', () => undefined);
      const ready = (async () => {
        for (const deadline = Date.now() + 5000; !existsSync(path);) {
          if (child.exitCode !== null || Date.now() > deadline) throw new Error(`the console forwarder into namespace ${this.netns} did not start`);
          await new Promise((r) => setTimeout(r, 10));
        }
      })();
      f = { child, path, ready };
      this.socats.set(key, f);
    }
    await f.ready;
    return { socketPath: f.path };
  }

  /** Starts the way to a proxy VM ahead of need (its forwarder in the namespace): the endpoint
   *  call does this, so the browser's first request does not wait for `ip netns exec socat`. */
  warm(t: ProxyTarget): void { if (this.netns) void this.endpoint(t).catch(() => undefined); }

  /** Forwards one GET (a page of the console) and answers its status, headers and body. */
  async get(t: ProxyTarget, path: string, forwardedFor: string, ifNoneMatch?: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
    const ep = await this.endpoint(t);
    // (If-None-Match passes through: the proxy VM answers 304 for a script the browser has.)
    const headers: Record<string, string> = { 'x-forwarded-for': forwardedFor, host: `${t.ip}:${t.port}`, ...(ifNoneMatch ? { 'if-none-match': ifNoneMatch.slice(0, 200) } : {}) };
    return new Promise((resolve, reject) => {
      const req = http.request({ ...ep, path, method: 'GET', headers, timeout: 10_000 }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 502, headers: res.headers, body: Buffer.concat(parts) }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error('the console proxy VM did not answer in time')));
      req.on('error', reject);
      req.end();
    });
  }

  /** Relays a browser's WebSocket to the proxy VM's, frames and close reasons both ways. */
  async socket(t: ProxyTarget, browser: WebSocket, path: string, forwardedFor: string): Promise<void> {
    const ep = await this.endpoint(t);
    const url = 'socketPath' in ep ? `ws+unix://${ep.socketPath}:${path}` : `ws://${ep.host}:${ep.port}${path}`;
    const up = new WebSocket(url, { headers: { 'x-forwarded-for': forwardedFor }, perMessageDeflate: false });
    const pending: Array<[WebSocket.RawData, boolean]> = [];
    const closeCode = (c: number) => (c === 1000 || (c >= 3000 && c <= 4999) ? c : 1011);
    browser.on('message', (d, bin) => { if (up.readyState === 1) up.send(d, { binary: bin }); else pending.push([d, bin]); });
    browser.on('close', () => { if (up.readyState <= 1) up.close(1000); });
    browser.on('error', () => up.terminate());
    up.on('open', () => { for (const [d, bin] of pending.splice(0)) up.send(d, { binary: bin }); });
    up.on('message', (d, bin) => { if (browser.readyState === 1) browser.send(d, { binary: bin }); });
    up.on('close', (code, reason) => { if (browser.readyState <= 1) browser.close(closeCode(code), reason.toString().slice(0, 120)); });
    up.on('error', (e) => { if (browser.readyState <= 1) browser.close(4404, `console unavailable: console proxy VM unreachable (${e.message})`.slice(0, 120)); });
  }

  close(): void {
    for (const f of this.socats.values()) { if (f.child.pid && f.child.exitCode === null) { try { f.child.kill('SIGTERM'); } catch { /* gone */ } } }
    this.socats.clear();
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }
}
