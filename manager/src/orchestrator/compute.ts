// Placing and running VMs on hosts: the planner, the builders of the specs agents receive, and
// the steps that bring a host in line with the database (start, stop, reconcile). The
// database is the desired state; agents hold none, so everything here is idempotent and can be
// repeated after a crash or a reconnect.
import { hostImage, storageOf, storeSecret } from '../commands/storage/runtime.ts';
import { GUEST_TEMPLATE_ID } from '@flotilla/storage';
import type { NetworkSpec, NicSpec, VmSpec } from '@flotilla/protocol/agent';
import type { Services } from '../services.ts';
import { reportFailure } from '../background.ts';
import type { Sql } from '../db/sql.ts';
import { apiError } from '../api/errors.ts';
import { AgentRequestError } from '../agents/gateway.ts';
import { configNumber } from '../commands/offerings/config.ts';
import { reconcileRouters } from './router.ts';

export interface HostCandidate { id: string; name: string; hypervisor: string; pod_id: string | null; cluster_id: string | null; ip_address: string | null }

export interface PlanRequest {
  zoneId: string; podId?: string; clusterId?: string; hostId?: string;
  cpus: number; mhz: number; memoryMb: number;
  /** template hypervisor: a host of another hypervisor cannot run it (the simulator runs any) */
  hypervisor: string;
  exclude?: string[];
  /** name used in the error text */
  what: string;
}

/** VM states that hold a host's capacity. */
export const ACTIVE_STATES = ['Starting', 'Running', 'Stopping', 'Migrating'];
/** The zone's system VMs (console proxy, secondary storage): kept alive by systemvm/orchestrator.ts. */
const SYSTEM_VM_TYPES = ['ConsoleProxy', 'SecondaryStorageVm'];

/**
 * Picks the Up, Enabled host with the most free memory that fits the request (CloudStack's
 * FirstFitPlanner orders by capacity too), counting the VMs placed on each host, with the
 * cpu/mem overprovisioning factors. Refuses with 533 naming what is short.
 */
export async function planHost(sql: Sql, r: PlanRequest): Promise<HostCandidate> {
  const cpuFactor = await configNumber(sql, 'cpu.overprovisioning.factor');
  const memFactor = await configNumber(sql, 'mem.overprovisioning.factor');
  const hosts = await sql.query<HostCandidate & { state: string; resource_state: string; cpu_total: number; mem_total: number; cpu_used: number; mem_used: number }>(
    `SELECT h.id, h.name, h.hypervisor, h.pod_id, h.cluster_id, h.ip_address, h.state, h.resource_state,
       h.cpu_number * h.cpu_speed AS cpu_total, h.memory AS mem_total,
       coalesce((SELECT sum(s.cpu_number * s.cpu_speed) FROM vm_instances v JOIN service_offerings s ON s.id = v.service_offering_id
                 WHERE v.host_id = h.id AND v.state = ANY($2::text[])), 0) AS cpu_used,
       coalesce((SELECT sum(s.memory) FROM vm_instances v JOIN service_offerings s ON s.id = v.service_offering_id
                 WHERE v.host_id = h.id AND v.state = ANY($2::text[])), 0) * 1048576 AS mem_used
     FROM hosts h WHERE h.zone_id = $1 AND h.type = 'Routing' ORDER BY h.created`, [r.zoneId, ACTIVE_STATES]);
  const reasons: string[] = [];
  const fits = hosts.filter((h) => {
    const no = (why: string) => { reasons.push(`host ${h.name}: ${why}`); return false; };
    if (r.hostId && h.id !== r.hostId) return false;
    if (r.podId && h.pod_id !== r.podId) return false;
    if (r.clusterId && h.cluster_id !== r.clusterId) return false;
    if (r.exclude?.includes(h.id)) return no('excluded');
    if (h.state !== 'Up') return no(`state ${h.state}`);
    if (h.resource_state !== 'Enabled') return no(`resource state ${h.resource_state}`);
    if (h.hypervisor !== 'Simulator' && h.hypervisor !== r.hypervisor) return no(`hypervisor ${h.hypervisor}, template needs ${r.hypervisor}`);
    if (Number(h.cpu_used) + r.cpus * r.mhz > Number(h.cpu_total) * cpuFactor) return no(`not enough CPU (${Number(h.cpu_total) * cpuFactor - Number(h.cpu_used)} MHz free, ${r.cpus * r.mhz} needed)`);
    if (Number(h.mem_used) + r.memoryMb * 1048576 > Number(h.mem_total) * memFactor) return no(`not enough memory (${Math.floor((Number(h.mem_total) * memFactor - Number(h.mem_used)) / 1048576)} MB free, ${r.memoryMb} needed)`);
    return true;
  });
  if (!fits.length) {
    throw apiError('INSUFFICIENT_CAPACITY', `Unable to create a deployment for ${r.what}: no host in the zone has capacity${reasons.length ? ` (${reasons.join('; ')})` : ' (the zone has no hosts)'}`);
  }
  fits.sort((a, b) => (Number(b.mem_total) * memFactor - Number(b.mem_used)) - (Number(a.mem_total) * memFactor - Number(a.mem_used)));
  return fits[0]!;
}

