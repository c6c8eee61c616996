// The manager's end of the host-agent channel (protocol/src/agent.ts): agents dial
// `/agent` over WebSocket and say hello with their token; the gateway checks it against the
// host's stored token hash, marks the host Up, exchanges heartbeats, and correlates requests
// with responses. A host that is silent for HEARTBEAT_TIMEOUT_MS is marked Disconnected (and
// Alert after a further grace period). After every hello the manager reconciles the host
// (the `onConnect` hook), since the agent keeps no desired state of its own.
//
// One agent per host (issue 16): each accepted hello starts a session with the next epoch
// (hosts.agent_epoch); a second hello with the same token while the first session is alive
// (open and heard within HEARTBEAT_TIMEOUT_MS) is refused DUPLICATE — the newcomer retries with
// back-off and takes over only once the first session is gone, so two agents never replace each
// other's connection. Only the current epoch's end marks the host Disconnected.
import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import websocket from '@fastify/websocket';
import type WebSocket from 'ws';
import { Value } from '@sinclair/typebox/value';
import {
  AGENT_PROTOCOL_VERSION, AgentCommands, AgentToManager, REFUSED_CLOSE_CODE,
  type AgentArgs, type AgentErrorBody, type AgentOp, type AgentResult, type Hello, type ManagerToAgent, type RefusalCode,
} from '@flotilla/protocol/agent';
import type { Database } from '../db/sql.ts';
import type { Logger } from '../log.ts';
import { guard, guarded, reportFailure, type Reporter } from '../background.ts';
import type { AgentRoute } from '../cluster/route.ts';

export const HEARTBEAT_INTERVAL_MS = 2000;
export const HEARTBEAT_TIMEOUT_MS = 10_000;
const STOPPED_LEADING = 'this manager stopped leading';

export function hashToken(token: string): string { return createHash('sha256').update(token).digest('hex'); }

/** An agent request that failed: the agent's code and message, or TIMEOUT / DISCONNECTED. */
export class AgentRequestError extends Error {
  constructor(readonly code: AgentErrorBody['code'] | 'DISCONNECTED', message: string, readonly hostId: string) {
    super(message);
    this.name = 'AgentRequestError';
  }
}

interface Pending { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout; op: AgentOp }

class Connection {
  readonly pending = new Map<string, Pending>();
  lastHeard = Date.now();
  seq = 0;
  /** The session's epoch (hosts.agent_epoch), set once the hello is recorded. */
  epoch = 0;
  /** The reconciliation after this session's hello has ended (the host is as the database wants). */
  reconciled = false;
  constructor(readonly hostId: string, readonly ws: WebSocket, readonly hello: Hello) {}
  send(m: ManagerToAgent): void { this.ws.send(JSON.stringify(m)); }
  failAll(why: string): void {
    for (const [id, p] of this.pending) { clearTimeout(p.timer); p.reject(new AgentRequestError('DISCONNECTED', `host ${this.hostId} disconnected during ${p.op}: ${why}`, this.hostId)); this.pending.delete(id); }
  }
}

export interface GatewayHooks {
  /** After a host's hello was accepted and it is marked Up. */
  onConnect?(hostId: string, hello: Hello): Promise<void>;
  onDisconnect?(hostId: string): Promise<void>;
}

const backlogs = new WeakMap<WebSocket, () => Buffer[]>();

/** The binary frames an agent's console socket sent before anyone listened; call it in the same
 *  tick as adding a 'message' listener, so no frame falls between. */
export function consoleBacklog(ws: WebSocket): Buffer[] {
  const take = backlogs.get(ws);
  backlogs.delete(ws);
  return take ? take() : [];
}

export class AgentGateway {
  private readonly conns = new Map<string, Connection>();
  private monitor?: NodeJS.Timeout;
  hooks: GatewayHooks = {};
  /** Every callback here runs outside a request: failures are reported, never thrown (background.ts). */
  private readonly r: Reporter;

  constructor(private readonly db: Database, private readonly log: Logger) { this.r = { db, log }; }

  /** Several managers (decision 0282): only the leader accepts agents; a follower refuses them
   *  (NOT_LEADER, naming the leader) and hands its calls to the leader through `route`. A single
   *  manager always leads. */
  private leadingFlag = true;
  /** When this manager last started leading (its agents need a moment to come over). */
  private leadingSince = Date.now();
  get leading(): boolean { return this.leadingFlag; }
  set leading(v: boolean) { if (v && !this.leadingFlag) this.leadingSince = Date.now(); this.leadingFlag = v; }
  route?: AgentRoute;
  leaderUrl?: () => Promise<string | undefined>;
  /** This manager's own URL as its agents know it (a follower's consoles are dialled there). */
  ownUrl?: () => string | undefined;
  private get routed(): AgentRoute | undefined { return this.leading ? undefined : this.route; }

