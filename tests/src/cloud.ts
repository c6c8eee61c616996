// A whole cloud for end-to-end tests: a manager on loopback (embedded PGlite), a zone built
// through the API, and hosts whose agents run the real netns driver in lab namespaces joined
// by a fabric, so VXLAN between hosts is real.
import WebSocket from 'ws';
import { createManager, type Manager } from '@flotilla/manager/app';
import { keysFor, type Api } from '@flotilla/manager/client';
import { createLogger } from '@flotilla/manager/log';
import { Agent, NetnsDriver, SimulatorDriver, type Driver } from '@flotilla/agent';
import { rm } from 'node:fs/promises';
import type { Lab, Teardownable } from './lab.ts';

export interface Cloud { m: Manager; url: string; admin: Api; wsUrl: string }

export async function startCloud(t: Teardownable, env: { jobDelayMs?: number; routerCheckMs?: number; vmCheckMs?: number; systemVms?: boolean; systemVmCheckMs?: number } = {}): Promise<Cloud> {
  const m = await createManager({
    settings: { port: 0, host: '127.0.0.1', dataDir: '', sessionTimeout: 1800, jobDelayMs: env.jobDelayMs ?? 0 },
    memory: true, adminPassword: 'e2e-admin', log: createLogger(process.env.FLOTILLA_TEST_LOG ?? 'silent'),
    env: {
      ...(env.routerCheckMs ? { FLOTILLA_ROUTER_CHECK_MS: String(env.routerCheckMs) } : {}), ...(env.vmCheckMs ? { FLOTILLA_VM_CHECK_MS: String(env.vmCheckMs) } : {}),
      // The zones' system VMs (console proxy, secondary storage) only where a test asks for them:
      // elsewhere they would take addresses and host capacity the test is about.
      FLOTILLA_SYSTEM_VMS: env.systemVms ? 'on' : 'off', ...(env.systemVmCheckMs ? { FLOTILLA_SYSTEMVM_CHECK_MS: String(env.systemVmCheckMs) } : {}),
    },
  });
  t.teardown(() => m.close());
  const address = await m.app.listen({ port: 0, host: '127.0.0.1' });
  const admin = await keysFor(address, 'admin', 'e2e-admin');
  return { m, url: address, admin, wsUrl: `${address.replace(/^http/, 'ws')}/agent` };
}

export interface Zone { zoneId: string; podId: string; clusterId: string; physicalNetworkId: string }

/** An Advanced zone with one pod, an LXC cluster (or Simulator) and a VXLAN guest physical network. */
export async function createZone(admin: Api, name = 'e2e', hypervisor: 'LXC' | 'Simulator' = 'LXC'): Promise<Zone> {
  const zone = (await admin.ok('createZone', { name, networktype: 'Advanced', dns1: '192.0.2.53', internaldns1: '192.0.2.53', guestcidraddress: '10.1.0.0/16' })).zone;
  const pod = (await admin.ok('createPod', { zoneid: zone.id, name: `${name}-pod`, gateway: '172.31.0.1', netmask: '255.255.255.0', startip: '172.31.0.10', endip: '172.31.0.200' })).pod;
  const cluster = (await admin.ok('addCluster', { zoneid: zone.id, podid: pod.id, clustername: `${name}-cluster`, clustertype: 'CloudManaged', hypervisor })).cluster[0];
  const pn = await admin.jobOk('createPhysicalNetwork', { zoneid: zone.id, name: `${name}-phys`, isolationmethods: 'VXLAN', vlan: '6000-6999' });
  await admin.jobOk('addTrafficType', { physicalnetworkid: pn.physicalnetwork.id, traffictype: 'Guest' });
  await admin.ok('updateZone', { id: zone.id, allocationstate: 'Enabled' });
  return { zoneId: zone.id, podId: pod.id, clusterId: cluster.id, physicalNetworkId: pn.physicalnetwork.id };
}

export interface Host { hostId: string; agent: Agent; driver: Driver; hostNs?: string; tag: string; token: string }

/** Adds a host through the API and starts its agent with the returned token. */
export async function addHost(t: Teardownable, cloud: Cloud, z: Zone, o: { name: string; driver: Driver; tag: string; hostNs?: string }): Promise<Host> {
  const r = await cloud.admin.ok('addHost', { zoneid: z.zoneId, podid: z.podId, clusterid: z.clusterId, url: `agent://${o.name}`, hypervisor: o.driver.hypervisor });
  const h = r.host[0];
  const agent = new Agent({ url: cloud.wsUrl, token: h.agenttoken, driver: o.driver, hostName: o.name, backoff: { initialMs: 100, maxMs: 1000 } });
  t.teardown(() => agent.stop());
  agent.start();
  await waitFor(async () => (await cloud.admin.ok('listHosts', { id: h.id })).host[0].state === 'Up', `host ${o.name} Up`);
  return { hostId: h.id, agent, driver: o.driver, tag: o.tag, token: h.agenttoken, ...(o.hostNs ? { hostNs: o.hostNs } : {}) };
}

