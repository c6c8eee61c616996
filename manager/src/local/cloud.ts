// `npm start`'s single-machine cloud: on the embedded database, a ready zone `local` (pod,
// cluster, host, a physical network with Guest/Public/Management traffic, the public range
// 203.0.113.0/24, a flat shared network 198.51.100.0/24) and one host agent on this machine.
// As root the agent runs the netns driver with its host in namespace `flt-host`, joined to an
// uplink namespace `flt-uplink` (203.0.113.1 public, 198.51.100.1 flat) by two veth pairs —
// nothing is created in the root namespace. Without root it runs the simulator driver.
// Everything goes through the API's own commands (as admin), so the same validation applies.
// The agent is a separate process (the manager never runs host code in-process).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Manager } from '../app.ts';
import type { Services } from '../services.ts';
import { dispatch } from '../api/dispatch.ts';
import { loadCaller } from '../api/auth.ts';
import { hashToken } from '../agents/gateway.ts';
import { newToken } from '../api/crypto.ts';

const run = promisify(execFile);
const repoRoot = new URL('../../../', import.meta.url).pathname;

/** The local cloud's names; FLOTILLA_LOCAL_NAME (default `flt`) prefixes its namespaces, so a
 *  test can run its own local cloud beside a developer's. */
export function localNames(name = process.env.FLOTILLA_LOCAL_NAME ?? 'flt') {
  if (!/^flt(-[a-z0-9]{1,12})?$/.test(name)) throw new Error(`FLOTILLA_LOCAL_NAME must be flt or flt-<a-z0-9, at most 12> (got ${name})`);
  return {
    zone: 'local', hostNs: `${name}-host`, uplinkNs: `${name}-uplink`,
    hostTag: name === 'flt' ? 'locl' : createHash('sha256').update(name).digest('hex').slice(0, 4),
    public: { hostIf: 'upl0', uplinkIf: 'pub0', gateway: '203.0.113.1', netmask: '255.255.255.0', start: '203.0.113.10', end: '203.0.113.250' },
    flat: { hostIf: 'upl1', uplinkIf: 'flat0', gateway: '198.51.100.1', netmask: '255.255.255.0', start: '198.51.100.10', end: '198.51.100.250' },
    vnis: '5000-5999',
  } as const;
}
const LOCAL = localNames();

type Params = Record<string, string | number | boolean>;