  isConnected(hostId: string): boolean { return this.routed ? this.routed.upHosts.has(hostId) : this.conns.has(hostId); }
  /** isConnected for an API answer a follower gives at once (a synchronous command): the
   *  follower's view is re-read from the database before it refuses, since it lags the leader's
   *  by up to a second (a host that has just come up). */
  async isConnectedNow(hostId: string): Promise<boolean> {
    const routed = this.routed;
    if (!routed || routed.upHosts.has(hostId)) return this.isConnected(hostId);
    await routed.refreshHosts();
    return routed.upHosts.has(hostId);
  }
  /** Connected, and the reconciliation after its hello has ended (resumed jobs wait for this). */
  isReconciled(hostId: string): boolean { return this.routed ? this.routed.upHosts.has(hostId) : this.conns.get(hostId)?.reconciled === true; }

  /** Stops leading: every agent is told NOT_LEADER (it dials its next manager URL). */
  async stopLeading(): Promise<void> {
    this.leading = false;
    const leader = await this.leaderUrl?.().catch(() => undefined);
    for (const c of [...this.conns.values()]) {
      this.conns.delete(c.hostId);
      c.failAll(STOPPED_LEADING);
      this.refuse(c.ws, 'NOT_LEADER', `this manager no longer leads${leader ? `; the leader is ${leader}` : ''}`);
    }
  }
  /** Hellos accepted, and hellos refused DUPLICATE, since start (metrics, tests). */
  accepted = 0;
  fenced = 0;

  /** Drops a host's channel (its token was revoked); its agent is refused on redial. */
  disconnect(hostId: string): void {
    const c = this.conns.get(hostId);
    if (!c) return;
    this.conns.delete(hostId);
    c.failAll('host removed');
    c.ws.close(REFUSED_CLOSE_CODE, 'REVOKED');
  }
  /** Puts a connected host in line with the database now (the hello's reconciliation, again). */
  async reconcile(hostId: string): Promise<void> {
    const c = this.conns.get(hostId);
    if (c && this.hooks.onConnect) await this.hooks.onConnect(hostId, c.hello);
  }
  connectedHosts(): string[] { return this.routed ? [...this.routed.upHosts] : [...this.conns.keys()]; }
  /** When each connected host's agent was last heard (ms since the epoch), for metrics. */
  lastHeard(): Map<string, number> { return new Map([...this.conns].map(([id, c]) => [id, c.lastHeard])); }

  async register(app: FastifyInstance): Promise<void> {
    await app.register(websocket, { options: { maxPayload: 16 * 1024 * 1024 } });
    app.get('/agent', { websocket: true }, (socket) => this.accept(socket as unknown as WebSocket));
    app.get('/agent/console', { websocket: true }, (socket) => this.acceptConsole(socket as unknown as WebSocket));
    this.monitor = setInterval(guarded(this.r, 'agent heartbeat check', () => this.checkHeartbeats()), HEARTBEAT_INTERVAL_MS);
    this.monitor.unref();
    app.addHook('onClose', async () => this.close());
  }

  async close(): Promise<void> {
    clearInterval(this.monitor);
    for (const c of this.conns.values()) { c.failAll('manager stopping'); c.ws.terminate(); }
    this.conns.clear();
  }