/** Host namespaces joined by a fabric bridge (in its own namespace), each with a netns driver. */
export async function netnsHosts(lab: Lab, count: number): Promise<Array<{ hostNs: string; fabricIp: string; driver: NetnsDriver; tag: string }>> {
  const fab = await lab.netns('fab');
  await lab.exec(fab, ['ip', 'link', 'add', 'br0', 'type', 'bridge']);
  await lab.exec(fab, ['ip', 'link', 'set', 'br0', 'up']);
  const out = [];
  for (let i = 1; i <= count; i++) {
    const hostNs = await lab.netns(`h${i}`);
    await lab.veth(hostNs, 'fab0', fab, `p${i}`);
    await lab.exec(fab, ['ip', 'link', 'set', `p${i}`, 'master', 'br0']);
    const fabricIp = `192.168.255.${i}`;
    await lab.exec(hostNs, ['ip', 'addr', 'add', `${fabricIp}/24`, 'dev', 'fab0']);
    const tag = `${lab.id.slice(-3)}${i}`.slice(-4).replace(/[^a-z0-9]/g, '0');
    // Routers keep their DHCP leases under their network's stateKey in the driver's state dir,
    // which outlives the router VM (the real mechanism, not a test override).
    const stateDir = `/run/flotilla/test-${lab.id}-${i}`;
    const driver = new NetnsDriver({ hostNamespace: hostNs, hostTag: tag, fabric: { interface: 'fab0', localIp: fabricIp }, stateDir, capacity: { cpus: 4, cpuMhz: 2000, memoryMb: 8192 } });
    lab.onCleanup(async () => { await destroyAll(driver); await driver.close(); await rm(stateDir, { recursive: true, force: true }); });
    out.push({ hostNs, fabricIp, driver, tag });
  }
  return out;
}

/** Removes every VM and network a driver has (lab cleanup: namespaces of VMs are not the lab's). */
export async function destroyAll(driver: Driver): Promise<void> {
  const st = await driver.listState({}).catch(() => ({ vms: [], networks: [] }));
  for (const vm of st.vms) await driver.destroyVm({ name: vm.name }).catch(() => undefined);
  for (const n of st.networks) await driver.releaseNetwork({ id: n.id }).catch(() => undefined);
}

export interface Uplink { ns: string; gateway: string; prefix: string; label: string }

/**
 * The outside world of a zone: namespace `uplink` on a bridge that every host's uplink
 * interface (`up0` in the host namespace, the Public traffic label) plugs into, holding the
 * public range's gateway `<prefix>.1/24`. Then the zone's Public traffic type and public IP
 * range (`<prefix>.10`–`<prefix>.50`) through the API.
 */
export async function addUplink(lab: Lab, cloud: Cloud, z: Zone, hosts: Array<{ hostNs: string }>, prefix = '203.0.113', existingNs?: string): Promise<Uplink> {
  // (existingNs: a namespace of the lab made before the manager started, whose name it was given.)
  const ns = existingNs ?? await lab.netns('uplink');
  await lab.exec(ns, ['ip', 'link', 'add', 'br0', 'type', 'bridge']);
  await lab.exec(ns, ['ip', 'link', 'set', 'br0', 'up']);
  await lab.exec(ns, ['ip', 'addr', 'add', `${prefix}.1/24`, 'dev', 'br0']);
  for (const [i, h] of hosts.entries()) {
    await lab.veth(h.hostNs, 'up0', ns, `u${i + 1}`);
    await lab.exec(ns, ['ip', 'link', 'set', `u${i + 1}`, 'master', 'br0']);
  }
  await cloud.admin.jobOk('addTrafficType', { physicalnetworkid: z.physicalNetworkId, traffictype: 'Public', kvmnetworklabel: 'up0' });
  await cloud.admin.ok('createVlanIpRange', { zoneid: z.zoneId, physicalnetworkid: z.physicalNetworkId, forvirtualnetwork: true, vlan: 'untagged', gateway: `${prefix}.1`, netmask: '255.255.255.0', startip: `${prefix}.10`, endip: `${prefix}.50` });
  return { ns, gateway: `${prefix}.1`, prefix, label: 'up0' };
}

export function simulatorDriver(): SimulatorDriver { return new SimulatorDriver({ capacity: { cpus: 16, cpuMhz: 2000, memoryMb: 65536 } }); }

export async function waitFor(fn: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (let delay = 20; ; delay = Math.min(delay * 2, 250)) {
    if (await fn().catch(() => false)) return;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, delay));
  }
}

/** The console proxy's WebSocket at a manager (or proxy) base URL, for a createConsoleEndpoint token. */
export function consoleSocket(base: string, token: string): WebSocket {
  return new WebSocket(`${base.replace(/^http/, 'ws')}/console/ws?token=${encodeURIComponent(token)}`);
}
