// Issue 16, item 2: the manager killed with SIGKILL at random instants of a workload of async
// commands (tests/src/kill-runs.ts), restarted, converged: 0 lost, 0 duplicated, 0 orphaned.
// Three runs here (bench:faults runs 100): on a simulator host (PostgreSQL when
// FLOTILLA_TEST_PG_URL names a server, else PGlite), and one on the real netns driver, whose
// routers are real appliance processes in namespaces that outlive the killed manager.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { openPostgres } from '@flotilla/manager/db/postgres';
import { killRuns } from '../src/kill-runs.ts';
import { Lab } from '../src/lab.ts';

const PG_URL = process.env.FLOTILLA_TEST_PG_URL;

async function database(t: { teardown(f: () => unknown): void }): Promise<string | undefined> {
  if (!PG_URL) return undefined;
  const name = `flt_kill_${randomBytes(6).toString('hex')}`;
  const server = await openPostgres(PG_URL);
  await server.query(`CREATE DATABASE ${name}`);
  t.teardown(async () => { await server.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => undefined); await server.close(); });
  const u = new URL(PG_URL); u.pathname = `/${name}`;
  return u.toString();
}

test.serial('killed at random points on a simulator host: nothing lost, duplicated or orphaned', async (t) => {
  const databaseUrl = await database(t);
  const r = await killRuns({ runs: 2, driver: 'simulator', ...(databaseUrl ? { databaseUrl } : {}), log: (l) => t.log(l) });
  t.log(JSON.stringify(r.phases), `${r.failedJobs} of ${r.jobs} jobs failed`, r.failed.join(' | '));
  if (r.managerErrors.length) t.log(`the managers logged errors:\n${r.managerErrors.join('\n')}`);
  t.is(r.runs, 2);
  t.true(r.jobs > 0);
  t.deepEqual({ lost: r.lost, duplicated: r.duplicated, orphaned: r.orphaned }, { lost: 0, duplicated: 0, orphaned: 0 }, r.problems.join('\n'));
});

test.serial('killed at a random point with the real netns driver: nothing lost, duplicated or orphaned', async (t) => {
  const lab = Lab.create(t, 'kill');
  const r = await killRuns({ runs: 1, driver: 'netns', lab, log: (l) => t.log(l) });
  t.log(JSON.stringify(r.phases), `${r.failedJobs} of ${r.jobs} jobs failed`, r.failed.join(' | '));
  if (r.managerErrors.length) t.log(`the managers logged errors:\n${r.managerErrors.join('\n')}`);
  t.is(r.runs, 1);
  t.deepEqual({ lost: r.lost, duplicated: r.duplicated, orphaned: r.orphaned }, { lost: 0, duplicated: 0, orphaned: 0 }, r.problems.join('\n'));
});
