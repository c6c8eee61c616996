// Issue 16, item 3 (decision 0282): two managers on one PostgreSQL behind a real HAProxy, the
// leader killed with SIGKILL under 100 concurrent deploys (tests/src/managers-failover.ts): the
// API keeps answering through HAProxy, every accepted job ends, the cloud converges, the agent
// is with the survivor, and a follower's sync command that talks to the host was routed.
// PostgreSQL only (PGlite is one manager's): FLOTILLA_TEST_PG_URL names the server; CI must set it.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { openPostgres } from '@flotilla/manager/db/postgres';
import { managersFailover } from '../src/managers-failover.ts';

const PG_URL = process.env.FLOTILLA_TEST_PG_URL;

// Never skipped: without a server this test fails, saying what it needs.
test.serial('two managers behind HAProxy: the leader killed under 100 deploys, the API answers, every job ends, the cloud converges', async (t) => {
  if (!PG_URL) { t.fail('several managers share a PostgreSQL database: set FLOTILLA_TEST_PG_URL (scripts/pg-throwaway.sh starts one)'); return; }
  const name = `flt_managers_${randomBytes(6).toString('hex')}`;
  const server = await openPostgres(PG_URL!);
  await server.query(`CREATE DATABASE ${name}`);
  t.teardown(async () => { await server.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => undefined); await server.close(); });
  const u = new URL(PG_URL!); u.pathname = `/${name}`;
  const r = await managersFailover({ databaseUrl: u.toString(), deploys: 100, log: (l) => t.log(l) });
  t.log(`failover_api_gap_ms=${r.gapMs} probes=${r.probes} probe_failures=${r.probeFailures} accepted=${r.accepted} refused=${r.refused} ended=${r.ended} lost=${r.lost} failed=${r.failedJobs} running=${r.running} killed_after_ms=${r.killedAfterMs}`);
  if (r.failed.length) t.log(r.failed.join(' | '));
  t.true(r.routed, 'a follower-served deleteVolume removed the file on the host through the leader');
  t.true(r.accepted >= 90, `${r.accepted} of ${r.deploys} deploys accepted`);
  t.is(r.lost, 0, 'every accepted job ended');
  t.deepEqual(r.problems, [], 'the cloud converged');
  t.true(r.agentOnSurvivor, 'the agent is connected to the surviving manager, which leads');
  t.true(r.gapMs <= 5000, `the largest gap between two answers through HAProxy was ${r.gapMs} ms`);
  t.true(r.probes > 20);
  t.deepEqual(Object.values(r.managers).sort(), ['Down', 'Up'], `listManagementServers: ${JSON.stringify(r.managers)}`);
});
