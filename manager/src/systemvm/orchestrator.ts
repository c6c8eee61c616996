// The system VM framework's appliers: per zone, the VMs every registered role wants (roles.ts)
// are recorded (a public address from the zone's public range, a link-local control address),
// placed on a host of the zone, started there as the role's appliance and handed its
// configuration; a monitor re-creates one that died on its host (as routers are, same host,
// same records, same configuration) and adds one when a role wants more; start/stop/reboot/
// destroy are the API's (commands.ts). The database is the desired state: a VM recorded Running
// that its host does not run is re-created; one recorded Stopped (an admin stopped it) is left
// alone; a destroyed one is replaced by a new VM on the next check.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { NicSpec, VmSpec } from '@flotilla/protocol/agent';
import type { Services } from '../services.ts';
import type { Sql } from '../db/sql.ts';
import { apiError } from '../api/errors.ts';
import { AgentRequestError } from '../agents/gateway.ts';
import { guard, reportFailure } from '../background.ts';
import { agentFailure, planHost, releaseUnusedNetworks } from '../orchestrator/compute.ts';
import { parseIPv4 } from '../orchestrator/ipam.ts';
import { CONTROL_NETWORK_ID, SYSTEM_TEMPLATE_ID, publicNetwork, serialized } from '../orchestrator/router.ts';
import { configValue } from '../commands/offerings/config.ts';
import { roleOfType, systemVmRoles, systemVmTypes, type SystemVmRole, type SystemVmRow } from './roles.ts';

const CONTROL_HOST_ADDRESS = '169.254.0.1/16';
/** NIC layout: eth0 control (link-local, as CloudStack's system VMs), eth1 public. */
export const SYSTEM_IF = { control: 'eth0', public: 'eth1' } as const;

export const SYSTEM_VM_SELECT = `SELECT x.*, v.instance_name, v.type, v.state, v.zone_id, v.host_id, v.pod_id, v.last_host_id, v.created
  FROM system_vms x JOIN vm_instances v ON v.id = x.vm_id`;

export async function systemVmById(sql: Sql, id: string): Promise<SystemVmRow | undefined> {
  return (await sql.query<SystemVmRow>(`${SYSTEM_VM_SELECT} WHERE x.vm_id = $1`, [id]))[0];
}

const prefixOf = (netmask: string): number => netmask.split('.').reduce((n, o) => n + (Number(o) >>> 0).toString(2).replace(/0/g, '').length, 0);
const randomMac = () => ['02', ...[...randomBytes(5)].map((b) => b.toString(16).padStart(2, '0'))].join(':');
/** A public NIC's MAC follows its address (as a router's follows its network): a VM that replaces
 *  a destroyed one on the same address answers with the MAC the uplink's neighbours have cached,
 *  so it is reachable at once instead of after their entries go stale. */
const addressMac = (zoneId: string, address: string) => ['02', ...[...createHash('sha256').update(`systemvm/${zoneId}/${address}`).digest().subarray(0, 5)].map((b) => b.toString(16).padStart(2, '0'))].join(':');

/** Whether system VMs run at all in this manager (FLOTILLA_SYSTEM_VMS=off: test suites about
 *  other things, so their zones' addresses and hosts stay theirs). */
export function systemVmsEnabled(env: NodeJS.ProcessEnv): boolean { return (env.FLOTILLA_SYSTEM_VMS ?? 'on') !== 'off'; }

async function roleEnabled(sql: Sql, role: SystemVmRole): Promise<boolean> { return (await configValue(sql, role.enabledKey)) !== 'false'; }

/**
 * A public address of the zone for a system VM: a range dedicated to system VMs first
 * (createVlanIpRange forsystemvms=true), else a zone-wide public range, taken from its top so
 * tenants' first-free allocations are not disturbed. Refuses with 533 when none is free.
 */