  /** Sends one request to a host's agent and waits for its response (validated by schema). */
  async request<O extends AgentOp>(hostId: string, op: O, args: AgentArgs<O>, timeoutMs = 60_000): Promise<AgentResult<O>> {
    const routed = this.routed;
    if (routed) {
      // A console's socket comes to the manager that waits for it: openConsole() names this one.
      if (op === 'openConsole' && !(args as AgentArgs<'openConsole'>).manager) throw new AgentRequestError('DISCONNECTED', `this manager does not know its own URL, so host ${hostId}'s agent cannot bring the console here: open it on the leading manager`, hostId);
      return routed.call(hostId, op, args, timeoutMs);
    }
    let c = this.conns.get(hostId);
    // Several managers: in its first heartbeat timeout as leader, the agents are still dialling
    // over from the previous leader: a call (of a job that was running across the change) waits
    // for its host's agent rather than failing for nothing.
    while (!c && this.route && this.leading && Date.now() - this.leadingSince < HEARTBEAT_TIMEOUT_MS) {
      await new Promise((r) => setTimeout(r, 100));
      c = this.conns.get(hostId);
    }
    if (!this.leading && this.route) return this.request(hostId, op, args, timeoutMs);
    if (!c) throw new AgentRequestError('DISCONNECTED', `host ${hostId} is not connected`, hostId);
    const id = randomUUID();
    const result = await new Promise<unknown>((resolve, reject) => {
      // Cut off by this manager ceasing to lead: the call goes to the new leader instead (agent
      // operations are idempotent: decision 0281), once; the job that made it carries on.
      const rejectOrReroute = (e: Error) => {
        const routed = this.routed;
        if (routed && op !== 'openConsole' && e instanceof AgentRequestError && e.message.endsWith(STOPPED_LEADING)) routed.call(hostId, op, args, timeoutMs).then(resolve, reject);
        else reject(e);
      };
      const timer = setTimeout(() => { c.pending.delete(id); reject(new AgentRequestError('TIMEOUT', `host ${hostId} did not answer ${op} within ${timeoutMs} ms`, hostId)); }, timeoutMs);
      c.pending.set(id, { resolve, reject: rejectOrReroute, timer, op });
      c.send({ type: 'request', id, op, args } as ManagerToAgent);
    });
    const schema = AgentCommands[op].result;
    if (!Value.Check(schema, result)) throw new AgentRequestError('BAD_MESSAGE', `host ${hostId} answered ${op} with a malformed result`, hostId);
    return result as AgentResult<O>;
  }

  /** Console sessions asked of an agent, waiting for its console socket (session id → waiter). */
  private readonly consoleWaiters = new Map<string, { hostId: string; resolve: (ws: WebSocket) => void }>();

  /** Asks a host's agent to open a VM's serial console; resolves with the agent's console
   *  socket (binary frames = console bytes both ways). On a follower the request goes through
   *  the leader and names this manager, which the agent then dials with the console. */
  async openConsole(hostId: string, vmName: string, timeoutMs = 15_000, kind: 'serial' | 'vnc' = 'serial'): Promise<WebSocket> {
    const session = randomBytes(24).toString('base64url');
    const arrived = new Promise<WebSocket>((resolve) => this.consoleWaiters.set(session, { hostId, resolve }));
    let timeout: NodeJS.Timeout | undefined;
    const timer = new Promise<never>((_r, reject) => { timeout = setTimeout(() => reject(new AgentRequestError('TIMEOUT', `host ${hostId} did not open the console of ${vmName}`, hostId)), timeoutMs); });
    timer.catch(() => undefined);
    const own = this.routed ? this.ownUrl?.() : undefined;
    try {
      await this.request(hostId, 'openConsole', { name: vmName, session, console: kind, ...(own ? { manager: own } : {}) }, timeoutMs);
      return await Promise.race([arrived, timer]);
    } finally { clearTimeout(timeout); this.consoleWaiters.delete(session); }
  }

  private acceptConsole(ws: WebSocket): void {
    const timer = setTimeout(() => ws.terminate(), 10_000);
    ws.once('message', (data) => {
      clearTimeout(timer);
      let m: { type?: string; token?: string; session?: string };
      try { m = JSON.parse(data.toString()); } catch { ws.terminate(); return; }
      const w = typeof m.session === 'string' ? this.consoleWaiters.get(m.session) : undefined;
      if (m.type !== 'console' || typeof m.token !== 'string' || !w) { ws.close(REFUSED_CLOSE_CODE, 'unknown console session'); return; }
      // The console's first bytes (a VNC server's greeting, a shell's prompt) may arrive before
      // the proxy listens: kept here until consoleBacklog() hands them over.
      const early: Buffer[] = [];
      const keep = (d: WebSocket.RawData, bin: boolean) => { if (bin) early.push(Array.isArray(d) ? Buffer.concat(d) : Buffer.from(d as ArrayBuffer)); };
      ws.on('message', keep);
      backlogs.set(ws, () => { ws.off('message', keep); return early.splice(0); });
      const hash = hashToken(m.token);
      void this.db.query<{ id: string }>('SELECT id FROM hosts WHERE token_hash = $1', [hash]).then((rows) => {
        // Only the agent the session was asked of may answer it.
        if (rows[0]?.id !== w.hostId) { ws.close(REFUSED_CLOSE_CODE, 'UNKNOWN_TOKEN'); return; }
        this.consoleWaiters.delete(m.session!);
        w.resolve(ws);
      }, () => ws.terminate());
    });
    ws.on('error', () => undefined);
  }

