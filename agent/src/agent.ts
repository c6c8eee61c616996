// The host agent: dials the manager's WebSocket, says hello with its token, keeps heartbeats
// going both ways, runs the manager's requests on its driver and answers each with one
// response. A lost connection (close, error, or no word from the manager for
// heartbeatTimeoutMs) is redialled with exponential backoff and jitter; a refusal (bad or
// revoked token, version) is final, except DUPLICATE: another agent holds this host's live
// session, so this one waits (back-off) and takes over only once that session is gone. The agent holds no desired state: after each reconnect
// the manager asks listState and reconciles (starts what should run, destroys strays).
import { EventEmitter } from 'node:events';
import { constants as fsConstants, openSync } from 'node:fs';
import tty from 'node:tty';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { hostname } from 'node:os';
import WebSocket from 'ws';
import {
  AGENT_OPS, AGENT_PROTOCOL_VERSION, AgentCommands, REFUSED_CLOSE_CODE, Refused, Welcome,
  type AgentOp, type AgentToManager, type Hello, type RefusalCode,
} from '@flotilla/protocol/agent';
import type { Driver } from './driver.ts';
import { AgentError } from './errors.ts';
import { schemaProblems } from './validate.ts';

export const AGENT_VERSION = '0.1.0';

/** A certificate fingerprint as upper-case hex without separators. */
export function normalizeFingerprint(f: string): string { return f.replace(/^sha256[:=]/i, '').replace(/[^0-9a-f]/gi, '').toUpperCase(); }

export interface BackoffOptions { initialMs: number; maxMs: number; factor: number }
export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 500, maxMs: 30_000, factor: 2 };

/** Delay before reconnect attempt `attempt` (0-based): exponential, capped, with "equal jitter"
 *  (half fixed, half random) so a manager restart is not met by all hosts at the same instant. */
export function backoffDelay(attempt: number, o: BackoffOptions = DEFAULT_BACKOFF, random: () => number = Math.random): number {
  const ceiling = Math.min(o.maxMs, o.initialMs * o.factor ** Math.min(attempt, 62));
  return Math.round(ceiling / 2 + (ceiling / 2) * random());
}

export interface AgentOptions {
  /** The manager's agent endpoint; several managers (decision 0282): a comma-separated list, or
   *  `urls`. The agent dials them in turn: a lost or refused (NOT_LEADER) channel moves on. */
  url: string;
  urls?: string[];
  token: string;
  driver: Driver;
  hostName?: string;
  /** Used until the welcome says otherwise. */
  heartbeatIntervalMs?: number;
  heartbeatTimeoutMs?: number;
  backoff?: Partial<BackoffOptions>;
  random?: () => number;
  /** Bound on the opening handshake. */
  connectTimeoutMs?: number;
  /** wss://: trust this CA (PEM; may be the manager's own self-signed certificate), and/or pin
   *  the manager's certificate by its SHA-256 fingerprint (hex, colons optional). With a pin and
   *  no CA the chain is not checked — the fingerprint is — and nothing (no token) is sent before
   *  it matched. */
  tls?: { ca?: string | Buffer; fingerprint256?: string };
  log?: (level: 'info' | 'warn' | 'error', msg: string) => void;
}

export type AgentStatus = 'idle' | 'connecting' | 'connected' | 'backoff' | 'refused' | 'stopped';

export interface AgentEvents {
  connected: [{ hostId: string; reconnects: number }];
  disconnected: [{ code: number; reason: string }];
  reconnecting: [{ attempt: number; delayMs: number }];
  refused: [{ code: RefusalCode; message: string }];
  /** Refused DUPLICATE: another agent holds the host's session; retrying with back-off. */
  fenced: [{ message: string }];
  request: [{ id: string; op: AgentOp }];
  response: [{ id: string; op: AgentOp; ok: boolean }];
  heartbeat: [{ seq: number }];
}

export class Agent extends EventEmitter<AgentEvents> {
  status: AgentStatus = 'idle';
  hostId?: string;
  /** Successful sessions after the first (each one a reconnect). */
  reconnects = -1;
  private ws?: WebSocket;
  private attempt = 0;
  private seq = 0;
  private heartbeatTimer?: NodeJS.Timeout;
  private watchdog?: NodeJS.Timeout;
  private retryTimer?: NodeJS.Timeout;
  /** Consoles this agent relays now: stop() closes them (a stopped agent relays nothing). */
  private readonly consoles = new Set<() => void>();
  private intervalMs: number;
  private timeoutMs: number;
  private readonly backoff: BackoffOptions;
  /** Every manager URL, dialled in turn from `current` (several managers: decision 0282). */
  readonly urls: string[];
  private current = 0;
  /** Dials since the last welcome that ended on the manager not leading (one round of the list
   *  is tried without back-off: the leader is among the others). */
  private notLeader = 0;

