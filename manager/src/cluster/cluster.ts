// Several managers on one PostgreSQL (decision 0282). Every manager serves /client/api; ONE
// leads: it alone accepts host agents, runs jobs and the loops that talk to hosts. Leadership is
// a PostgreSQL session advisory lock held on a connection of its own: a killed leader's
// connection closes and the server frees the lock at once, so a follower (trying every
// TRY_EVERY_MS) takes over within about half a second. A leader that loses that connection
// (the server restarted, a network cut) stops leading before anything else can happen, and
// competes again. The same connection LISTENs for the cluster's notifications (new jobs, routed
// agent calls and their answers); it is re-opened when lost, with the lock.
//
// The `managers` table is for people and for job leases: each manager writes its heartbeat every
// HEARTBEAT_MS; a job owned by a manager silent for LEASE_MS is another's to resume
// (jobs/runner.ts).
import pg from 'pg';
import type { Database } from '../db/sql.ts';
import type { Logger } from '../log.ts';
import { guard, guarded, type Reporter } from '../background.ts';

/** The advisory lock's key (bootstrap's transaction lock is 726355). */
export const LEADER_LOCK = 726_356;
export const TRY_EVERY_MS = 500;
export const HEARTBEAT_MS = 1000;
/** A manager silent this long is gone: its jobs are taken over. */
export const LEASE_MS = 5000;

export const CHANNEL_JOBS = 'flotilla_jobs';
export const CHANNEL_CALLS = 'flotilla_agent_calls';
export const CHANNEL_ANSWERS = 'flotilla_agent_answers';

export interface ClusterHooks {
  /** This manager became the leader: start what only the leader runs. */
  lead(): Promise<void>;
  /** It stopped leading (lost its lock connection, or is stopping): stop that again. */
  follow(): Promise<void>;
}

type Handler = (payload: string) => void;

export class Cluster {
  leader = false;
  /** This manager's URL (its API), as the others and the agents' refusals name it. */
  url: string | undefined;
  private client: pg.Client | undefined;
  private connecting = false;
  private timer?: NodeJS.Timeout;
  private beat?: NodeJS.Timeout;
  private stopped = false;
  private readonly handlers = new Map<string, Handler[]>();
  private readonly r: Reporter;
  /** Serialises lead()/follow() so a quick lose-and-win never overlaps them. */
  private transition: Promise<void> = Promise.resolve();
  hooks: ClusterHooks = { lead: async () => undefined, follow: async () => undefined };
  /** Times this manager became the leader (tests, metrics). */
  terms = 0;

  constructor(private readonly databaseUrl: string, private readonly db: Database, readonly id: string, private readonly log: Logger) {
    this.r = { db, log };
  }

  on(channel: string, fn: Handler): void {
    const l = this.handlers.get(channel) ?? [];
    l.push(fn);
    this.handlers.set(channel, l);
  }

  /** NOTIFY on the shared pool (delivered to every manager listening, this one included). */
  async notify(channel: string, payload: string): Promise<void> {
    await this.db.query('SELECT pg_notify($1, $2)', [channel, payload]);
  }

  async start(): Promise<void> {
    await this.db.query(
      `INSERT INTO managers (id, url, version) VALUES ($1, $2, $3)
       ON CONFLICT (id) DO UPDATE SET url = excluded.url, heartbeat_at = now()`, [this.id, this.url ?? null, process.env.npm_package_version ?? null]);
    // Rows of managers gone for a day are history nobody needs.
    await this.db.query(`DELETE FROM managers WHERE heartbeat_at < now() - interval '1 day'`);
    await this.tick();
    this.timer = setInterval(guarded(this.r, 'cluster leadership', () => this.tick()), TRY_EVERY_MS);
    this.timer.unref();
    this.beat = setInterval(guarded(this.r, 'cluster heartbeat', () => this.heartbeat()), HEARTBEAT_MS);
    this.beat.unref();
  }

  async setUrl(url: string): Promise<void> {
    this.url = url;
    await this.db.query('UPDATE managers SET url = $2 WHERE id = $1', [this.id, url]);
  }

  /** The current leader's URL (from its managers row), for refusals and /healthz. */
  async leaderUrl(): Promise<string | undefined> {
    if (this.leader) return this.url;
    const rows = await this.db.query<{ url: string | null }>(
      `SELECT url FROM managers WHERE is_leader AND heartbeat_at > now() - ($1::int * interval '1 millisecond') ORDER BY heartbeat_at DESC LIMIT 1`, [LEASE_MS]);
    return rows[0]?.url ?? undefined;
  }

  private async heartbeat(): Promise<void> {
    await this.db.query('UPDATE managers SET heartbeat_at = now(), is_leader = $2, url = coalesce($3, url) WHERE id = $1', [this.id, this.leader, this.url ?? null]);
  }

  private async tick(): Promise<void> {
    if (this.stopped || this.connecting) return;
    if (!this.client) {
      this.connecting = true;
      try { await this.open(); } finally { this.connecting = false; }
      if (!this.client) return;
    }
    if (this.leader) return;
    const c = this.client;
    const got = (await c.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [LEADER_LOCK])).rows[0]?.ok === true;
    if (!got || this.stopped || c !== this.client) return;
    this.leader = true;
    this.terms++;
    this.log.info({ manager: this.id }, 'this manager leads (holds the leader lock)');
    await this.heartbeat().catch(() => undefined);
    await this.change(() => this.hooks.lead());
  }

  /** Opens the lock-and-listen connection; its loss ends leadership. */
  private async open(): Promise<void> {
    const c = new pg.Client({ connectionString: this.databaseUrl, application_name: `flotilla-manager ${this.id}` });
    const lost = () => {
      if (this.client !== c) return;
      this.client = undefined;
      c.end().catch(() => undefined);
      if (this.leader) {
        this.leader = false;
        this.log.warn({ manager: this.id }, 'lost the leader lock connection: stopped leading; competing again');
        void this.change(() => this.hooks.follow());
      }
    };
    c.on('error', (e) => { this.log.warn({ err: e }, 'cluster connection error'); lost(); });
    c.on('end', lost);
    c.on('notification', (n) => {
      for (const fn of this.handlers.get(n.channel) ?? []) {
        try { fn(n.payload ?? ''); } catch (e) { void guard(this.r, `cluster notification ${n.channel}`, () => { throw e; }); }
      }
    });
    try {
      await c.connect();
      for (const ch of [CHANNEL_JOBS, CHANNEL_CALLS, CHANNEL_ANSWERS]) await c.query(`LISTEN ${ch}`);
      this.client = c;
    } catch (e) {
      c.end().catch(() => undefined);
      this.log.warn({ err: e }, 'cannot open the cluster connection; retrying');
    }
  }

  private change(fn: () => Promise<void>): Promise<void> {
    this.transition = this.transition.then(() => guard(this.r, 'cluster leadership change', fn));
    return this.transition;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    clearInterval(this.beat);
    if (this.leader) { this.leader = false; await this.change(() => this.hooks.follow()); }
    await this.transition;
    const c = this.client;
    this.client = undefined;
    await this.db.query('UPDATE managers SET is_leader = false WHERE id = $1', [this.id]).catch(() => undefined);
    // Closing the connection releases the lock: a follower takes over at its next try.
    await c?.end().catch(() => undefined);
  }
}