interface NetRow { id: string; vni: number | null; physical_network_id: string | null; cidr: string | null; gateway: string | null; dns1: string | null; dns2: string | null; network_domain: string | null; zone_dns1: string | null; zone_dns2: string | null; guest_type: string }

/** Hosts that must carry a network's L2 segment: those with active VMs on it, plus `also`. */
async function networkPeers(sql: Sql, networkId: string, also: string[]): Promise<{ hostIds: string[]; ips: string[] }> {
  const rows = await sql.query<{ id: string; ip_address: string | null }>(
    `SELECT DISTINCT h.id, h.ip_address FROM hosts h WHERE h.id = ANY($2::uuid[]) OR h.id IN (
       SELECT v.host_id FROM nics c JOIN vm_instances v ON v.id = c.vm_id WHERE c.network_id = $1 AND v.state = ANY($3::text[]))`,
    [networkId, also, ACTIVE_STATES]);
  return { hostIds: rows.map((r) => r.id), ips: rows.map((r) => r.ip_address).filter((x): x is string => Boolean(x)) };
}

export async function networkSpec(sql: Sql, networkId: string, hostId: string): Promise<NetworkSpec> {
  const n = (await sql.query<NetRow>('SELECT * FROM networks WHERE id = $1', [networkId]))[0];
  if (!n) throw new Error(`network ${networkId} vanished`);
  if (!n.vni) {
    // Untagged: bridged onto the host's guest uplink, named by the Guest traffic label.
    const label = (await sql.query<{ kvm_label: string | null }>(
      `SELECT t.kvm_label FROM traffic_types t WHERE t.physical_network_id = $1 AND t.traffic_type = 'Guest'`, [n.physical_network_id]))[0]?.kvm_label;
    return { id: n.id, kind: 'guest', ...(label ? { uplinkInterface: label } : {}) };
  }
  const peers = await networkPeers(sql, networkId, [hostId]);
  return { id: n.id, kind: 'guest', vni: n.vni, peers: peers.ips };
}

interface VmRowLite { id: string; instance_name: string; name: string; type: string; user_data: string | null; kind: string; cpu_number: number; cpu_speed: number; memory: number; role: string | null;
  template_id: string; transfer_state: string | null; sha256: string | null; service_url: string | null; secret: string | null; zone_id: string }