  constructor(private readonly opts: AgentOptions) {
    const urls = (opts.urls?.length ? opts.urls : opts.url.split(',')).map((u) => u.trim()).filter(Boolean);
    opts.driver.setManagerUrl?.(urls[0] ?? opts.url);
    super();
    this.urls = urls.length ? urls : [opts.url];
    this.intervalMs = opts.heartbeatIntervalMs ?? 3000;
    this.timeoutMs = opts.heartbeatTimeoutMs ?? 10_000;
    this.backoff = { ...DEFAULT_BACKOFF, ...opts.backoff };
  }

  start(): void {
    if (this.status !== 'idle') return;
    this.connect();
  }

  /** Closes the channel and the consoles it relays, and stops reconnecting. VMs keep running. */
  async stop(): Promise<void> {
    this.status = 'stopped';
    this.clearTimers();
    clearTimeout(this.retryTimer);
    for (const close of [...this.consoles]) close();
    const ws = this.ws;
    this.ws = undefined;
    if (ws && ws.readyState !== WebSocket.CLOSED) {
      await new Promise<void>((resolve) => {
        ws.once('close', () => resolve());
        ws.close(1000, 'agent stopping');
        setTimeout(() => { ws.terminate(); resolve(); }, 1000).unref();
      });
    }
  }

  private log(level: 'info' | 'warn' | 'error', msg: string): void { this.opts.log?.(level, msg); }

  /** The manager URL this agent dials now (or is connected to). */
  get url(): string { return this.urls[this.current % this.urls.length]!; }

  private connect(): void {
    this.status = 'connecting';
    const ws = new WebSocket(this.url, { handshakeTimeout: this.opts.connectTimeoutMs ?? 10_000, perMessageDeflate: false, ...this.tlsOptions() });
    this.ws = ws;
    let welcomed = false;
    const pinned = this.pinCheck(ws);
    ws.on('open', () => {
      if (!pinned()) return;
      this.armWatchdog(ws);
      this.sendHello(ws).catch((e: unknown) => {
        // The host cannot describe itself (e.g. its namespace is gone): retry later.
        this.log('error', `cannot say hello: ${e instanceof Error ? e.message : String(e)}`);
        ws.close(4003, 'host facts unavailable');
      });
    });
    ws.on('message', (data, isBinary) => {
      if (ws !== this.ws) return;
      this.armWatchdog(ws);
      let msg: unknown;
      try { msg = JSON.parse(isBinary ? Buffer.from(data as Buffer).toString('utf8') : data.toString()); } catch {
        this.log('warn', 'manager sent a frame that is not JSON; ignored');
        return;
      }
      const type = (msg as { type?: unknown } | null)?.type;
      if (!welcomed) {
        if (type === 'welcome' && !schemaProblems(Welcome, msg).length) {
          welcomed = true;
          this.onWelcome(ws, msg as Welcome);
        } else if (type === 'refused' && !schemaProblems(Refused, msg).length) {
          this.onRefused(ws, msg as Refused);
        } else {
          this.log('warn', `manager sent ${String(type)} before welcome; closing`);
          ws.close(4002, 'expected welcome');
        }
        return;
      }
      if (type === 'heartbeat') this.emit('heartbeat', { seq: Number((msg as { seq?: unknown }).seq) || 0 });
      else if (type === 'request') void this.onRequest(ws, msg as Record<string, unknown>);
      else if (type === 'refused' && !schemaProblems(Refused, msg).length) this.onRefused(ws, msg as Refused);
      else this.log('warn', `manager sent unknown message type ${String(type)}; ignored`);
    });
    ws.on('error', (e) => this.log('warn', `channel error: ${e.message}`));
    ws.on('close', (code, reasonBuf) => {
      if (ws !== this.ws) return;
      this.clearTimers();
      this.ws = undefined;
      const reason = reasonBuf.toString();
      if (welcomed) this.emit('disconnected', { code, reason });
      // Not the leader (decision 0282), or any lost channel with several managers: the next URL.
      const notLeader = code === REFUSED_CLOSE_CODE && reason === 'NOT_LEADER';
      if (this.urls.length > 1 && (notLeader || !welcomed)) this.current = (this.current + 1) % this.urls.length;
      if (notLeader) {
        this.notLeader++;
        if (this.status === 'stopped') return;
        if (this.notLeader < this.urls.length) { this.status = 'backoff'; this.retryTimer = setTimeout(() => { if (this.status === 'backoff') this.connect(); }, 50); return; }
        this.notLeader = 0;
        this.scheduleReconnect();
        return;
      }
      if (code === REFUSED_CLOSE_CODE && reason !== 'DUPLICATE' && this.status !== 'refused') {
        this.status = 'refused';
        this.emit('refused', { code: 'UNKNOWN_TOKEN', message: reason || 'refused by the manager' });
      }
      if (this.status === 'stopped' || this.status === 'refused') return;
      this.scheduleReconnect();
    });
  }

