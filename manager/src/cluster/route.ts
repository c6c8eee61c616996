// Agent calls made on a follower (decision 0282): host agents are connected to the leader only,
// so a follower's gateway hands a call to the leader through PostgreSQL — a row in agent_calls
// and a NOTIFY (flotilla_agent_calls); the leader claims the row, runs the call on its live
// connection, writes the answer into the row and NOTIFYs back (flotilla_agent_answers). A
// notification missed (a connection re-opened, a leader change) is covered by polling: the
// leader sweeps unclaimed calls every SWEEP_MS, the caller looks at its row every POLL_MS.
// Without an answer within the call's timeout the caller gets AgentRequestError TIMEOUT (which
// the commands already turn into a CloudStack error) and its row is deleted.
import { randomUUID } from 'node:crypto';
import type { AgentArgs, AgentOp, AgentResult } from '@flotilla/protocol/agent';
import type { Database } from '../db/sql.ts';
import type { Logger } from '../log.ts';
import { guard, guarded, type Reporter } from '../background.ts';
import { CHANNEL_ANSWERS, CHANNEL_CALLS, type Cluster } from './cluster.ts';

const POLL_MS = 500;
const SWEEP_MS = 1000;
/** How often a follower re-reads which hosts are Up (the leader's view): isConnected(). */
const HOSTS_EVERY_MS = 1000;

/** What the leader's gateway does with a claimed call (its own request()). */
export type LocalCall = (hostId: string, op: AgentOp, args: unknown, timeoutMs: number) => Promise<unknown>;
export interface CallError { code: string; message: string }

interface CallRow { id: string; host_id: string; op: string; args: unknown; timeout_ms: number }

export class AgentRoute {
  private readonly waiters = new Map<string, () => void>();
  private readonly r: Reporter;
  private sweeper?: NodeJS.Timeout;
  private hostsTimer?: NodeJS.Timeout;
  /** Hosts the database says are Up (connected to the leader), refreshed every HOSTS_EVERY_MS. */
  upHosts = new Set<string>();

  constructor(private readonly db: Database, private readonly cluster: Cluster, private readonly log: Logger,
    /** Whether this manager serves calls now: it leads AND its gateway does (a call served in
     *  between would be routed again, to itself). */
    private readonly serving: () => boolean, private readonly local: LocalCall,
    private readonly makeError: (code: string, message: string, hostId: string) => Error) {
    this.r = { db, log };
    cluster.on(CHANNEL_ANSWERS, (id) => this.waiters.get(id)?.());
    cluster.on(CHANNEL_CALLS, (id) => { if (this.serving()) void guard(this.r, 'routed agent call', () => this.serve(id)); });
  }

  start(): void {
    this.sweeper = setInterval(guarded(this.r, 'routed agent calls sweep', () => this.sweep()), SWEEP_MS);
    this.sweeper.unref();
    this.hostsTimer = setInterval(guarded(this.r, 'connected hosts (follower view)', () => this.refreshHosts()), HOSTS_EVERY_MS);
    this.hostsTimer.unref();
    void guard(this.r, 'connected hosts (follower view)', () => this.refreshHosts());
  }

  stop(): void { clearInterval(this.sweeper); clearInterval(this.hostsTimer); }

  async refreshHosts(): Promise<void> {
    const rows = await this.db.query<{ id: string }>(`SELECT id FROM hosts WHERE state = 'Up' AND token_hash IS NOT NULL`);
    this.upHosts = new Set(rows.map((x) => x.id));
  }

  /** A follower's call: through the leader, answered or failed within timeoutMs. */
  async call<O extends AgentOp>(hostId: string, op: O, args: AgentArgs<O>, timeoutMs: number): Promise<AgentResult<O>> {
    const id = randomUUID();
    let wake: () => void = () => undefined;
    this.waiters.set(id, () => wake());
    try {
      await this.db.query(
        `INSERT INTO agent_calls (id, host_id, op, args, timeout_ms, from_manager) VALUES ($1, $2, $3, $4, $5, $6)`,
        [id, hostId, op, JSON.stringify(args ?? {}), timeoutMs, this.cluster.id]);
      await this.cluster.notify(CHANNEL_CALLS, id);
      const until = Date.now() + timeoutMs;
      for (;;) {
        const row = (await this.db.query<{ done: boolean; ok: boolean | null; result: unknown; error: CallError | null }>(
          'SELECT done, ok, result, error FROM agent_calls WHERE id = $1', [id]))[0];
        if (row?.done) {
          if (row.ok) return row.result as AgentResult<O>;
          throw this.makeError(row.error?.code ?? 'DRIVER_FAILURE', row.error?.message ?? 'the leading manager could not run the call', hostId);
        }
        const left = until - Date.now();
        if (left <= 0) throw this.makeError('TIMEOUT', `no leading manager answered ${op} for host ${hostId} within ${timeoutMs} ms (the call is routed to the manager the host's agent is connected to)`, hostId);
        await new Promise<void>((resolve) => { const t = setTimeout(resolve, Math.min(POLL_MS, left)); wake = () => { clearTimeout(t); resolve(); }; });
      }
    } finally {
      this.waiters.delete(id);
      await this.db.query('DELETE FROM agent_calls WHERE id = $1', [id]).catch(() => undefined);
    }
  }

  /** The leader runs one routed call (claimed first: of two leaders' tries only one runs it). */
  private async serve(id: string): Promise<void> {
    if (!this.serving()) return; // the sweep tries again
    const row = (await this.db.query<CallRow>(
      `UPDATE agent_calls SET taken_by = $2 WHERE id = $1 AND taken_by IS NULL RETURNING id, host_id, op, args, timeout_ms`, [id, this.cluster.id]))[0];
    if (!row) return;
    let ok = false; let result: unknown = null; let error: CallError | null = null;
    try {
      result = await this.local(row.host_id, row.op as AgentOp, row.args, row.timeout_ms);
      ok = true;
    } catch (e) {
      error = { code: String((e as { code?: unknown }).code ?? 'DRIVER_FAILURE'), message: e instanceof Error ? e.message : String(e) };
    }
    await this.db.query('UPDATE agent_calls SET done = true, ok = $2, result = $3, error = $4 WHERE id = $1',
      [id, ok, JSON.stringify(result ?? null), error ? JSON.stringify(error) : null]);
    await this.cluster.notify(CHANNEL_ANSWERS, id);
  }

  private async sweep(): Promise<void> {
    if (!this.serving()) return;
    const open = await this.db.query<{ id: string }>(`SELECT id FROM agent_calls WHERE taken_by IS NULL ORDER BY created LIMIT 100`);
    for (const o of open) void guard(this.r, 'routed agent call', () => this.serve(o.id));
    // Calls whose caller is gone (it deletes its row when it ends) are removed after a while.
    await this.db.query(`DELETE FROM agent_calls WHERE created < now() - interval '10 minutes'`);
  }
}
