// bench:hosts — deploy time through the API (call → VM Running) for 1 and for 50 VMs on a netns
// host, and the manager's CPU and RSS with 1,000 simulated hosts connected. The manager runs as
// its own process (so its RSS is its own); agents run here. Loopback and lab namespaces only.
// Ends with: hosts: deploy_ms=<n> deploy50_ms=<n> sim1000_rss_mb=<n> sim1000_cpu_pct=<n>
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, SimulatorDriver } from '@flotilla/agent';
import { keysFor } from '@flotilla/manager/client';
import { Lab } from '../src/lab.ts';
import { addHost, createZone, netnsHosts, waitFor, type Cloud } from '../src/cloud.ts';
import { startManager, stopManager } from '../src/manager-proc.ts';

const cleanups: Array<() => unknown> = [];
const t = { teardown: (fn: () => unknown) => { cleanups.push(fn); } };

/** `npm start`'s entry point as its own process (tests/src/manager-proc.ts), its own data dir. */
async function startManagerProcess(): Promise<{ pid: number; url: string; stop(): Promise<void> }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'flt-bench-'));
  const m = await startManager({ PORT: '0', FLOTILLA_DATA_DIR: dataDir, FLOTILLA_ADMIN_PASSWORD: 'bench', FLOTILLA_LOCAL_CLOUD: 'off' });
  return { pid: m.child.pid!, url: m.url, async stop() { await stopManager(m); rmSync(dataDir, { recursive: true, force: true }); } };
}

function procStats(pid: number): { rssMb: number; cpuTicks: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return { rssMb: rssKb / 1024, cpuTicks: Number(stat[11]) + Number(stat[12]) };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const mgr = await startManagerProcess();
  cleanups.push(() => mgr.stop());
  const admin = await keysFor(mgr.url, 'admin', 'bench');
  const cloud: Cloud = { m: undefined as never, url: mgr.url, admin, wsUrl: `${mgr.url.replace(/^http/, 'ws')}/agent` };

  // ---- deploy on netns ----
  const lab = Lab.create(t, 'bnch');
  const z = await createZone(admin, 'bench');
  const [h] = await netnsHosts(lab, 1);
  // Namespace VMs reserve neither CPU nor memory of their own: overprovision so that 50 small
  // VMs fit on the bench host (4 × 2000 MHz, 8 GiB), as an operator of such hosts would.
  await admin.ok('updateConfiguration', { name: 'cpu.overprovisioning.factor', value: '4' });
  await admin.ok('updateConfiguration', { name: 'mem.overprovisioning.factor', value: '4' });
  await addHost(t, cloud, z, { name: 'bench-host', driver: h!.driver, tag: h!.tag, hostNs: h!.hostNs });
  const off = (await admin.ok('listNetworkOfferings', { name: 'DefaultSharedNetworkOffering' })).networkoffering[0];
  const net = (await admin.ok('createNetwork', { name: 'bench', zoneid: z.zoneId, networkofferingid: off.id, vlan: 'vxlan://6500', gateway: '10.90.0.1', netmask: '255.255.255.0', startip: '10.90.0.10', endip: '10.90.0.250' })).network;
  const so = (await admin.ok('listServiceOfferings', { name: 'Small Instance' })).serviceoffering[0];
  const tpl = (await admin.ok('listTemplates', { templatefilter: 'featured', name: 'Flotilla netns guest' })).template[0];
  const deployOne = async (name: string) => {
    const r = await admin.job('deployVirtualMachine', { zoneid: z.zoneId, serviceofferingid: so.id, templateid: tpl.id, networkids: net.id, name }, 300_000);
    if (r.jobstatus !== 1) throw new Error(`deploy ${name}: ${JSON.stringify(r.jobresult)}`);
    return r.jobresult.virtualmachine.id as string;
  };
  const destroy = async (ids: string[]) => { for (const id of ids) await admin.jobOk('destroyVirtualMachine', { id, expunge: true }); };
  const singles: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    const id = await deployOne(`single${i}`);
    singles.push(performance.now() - t0);
    await destroy([id]);
  }
  const t50 = performance.now();
  const ids = await Promise.all(Array.from({ length: 50 }, (_, i) => deployOne(`many${i}`)));
  const deploy50 = performance.now() - t50;
  process.stdout.write(`deploy 1 VM (API call → Running), median of 3: ${median(singles).toFixed(0)} ms; 50 VMs at once: ${deploy50.toFixed(0)} ms\n`);
  await destroy(ids);

  // ---- 1,000 simulated hosts ----
  const sz = await createZone(admin, 'sim', 'Simulator');
  const agents: Agent[] = [];
  const before = procStats(mgr.pid);
  const tokens: string[] = [];
  for (let i = 0; i < 1000; i++) {
    const r = await admin.ok('addHost', { zoneid: sz.zoneId, podid: sz.podId, clusterid: sz.clusterId, url: `agent://sim${i}`, hypervisor: 'Simulator' });
    tokens.push(r.host[0].agenttoken);
  }
  for (const [i, token] of tokens.entries()) {
    const a = new Agent({ url: cloud.wsUrl, token, driver: new SimulatorDriver({}), hostName: `sim${i}`, backoff: { initialMs: 500, maxMs: 5000 } });
    agents.push(a);
    cleanups.push(() => a.stop());
    a.start();
  }
  await waitFor(async () => ((await admin.ok('listHosts', { zoneid: sz.zoneId, state: 'Up', pagesize: 1 })).count ?? 0) === 1000, '1000 hosts Up', 180_000);
  const s0 = procStats(mgr.pid);
  const window = 10_000;
  await new Promise((r) => setTimeout(r, window));
  const s1 = procStats(mgr.pid);
  const hz = 100;
  const cpuPct = ((s1.cpuTicks - s0.cpuTicks) / hz) / (window / 1000) * 100;
  process.stdout.write(`1000 simulated hosts connected: manager RSS ${s1.rssMb.toFixed(0)} MB (before ${before.rssMb.toFixed(0)} MB), CPU ${cpuPct.toFixed(1)}% of one core over ${window / 1000} s of heartbeats\n`);
  process.stdout.write(`hosts: deploy_ms=${median(singles).toFixed(0)} deploy50_ms=${deploy50.toFixed(0)} sim1000_rss_mb=${s1.rssMb.toFixed(0)} sim1000_cpu_pct=${cpuPct.toFixed(1)}\n`);
}

try {
  await main();
} finally {
  for (const fn of cleanups.reverse()) await Promise.resolve(fn()).catch(() => undefined);
  process.exit(process.exitCode ?? 0);
}