  private tlsOptions(): { ca?: string | Buffer; rejectUnauthorized?: boolean } {
    const t = this.opts.tls;
    if (!t) return {};
    return { ...(t.ca ? { ca: t.ca } : {}), ...(t.fingerprint256 && !t.ca ? { rejectUnauthorized: false } : {}) };
  }

  /** With a pinned fingerprint: checks the server's certificate at the upgrade (before 'open',
   *  so before the token is sent); a mismatch ends the socket. Returns whether it matched. */
  private pinCheck(ws: WebSocket): () => boolean {
    const want = this.opts.tls?.fingerprint256 ? normalizeFingerprint(this.opts.tls.fingerprint256) : undefined;
    if (!want) return () => true;
    let ok = false;
    ws.once('upgrade', (res) => {
      const sock = res.socket as import('node:tls').TLSSocket;
      const got = typeof sock.getPeerCertificate === 'function' ? normalizeFingerprint(sock.getPeerCertificate().fingerprint256 ?? '') : '';
      ok = got === want;
      if (!ok) this.log('error', `the manager's certificate (SHA-256 ${got || 'none: not TLS'}) is not the pinned one; nothing sent`);
    });
    return () => {
      if (!ok) ws.terminate();
      return ok;
    };
  }

  private async sendHello(ws: WebSocket): Promise<void> {
    const facts = await this.opts.driver.hostFacts();
    const hello: Hello = {
      type: 'hello', v: AGENT_PROTOCOL_VERSION, token: this.opts.token, hostName: this.opts.hostName ?? hostname(),
      agentVersion: AGENT_VERSION, hypervisor: facts.hypervisor, capacity: facts.capacity,
    };
    if (facts.fabricIp) hello.fabricIp = facts.fabricIp;
    this.send(ws, hello);
  }

  private onWelcome(ws: WebSocket, w: Welcome): void {
    this.status = 'connected';
    this.hostId = w.hostId;
    this.attempt = 0;
    this.notLeader = 0;
    this.reconnects++;
    this.intervalMs = w.heartbeatIntervalMs;
    this.timeoutMs = w.heartbeatTimeoutMs;
    this.armWatchdog(ws);
    this.heartbeatTimer = setInterval(() => this.send(ws, { type: 'heartbeat', seq: ++this.seq, at: Date.now() }), this.intervalMs);
    this.log('info', `connected as host ${w.hostId}`);
    this.emit('connected', { hostId: w.hostId, reconnects: this.reconnects });
  }

  private onRefused(ws: WebSocket, r: Refused): void {
    if (r.code === 'NOT_LEADER') {
      this.log('info', `manager ${this.url} does not lead: ${r.message}; trying the next one`);
      return; // the manager closes with REFUSED_CLOSE_CODE 'NOT_LEADER': handled at the close
    }
    if (r.code === 'DUPLICATE') {
      this.log('warn', `manager fenced this agent: ${r.message}`);
      this.emit('fenced', { message: r.message });
      ws.close(1000, 'fenced');
      return;
    }
    this.status = 'refused';
    this.log('error', `manager refused this agent: ${r.code}: ${r.message}`);
    this.emit('refused', { code: r.code, message: r.message });
    ws.close(1000, 'refused');
  }

  /** No word from the manager for timeoutMs means the channel is dead even if TCP says not. */
  private armWatchdog(ws: WebSocket): void {
    clearTimeout(this.watchdog);
    this.watchdog = setTimeout(() => {
      this.log('warn', `no message from the manager for ${this.timeoutMs} ms; reconnecting`);
      ws.terminate();
    }, this.timeoutMs);
  }

  private clearTimers(): void {
    clearInterval(this.heartbeatTimer);
    clearTimeout(this.watchdog);
  }

  private scheduleReconnect(): void {
    const delayMs = backoffDelay(this.attempt, this.backoff, this.opts.random);
    this.emit('reconnecting', { attempt: this.attempt, delayMs });
    this.attempt++;
    this.status = 'backoff';
    this.retryTimer = setTimeout(() => { if (this.status === 'backoff') this.connect(); }, delayMs);
  }

