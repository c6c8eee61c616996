// bench:faults — issue 16's line, from attacks that really run against the manager:
//   faults: kill_runs= lost= duplicated= orphaned= failover_api_gap_ms= fuzz_requests= fuzz_5xx= csrf_blocked= lockout=
// fuzz_*: the API fuzzer (tests/src/fuzz.ts) over every registered command against a simulator
//   cloud, as admin and tenant (FLT_FUZZ_ALL=1: every hostile value for every parameter);
//   fuzz_5xx counts HTTP 500–530 answers (530 = CloudStack's INTERNAL_ERROR); misshapen and
//   persisted answers are printed beside it.
// csrf_blocked=1: a logged-in user's session cookies alone (no sessionkey parameter, as a
//   cross-site link sends them) do not run a mutating GET, and the same request with the
//   sessionkey does (the control).
// lockout=1: after incorrect.login.attempts.allowed wrong passwords the right one is refused
//   (531, locked), where it worked before.
// kill_runs, lost, duplicated, orphaned (item 2): tests/src/kill-runs.ts — the real manager
//   killed with SIGKILL at a uniformly random instant of a workload of async commands, FLT_KILL_RUNS
//   times (100), on a simulator host living in this process; a fresh PostgreSQL database when
//   BENCH_PG_URL or FLOTILLA_TEST_PG_URL names a server (its start is twice as fast as PGlite's
//   here), else PGlite. lost = accepted jobs that never ended; duplicated / orphaned = problems
//   left after convergence (summed over runs). The phases the kills fell in go to stderr.
//   FLT_FAULTS_FUZZ=off skips the fuzz (its fields n/a).
// failover_api_gap_ms (item 3, decision 0282): tests/src/managers-failover.ts — two real managers
//   on one fresh PostgreSQL database behind a real HAProxy (health check /healthz, redispatch,
//   retry-on conn-failure empty-response), the leader killed with SIGKILL at a random instant of
//   100 concurrent deployVirtualMachine calls: the largest gap between two successful listZones
//   answers through HAProxy (a probe every 50 ms). Needs PostgreSQL (BENCH_PG_URL or
//   FLOTILLA_TEST_PG_URL; n/a without, never a made-up number); failover_* fields beside it.
//   FLT_FAULTS_FAILOVER=off skips it.
import { fuzz } from '../src/fuzz.ts';
import { fuzzCloud, fuzzCommands } from '../src/fuzz-cloud.ts';
import { login } from '@flotilla/manager/client';
import { openPostgres } from '@flotilla/manager/db/postgres';
import { randomBytes } from 'node:crypto';
import { killRuns } from '../src/kill-runs.ts';
import { managersFailover } from '../src/managers-failover.ts';

