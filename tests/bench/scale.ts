// bench:scale — the manager with 1,000 routers on simulated hosts, on PostgreSQL.
//
// Workload (BENCH_ROUTERS, default 1000; BENCH_HOSTS simulated hosts, default 20):
//  1. A manager process on a fresh PostgreSQL database; a Simulator zone whose hosts are agents
//     with the simulator driver in this process (they outlive the manager, as real hosts do).
//  2. One isolated network per router, each implemented by deploying a VM into it through the
//     API (the router is started on a host and sent its spec, as in production).
//  3. 50 ingress firewall rules per network, written into the database while the manager is
//     down — so after the restart every router needs a new spec (the worst case of a resync,
//     not a confirmation of unchanged generations). They are written by SQL (50,000 API jobs
//     would take the bench an hour); `spec_hash = NULL` marks each router's spec for a rebuild,
//     exactly what the manager does for a spec it has never built.
//  4. kill -9 of the manager, a new manager on the same database: routers_1000_resync_s is the
//     time from its start until every router reports the newest generation (applied =
//     generation, built from the 50 rules). manager_rss_mb is the new manager's RSS then.
//  5. The router monitor's cost: a cycle asks every running router for its report; the bench
//     reads the cycle's wall time from /metrics at 100 routers and at 1,000 and prints the cost
//     per router at both (flat = the second is not larger than the first by more than noise).
// Targets (issue): resync ≤ 30 s, RSS ≤ 1,024 MB on PostgreSQL, per-router monitor cost flat.
// Ends with: scale: routers_1000_resync_s=<n> manager_rss_mb=<n> monitor_ms_per_router=<n>
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { Agent, SimulatorDriver } from '@flotilla/agent';
import { keysFor, type Api } from '@flotilla/manager/client';
import { createZone, waitFor } from '../src/cloud.ts';
import { startManager } from '../src/manager-proc.ts';
import { pgServer } from '../../manager/bench/pg.ts';

const ROUTERS = Number(process.env.BENCH_ROUTERS ?? 1000);
const HOSTS = Number(process.env.BENCH_HOSTS ?? 20);
const RULES = 50;
const MONITOR_MS = 5000;
const out = (s: string) => process.stdout.write(`${s}\n`);
const cleanups: Array<() => unknown> = [];

interface Mgr { child: ChildProcess; pid: number; url: string; startedAt: number }

async function startMgr(env: Record<string, string>): Promise<Mgr> {
  const startedAt = performance.now();
  const m = await startManager({ ...env, PORT: env.PORT ?? '0', FLOTILLA_LOCAL_CLOUD: 'off', FLOTILLA_LOG_LEVEL: 'error', FLOTILLA_ROUTER_CHECK_MS: String(MONITOR_MS) });
  // At log level error, what the manager prints is worth reading (a failed job's cause).
  m.child.stdout!.on('data', (b) => process.stderr.write(b));
  m.child.stderr!.on('data', (b) => process.stderr.write(b));
  return { child: m.child, pid: m.child.pid!, url: m.url, startedAt };
}

function rssMb(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
}

/** The monitor's histogram (sum, count) and the routers its last cycle checked, from /metrics. */
async function monitorStats(url: string): Promise<{ sum: number; count: number; routers: number }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const num = (re: RegExp) => Number(re.exec(text)?.[1] ?? NaN);
  return { sum: num(/^flotilla_router_monitor_cycle_seconds_sum (\S+)/m), count: num(/^flotilla_router_monitor_cycle_seconds_count (\S+)/m), routers: num(/^flotilla_router_monitor_routers (\S+)/m) };
}

/** Cost per router of the next complete monitor cycles, each checking `routers` routers. */
async function monitorMsPerRouter(url: string, routers: number, cycles = 2): Promise<number> {
  let a = await monitorStats(url);
  await waitFor(async () => { a = await monitorStats(url); return a.routers === routers; }, `a monitor cycle over ${routers} routers`, 120_000);
  let b = a;
  await waitFor(async () => { b = await monitorStats(url); return b.count >= a.count + cycles && b.routers === routers; }, `${cycles} more monitor cycles`, 300_000);
  return ((b.sum - a.sum) / (b.count - a.count)) * 1000 / routers;
}