  private send(ws: WebSocket, msg: AgentToManager): void {
    if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg));
  }

  /** Opens a VM's console — its serial pty, or for `vnc` a TCP connection to its VNC server —
   *  and relays it over a WebSocket of its own to the manager's `<url>/console` (never over the
   *  control channel: a busy console must not delay requests). Bytes pass unchanged. */
  private async openConsole(raw: unknown): Promise<{ name: string; session: string }> {
    const problems = schemaProblems(AgentCommands.openConsole.args, raw);
    if (problems.length) throw new AgentError('INVALID_ARGUMENT', `invalid openConsole: ${problems.join('; ')}`);
    const args = raw as { name: string; session: string; console: 'serial' | 'vnc'; manager?: string };
    const base = args.manager === undefined ? this.url : this.managerUrlOf(args.manager);
    let con: Duplex;
    if (args.console === 'vnc') {
      const at = await this.opts.driver.vncEndpoint?.(args.name);
      if (!at) throw new AgentError('NOT_FOUND', `VM ${args.name} has no VNC console on this host`);
      const sock = net.connect({ host: at.host, port: at.port });
      sock.setNoDelay(true);
      await new Promise<void>((resolve, reject) => {
        sock.once('connect', () => resolve());
        sock.once('error', (e) => reject(new AgentError('DRIVER_FAILURE', `VNC server of ${args.name} at ${at.host}:${at.port}: ${e.message}`)));
      });
      con = sock;
    } else {
      const path = await this.opts.driver.consoleDevice?.(args.name);
      if (!path) throw new AgentError('NOT_FOUND', `VM ${args.name} has no serial console on this host`);
      const fd = openSync(path, fsConstants.O_RDWR | fsConstants.O_NOCTTY);
      // A tty handle (libuv) reads and writes the pty without blocking the event loop (net.Socket
      // refuses a TTY fd; tty.ReadStream is a socket over one and writes too).
      con = new tty.ReadStream(fd);
    }
    const u = new URL(base);
    u.pathname = `${u.pathname.replace(/\/$/, '')}/console`;
    const ws = new WebSocket(u, { handshakeTimeout: this.opts.connectTimeoutMs ?? 10_000, ...this.tlsOptions() });
    const pinned = this.pinCheck(ws);
    const close = () => {
      this.consoles.delete(close);
      con.destroy();
      if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.terminate();
    };
    this.consoles.add(close);
    con.on('error', close);
    con.on('close', close);
    ws.on('close', close);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => (pinned() ? resolve() : reject(new AgentError('DRIVER_FAILURE', 'console socket: the manager\'s certificate is not the pinned one'))));
      ws.once('error', (e) => { close(); reject(new AgentError('DRIVER_FAILURE', `console socket to the manager: ${e.message}`)); });
    });
    ws.send(JSON.stringify({ type: 'console', token: this.opts.token, session: args.session }));
    con.on('data', (b: Buffer) => { if (ws.readyState === WebSocket.OPEN) ws.send(b); });
    ws.on('message', (data, isBinary) => { if (isBinary) con.write(Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer)); });
    return { name: args.name, session: args.session };
  }

  /** Which of this agent's own manager URLs a console asked for by another manager is dialled
   *  at: the one with that manager's origin (http and ws alike). Never a URL from the request. */
  private managerUrlOf(asked: string): string {
    const origin = (url: string): string | undefined => {
      try {
        const u = new URL(url);
        const scheme = ({ 'http:': 'ws:', 'https:': 'wss:' } as Record<string, string>)[u.protocol] ?? u.protocol;
        return `${scheme}//${u.host}`;
      } catch { return undefined; }
    };
    const want = origin(asked);
    const found = want ? this.urls.find((u) => origin(u) === want) : undefined;
    if (!found) throw new AgentError('INVALID_ARGUMENT', `openConsole: ${JSON.stringify(asked.slice(0, 100))} is not one of this agent's manager URLs`);
    return found;
  }

  private async onRequest(ws: WebSocket, msg: Record<string, unknown>): Promise<void> {
    const id = msg.id;
    if (typeof id !== 'string' || !id || id.length > 64) {
      this.log('warn', 'request without a valid id; ignored (cannot be answered)');
      return;
    }
    const op = msg.op as AgentOp;
    let response: AgentToManager;
    if (typeof op !== 'string' || !(AGENT_OPS as string[]).includes(op)) {
      response = { type: 'response', id, ok: false, error: { code: 'BAD_MESSAGE', message: `unknown op ${JSON.stringify(op)}; known: ${AGENT_OPS.join(', ')}` } };
    } else {
      this.emit('request', { id, op });
      try {
        const result = op === 'openConsole'
          ? await this.openConsole(msg.args)
          : await (this.opts.driver[op] as (a: unknown) => Promise<unknown>).call(this.opts.driver, msg.args ?? {});
        response = { type: 'response', id, ok: true, result };
      } catch (e) {
        const err = AgentError.from(e);
        if (err.code === 'DRIVER_FAILURE') this.log('error', `${op} failed: ${err.message}`);
        response = { type: 'response', id, ok: false, error: err.toBody() };
      }
      this.emit('response', { id, op, ok: response.ok });
    }
    // The answer goes on the socket the request came from; if that one died, the manager
    // learns the outcome from listState after the reconnect.
    this.send(ws, response);
  }
}