  private accept(ws: WebSocket): void {
    let conn: Connection | undefined;
    const helloTimer = setTimeout(guarded(this.r, 'agent hello timeout', () => ws.terminate()), 10_000);
    ws.on('message', guarded(this.r, 'agent message', (data: WebSocket.RawData) => {
      let msg: unknown;
      try { msg = JSON.parse(data.toString()); } catch { ws.terminate(); return; }
      if (!conn) {
        clearTimeout(helloTimer);
        return this.hello(ws, msg).then((c) => { conn = c; }, (e) => { ws.terminate(); return reportFailure(this.r, 'agent hello', e); });
      }
      conn.lastHeard = Date.now();
      if (!Value.Check(AgentToManager, msg)) { this.log.warn({ hostId: conn.hostId }, 'agent sent a malformed message; ignored'); return; }
      const m = msg as AgentToManager;
      if (m.type === 'response') {
        const p = conn.pending.get(m.id);
        if (!p) return;
        conn.pending.delete(m.id);
        clearTimeout(p.timer);
        if (m.ok) p.resolve(m.result);
        else p.reject(new AgentRequestError(m.error.code, m.error.message, conn.hostId));
      }
      // heartbeats only refresh lastHeard
      return undefined;
    }));
    ws.on('close', guarded(this.r, 'agent disconnect', () => {
      clearTimeout(helloTimer);
      if (!conn || this.conns.get(conn.hostId) !== conn) return undefined;
      this.conns.delete(conn.hostId);
      conn.failAll('channel closed');
      return this.markDisconnected(conn.hostId, conn.epoch);
    }));
    ws.on('error', () => undefined);
  }

  private refuse(ws: WebSocket, code: RefusalCode, message: string): undefined {
    ws.send(JSON.stringify({ type: 'refused', code, message }));
    ws.close(REFUSED_CLOSE_CODE, code);
    return undefined;
  }

  private async hello(ws: WebSocket, msg: unknown): Promise<Connection | undefined> {
    const m = msg as { type?: string };
    if (m?.type !== 'hello' || !Value.Check(AgentToManager, msg)) return this.refuse(ws, 'BAD_HELLO', 'the first message must be a valid hello');
    const hello = msg as Hello;
    if (hello.v.split('.')[0] !== AGENT_PROTOCOL_VERSION.split('.')[0]) return this.refuse(ws, 'UNSUPPORTED_VERSION', `manager speaks ${AGENT_PROTOCOL_VERSION}`);
    const hash = hashToken(hello.token);
    const host = (await this.db.query<{ id: string; token_hash: string; resource_state: string }>('SELECT id, token_hash, resource_state FROM hosts WHERE token_hash = $1', [hash]))[0];
    if (!host || !timingSafeEqual(Buffer.from(host.token_hash), Buffer.from(hash))) return this.refuse(ws, 'UNKNOWN_TOKEN', 'unknown or revoked agent token');
    if (!this.leading) {
      const leader = await this.leaderUrl?.().catch(() => undefined);
      return this.refuse(ws, 'NOT_LEADER', `this manager does not lead${leader ? `; the leader is ${leader}` : ''}: try the next manager URL`);
    }
    // Checked and claimed in one synchronous step (no await between): of two hellos racing, the
    // second always sees the first.
    const old = this.conns.get(host.id);
    if (old && old.ws.readyState === old.ws.OPEN && Date.now() - old.lastHeard <= HEARTBEAT_TIMEOUT_MS) {
      this.fenced++;
      this.log.warn({ hostId: host.id, name: hello.hostName }, 'a second agent with this host\'s token was refused (the first one is alive)');
      return this.refuse(ws, 'DUPLICATE', 'another agent holds this host\'s session; retry after it is gone');
    }
    if (old) { this.conns.delete(host.id); old.failAll('replaced: its session was silent'); old.ws.terminate(); }
    const conn = new Connection(host.id, ws, hello);
    this.conns.set(host.id, conn);
    const rows = await this.db.query<{ agent_epoch: string | number }>(
      `UPDATE hosts SET state = 'Up', last_ping = now(), version = $2, hypervisor = $3, cpu_number = $4, cpu_speed = $5,
         memory = $6, ip_address = coalesce($7, ip_address), agent_name = $8, agent_epoch = agent_epoch + 1 WHERE id = $1 RETURNING agent_epoch`,
      [host.id, hello.agentVersion, hello.hypervisor, hello.capacity.cpus, hello.capacity.cpuMhz, hello.capacity.memoryMb * 1024 * 1024,
        hello.fabricIp ?? null, hello.hostName]);
    conn.epoch = Number(rows[0]?.agent_epoch ?? 0);
    // The socket may have closed while the hello was recorded (its close handler did not know
    // this connection yet), or a silent-session takeover replaced it: then it is not the host's.
    if (this.conns.get(host.id) !== conn) return undefined;
    if (ws.readyState !== ws.OPEN) {
      this.conns.delete(host.id);
      await this.markDisconnected(host.id, conn.epoch);
      return undefined;
    }
    this.accepted++;
    conn.send({ type: 'welcome', v: AGENT_PROTOCOL_VERSION, hostId: host.id, heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS, heartbeatTimeoutMs: HEARTBEAT_TIMEOUT_MS, epoch: conn.epoch });
    this.log.info({ hostId: host.id, name: hello.hostName, epoch: conn.epoch }, 'host agent connected');
    const onConnect = this.hooks.onConnect;
    if (onConnect) void guard(this.r, `reconciliation of host ${host.id}`, () => onConnect(host.id, hello)).finally(() => { conn.reconciled = true; });
    else conn.reconciled = true;
    return conn;
  }

