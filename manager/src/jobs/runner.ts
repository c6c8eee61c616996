// Async jobs, kept in the database. A job is written (pending) before the API answers with its
// id; at start-up every job a killed manager left pending is re-run (resumed) from its recorded
// arguments; a job that keeps dying is failed cleanly after MAX_ATTEMPTS. No job stays pending
// forever. Two kinds of command (the `transactional` flag of their declaration says which):
//
// - DATABASE-ONLY (async, transactional): createProject, updateProject, activateProject,
//   suspendProject, deleteProject, addAccountToProject, deleteAccountFromProject,
//   createPhysicalNetwork, updatePhysicalNetwork, deletePhysicalNetwork, addTrafficType,
//   updateTrafficType, deleteTrafficType, updateNetworkServiceProvider,
//   configureVirtualRouterElement, configureInternalLoadBalancerElement,
//   releaseDedicatedGuestVlanRange, createTags, deleteTags, disableAccount, deleteDomain,
//   cancelHostMaintenance, updateRemoteAccessVpn. Their work, their audit event and the job's
//   completion commit in ONE transaction (`complete` of `execute`): a manager killed at any
//   instant has committed all of it or nothing of it, and a resumed job re-runs from scratch.
// - TALKING TO HOSTS (`transactional: false`: deploy/start/stop/reboot/destroy/expunge/scale VMs,
//   networks, rules, IPs, LB, VPN, volumes, routers, system VMs, templates, host maintenance,
//   deleteAccount): their steps commit one by one around agent calls, so the work commits before
//   the job row does. They are made to resume instead: each step is idempotent against what is
//   already recorded and already on the host (a VM that runs, a spec generation already applied,
//   an address already allocated for the job's `newId`), so a re-run after a kill ends in the
//   desired state once; what a kill leaves between steps the repair loop and reconciliation put
//   right (orchestrator/repair.ts, orchestrator/compute.ts).
import { setTimeout as sleep } from 'node:timers/promises';
import type { Services } from '../services.ts';
import { execute } from '../api/dispatch.ts';
import { loadCaller } from '../api/auth.ts';
import { ApiError, toApiError } from '../api/errors.ts';
import { guard } from '../background.ts';
import type { Sql } from '../db/sql.ts';
import type { AnyCommand } from '../api/registry.ts';
import type { Caller } from '../api/context.ts';
import { audit } from '../api/audit.ts';
import { serialized } from '../orchestrator/router.ts';
import { CHANNEL_JOBS, LEASE_MS } from '../cluster/cluster.ts';

const MAX_ATTEMPTS = 3;
/** How long resumed jobs wait for the hosts that were Up when the previous run ended
 *  (FLOTILLA_JOB_RESUME_GRACE_MS): their agents redial after a restart, and a job run before
 *  they are back fails for nothing (issue 16). */
const RESUME_GRACE_MS = Number(process.env.FLOTILLA_JOB_RESUME_GRACE_MS ?? 60_000);
/** In-process retries of a job whose runner (not command) failed: after 1, 2 and 4 s. */
const RUNNER_RETRIES = 3;

/** A database connection lost (PostgreSQL's admin shutdown / crash codes, or node-postgres's own
 *  connection errors), here or in the error's cause. */
export function lostDatabase(e: unknown): boolean {
  for (let x = e, depth = 0; x && depth < 4; x = (x as { cause?: unknown }).cause, depth++) {
    const code = String((x as { code?: unknown }).code ?? '');
    if (/^(57P0[1-3]|08\d\d\d)$/.test(code) || ['ECONNRESET', 'ECONNREFUSED', 'EPIPE'].includes(code)) return true;
    if (/Connection terminated|connection error and is not queryable|terminating connection/i.test(String((x as { message?: unknown }).message ?? ''))) return true;
  }
  return false;
}

interface JobRow {
  id: string; user_id: string; command: string; params: Record<string, unknown>; attempts: number; status: number;
  instance_id: string | null;
}

export class JobRunner {
  private services!: Services;
  private readonly running = new Set<Promise<void>>();
  private readonly retries = new Set<NodeJS.Timeout>();
  private stopped = false;
  /** Jobs this process runs now, or holds for recover()'s grace period: never started twice here. */
  private readonly active = new Set<string>();
  private readonly held = new Set<string>();
  /** Several managers: while a new leader waits for the hosts to come back (recover()), jobs
   *  it is told to start wait with the resumed ones (a job run before its host's agent is back
   *  fails for nothing, or starts a VM beside the one an interrupted run left). */
  private recovering = false;
  private readonly deferred = new Set<string>();