async function pool<T>(items: T[], width: number, fn: (x: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => { while (next < items.length) { const i = next++; await fn(items[i]!, i); } }));
}

async function main(): Promise<void> {
  const server = await pgServer();
  cleanups.push(() => server.stop());
  const dbName = `flt_scale_${process.pid}`;
  const adminDb = new pg.Client({ connectionString: server.url });
  await adminDb.connect();
  await adminDb.query(`CREATE DATABASE ${dbName}`);
  cleanups.push(async () => { await adminDb.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).catch(() => undefined); await adminDb.end(); });
  const dbUrl = server.url.replace(/\/[^/]*$/, `/${dbName}`);
  const dataDir = mkdtempSync(join(tmpdir(), 'flt-scale-'));
  cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
  const env = { DATABASE_URL: dbUrl, FLOTILLA_DATA_DIR: dataDir, FLOTILLA_ADMIN_PASSWORD: 'scale-admin' };

  let mgr = await startMgr(env);
  cleanups.push(() => { mgr.child.kill('SIGKILL'); });
  const port = new URL(mgr.url).port;
  const admin: Api = await keysFor(mgr.url, 'admin', 'scale-admin');

  // Zone, public range for 1,000 source-NAT addresses (198.18.0.0/21, RFC 2544's bench range).
  const z = await createZone(admin, 'scale', 'Simulator');
  await admin.jobOk('addTrafficType', { physicalnetworkid: z.physicalNetworkId, traffictype: 'Public' });
  await admin.ok('createVlanIpRange', { zoneid: z.zoneId, physicalnetworkid: z.physicalNetworkId, forvirtualnetwork: true, vlan: 'untagged', gateway: '198.18.0.1', netmask: '255.255.248.0', startip: '198.18.0.10', endip: '198.18.7.250' });
  // Agents keep their URL across the restart: the second manager listens on the same port.
  const agents: Agent[] = [];
  const drivers: SimulatorDriver[] = [];
  for (let i = 0; i < HOSTS; i++) {
    const h = (await admin.ok('addHost', { zoneid: z.zoneId, podid: z.podId, clusterid: z.clusterId, url: `agent://scale-sim${i}`, hypervisor: 'Simulator' })).host[0];
    const driver = new SimulatorDriver({ capacity: { cpus: 1024, cpuMhz: 2400, memoryMb: 1 << 22 } });
    drivers.push(driver);
    const a = new Agent({ url: `ws://127.0.0.1:${port}/agent`, token: h.agenttoken, hostName: `scale-sim${i}`, driver, backoff: { initialMs: 100, maxMs: 1000 } });
    agents.push(a);
    cleanups.push(() => a.stop());
    a.start();
  }
  await waitFor(async () => ((await admin.ok('listHosts', { zoneid: z.zoneId, state: 'Up', pagesize: 1 })).count ?? 0) === HOSTS, `${HOSTS} hosts Up`, 120_000);

  const offering = (await admin.ok('listNetworkOfferings', { name: 'DefaultIsolatedNetworkOfferingWithSourceNatService' })).networkoffering[0];
  const so = (await admin.ok('listServiceOfferings', { name: 'Small Instance' })).serviceoffering[0];
  const tpl = (await admin.ok('listTemplates', { templatefilter: 'featured', name: 'Flotilla netns guest' })).template[0];
  const deploy = async (i: number) => {
    const net = (await admin.ok('createNetwork', { name: `scale-${i}`, displaytext: `scale ${i}`, zoneid: z.zoneId, networkofferingid: offering.id })).network;
    const r = await admin.job('deployVirtualMachine', { zoneid: z.zoneId, serviceofferingid: so.id, templateid: tpl.id, networkids: net.id, name: `scale-vm-${i}` }, 600_000);
    if (r.jobstatus !== 1) throw new Error(`deploy ${i}: ${JSON.stringify(r.jobresult)}`);
  };
  const t0 = performance.now();
  const first = Math.min(100, ROUTERS);
  await pool(Array.from({ length: first }, (_, i) => i), 16, (i) => deploy(i));
  const at100 = await monitorMsPerRouter(mgr.url, first);
  out(`${first} routers deployed; monitor ${at100.toFixed(2)} ms per router`);
  await pool(Array.from({ length: ROUTERS - first }, (_, i) => first + i), 16, (i) => deploy(i));
  out(`${ROUTERS} networks with a router and a VM deployed through the API in ${((performance.now() - t0) / 1000).toFixed(0)} s on ${HOSTS} simulated hosts`);
  const atN = await monitorMsPerRouter(mgr.url, ROUTERS);
  out(`${ROUTERS} routers; monitor ${atN.toFixed(2)} ms per router (cycle ${(atN * ROUTERS / 1000).toFixed(1)} s)`);

  // kill -9, then the rules change in the database while no manager runs.
  mgr.child.kill('SIGKILL');
  await new Promise((r) => mgr.child.once('exit', r));
  const db = new pg.Client({ connectionString: dbUrl });
  await db.connect();
  cleanups.push(() => db.end());
  await db.query(
    `INSERT INTO network_rules (id, purpose, network_id, ip_address_id, account_id, domain_id, protocol, start_port, end_port, source_cidrs)
     SELECT gen_random_uuid(), 'Firewall', p.network_id, p.id, p.account_id, p.domain_id, 'tcp', 1000 + k, 1000 + k, ARRAY['198.51.100.' || k || '/32']
     FROM public_ip_addresses p CROSS JOIN generate_series(1, $1) k WHERE p.is_source_nat AND p.zone_id = $2`, [RULES, z.zoneId]);
  await db.query('UPDATE routers SET spec_hash = NULL');
  const before = (await db.query<{ n: string }>(`SELECT count(*) AS n FROM routers r JOIN vm_instances v ON v.id = r.vm_id WHERE v.state = 'Running'`)).rows[0]!.n;
  if (Number(before) !== ROUTERS) throw new Error(`expected ${ROUTERS} running routers, found ${before}`);

  mgr = await startMgr({ ...env, PORT: port });
  let synced = 0;
  await waitFor(async () => {
    synced = Number((await db.query<{ n: string }>(
      `SELECT count(*) AS n FROM routers WHERE spec_hash IS NOT NULL AND applied_generation = generation`)).rows[0]!.n);
    return synced === ROUTERS;
  }, `every router re-synchronised (${synced}/${ROUTERS})`, 600_000);
  const resyncS = (performance.now() - mgr.startedAt) / 1000;
  const rss = rssMb(mgr.pid);
  // Every simulated router really holds a spec with the 50 rules' generation.
  const gens = new Map((await db.query<{ instance_name: string; generation: number }>(
    `SELECT v.instance_name, r.generation FROM routers r JOIN vm_instances v ON v.id = r.vm_id`)).rows.map((r) => [r.instance_name, r.generation]));
  const held = drivers.flatMap((d) => [...d.appliedSpecs].filter(([name, spec]) => gens.get(name) === spec.generation));
  if (held.length !== ROUTERS) throw new Error(`the hosts hold ${held.length} routers' newest specs, not ${ROUTERS}`);
  out(`manager restarted (kill -9): ${ROUTERS} routers re-sent specs with ${RULES} rules each in ${resyncS.toFixed(1)} s; manager RSS ${rss.toFixed(0)} MB`);
  const atNAfter = await monitorMsPerRouter(mgr.url, ROUTERS, 1);
  out(`monitor after restart: ${atNAfter.toFixed(2)} ms per router`);
  out(`scale: routers_${ROUTERS}_resync_s=${resyncS.toFixed(1)} manager_rss_mb=${rss.toFixed(0)} monitor_ms_per_router=${atN.toFixed(2)} monitor_ms_per_router_100=${at100.toFixed(2)}`);
}

try {
  await main();
} catch (e) {
  process.stderr.write(`bench:scale failed: ${(e as Error).stack ?? e}\n`);
  process.exitCode = 1;
} finally {
  for (const fn of cleanups.reverse()) await Promise.resolve(fn()).catch(() => undefined);
  process.exit(process.exitCode ?? 0);
}