export async function vmSpec(s: Services, sql: Sql, vmId: string, hostId?: string): Promise<VmSpec> {
  const v = (await sql.query<VmRowLite>(
    `SELECT v.id, v.instance_name, v.name, v.type, v.user_data, t.kind, s.cpu_number, s.cpu_speed, s.memory,
            CASE v.type WHEN 'DomainRouter' THEN 'router' ELSE NULL END AS role,
            t.id AS template_id, t.transfer_state, t.sha256, st.service_url, st.secret, v.zone_id
     FROM vm_instances v JOIN templates t ON t.id = v.template_id JOIN service_offerings s ON s.id = v.service_offering_id
       LEFT JOIN image_stores st ON st.id = t.store_id WHERE v.id = $1`, [vmId]))[0];
  if (!v) throw new Error(`vm ${vmId} vanished`);
  const nics = await sql.query<{ device_id: number; mac: string; network_id: string; ip4: string | null; is_default: boolean } & NetRow>(
    `SELECT c.device_id, c.mac, c.network_id, c.ip4, c.is_default, n.cidr, n.gateway, n.guest_type, n.dns1, n.dns2, n.network_domain,
            z.dns1 AS zone_dns1, z.dns2 AS zone_dns2
     FROM nics c JOIN networks n ON n.id = c.network_id JOIN zones z ON z.id = n.zone_id WHERE c.vm_id = $1 ORDER BY c.device_id`, [vmId]);
  const nicSpecs: NicSpec[] = nics.map((c) => ({
    deviceId: c.device_id, mac: c.mac, networkId: c.network_id, ...(c.is_default ? { default: true } : {}),
    // Shared networks have no router to answer DHCP yet: the host sets the address at boot,
    // as a config drive would. Isolated networks' guests ask their router's DHCP.
    ...(c.guest_type === 'Shared' && c.ip4 && c.cidr ? { ipv4: { address: `${c.ip4}/${c.cidr.split('/')[1]}`, ...(c.gateway ? { gateway: c.gateway } : {}) } } : {}),
  }));
  const def = nics.find((c) => c.is_default) ?? nics[0];
  // An isolated network's guests resolve through their router (it forwards to the zone's DNS).
  // An L2 network has no DNS of Flotilla's: its guests bring their own.
  const dns = !def || def.guest_type === 'L2' ? [] : def.guest_type === 'Isolated' ? [def.gateway!] : [def.dns1 ?? def.zone_dns1, def.dns2 ?? def.zone_dns2].filter((x): x is string => Boolean(x));
  return {
    name: v.instance_name, hostname: v.name, cpus: v.cpu_number, cpuMhz: v.cpu_speed, memoryMb: Math.max(16, v.memory),
    template: v.kind === 'system' ? { kind: 'system', role: v.role ?? 'router' } : {
      kind: 'guest',
      // A template on an image store: the host fetches it (once) from the store's service. The
      // built-in guest template is on every image store (each builds it); only in a zone without
      // one does the host build it itself (no image).
      ...(v.transfer_state === 'Ready' && v.sha256 && v.service_url && v.secret
        ? { image: await hostImage(sql, { serviceUrl: v.service_url, secret: storeSecret(s, v.secret), id: v.template_id, sha256: v.sha256 }, hostId) }
        : v.template_id === GUEST_TEMPLATE_ID ? await storageOf(s).guestTemplateImage(v.zone_id, hostId).then((image) => (image ? { image } : {})) : {}),
    },
    nics: nicSpecs, ...(dns.length ? { dns } : {}), ...(def?.network_domain ? { searchDomain: def.network_domain } : {}),
    ...(v.user_data ? { userData: v.user_data } : {}),
  };
}

/** Agent errors as API errors: the host's own words, never a bare 530. */
export function agentFailure(e: unknown, what: string): Error {
  if (e instanceof AgentRequestError) {
    const kind = e.code === 'DISCONNECTED' || e.code === 'TIMEOUT' || e.code === 'APPLIANCE_UNREACHABLE' ? 'RESOURCE_UNAVAILABLE' : 'INTERNAL_ERROR';
    return apiError(kind, `${what} failed on host ${e.hostId}: ${e.code}: ${e.message}`);
  }
  return e instanceof Error ? e : new Error(String(e));
}

/** Prepares the VM's networks on the host (and refreshes their peers elsewhere), then starts it. */
export async function startOnHost(s: Services, vmId: string, hostId: string): Promise<void> {
  const spec = await vmSpec(s, s.db, vmId, hostId);
  const networkIds = [...new Set(spec.nics.map((n) => n.networkId))];
  for (const id of networkIds) await s.agents.request(hostId, 'prepareNetwork', await networkSpec(s.db, id, hostId));
  await s.agents.request(hostId, 'startVm', { spec }, 120_000);
  for (const id of networkIds) await refreshPeers(s, id, [hostId]);
}

/** Re-sends a network's spec (its peer list) to every other connected host carrying it. */
export async function refreshPeers(s: Services, networkId: string, skip: string[] = []): Promise<void> {
  const { hostIds } = await networkPeers(s.db, networkId, []);
  for (const h of hostIds) {
    if (skip.includes(h) || !s.agents.isConnected(h)) continue;
    await s.agents.request(h, 'prepareNetwork', await networkSpec(s.db, networkId, h)).catch((e) => s.log.warn({ err: e, h, networkId }, 'peer refresh failed'));
  }
}