  bind(services: Services): void { this.services = services; }

  /** SQL: the job's owner may not run it now, so another manager may (decision 0282): it has none,
   *  it is this manager, or its manager's lease lapsed (no heartbeat in the managers table for
   *  LEASE_MS; a single manager writes no rows, so a previous run's jobs are always free). */
  private static readonly FREE = `(owner IS NULL OR owner = $2 OR owner NOT IN (
      SELECT id FROM managers WHERE heartbeat_at > now() - (${LEASE_MS} * interval '1 millisecond')))`;

  /** Starts a pending job in the background. A failure of the runner itself (not of the job's
   *  command, which fails the job), e.g. the database refusing the claim, is reported and the job
   *  is tried again a little later (as a restart would resume it), a few times; it stays pending
   *  otherwise and is resumed at the next start. */
  start(jobId: string, retry = 0): void {
    const cluster = this.services.cluster;
    if (cluster && !cluster.leader) {
      // Several managers: only the leader runs jobs; it LISTENs (and sweeps, should this be lost).
      // A job this manager claimed while it led (a retry after it stopped leading) is released
      // first: its lease would otherwise keep it from the leader for as long as this one lives.
      void guard(this.services, `job ${jobId} handed to the leader`, async () => {
        await this.services.db.query('UPDATE async_jobs SET owner = NULL WHERE id = $1 AND owner = $2 AND status = 0', [jobId, this.services.runId]);
        await cluster.notify(CHANNEL_JOBS, jobId);
      });
      this.active.delete(jobId);
      return;
    }
    if (retry === 0 && this.active.has(jobId)) return;
    if (this.recovering && retry === 0) { if (!this.held.has(jobId)) this.deferred.add(jobId); return; }
    this.active.add(jobId);
    let failed = false;
    let lostDb = false;
    const p = guard(this.services, `job runner (job ${jobId})`, () => this.run(jobId).catch((e) => { failed = true; lostDb = lostDatabase(e); throw e; }));
    this.running.add(p);
    void p.finally(() => {
      this.running.delete(p);
      if (!failed || this.stopped || retry >= RUNNER_RETRIES) {
        this.active.delete(jobId);
        // Ended here without a result while another manager leads: released to it (see above).
        if (cluster && !cluster.leader && !this.stopped) this.start(jobId);
        return;
      }
      // The database connection was lost under the job: what its steps did on hosts is put in
      // line with the database first (reconciliation, as after a restart), then it is resumed.
      const again = async () => {
        if (lostDb && (!cluster || cluster.leader)) {
          for (const h of this.services.agents.connectedHosts()) await guard(this.services, `reconciliation of host ${h} before resuming job ${jobId}`, () => this.services.agents.reconcile(h));
        }
        if (!this.stopped) this.start(jobId, retry + 1); else this.active.delete(jobId);
      };
      const timer = setTimeout(() => { this.retries.delete(timer); void guard(this.services, `resuming job ${jobId}`, again); }, 1000 * 2 ** retry);
      timer.unref();
      this.retries.add(timer);
    });
  }

  /** No more retries (shutdown); running jobs finish (see idle). */
  stop(): void {
    this.stopped = true;
    for (const t of this.retries) clearTimeout(t);
    this.retries.clear();
  }

  /** Waits for every job this process started (tests, shutdown). */
  async idle(): Promise<void> { while (this.running.size) await Promise.allSettled([...this.running]); }

