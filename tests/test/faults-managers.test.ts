// Issue 16, item 3 (decision 0282): two managers on one PostgreSQL behind a real HAProxy, the
// leader killed with SIGKILL under 100 concurrent deploys (tests/src/managers-failover.ts): the
// API keeps answering through HAProxy, every accepted job ends, the cloud converges, the agent
// is with the survivor, a follower's sync command that talks to the host was routed, and a
// console opened on the follower carried bytes both ways.
// PostgreSQL only (PGlite is one manager's): FLOTILLA_TEST_PG_URL names the server; CI must set it.
import test, { type ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { openPostgres } from '@flotilla/manager/db/postgres';
import type { Database } from '@flotilla/manager/db/sql';
import { managersFailover } from '../src/managers-failover.ts';

const PG_URL = process.env.FLOTILLA_TEST_PG_URL;

// Never skipped: without a server this test fails, saying what it needs.
/** A fresh database on the shared server (never restarted: other tests use it), dropped after. */
async function database(t: ExecutionContext): Promise<{ url: string; name: string; server: Database }> {
  const name = `flt_managers_${randomBytes(6).toString('hex')}`;
  const server = await openPostgres(PG_URL!);
  await server.query(`CREATE DATABASE ${name}`);
  t.teardown(async () => { await server.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => undefined); await server.close(); });
  const u = new URL(PG_URL!); u.pathname = `/${name}`;
  return { url: u.toString(), name, server };
}

test.serial('two managers behind HAProxy: the leader killed under 100 deploys, the API answers, every job ends, the cloud converges', async (t) => {
  if (!PG_URL) { t.fail('several managers share a PostgreSQL database: set FLOTILLA_TEST_PG_URL (scripts/pg-throwaway.sh starts one)'); return; }
  const db = await database(t);
  const r = await managersFailover({ databaseUrl: db.url, deploys: 100, log: (l) => t.log(l) });
  t.log(`failover_api_gap_ms=${r.gapMs} probes=${r.probes} probe_failures=${r.probeFailures} accepted=${r.accepted} refused=${r.refused} ended=${r.ended} lost=${r.lost} failed=${r.failedJobs} running=${r.running} killed_after_ms=${r.killedAfterMs}`);
  if (r.failed.length) t.log(r.failed.join(' | '));
  t.true(r.routed, 'a follower-served deleteVolume removed the file on the host through the leader');
  t.true(r.consoleViaFollower, 'a console opened on the follower carried bytes both ways');
  t.true(r.accepted >= 90, `${r.accepted} of ${r.deploys} deploys accepted`);
  t.is(r.lost, 0, 'every accepted job ended');
  t.deepEqual(r.problems, [], 'the cloud converged');
  t.true(r.agentOnSurvivor, 'the agent is connected to the surviving manager, which leads');
  t.true(r.gapMs <= 5000, `the largest gap between two answers through HAProxy was ${r.gapMs} ms`);
  t.true(r.probes > 20);
  t.deepEqual(Object.values(r.managers).sort(), ['Down', 'Up'], `listManagementServers: ${JSON.stringify(r.managers)}`);
});

// What a PostgreSQL restart does to the managers, on this database only (the shared server itself
// is never restarted): every connection of the database is terminated at a random instant of 40
// deploys — the pools' connections and the leader's lock-and-listen connection. The leader stops
// leading, a manager wins the lock again, the agent follows it, and nothing accepted is lost.
test.serial('every database connection terminated under 40 deploys (a PostgreSQL restart, as the managers see it): a leader again, every job ends, the cloud converges', async (t) => {
  if (!PG_URL) { t.fail('several managers share a PostgreSQL database: set FLOTILLA_TEST_PG_URL (scripts/pg-throwaway.sh starts one)'); return; }
  const db = await database(t);
  let terminated = 0;
  const r = await managersFailover({
    databaseUrl: db.url, deploys: 40, log: (l) => t.log(l),
    fault: async () => {
      const rows = await db.server.query<{ ok: boolean }>('SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE datname = $1', [db.name]);
      terminated = rows.filter((x) => x.ok).length;
    },
  });
  t.log(`terminated ${terminated} connections; gap=${r.gapMs} accepted=${r.accepted} ended=${r.ended} lost=${r.lost} failed=${r.failedJobs} leader after: ${r.leaderAfter}`);
  if (r.failed.length) t.log(r.failed.join(' | '));
  t.true(terminated >= 4, `${terminated} connections terminated`);
  t.true(r.routed);
  t.true(r.accepted >= 36, `${r.accepted} of ${r.deploys} deploys accepted`);
  t.is(r.lost, 0, 'every accepted job ended');
  t.deepEqual(r.problems, [], 'the cloud converged');
  t.true(r.agentOnSurvivor, `the agent is connected to the one leading manager (${r.leaderAfter})`);
  t.deepEqual(Object.values(r.managers).sort(), ['Up', 'Up'], `listManagementServers: ${JSON.stringify(r.managers)}`);
});

// A real PostgreSQL restart (pg_ctl restart -m fast) of a throwaway server of this test's own
// (scripts/pg-throwaway.sh: its own directory and port; the shared server is never restarted) at
// a random instant of 40 deploys: the server is gone for a moment and every connection with it.
test.serial('a real PostgreSQL restart under 40 deploys: a leader again, every job ends, the cloud converges', async (t) => {
  const script = fileURLToPath(new URL('../../scripts/pg-throwaway.sh', import.meta.url));
  const env = { ...process.env, FLOTILLA_PG_DIR: `/tmp/flt-pg-restart-${process.pid}`, FLOTILLA_PG_PORT: String(57000 + (process.pid % 1000)) };
  let url: string;
  try {
    url = /FLOTILLA_TEST_PG_URL=(\S+)/.exec(execFileSync('bash', [script, 'start'], { env, encoding: 'utf8' }))![1]!;
  } catch (e) { t.fail(`a PostgreSQL server of the test's own could not start (the postgresql package): ${(e as Error).message}`); return; }
  t.teardown(() => { execFileSync('bash', [script, 'stop'], { env, stdio: 'ignore' }); });
  const server = await openPostgres(url);
  await server.query('CREATE DATABASE flt_restart');
  await server.close();
  const u = new URL(url); u.pathname = '/flt_restart';
  let restartMs = 0;
  const r = await managersFailover({
    databaseUrl: u.toString(), deploys: 40, log: (l) => t.log(l),
    fault: async () => {
      const t0 = Date.now();
      execFileSync('bash', [script, 'restart'], { env, stdio: 'ignore' });
      restartMs = Date.now() - t0;
    },
  });
  t.log(`restart took ${restartMs} ms; gap=${r.gapMs} accepted=${r.accepted} ended=${r.ended} lost=${r.lost} failed=${r.failedJobs} leader after: ${r.leaderAfter}`);
  if (r.failed.length) t.log(r.failed.join(' | '));
  t.true(restartMs > 0);
  t.true(r.accepted >= 30, `${r.accepted} of ${r.deploys} deploys accepted`);
  t.is(r.lost, 0, 'every accepted job ended');
  t.deepEqual(r.problems, [], 'the cloud converged');
  t.true(r.agentOnSurvivor, `the agent is connected to the one leading manager (${r.leaderAfter})`);
  t.deepEqual(Object.values(r.managers).sort(), ['Up', 'Up'], `listManagementServers: ${JSON.stringify(r.managers)}`);
});