/** Stops a VM on its host; networks no VM on that host uses any more are released there. */
export async function stopOnHost(s: Services, instanceName: string, hostId: string, destroy: boolean): Promise<void> {
  if (!s.agents.isConnected(hostId)) return; // reconciliation removes it when the host is back
  await s.agents.request(hostId, destroy ? 'destroyVm' : 'stopVm', { name: instanceName });
}

/** Releases, on a host, the guest networks that no active VM there uses any more. */
export async function releaseUnusedNetworks(s: Services, hostId: string): Promise<void> {
  if (!s.agents.isConnected(hostId)) return;
  const state = await s.agents.request(hostId, 'listState', {});
  const used = new Set((await s.db.query<{ network_id: string }>(
    `SELECT DISTINCT c.network_id FROM nics c JOIN vm_instances v ON v.id = c.vm_id WHERE v.host_id = $1 AND v.state = ANY($2::text[])`, [hostId, ACTIVE_STATES])).map((r) => r.network_id));
  for (const n of state.networks) {
    if (n.kind === 'guest' && !used.has(n.id)) await s.agents.request(hostId, 'releaseNetwork', { id: n.id }).catch(() => undefined);
  }
}

/**
 * Brings a (re)connected host in line with the database: VMs that should run there and do not
 * are started; VMs it has that should not be there (strays, destroyed or moved meanwhile) are
 * destroyed; guest networks no VM there needs are released.
 */
export async function reconcileHost(s: Services, hostId: string): Promise<void> {
  const state = await s.agents.request(hostId, 'listState', {});
  const desired = await s.db.query<{ id: string; instance_name: string; type: string }>(
    `SELECT id, instance_name, type FROM vm_instances WHERE host_id = $1 AND state = ANY($2::text[])`, [hostId, ['Starting', 'Running']]);
  const want = new Map(desired.map((v) => [v.instance_name, v.id]));
  // Routers are brought back by reconcileRouters (their spec is built differently and they
  // must be sent their RouterSpec once started).
  const routers = new Set(desired.filter((v) => v.type === 'DomainRouter' || SYSTEM_VM_TYPES.includes(v.type)).map((v) => v.instance_name));
  for (const vm of state.vms) {
    if (!want.has(vm.name)) {
      s.log.info({ hostId, vm: vm.name }, 'destroying a VM the database does not place on this host');
      await s.agents.request(hostId, 'destroyVm', { name: vm.name }).catch((e) => s.log.warn({ err: e }, 'stray destroy failed'));
    }
  }
  const running = new Map(state.vms.map((v) => [v.name, v.state]));
  const stopped = await syncStoppedVms(s, hostId, state.vms.filter((v) => want.has(v.name)));
  // A VM whose deploy job is still pending is that job's to start (it may be running on another
  // manager that is finishing it, or be resumed after this): started here as well, it would run
  // with the spec of this moment and the job's own start would conflict with it.
  const ofPendingJobs = new Set((await s.db.query<{ instance_name: string }>(
    `SELECT v.instance_name FROM vm_instances v JOIN async_jobs j ON j.id = v.job_id WHERE v.host_id = $1 AND j.status = 0`, [hostId])).map((v) => v.instance_name));
  for (const [name, id] of want) {
    if (running.get(name) === 'Running' || routers.has(name) || stopped.has(name) || ofPendingJobs.has(name)) continue;
    s.log.info({ hostId, vm: name }, 'starting a VM that should run on this host');
    try {
      await startOnHost(s, id, hostId);
      await s.db.query(`UPDATE vm_instances SET state = 'Running' WHERE id = $1 AND state = 'Starting'`, [id]);
    } catch (e) {
      // Destroyed, stopped or moved meanwhile (its network may be gone with it): nothing failed.
      const still = await s.db.query(`SELECT 1 FROM vm_instances WHERE id = $1 AND host_id = $2 AND state IN ('Starting', 'Running')`, [id, hostId]);
      if (!still.length) continue;
      await reportFailure(s, `restarting VM ${name} on its host`, e, { hostId });
      await s.db.query(`UPDATE vm_instances SET state = 'Error' WHERE id = $1 AND host_id = $2 AND state IN ('Starting', 'Running')`, [id, hostId]);
    }
  }
  await reconcileRouters(s, hostId, new Map([...running].filter(([name]) => want.has(name))));
  // The zone's system VMs are brought back like routers (systemvm/orchestrator.ts).
  const { reconcileSystemVms } = await import('../systemvm/orchestrator.ts');
  await reconcileSystemVms(s, hostId, new Map([...running].filter(([name]) => want.has(name))));
  await releaseUnusedNetworks(s, hostId);
}