  /** Resumes the jobs a previous run left pending, once the hosts that were Up when it ended
   *  are connected again and reconciled (their VMs back as the database says; or after
   *  RESUME_GRACE_MS): in the background, so the API and the agent
   *  endpoint are served meanwhile. Returns how many jobs will be resumed. */
  async recover(): Promise<number> {
    const s = this.services;
    // Several managers: set before the first await, so no job told to start meanwhile slips by.
    if (s.cluster) this.recovering = true;
    let rows: Array<{ id: string }>;
    let hosts: string[];
    try {
      rows = (await s.db.query<{ id: string }>('SELECT id FROM async_jobs WHERE status = 0 ORDER BY created')).filter((r) => !this.active.has(r.id));
      hosts = (await s.db.query<{ id: string }>(`SELECT id FROM hosts WHERE token_hash IS NOT NULL AND state = 'Up'`)).map((h) => h.id);
    } catch (e) {
      this.recovering = false; // (the caller retries; deferred jobs wait for that, or the sweep)
      throw e;
    }
    // Several managers: a new leader waits for the hosts even without jobs to resume (new ones wait).
    if (!rows.length && !s.cluster) return 0;
    for (const r of rows) this.held.add(r.id);
    const release = () => {
      if (!this.recovering) return;
      this.recovering = false;
      const deferred = [...this.deferred];
      this.deferred.clear();
      if (!this.stopped) for (const id of deferred) this.start(id);
    };
    void guard(s, 'resuming interrupted jobs', async () => {
      const until = Date.now() + RESUME_GRACE_MS;
      try {
        while (!this.stopped && Date.now() < until && !hosts.every((h) => s.agents.isReconciled(h))) await sleep(200);
      } finally { release(); }
      // Several managers: and until the managers that owned them are gone (their lease lapsed).
      const ids = rows.map((r) => r.id);
      try {
        while (!this.stopped && s.cluster && ids.length && Date.now() < until
          && (await s.db.query(`SELECT 1 FROM async_jobs WHERE id = ANY($2::uuid[]) AND status = 0 AND NOT ${JobRunner.FREE.replace('$2', '$1')} LIMIT 1`, [s.runId, ids])).length) await sleep(200);
      } finally { for (const r of rows) this.held.delete(r.id); }
      if (this.stopped) return;
      const missing = hosts.filter((h) => !s.agents.isReconciled(h));
      if (missing.length) s.log.warn({ hosts: missing, jobs: rows.length }, `resuming interrupted jobs after ${RESUME_GRACE_MS} ms without these hosts`);
      for (const r of rows) this.start(r.id);
    });
    return rows.length;
  }

  /** The leader's safety net (decision 0282): pending jobs it was not told about (a NOTIFY lost
   *  in a leadership change) or whose manager's lease lapsed, and that nobody here holds. */
  async sweep(): Promise<void> {
    const s = this.services;
    if (this.stopped || (s.cluster && !s.cluster.leader)) return;
    const rows = await s.db.query<{ id: string }>(
      `SELECT id FROM async_jobs WHERE status = 0 AND created < now() - interval '2 seconds' AND ${JobRunner.FREE.replace('$2', '$1')} ORDER BY created LIMIT 500`, [s.runId]);
    for (const r of rows) if (!this.active.has(r.id) && !this.held.has(r.id)) this.start(r.id);
  }

  private async run(jobId: string): Promise<void> {
    const s = this.services;
    const claimed = await s.db.query<JobRow>(
      `UPDATE async_jobs SET owner = $2, attempts = attempts + 1 WHERE id = $1 AND status = 0 AND ${JobRunner.FREE}
       RETURNING id, user_id, command, params, attempts, status, instance_id`, [jobId, s.runId]);
    const job = claimed[0];
    if (!job) return;
    if (job.attempts > MAX_ATTEMPTS) {
      return this.fail(job.id, new ApiError('INTERNAL_ERROR', `Job ${job.command} was interrupted ${MAX_ATTEMPTS} times by management server restarts and has been failed (a database-only command committed nothing of it; the steps of one that talks to hosts are left to reconciliation and the repair loop)`));
    }
    if (s.settings.jobDelayMs > 0) await sleep(s.settings.jobDelayMs);
    const cmd = s.registry.get(job.command);
    const caller = await loadCaller(s, job.user_id);
    if (!cmd || !caller) return this.fail(job.id, new ApiError('INTERNAL_ERROR', `Job ${job.command} cannot run: its command or its user no longer exists`));
    // One job at a time per object (CloudStack's sync queue per VM, volume, …): a destroy waits
    // for a deploy of the same VM still running (a resumed one, or one in flight), instead of
    // racing it — the kill harness saw a resumed deploy re-make the ROOT file a destroy had just
    // removed with its row, leaving the host a file no volume has.
    const target = cmd.instance?.creates ? job.instance_id : cmd.instance?.param ? job.params[cmd.instance.param] : undefined;
    if (typeof target === 'string' && target) await serialized(`job:${cmd.instance!.type}:${target}`, () => this.execute(job, cmd, caller));
    else await this.execute(job, cmd, caller);
  }