  private async checkHeartbeats(): Promise<void> {
    const now = Date.now();
    const alive: string[] = [];
    for (const c of [...this.conns.values()]) {
      if (now - c.lastHeard > HEARTBEAT_TIMEOUT_MS) {
        this.log.warn({ hostId: c.hostId }, 'host agent silent past the heartbeat timeout; marking it Disconnected');
        this.conns.delete(c.hostId);
        c.failAll('heartbeat timeout');
        c.ws.terminate();
        await this.markDisconnected(c.hostId, c.epoch);
        continue;
      }
      c.send({ type: 'heartbeat', seq: c.seq++, at: now });
      alive.push(c.hostId);
    }
    // One statement for all live hosts: a thousand hosts must not mean a thousand writes.
    // (A failing write is reported by the guard of the interval, at most one event a minute.)
    if (alive.length) await this.db.query(`UPDATE hosts SET last_ping = now() WHERE id = ANY($1::uuid[]) AND state = 'Up'`, [alive]);
    // Several managers: a host Up in the database but silent here was connected to a manager that
    // died; the leader marks it Disconnected once it is past the heartbeat timeout — counted from
    // when this manager started leading, too: the agents of a dead leader are still dialling
    // over, and a host marked Disconnected meanwhile fails deploys for nothing.
    if (this.route && this.leading && Date.now() - this.leadingSince > HEARTBEAT_TIMEOUT_MS) {
      // A host removed (token revoked) through a follower: its channel here ends within a check.
      if (alive.length) {
        const kept = new Set((await this.db.query<{ id: string }>('SELECT id FROM hosts WHERE id = ANY($1::uuid[]) AND token_hash IS NOT NULL', [alive])).map((h) => h.id));
        for (const id of alive) if (!kept.has(id)) this.disconnect(id);
      }
      await this.db.query(`UPDATE hosts SET state = 'Disconnected' WHERE state = 'Up' AND token_hash IS NOT NULL AND NOT (id = ANY($1::uuid[]))
        AND last_ping < now() - ($2::int * interval '1 millisecond')`, [[...this.conns.keys()], HEARTBEAT_TIMEOUT_MS]);
    }
    // A host Disconnected for over a minute is in Alert, as CloudStack shows it.
    await this.db.query(`UPDATE hosts SET state = 'Alert' WHERE state = 'Disconnected' AND token_hash IS NOT NULL AND last_ping < now() - interval '60 seconds'`);
  }

  /** Only the end of the host's current session (its epoch) marks it Disconnected. */
  private async markDisconnected(hostId: string, epoch: number): Promise<void> {
    try {
      await this.db.query(`UPDATE hosts SET state = 'Disconnected' WHERE id = $1 AND state = 'Up' AND agent_epoch = $2`, [hostId, epoch]);
    } finally {
      const onDisconnect = this.hooks.onDisconnect;
      if (onDisconnect) await guard(this.r, `disconnect hook of host ${hostId}`, () => onDisconnect(hostId));
    }
  }
}
