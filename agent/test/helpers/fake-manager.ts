// A stand-in for the manager's agent gateway, for the agent's unit tests and the 1,000-host
// benchmark: checks hello against the protocol schema and the token, answers welcome or
// refused, echoes heartbeats, and sends requests whose responses it correlates by id. The real
// gateway lives in manager/; this one exists so the agent can be tested alone.
import { WebSocketServer, type WebSocket } from 'ws';
import type { AddressInfo } from 'node:net';
import { Value } from '@sinclair/typebox/value';
import { AGENT_PROTOCOL_VERSION, Hello, REFUSED_CLOSE_CODE, type AgentArgs, type AgentOp, type Response } from '@flotilla/protocol/agent';

export interface Session { ws: WebSocket; hello: Hello; hostId: string; heartbeats: number }

export class FakeManager {
  readonly sessions: Session[] = [];
  readonly hellos: Hello[] = [];
  private wss!: WebSocketServer;
  private pending = new Map<string, (r: Response) => void>();
  private nextId = 0;
  port = 0;

  constructor(readonly opts: { tokens: Set<string>; heartbeatIntervalMs?: number; heartbeatTimeoutMs?: number; silent?: boolean } ) {}

  async listen(port = 0): Promise<void> {
    this.wss = new WebSocketServer({ host: '127.0.0.1', port, perMessageDeflate: false });
    await new Promise<void>((resolve, reject) => { this.wss.once('listening', resolve); this.wss.once('error', reject); });
    this.port = (this.wss.address() as AddressInfo).port;
    this.wss.on('connection', (ws) => this.onConnection(ws));
  }

  get url(): string { return `ws://127.0.0.1:${this.port}/agent`; }

  private onConnection(ws: WebSocket): void {
    let session: Session | undefined;
    ws.on('message', (data) => {
      const msg = JSON.parse(data.toString()) as { type: string };
      if (!session) {
        if (msg.type !== 'hello' || !Value.Check(Hello, msg)) { ws.close(4002, 'bad hello'); return; }
        const hello = msg as Hello;
        this.hellos.push(hello);
        if (!this.opts.tokens.has(hello.token)) {
          ws.send(JSON.stringify({ type: 'refused', code: 'UNKNOWN_TOKEN', message: 'unknown agent token' }));
          ws.close(REFUSED_CLOSE_CODE, 'unknown agent token');
          return;
        }
        session = { ws, hello, hostId: `host-${hello.hostName}`, heartbeats: 0 };
        this.sessions.push(session);
        ws.send(JSON.stringify({
          type: 'welcome', v: AGENT_PROTOCOL_VERSION, hostId: session.hostId,
          heartbeatIntervalMs: this.opts.heartbeatIntervalMs ?? 1000, heartbeatTimeoutMs: this.opts.heartbeatTimeoutMs ?? 10_000,
        }));
        return;
      }
      if (msg.type === 'heartbeat') {
        session.heartbeats++;
        if (!this.opts.silent) ws.send(JSON.stringify({ type: 'heartbeat', seq: session.heartbeats, at: Date.now() }));
      } else if (msg.type === 'response') {
        const r = msg as Response;
        this.pending.get(r.id)?.(r);
        this.pending.delete(r.id);
      }
    });
  }

  /** Sends a request to a session and resolves with its response. */
  request<O extends AgentOp>(session: Session, op: O, args: AgentArgs<O> | unknown): Promise<Response> {
    const id = `r${++this.nextId}`;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      session.ws.send(JSON.stringify({ type: 'request', id, op, args }));
    });
  }

  /** Sends a raw frame (for malformed-message tests). */
  raw(session: Session, frame: unknown): void { session.ws.send(JSON.stringify(frame)); }

  /** Resolves with the next response whose id is `id` (for raw frames). */
  awaitResponse(id: string): Promise<Response> { return new Promise((resolve) => this.pending.set(id, resolve)); }

  async waitForSessions(n: number, timeoutMs = 30_000): Promise<Session> {
    const deadline = Date.now() + timeoutMs;
    while (this.sessions.length < n) {
      if (Date.now() > deadline) throw new Error(`expected ${n} sessions, have ${this.sessions.length}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    return this.sessions[n - 1]!;
  }

  /** Stops listening and drops every connection (a manager crash, as the agent sees it). */
  async close(): Promise<void> {
    for (const c of this.wss.clients) c.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }
}