  private async execute(job: JobRow, cmd: AnyCommand, caller: Caller): Promise<void> {
    const s = this.services;
    const started = process.hrtime.bigint();
    const took = () => Number(process.hrtime.bigint() - started) / 1e9;
    try {
      const newId = cmd.instance?.creates && job.instance_id ? job.instance_id : undefined;
      const databaseOnly = cmd.transactional !== false && Boolean(cmd.event);
      const complete = async (sql: Sql, inner: Record<string, unknown>, resource?: { type: string; id: string }) => {
        const done = await sql.query(
          `UPDATE async_jobs SET status = 1, result_code = 0, result = $2, completed = now(),
             instance_type = coalesce($3, instance_type), instance_id = coalesce($4, instance_id) WHERE id = $1 AND status = 0 RETURNING id`,
          [job.id, JSON.stringify(inner), resource?.type ?? null, resource?.id ?? null]);
        // Completed meanwhile (another runner): this run's work must not commit a second time.
        if (!done.length) throw new Error(`job ${job.id} was completed by another run`);
      };
      if (databaseOnly) {
        await execute(s, caller, cmd, job.params, { jobId: job.id, ...(newId ? { newId } : {}), complete });
      } else {
        const { inner, resource } = await execute(s, caller, cmd, job.params, { jobId: job.id, ...(newId ? { newId } : {}) });
        await complete(s.db, inner, resource);
      }
      s.metrics.jobDuration.observe({ command: cmd.name, result: 'succeeded' }, took());
    } catch (e) {
      // The database connection was lost under the job (a PostgreSQL restart, a terminated
      // backend): not the command's failure. The runner retries it (start()), as a restart would
      // resume it; its steps are resumable (decision 0281).
      if (lostDatabase(e)) throw e;
      if (await this.doneBeforeKill(job, cmd, caller, e)) {
        s.metrics.jobDuration.observe({ command: cmd.name, result: 'succeeded' }, took());
        return;
      }
      await this.fail(job.id, e);
      s.metrics.jobDuration.observe({ command: cmd.name, result: 'failed' }, took());
    }
  }

  /**
   * A resumed delete (a host-talking command answering `success` about the object its `instance`
   * parameter names) whose object is gone: the run a kill interrupted committed the deletion and
   * died before its push or its completion. The desired state is reached (the repair loop sends
   * the router the spec without it): the job succeeds, with an audit event saying so, instead of
   * failing 431 on its own earlier work. Only for resumed jobs (attempts > 1): a first run that
   * finds nothing is an honest 431.
   */
  private async doneBeforeKill(job: JobRow, cmd: AnyCommand, caller: Caller, e: unknown): Promise<boolean> {
    const param = cmd.instance?.param;
    if (job.attempts < 2 || !param || cmd.shape !== 'success' || cmd.transactional !== false) return false;
    const id = job.params[param];
    if (typeof id !== 'string' || !(e instanceof ApiError) || e.kind !== 'PARAM_ERROR' || !e.message.includes(`Invalid parameter ${param} value=${id} `)) return false;
    const s = this.services;
    return s.db.tx(async (sql) => {
      const done = await sql.query(
        `UPDATE async_jobs SET status = 1, result_code = 0, result = $2, completed = now() WHERE id = $1 AND status = 0 RETURNING id`,
        [job.id, JSON.stringify({ success: true })]);
      if (!done.length) return false;
      await audit(sql, caller, { type: cmd.event!, command: cmd.name, params: { ...job.params, resumed: true }, result: 'SUCCESS', resourceId: id, resourceType: cmd.instance?.type ?? 'resource' });
      s.log.warn({ job: job.id, command: cmd.name, id }, 'resumed delete found its object gone (deleted by the interrupted run): succeeded');
      return true;
    });
  }

  private async fail(jobId: string, e: unknown): Promise<void> {
    const err = toApiError(e);
    await this.services.db.query(
      `UPDATE async_jobs SET status = 2, result_code = $2, result = $3, completed = now() WHERE id = $1 AND status = 0`,
      [jobId, err.errorcode, JSON.stringify({ errorcode: err.errorcode, errortext: err.message })]);
  }
}