const teardowns: Array<() => unknown> = [];
const t = { teardown: (f: () => unknown) => { teardowns.push(f); }, log: () => undefined } as unknown as Parameters<typeof fuzzCloud>[0];
let code = 0;
try {
  const c = await fuzzCloud(t);
  const url = c.admin.url;
  // The session checks first: the fuzz deletes and disables what it finds.
  // CSRF: the cookies alone vs the cookies with the sessionkey parameter.
  const user = (await c.admin.ok('createAccount', { username: 'csrfuser', account: 'csrfuser', password: 'pw-csrf-1', email: 'c@example.org', firstname: 'c', lastname: 'c', accounttype: 0 })).account;
  const s = await login(url, 'csrfuser', 'pw-csrf-1');
  const zone = (await c.admin.ok('listZones', { name: 'fz' })).zone[0].id;
  const iso = (await c.admin.ok('listNetworkOfferings', { name: 'DefaultIsolatedNetworkOfferingWithSourceNatService' })).networkoffering[0].id;
  const get = async (extra: Record<string, string>, name: string) => {
    const q = new URLSearchParams({ command: 'createNetwork', zoneid: zone, name, displaytext: name, networkofferingid: iso, response: 'json', ...extra });
    return (await fetch(`${url}/client/api?${q}`, { headers: { cookie: s.cookie } })).status;
  };
  const nets = async (name: string) => ((await c.admin.ok('listNetworks', { listall: true, name })).network ?? []).length;
  const cookieOnly = await get({}, 'csrf-cookie-only');
  const withKey = await get({ sessionkey: s.sessionkey }, 'csrf-with-key');
  const csrfBlocked = cookieOnly !== 200 && (await nets('csrf-cookie-only')) === 0 && withKey === 200 && (await nets('csrf-with-key')) === 1 ? 1 : 0;
  process.stderr.write(`faults: csrf: cookies only ${cookieOnly}, with sessionkey ${withKey} (account ${user.id})\n`);

  // Lockout.
  await c.admin.ok('createAccount', { username: 'lockuser', account: 'lockuser', password: 'pw-lock-1', email: 'l@example.org', firstname: 'l', lastname: 'l', accounttype: 0 });
  const first = (await login(url, 'lockuser', 'pw-lock-1')).status;
  const allowed = Number((await c.admin.ok('listConfigurations', { name: 'incorrect.login.attempts.allowed' })).configuration?.find((x: { name: string }) => x.name === 'incorrect.login.attempts.allowed')?.value ?? 5);
  const wrong: number[] = [];
  for (let i = 0; i < allowed; i++) wrong.push((await login(url, 'lockuser', `wrong-${i}`)).status);
  const after = await login(url, 'lockuser', 'pw-lock-1');
  const lockout = first === 200 && wrong.every((x) => x === 531) && after.status === 531 && /locked/i.test(String(after.body?.errortext)) ? 1 : 0;
  process.stderr.write(`faults: lockout: right password ${first}, ${allowed} wrong ${[...new Set(wrong)].join('/')}, then right password ${after.status}\n`);

  const commands = fuzzCommands();
  const fuzzOn = process.env.FLT_FAULTS_FUZZ !== 'off';
  const started = Date.now();
  let fuzzFields = 'fuzz_requests=n/a fuzz_5xx=n/a';
  let fuzzTail = '';
  if (fuzzOn) {
    process.stderr.write(`faults: fuzzing ${commands.length} commands…\n`);
    const r = await fuzz({ ...c, commands, ...(process.env.FLT_FUZZ_ALL === '1' ? { perParam: 0 } : {}) });
    process.stderr.write(`faults: fuzz took ${((Date.now() - started) / 1000).toFixed(0)} s; by status ${JSON.stringify(r.byStatus)}\n`);
    for (const x of [...r.internal, ...r.misshapen, ...r.persisted].slice(0, 20)) process.stderr.write(`  ${x}\n`);
    fuzzFields = `fuzz_requests=${r.requests} fuzz_5xx=${r.internal.length}`;
    fuzzTail = ` fuzz_misshapen=${r.misshapen.length} fuzz_persisted=${r.persisted.length} fuzz_commands=${commands.length}`;
    if (r.internal.length || r.misshapen.length || r.persisted.length) code = 1;
  }

  // Kill runs: the real manager as a child process, its own database.
  const pgUrl = process.env.BENCH_PG_URL ?? process.env.FLOTILLA_TEST_PG_URL;
  let databaseUrl: string | undefined;
  if (pgUrl) {
    const name = `flt_killbench_${randomBytes(6).toString('hex')}`;
    const server = await openPostgres(pgUrl);
    await server.query(`CREATE DATABASE ${name}`);
    teardowns.push(async () => { await server.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => undefined); await server.close(); });
    const u = new URL(pgUrl); u.pathname = `/${name}`;
    databaseUrl = u.toString();
  }
  // Two managers behind HAProxy, the leader killed under 100 deploys (its own fresh database).
  let failoverGap = 'n/a';
  let failoverTail = '';
  if (pgUrl && process.env.FLT_FAULTS_FAILOVER !== 'off') {
    const name = `flt_failbench_${randomBytes(6).toString('hex')}`;
    const server = await openPostgres(pgUrl);
    await server.query(`CREATE DATABASE ${name}`);
    teardowns.push(async () => { await server.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => undefined); await server.close(); });
    const u = new URL(pgUrl); u.pathname = `/${name}`;
    const f = await managersFailover({ databaseUrl: u.toString(), deploys: 100, log: (l) => process.stderr.write(`faults: ${l}\n`) });
    for (const p of [...f.problems, ...f.failed].slice(0, 20)) process.stderr.write(`  ${p}\n`);
    failoverGap = String(f.gapMs);
    failoverTail = ` failover_deploys=${f.deploys} failover_accepted=${f.accepted} failover_lost=${f.lost} failover_failed=${f.failedJobs} failover_problems=${f.problems.length}`
      + ` failover_agent_on_survivor=${f.agentOnSurvivor ? 1 : 0} failover_routed=${f.routed ? 1 : 0} failover_killed_after_ms=${f.killedAfterMs}`;
    if (f.gapMs > 5000 || f.lost || f.problems.length || !f.agentOnSurvivor || !f.routed) code = 1;
  }

  const kills = Number(process.env.FLT_KILL_RUNS ?? 100);
  const k = await killRuns({ runs: kills, driver: 'simulator', ...(databaseUrl ? { databaseUrl } : {}), log: (l) => process.stderr.write(`faults: ${l}\n`) });
  process.stderr.write(`faults: kill phases ${JSON.stringify(k.phases)}\n`);
  for (const p of k.problems.slice(0, 20)) process.stderr.write(`  ${p}\n`);
  process.stderr.write(`faults: ${k.failedJobs} of ${k.jobs} jobs ended failed (a result, not lost)${k.failed.length ? `: ${k.failed.join(' | ')}` : ''}\n`);
  for (const e of k.managerErrors) process.stderr.write(`faults: manager error: ${e}\n`);
  if (k.lost || k.duplicated || k.orphaned || k.runs !== kills) code = 1;

  process.stdout.write(`faults: kill_runs=${k.runs} lost=${k.lost} duplicated=${k.duplicated} orphaned=${k.orphaned} failover_api_gap_ms=${failoverGap} ${fuzzFields} csrf_blocked=${csrfBlocked} lockout=${lockout}`
    + `${fuzzTail} kill_jobs=${k.jobs} kill_repairs=${k.repairs} kill_span_ms=${k.spanMs} kill_phases=${Object.keys(k.phases).length} kill_db=${databaseUrl ? 'postgres' : 'pglite'}${failoverTail}\n`);
  if (!csrfBlocked || !lockout) code = 1;
} catch (e) {
  process.stderr.write(`faults: ${(e as Error).stack}\n`);
  code = 1;
} finally {
  for (const f of teardowns.reverse()) await f();
}
process.exit(code);