/**
 * Guests a host reports `Stopped` (out of memory, or powered off from inside) are recorded
 * Stopped, as CloudStack's VM sync records a VM it finds powered off, and their remains on the
 * host are removed (stopVm); with HA on their offering they are started again instead. Routers
 * are left to reconcileRouters. Returns the names it handled.
 */
export async function syncStoppedVms(s: Services, hostId: string, vms: Array<{ name: string; state: string; detail?: string }>): Promise<Set<string>> {
  const stopped = vms.filter((v) => v.state === 'Stopped');
  const done = new Set<string>();
  if (!stopped.length) return done;
  const rows = await s.db.query<{ id: string; instance_name: string; offer_ha: boolean }>(
    `SELECT v.id, v.instance_name, so.offer_ha FROM vm_instances v JOIN service_offerings so ON so.id = v.service_offering_id
     WHERE v.host_id = $1 AND v.instance_name = ANY($2::text[]) AND v.state IN ('Running', 'Starting') AND v.type <> 'DomainRouter' AND NOT (v.type = ANY($3::text[]))`,
    [hostId, stopped.map((v) => v.name), SYSTEM_VM_TYPES]);
  for (const r of rows) {
    const detail = stopped.find((v) => v.name === r.instance_name)?.detail ?? 'stopped on its host';
    s.log.warn({ hostId, vm: r.instance_name, detail, ha: r.offer_ha }, 'a VM stopped on its host');
    done.add(r.instance_name);
    await s.agents.request(hostId, 'stopVm', { name: r.instance_name, force: true }).catch((e) => s.log.warn({ err: e, vm: r.instance_name }, 'cleanup of a stopped VM failed'));
    if (r.offer_ha) {
      try { await startOnHost(s, r.id, hostId); continue; } catch (e) { s.log.error({ err: e, vm: r.instance_name }, 'HA restart failed; recording the VM Stopped'); }
    }
    await s.db.query(`UPDATE vm_instances SET state = 'Stopped', last_host_id = host_id, host_id = NULL, pod_id = NULL WHERE id = $1 AND state IN ('Running', 'Starting')`, [r.id]);
  }
  if (rows.length) await releaseUnusedNetworks(s, hostId).catch(() => undefined);
  return done;
}

/** The manager's periodic VM sync: every connected host with running guests is asked for its
 *  state, and guests it reports Stopped are handled by syncStoppedVms. Returns its stopper. */
export function startVmMonitor(s: Services, intervalMs: number): () => Promise<void> {
  let stopped = false;
  let current: Promise<void> = Promise.resolve();
  const tick = async () => {
    const hosts = await s.db.query<{ host_id: string }>(`SELECT DISTINCT v.host_id FROM vm_instances v WHERE v.type <> 'DomainRouter' AND v.state = 'Running' AND v.host_id IS NOT NULL`);
    for (const h of hosts) {
      if (stopped) return;
      if (!s.agents.isConnected(h.host_id)) continue;
      try {
        const state = await s.agents.request(h.host_id, 'listState', {});
        await syncStoppedVms(s, h.host_id, state.vms);
        // Several managers (decision 0282): a VM a run cut off by a leadership change left on the
        // host with no record at all (its deploy undone in the database, the host's destroy lost
        // with the channel) is removed here; single managers do this at each hello only.
        if (s.cluster && state.vms.length) {
          const names = state.vms.map((v) => v.name);
          const known = new Set((await s.db.query<{ instance_name: string }>('SELECT instance_name FROM vm_instances WHERE instance_name = ANY($1::text[])', [names])).map((r) => r.instance_name));
          for (const n of names) {
            if (known.has(n)) continue;
            s.log.info({ hostId: h.host_id, vm: n }, 'destroying a VM the database has no record of');
            await s.agents.request(h.host_id, 'destroyVm', { name: n }).catch((e) => s.log.warn({ err: e }, 'stray destroy failed'));
          }
        }
      } catch (e) { if (!(e instanceof AgentRequestError)) s.log.warn({ err: e }, 'VM monitor failed'); }
    }
  };
  const timer = setInterval(() => { if (!stopped) current = current.then(tick).catch(() => undefined); }, intervalMs);
  timer.unref();
  return async () => { stopped = true; clearInterval(timer); await current; };
}