async function allocateSystemIp(sql: Sql, zoneId: string, accountId: string, domainId: string): Promise<{ id: string; address: string; netmask: string; gateway: string }> {
  const ranges = await sql.query<{ id: string; start_ip: string; end_ip: string; netmask: string; gateway: string }>(
    `SELECT id, start_ip, end_ip, netmask, gateway FROM vlan_ip_ranges WHERE zone_id = $1 AND for_virtual_network AND start_ip IS NOT NULL AND account_id IS NULL
     ORDER BY for_system_vms DESC, seq`, [zoneId]);
  if (!ranges.length) throw apiError('INSUFFICIENT_CAPACITY', 'Insufficient address capacity: the zone has no public IP range for its system VMs');
  const used = new Set((await sql.query<{ address: string }>('SELECT address FROM public_ip_addresses WHERE zone_id = $1', [zoneId])).map((r) => r.address));
  for (const r of ranges) {
    const start = parseIPv4('startip', r.start_ip).value; const end = parseIPv4('endip', r.end_ip).value;
    // Top-down, so tenants' first-free allocations from the bottom are not disturbed.
    let address: string | undefined;
    for (let v = end; v >= start && !address; v--) { const t = intToIp(Number(v)); if (!used.has(t)) address = t; }
    if (!address) continue;
    const id = randomUUID();
    await sql.query(`INSERT INTO public_ip_addresses (id, address, zone_id, vlan_range_id, network_id, account_id, domain_id, is_source_nat) VALUES ($1,$2,$3,$4,NULL,$5,$6,false)`,
      [id, address, zoneId, r.id, accountId, domainId]);
    return { id, address, netmask: r.netmask, gateway: r.gateway };
  }
  throw apiError('INSUFFICIENT_CAPACITY', 'Insufficient address capacity: every public IP address of the zone is allocated');
}
const intToIp = (n: number) => [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');

/** Records a new (Stopped) system VM of a role in a zone; the caller starts it. */
export async function createSystemVmRecord(sql: Sql, role: SystemVmRole, zoneId: string): Promise<string> {
  const so = (await sql.query<{ id: string }>('SELECT id FROM service_offerings WHERE unique_name = $1', [role.offering]))[0];
  if (!so) throw new Error(`the system offering ${role.offering} is missing`);
  // System VMs belong to the root admin's account (CloudStack's system account plays that part).
  const owner = (await sql.query<{ id: string; domain_id: string }>('SELECT id, domain_id FROM accounts WHERE type = 1 ORDER BY created LIMIT 1'))[0]!;
  const seq = (await sql.query<{ n: number }>(`SELECT nextval('vm_instance_seq')::int AS n`))[0]!.n;
  const id = randomUUID();
  const name = `${role.namePrefix}-${seq}-VM`;
  const ip = await allocateSystemIp(sql, zoneId, owner.id, owner.domain_id);
  await sql.query(
    `INSERT INTO vm_instances (id, name, display_name, instance_name, type, state, zone_id, template_id, service_offering_id, account_id, domain_id)
     VALUES ($1,$2,$2,$2,$3,'Stopped',$4,$5,$6,$7,$8)`, [id, name, role.type, zoneId, SYSTEM_TEMPLATE_ID, so.id, owner.id, owner.domain_id]);
  const ll = `169.254.${1 + (Math.floor(seq / 254) % 254)}.${1 + (seq % 254)}`;
  await sql.query(
    `INSERT INTO system_vms (vm_id, public_ip_id, public_ip, public_netmask, public_gateway, public_mac, control_mac, link_local_ip) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)`,
    [id, ip.id, ip.address, ip.netmask, ip.gateway, addressMac(zoneId, ip.address), randomMac(), ll]);
  return id;
}

/** The system VM as its host runs it: control + public NICs with static addresses, the role's appliance. */
export async function systemVmSpec(s: Services, vm: SystemVmRow): Promise<{ spec: VmSpec; networks: Array<Parameters<Services['agents']['request']>[2]> }> {
  const role = roleOfType(vm.type);
  if (!role) throw new Error(`no system VM role ${vm.type} is registered`);
  const so = (await s.db.query<{ cpu_number: number; cpu_speed: number; memory: number }>(
    `SELECT s.cpu_number, s.cpu_speed, s.memory FROM vm_instances v JOIN service_offerings s ON s.id = v.service_offering_id WHERE v.id = $1`, [vm.vm_id]))[0]!;
  const pub = await publicNetwork(s.db, vm.zone_id);
  const zone = (await s.db.query<{ dns1: string | null; dns2: string | null }>('SELECT dns1, dns2 FROM zones WHERE id = $1', [vm.zone_id]))[0];
  const nics: NicSpec[] = [
    { deviceId: 0, mac: vm.control_mac, networkId: CONTROL_NETWORK_ID, ipv4: { address: `${vm.link_local_ip}/16` } },
    { deviceId: 1, mac: vm.public_mac, networkId: pub.id, default: true, ipv4: { address: `${vm.public_ip}/${prefixOf(vm.public_netmask)}`, gateway: vm.public_gateway } },
  ];
  return {
    spec: {
      name: vm.instance_name, hostname: vm.instance_name, cpus: so.cpu_number, cpuMhz: so.cpu_speed, memoryMb: Math.max(16, so.memory),
      template: { kind: 'system', role: role.appliance }, nics, controlChannel: 'unix',
      ...(zone?.dns1 ? { dns: [zone.dns1, zone.dns2].filter((x): x is string => Boolean(x)) } : {}),
    },
    networks: [pub, { id: CONTROL_NETWORK_ID, kind: 'control', hostAddress: CONTROL_HOST_ADDRESS }] as never,
  };
}

/** Sends the appliance its configuration (after a start, and when its report shows it stale). */
export async function configureSystemVm(s: Services, vm: SystemVmRow, hostId: string): Promise<void> {
  const role = roleOfType(vm.type)!;
  const body = await role.configure(s, vm);
  const { payload } = await s.agents.request(hostId, 'relay', { name: vm.instance_name, payload: { ...body, type: 'configure', id: randomUUID() }, timeoutMs: 30_000 }, 40_000);
  const reply = payload as { type?: string; errors?: string[] };
  if (reply?.type !== 'configured') throw new Error(`system VM ${vm.instance_name} refused its configuration: ${(reply?.errors ?? [JSON.stringify(reply)]).join('; ').slice(0, 300)}`);
}

/** Prepares the networks, starts the VM on the host and configures its appliance. */
async function startOnHost(s: Services, vm: SystemVmRow, hostId: string): Promise<void> {
  // Until the new appliance reports, listSystemVms says it is not up (agentstate).
  await s.db.query('UPDATE system_vms SET last_report = NULL, sessions = 0 WHERE vm_id = $1', [vm.vm_id]);
  const { spec, networks } = await systemVmSpec(s, vm);
  await Promise.all(networks.map((n) => s.agents.request(hostId, 'prepareNetwork', n as never)));
  await s.agents.request(hostId, 'startVm', { spec }, 120_000);
  await configureSystemVm(s, { ...vm, host_id: hostId }, hostId);
}

/** Places a stopped system VM, starts it and marks it Running; nothing half-made on failure. */
export async function bringUpSystemVm(s: Services, vmId: string): Promise<void> {
  await serialized(`systemvm:${vmId}`, async () => {
    const vm = await systemVmById(s.db, vmId);
    if (!vm || vm.state === 'Destroyed') throw new Error(`system VM ${vmId} vanished`);
    if (vm.state === 'Running' && vm.host_id && s.agents.isConnected(vm.host_id)) return;
    const host = await s.db.tx(async (sql) => {
      const so = (await sql.query<{ cpu_number: number; cpu_speed: number; memory: number }>(
        `SELECT s.cpu_number, s.cpu_speed, s.memory FROM vm_instances v JOIN service_offerings s ON s.id = v.service_offering_id WHERE v.id = $1`, [vm.vm_id]))[0]!;
      const h = await planHost(sql, { zoneId: vm.zone_id, cpus: so.cpu_number, mhz: so.cpu_speed, memoryMb: so.memory, hypervisor: 'LXC', what: `system VM ${vm.instance_name}` });
      await sql.query(`UPDATE vm_instances SET state = 'Starting', host_id = $2, pod_id = $3 WHERE id = $1`, [vm.vm_id, h.id, h.pod_id]);
      return h;
    });
    try {
      await startOnHost(s, vm, host.id);
    } catch (e) {
      // Error (not Stopped): the zone check starts it again; Stopped means an admin stopped it.
      await s.db.query(`UPDATE vm_instances SET state = 'Error', last_host_id = host_id, host_id = NULL, pod_id = NULL WHERE id = $1`, [vm.vm_id]);
      if (s.agents.isConnected(host.id)) await s.agents.request(host.id, 'destroyVm', { name: vm.instance_name }).catch(() => undefined);
      throw agentFailure(e, `Starting system VM ${vm.instance_name}`);
    }
    await s.db.query(`UPDATE vm_instances SET state = 'Running' WHERE id = $1`, [vm.vm_id]);
  });
}

/** Stops (records kept) or destroys (address released, records Destroyed) a system VM. */
export async function takeDownSystemVm(s: Services, vmId: string, destroy: boolean, force = false): Promise<void> {
  await serialized(`systemvm:${vmId}`, async () => {
    const vm = await systemVmById(s.db, vmId);
    if (!vm) return;
    if (vm.host_id && s.agents.isConnected(vm.host_id)) {
      await s.agents.request(vm.host_id, destroy ? 'destroyVm' : 'stopVm', { name: vm.instance_name, ...(destroy ? {} : { force }) } as never)
        .catch((e) => { throw agentFailure(e, `${destroy ? 'Destroying' : 'Stopping'} system VM ${vm.instance_name}`); });
    }
    await s.db.tx(async (sql) => {
      if (destroy) {
        const ipId = (await sql.query<{ public_ip_id: string | null }>('SELECT public_ip_id FROM system_vms WHERE vm_id = $1', [vmId]))[0]?.public_ip_id;
        await sql.query('UPDATE system_vms SET public_ip_id = NULL WHERE vm_id = $1', [vmId]);
        if (ipId) await sql.query('DELETE FROM public_ip_addresses WHERE id = $1', [ipId]);
      }
      await sql.query(`UPDATE vm_instances SET state = $2, last_host_id = coalesce(host_id, last_host_id), host_id = NULL, pod_id = NULL WHERE id = $1`,
        [vmId, destroy ? 'Destroyed' : 'Stopped']);
    });
    if (vm.host_id) await releaseUnusedNetworks(s, vm.host_id).catch(() => undefined);
  });
}

/** Reboots a running system VM on its host (the agent restarts its appliance) and configures it again. */
export async function rebootSystemVm(s: Services, vmId: string): Promise<void> {
  await serialized(`systemvm:${vmId}`, async () => {
    const vm = (await systemVmById(s.db, vmId))!;
    if (!vm.host_id) throw apiError('INTERNAL_ERROR', `system VM ${vm.instance_name} has no host`);
    try {
      await s.db.query('UPDATE system_vms SET last_report = NULL, sessions = 0 WHERE vm_id = $1', [vm.vm_id]);
      await s.agents.request(vm.host_id, 'rebootVm', { name: vm.instance_name }, 120_000);
      await configureSystemVm(s, vm, vm.host_id);
    } catch (e) { throw agentFailure(e, `Rebooting system VM ${vm.instance_name}`); }
  });
}

/**
 * Keeps a host's system VMs alive: one recorded Running there that the host does not run (or
 * runs in Error: its appliance or link died) is re-created there with the same records and
 * configured again; a running one is asked for its report (sessions) and re-configured when
 * its role says the report is stale (an old key). Idempotent; after every (re)connect and
 * periodically.
 */
export async function reconcileSystemVms(s: Services, hostId: string, listed?: Map<string, string>): Promise<void> {
  if (!s.agents.isConnected(hostId) || !systemVmTypes().length) return;
  const vms = await s.db.query<SystemVmRow>(`${SYSTEM_VM_SELECT} WHERE v.host_id = $1 AND v.state IN ('Running', 'Starting') AND v.type = ANY($2::text[])`, [hostId, systemVmTypes()]);
  if (!vms.length) return;
  const running = listed ?? new Map((await s.agents.request(hostId, 'listState', {})).vms.map((v) => [v.name, v.state]));
  for (const vm of vms) {
    await serialized(`systemvm:${vm.vm_id}`, async () => {
      // The rows and the listing were read before this VM's turn: a stop, destroy or start that
      // held the turn meanwhile changed both. Read again inside it, so a VM an admin just stopped
      // (absent from a listing taken mid-stop) is not re-created behind the admin's back.
      const now = await systemVmById(s.db, vm.vm_id);
      if (!now || now.host_id !== hostId || (now.state !== 'Running' && now.state !== 'Starting')) return;
      let st = running.get(vm.instance_name);
      if (st !== 'Running') st = (await s.agents.request(hostId, 'listState', {})).vms.find((v) => v.name === vm.instance_name)?.state;
      if (st !== 'Running') {
        s.log.warn({ systemvm: vm.instance_name, hostId, state: st ?? 'absent' }, 're-creating a system VM that is not running on its host');
        if (st) await s.agents.request(hostId, 'destroyVm', { name: vm.instance_name }).catch(() => undefined);
        try {
          await startOnHost(s, vm, hostId);
          await s.db.query(`UPDATE vm_instances SET state = 'Running' WHERE id = $1`, [vm.vm_id]);
        } catch (e) {
          await reportFailure(s, `re-creating system VM ${vm.instance_name}`, e, { hostId });
          // Not left Running on a host that does not run it: Stopped, off the host; the zone
          // check makes or starts what the zone needs.
          await s.agents.request(hostId, 'destroyVm', { name: vm.instance_name }).catch(() => undefined);
          await s.db.query(`UPDATE vm_instances SET state = 'Error', last_host_id = host_id, host_id = NULL, pod_id = NULL WHERE id = $1`, [vm.vm_id]);
        }
        return;
      }
      await refreshSystemVm(s, vm, hostId).catch((e) => s.log.warn({ err: e, systemvm: vm.instance_name }, 'system VM report failed'));
    });
  }
}

/** Asks the appliance for its report, records it, and re-configures it when its role says so. */
export async function refreshSystemVm(s: Services, vm: SystemVmRow, hostId: string): Promise<Record<string, unknown> | undefined> {
  const { payload } = await s.agents.request(hostId, 'relay', { name: vm.instance_name, payload: { type: 'report', id: randomUUID() }, timeoutMs: 5000 }, 10_000);
  const rep = payload as Record<string, unknown>;
  if (rep?.type !== 'report') return undefined;
  await s.db.query('UPDATE system_vms SET sessions = $2, report = $3, last_report = now() WHERE vm_id = $1',
    [vm.vm_id, typeof rep.sessions === 'number' ? rep.sessions : 0, JSON.stringify(rep)]);
  const role = roleOfType(vm.type);
  if (role?.stale && await role.stale(s, vm, rep)) await configureSystemVm(s, vm, hostId);
  return rep;
}

/** Re-sends every running VM of a role its configuration now (the console key rotated). */
export async function reconfigureRole(s: Services, type: string): Promise<void> {
  const vms = await s.db.query<SystemVmRow>(`${SYSTEM_VM_SELECT} WHERE v.type = $1 AND v.state = 'Running' AND v.host_id IS NOT NULL`, [type]);
  for (const vm of vms) {
    if (!s.agents.isConnected(vm.host_id!)) continue;
    await serialized(`systemvm:${vm.vm_id}`, () => configureSystemVm(s, vm, vm.host_id!))
      .catch((e) => s.log.warn({ err: e, systemvm: vm.instance_name }, 'system VM re-configuration failed (the monitor retries)'));
  }
}

/**
 * What each enabled zone wants: every enabled role's VMs recorded (up to the role's wanted
 * count) and started. A zone without a connected LXC host or a public range gets nothing yet
 * (retried on the next check). Stopped VMs count (an admin stopped them: left so), Error ones
 * are started again, Destroyed ones are replaced.
 */
export async function ensureZoneSystemVms(s: Services, zoneId: string): Promise<void> {
  for (const role of systemVmRoles()) {
    if (!(await roleEnabled(s.db, role))) continue;
    await serialized(`systemvm-zone:${zoneId}:${role.type}`, async () => {
      // Asked again inside the zone's turn, next to the query of its VMs: a check that waited
      // here while an admin disabled the role and destroyed its VM must not create a new one.
      if (!(await roleEnabled(s.db, role))) return;
      const vms = await s.db.query<SystemVmRow>(`${SYSTEM_VM_SELECT} WHERE v.zone_id = $1 AND v.type = $2 AND v.state <> 'Destroyed' ORDER BY v.created`, [zoneId, role.type]);
      const want = role.wanted ? await role.wanted(s, zoneId, vms) : 1;
      for (let i = vms.length; i < want; i++) {
        const id = await s.db.tx((sql) => createSystemVmRecord(sql, role, zoneId));
        s.log.info({ zoneId, role: role.type, vm: id }, 'creating a system VM the zone needs');
        vms.push((await systemVmById(s.db, id))!);
      }
      for (const vm of vms) {
        // Error: a start or re-creation failed; Stopped and never placed: just recorded.
        if (vm.state === 'Error' || (vm.state === 'Stopped' && vm.last_host_id === null)) await bringUpSystemVm(s, vm.vm_id);
      }
    });
  }
}

/** Zones that can carry system VMs now: enabled, with a connected LXC host and a public range. */
async function readyZones(s: Services): Promise<string[]> {
  const rows = await s.db.query<{ id: string; host_ids: string[] }>(
    `SELECT z.id, array_agg(h.id::text) AS host_ids FROM zones z JOIN hosts h ON h.zone_id = z.id
     WHERE z.allocation_state = 'Enabled' AND h.hypervisor = 'LXC' AND h.type = 'Routing'
       AND EXISTS (SELECT 1 FROM vlan_ip_ranges r WHERE r.zone_id = z.id AND r.for_virtual_network AND r.start_ip IS NOT NULL AND r.account_id IS NULL)
     GROUP BY z.id`);
  return rows.filter((r) => r.host_ids.some((h) => s.agents.isConnected(h))).map((r) => r.id);
}

/** One check of everything: roles' periodic work, each ready zone's VMs, each host's VMs. */
export async function checkSystemVms(s: Services): Promise<void> {
  for (const role of systemVmRoles()) if (role.tick) await guard(s, `system VM role ${role.type}`, () => role.tick!(s));
  const hosts = await s.db.query<{ host_id: string }>(`SELECT DISTINCT host_id FROM vm_instances WHERE type = ANY($1::text[]) AND state IN ('Running', 'Starting') AND host_id IS NOT NULL`, [systemVmTypes()]);
  for (const h of hosts) {
    await reconcileSystemVms(s, h.host_id).catch((e) => {
      if (e instanceof AgentRequestError) s.log.warn({ err: e, hostId: h.host_id }, 'system VM monitor: host unreachable');
      else return reportFailure(s, `system VM monitor of host ${h.host_id}`, e);
    });
  }
  for (const z of await readyZones(s)) await guard(s, `system VMs of zone ${z}`, () => ensureZoneSystemVms(s, z));
}

/** The manager's periodic system VM check (FLOTILLA_SYSTEMVM_CHECK_MS); returns its stopper. */
export function startSystemVmMonitor(s: Services, intervalMs: number): () => Promise<void> {
  let stopped = false;
  let current: Promise<void> = Promise.resolve();
  const kick = () => { if (!stopped) current = current.then(() => guard(s, 'system VM monitor', () => (stopped ? undefined : checkSystemVms(s)))); };
  const timer = setInterval(kick, intervalMs);
  timer.unref();
  kick();
  return async () => { stopped = true; clearInterval(timer); await current; };
}