/** Runs a command as the admin user, waiting for async ones; returns the answer's inner object. */
async function asAdmin(s: Services, command: string, params: Params = {}): Promise<Record<string, any>> {
  const adminId = (await s.db.query<{ id: string }>(`SELECT u.id FROM users u JOIN domains d ON d.id = u.domain_id WHERE u.username = 'admin' AND d.path = 'ROOT'`))[0]?.id;
  const caller = adminId ? await loadCaller(s, adminId) : undefined;
  if (!caller) throw new Error('the admin user is missing');
  const raw = Object.fromEntries(Object.entries(params).map(([k, v]) => [k, String(v)]));
  const ans = await dispatch(s, caller, command, raw);
  const jobid = ans.inner.jobid as string | undefined;
  if (!jobid) return ans.inner;
  for (;;) {
    const j = (await s.db.query<{ status: number; result: any }>('SELECT status, result FROM async_jobs WHERE id = $1', [jobid]))[0]!;
    if (j.status === 1) return j.result;
    if (j.status === 2) throw new Error(`${command} failed: ${j.result?.errortext}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function ip(ns: string | undefined, ...args: string[]): Promise<string> {
  const r = ns ? await run('ip', ['netns', 'exec', ns, 'ip', ...args]) : await run('ip', args);
  return r.stdout;
}

/** flt-host and flt-uplink, joined by two veth pairs, created inside the namespaces. Idempotent. */
async function ensureNamespaces(): Promise<void> {
  const have = (await ip(undefined, 'netns', 'list')).split('\n').map((l) => l.split(' ')[0]);
  for (const ns of [LOCAL.hostNs, LOCAL.uplinkNs]) {
    if (!have.includes(ns)) await ip(undefined, 'netns', 'add', ns);
    await ip(ns, 'link', 'set', 'lo', 'up');
  }
  const hostLinks = await ip(LOCAL.hostNs, '-o', 'link');
  for (const l of [LOCAL.public, LOCAL.flat]) {
    if (!hostLinks.includes(` ${l.hostIf}@`)) {
      await ip(undefined, 'link', 'add', l.hostIf, 'netns', LOCAL.hostNs, 'type', 'veth', 'peer', 'name', l.uplinkIf, 'netns', LOCAL.uplinkNs);
    }
    await ip(LOCAL.hostNs, 'link', 'set', l.hostIf, 'up');
    await ip(LOCAL.uplinkNs, 'link', 'set', l.uplinkIf, 'up');
    await ip(LOCAL.uplinkNs, 'addr', 'replace', `${l.gateway}/24`, 'dev', l.uplinkIf);
  }
}

/** The zone and its parts, made once through the API; later starts find them. */
async function ensureZone(s: Services, hypervisor: 'LXC' | 'Simulator'): Promise<{ zoneId: string; podId: string; clusterId: string }> {
  const existing = (await asAdmin(s, 'listZones', { name: LOCAL.zone })).zone?.[0];
  if (existing) {
    const pod = (await asAdmin(s, 'listPods', { zoneid: existing.id })).pod[0];
    const cluster = (await asAdmin(s, 'listClusters', { zoneid: existing.id })).cluster[0];
    return { zoneId: existing.id, podId: pod.id, clusterId: cluster.id };
  }
  const zone = (await asAdmin(s, 'createZone', { name: LOCAL.zone, networktype: 'Advanced', dns1: LOCAL.public.gateway, internaldns1: LOCAL.public.gateway, guestcidraddress: '10.1.0.0/16', localstorageenabled: true })).zone;
  const pod = (await asAdmin(s, 'createPod', { zoneid: zone.id, name: 'local-pod', gateway: '172.30.0.1', netmask: '255.255.255.0', startip: '172.30.0.10', endip: '172.30.0.250' })).pod;
  const cluster = (await asAdmin(s, 'addCluster', { zoneid: zone.id, podid: pod.id, clustername: 'local-cluster', clustertype: 'CloudManaged', hypervisor })).cluster[0];
  const pn = (await asAdmin(s, 'createPhysicalNetwork', { zoneid: zone.id, name: 'local-physical', isolationmethods: 'VXLAN', vlan: LOCAL.vnis })).physicalnetwork;
  await asAdmin(s, 'addTrafficType', { physicalnetworkid: pn.id, traffictype: 'Guest', kvmnetworklabel: LOCAL.flat.hostIf });
  await asAdmin(s, 'addTrafficType', { physicalnetworkid: pn.id, traffictype: 'Public', kvmnetworklabel: LOCAL.public.hostIf });
  await asAdmin(s, 'addTrafficType', { physicalnetworkid: pn.id, traffictype: 'Management' });
  for (const nsp of (await asAdmin(s, 'listNetworkServiceProviders', { physicalnetworkid: pn.id })).networkserviceprovider ?? []) {
    if (nsp.name !== 'VirtualRouter' && nsp.name !== 'VpcVirtualRouter') continue;
    for (const el of (await asAdmin(s, 'listVirtualRouterElements', { nspid: nsp.id })).virtualrouterelement ?? []) {
      await asAdmin(s, 'configureVirtualRouterElement', { id: el.id, enabled: true });
    }
    await asAdmin(s, 'updateNetworkServiceProvider', { id: nsp.id, state: 'Enabled' });
  }
  await asAdmin(s, 'updatePhysicalNetwork', { id: pn.id, state: 'Enabled' });
  await asAdmin(s, 'createVlanIpRange', { zoneid: zone.id, physicalnetworkid: pn.id, forvirtualnetwork: true, vlan: 'untagged',
    gateway: LOCAL.public.gateway, netmask: LOCAL.public.netmask, startip: LOCAL.public.start, endip: LOCAL.public.end });
  const shared = (await asAdmin(s, 'listNetworkOfferings', { name: 'DefaultSharedNetworkOffering' })).networkoffering[0];
  await asAdmin(s, 'createNetwork', { zoneid: zone.id, name: 'local-flat', displaytext: 'flat network on the uplink (198.51.100.0/24)', networkofferingid: shared.id,
    vlan: 'untagged', gateway: LOCAL.flat.gateway, netmask: LOCAL.flat.netmask, startip: LOCAL.flat.start, endip: LOCAL.flat.end });
  // Namespace VMs reserve no CPU of their own: the one local host may place 16 × its cores.
  await asAdmin(s, 'updateConfiguration', { name: 'cpu.overprovisioning.factor', value: '16' });
  await asAdmin(s, 'updateZone', { id: zone.id, allocationstate: 'Enabled' });
  return { zoneId: zone.id, podId: pod.id, clusterId: cluster.id };
}

/** The local host record and its agent token (kept in the data dir, 0600; rotated if lost). */
async function ensureHost(s: Services, z: { zoneId: string; podId: string; clusterId: string }, hypervisor: string, dataDir: string): Promise<string> {
  const tokenFile = join(dataDir, 'local-agent.token');
  const host = (await asAdmin(s, 'listHosts', { zoneid: z.zoneId, name: 'local' })).host?.[0];
  if (!host) {
    const added = await asAdmin(s, 'addHost', { zoneid: z.zoneId, podid: z.podId, clusterid: z.clusterId, url: 'agent://local', hypervisor });
    writeFileSync(tokenFile, added.host[0].agenttoken, { mode: 0o600 });
  } else if (!existsSync(tokenFile)) {
    const token = newToken(32);
    await s.db.query('UPDATE hosts SET token_hash = $2 WHERE id = $1', [host.id, hashToken(token)]);
    writeFileSync(tokenFile, token, { mode: 0o600 });
  }
  chmodSync(tokenFile, 0o600);
  return tokenFile;
}

export interface LocalCloud { driver: 'netns' | 'simulator'; agent: ChildProcess; stop(): Promise<void> }

export async function startLocalCloud(m: Manager, managerUrl: string, dataDir: string): Promise<LocalCloud> {
  const s = m.services;
  const root = process.getuid?.() === 0;
  const driver = root ? 'netns' : 'simulator';
  const hypervisor = root ? 'LXC' : 'Simulator';
  if (root) await ensureNamespaces();
  const zone = await ensureZone(s, hypervisor);
  const tokenFile = await ensureHost(s, zone, hypervisor, dataDir);
  const ws = `${managerUrl.replace(/^http/, 'ws')}/agent`;
  const args = ['--import', 'tsx', join(repoRoot, 'agent/src/main.ts'), '--manager', ws, '--token-file', tokenFile, '--driver', driver, '--host-name', 'local',
    ...(root ? ['--host-namespace', LOCAL.hostNs, '--host-tag', LOCAL.hostTag] : [])];
  const agent = spawn(process.execPath, args, { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, FLOTILLA_RUN_ID: randomUUID() } });
  return {
    driver, agent,
    async stop() {
      if (agent.exitCode === null && agent.pid) {
        agent.kill('SIGTERM');
        await new Promise((r) => agent.once('exit', r));
      }
    },
  };
}

/** For the README and the start banner. */
export function localCloudHelp(driver: 'netns' | 'simulator'): string {
  if (driver === 'simulator') return 'Not running as root: the local host runs the simulator driver (no namespaces, VMs are simulated).';
  return [
    `Local cloud: zone "${LOCAL.zone}", host namespace ${LOCAL.hostNs}, uplink namespace ${LOCAL.uplinkNs}`,
    `  (public ${LOCAL.public.gateway}/24, flat network "local-flat" ${LOCAL.flat.gateway}/24).`,
    `  A VM on local-flat answers from the uplink: ip netns exec ${LOCAL.uplinkNs} curl http://<VM address>/`,
  ].join('\n');
}

