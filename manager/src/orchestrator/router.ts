// Isolated networks' virtual routers: implementing a network (VNI, source NAT IP, router VM),
// the pure builders of a router's whole desired state (RouterSpec with its FirewallSpec), and
// the appliers that bring a router in line with the database (start it on a host, send the
// spec, read its report, re-create it when it died). The database is the desired state; a
// spec's generation is bumped only when its content changes, so re-sending is always safe
// (the router treats the same generation as a no-op) and a re-created router receives the
// very same spec — rules, reservations, user data — and comes back identical.
import { createHash, randomUUID } from 'node:crypto';
import type { NetworkSpec, NicSpec, VmSpec } from '@flotilla/protocol/agent';
import { ROUTER_SPEC_VERSION, type GuestNetwork, type ReportMessage, type RouterSpec, type VmData } from '@flotilla/protocol/router';
import type { EgressRule, FirewallRule, FirewallSpec, PortForward, PublicIp } from '@flotilla/protocol/firewall';
import type { Services } from '../services.ts';
import type { Sql } from '../db/sql.ts';
import { apiError } from '../api/errors.ts';
import { AgentRequestError } from '../agents/gateway.ts';
import { guard, reportFailure } from '../background.ts';
import { agentFailure, networkSpec, planHost, refreshPeers, releaseUnusedNetworks } from './compute.ts';
import { firstFree, parseIPv4, parseVnetRanges } from './ipam.ts';
import { vpnSpecOf } from '../commands/vpn/spec.ts';
import { forgetApplied, pushVpnDelta, rememberApplied } from '../commands/vpn/push.ts';
import type { RemoteAccessVpnSpec } from '@flotilla/protocol/vpn';
import { lbSpecOf } from './lb.ts';
import type { LbSpec } from '@flotilla/protocol/lb';

export const SYSTEM_TEMPLATE_ID = '3b1b2a6e-0000-4000-8000-00000000a002';
const ROUTER_OFFERING = 'Cloud.Com-SoftwareRouter';
/** The control bridge every host carries for its routers' link-local NICs. */
export const CONTROL_NETWORK_ID = 'control';
const CONTROL_HOST_ADDRESS = '169.254.0.1/16';
/** Router NIC layout, as CloudStack's isolated VR: guest, control (link-local), public. */
export const IF = { guest: 'eth0', control: 'eth1', public: 'eth2' } as const;
const LEASE_SECONDS = 86_400;
const GUEST_DOMAIN_SUFFIX = 'cloud.internal';

// ---- serialisation: one operation per network/router at a time in this process ----

const chains = new Map<string, Promise<unknown>>();
export function serialized<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const prev = chains.get(key) ?? Promise.resolve();
  const next = prev.then(fn, fn);
  const tail = next.catch(() => undefined);
  chains.set(key, tail);
  void tail.then(() => { if (chains.get(key) === tail) chains.delete(key); });
  return next;
}

/** Whether an operation on `key` runs (or waits) in this process now. */
export const busy = (key: string): boolean => chains.has(key);

// ---- rows ----

export interface RouterRow {
  vm_id: string; network_id: string; public_mac: string; control_mac: string; link_local_ip: string; generation: number; spec_hash: string | null;
  applied_generation: number | null; health: Record<string, { ok: boolean; detail?: string }> | null; counters: ReportMessage['counters'] | null;
  firewall_counters: Record<string, { packets: number; bytes: number }> | null; last_report: Date | null;
  instance_name: string; state: string; host_id: string | null; zone_id: string; guest_mac: string | null; guest_ip: string | null;
}
export const ROUTER_ROW_SELECT = `SELECT r.*, v.instance_name, v.state, v.host_id, v.zone_id, c.mac AS guest_mac, c.ip4 AS guest_ip
  FROM routers r JOIN vm_instances v ON v.id = r.vm_id LEFT JOIN nics c ON c.vm_id = r.vm_id AND c.device_id = 0`;

/** The (not destroyed) router of a network. */
export async function routerOf(sql: Sql, networkId: string): Promise<RouterRow | undefined> {
  return (await sql.query<RouterRow>(`${ROUTER_ROW_SELECT} WHERE r.network_id = $1 AND v.state <> 'Destroyed' ORDER BY r.created DESC LIMIT 1`, [networkId]))[0];
}

interface NetInfo {
  id: string; name: string; zone_id: string; zone_name: string; cidr: string; gateway: string; vni: number | null; physical_network_id: string | null;
  network_domain: string | null; dns1: string | null; dns2: string | null; zone_dns1: string | null; zone_dns2: string | null;
  egress_allow: boolean; account_id: string | null; domain_id: string; state: string; guest_type: string;
}
const NET_SELECT = `SELECT n.id, n.name, n.zone_id, z.name AS zone_name, n.cidr, n.gateway, n.vni, n.physical_network_id, n.network_domain, n.dns1, n.dns2,
  z.dns1 AS zone_dns1, z.dns2 AS zone_dns2, o.egress_default_policy AS egress_allow, n.account_id, n.domain_id, n.state, n.guest_type
  FROM networks n JOIN zones z ON z.id = n.zone_id JOIN network_offerings o ON o.id = n.network_offering_id`;

export interface PublicIpRow { id: string; address: string; network_id: string | null; is_source_nat: boolean; static_nat_ip: string | null; static_nat_vm_id: string | null; netmask: string; range_gateway: string }
export const PUBLIC_IP_ROW_SELECT = `SELECT p.id, p.address, p.network_id, p.is_source_nat, p.static_nat_ip, p.static_nat_vm_id, r.netmask, r.gateway AS range_gateway
  FROM public_ip_addresses p JOIN vlan_ip_ranges r ON r.id = p.vlan_range_id`;

export interface RuleRow {
  id: string; purpose: 'Firewall' | 'PortForwarding' | 'Egress'; network_id: string; ip_address_id: string | null; protocol: string;
  start_port: number | null; end_port: number | null; icmp_type: number | null; icmp_code: number | null; source_cidrs: string[]; dest_cidrs: string[];
  vm_id: string | null; private_ip: string | null; private_start_port: number | null; private_end_port: number | null;
}

export interface VmNicRow { vm_id: string; vm_uuid: string; name: string; instance_name: string; mac: string; ip4: string; user_data: string | null; password_enc: string | null; ssh_public_keys?: string | null; offering_name: string; state: string }

// ---- pure builders ----

const prefixOf = (netmask: string): number => netmask.split('.').reduce((n, o) => n + (Number(o) >>> 0).toString(2).replace(/0/g, '').length, 0);
const portsOf = (a: number | null, b: number | null) => (a === null ? undefined : { start: a, end: b ?? a });

/** The network's firewall and NAT, as the router's firewall compiles it. */
export function firewallOf(net: { id: string; cidr: string; egress_allow: boolean }, ips: PublicIpRow[], rules: RuleRow[]): FirewallSpec {
  const sourceNat = ips.find((p) => p.is_source_nat);
  const match = (r: RuleRow) => ({
    protocol: r.protocol as FirewallRule['protocol'],
    ...(r.protocol === 'tcp' || r.protocol === 'udp' ? (portsOf(r.start_port, r.end_port) ? { ports: portsOf(r.start_port, r.end_port)! } : {}) : {}),
    ...(r.protocol === 'icmp' && r.icmp_type !== null ? { icmpType: r.icmp_type } : {}),
    ...(r.protocol === 'icmp' && r.icmp_code !== null ? { icmpCode: r.icmp_code } : {}),
  });
  const publicIps: PublicIp[] = ips.map((p) => ({
    address: p.address, filter: 'rules',
    rules: rules.filter((r) => r.purpose === 'Firewall' && r.ip_address_id === p.id).map((r): FirewallRule => ({ id: r.id, ...match(r), sourceCidrs: r.source_cidrs })),
    portForwards: rules.filter((r) => r.purpose === 'PortForwarding' && r.ip_address_id === p.id).map((r): PortForward => ({
      id: r.id, protocol: r.protocol as PortForward['protocol'], publicPorts: portsOf(r.start_port, r.end_port)!, privateIp: r.private_ip!,
      privatePorts: portsOf(r.private_start_port, r.private_end_port)!, sourceCidrs: r.source_cidrs,
      // As in CloudStack a forward opens nothing itself: openfirewall=true is a firewall rule of its own.
      open: false,
    })),
    ...(p.static_nat_ip ? { staticNat: { privateIp: p.static_nat_ip } } : {}),
  }));
  const egress: EgressRule[] = rules.filter((r) => r.purpose === 'Egress').map((r) => ({ id: r.id, ...match(r), sourceCidrs: r.source_cidrs, destinationCidrs: r.dest_cidrs }));
  return {
    version: 1, publicInterfaces: [IF.public], aclLists: [], securityGroups: [], securityGroupMembers: [], publicIps,
    guestNetworks: [{ id: net.id, interface: IF.guest, cidrs: [net.cidr], ...(sourceNat ? { sourceNatIp: sourceNat.address } : {}), egress: { defaultPolicy: net.egress_allow ? 'allow' : 'deny', rules: egress } }],
  };
}

export interface RouterInput {
  net: NetInfo; router: RouterRow; ips: PublicIpRow[]; rules: RuleRow[]; vms: VmNicRow[];
  /** opened passwords by VM id */
  passwords: Map<string, string>;
  /** the network's remote-access VPN section, if it has one */
  vpn?: RemoteAccessVpnSpec | undefined;
  /** load-balancer rules (absent: none) */
  lb?: LbSpec | undefined;
}

/** A network's domain: its own, or CloudStack's default `cs<account>.cloud.internal`. */
export function defaultNetworkDomain(accountId: string | null): string { return `cs${(accountId ?? '0').replace(/-/g, '').slice(0, 8)}.${GUEST_DOMAIN_SUFFIX}`; }

/** The router's whole desired state but its generation. */
export function routerSpecOf(i: RouterInput): Omit<RouterSpec, 'generation'> {
  const { net, router } = i;
  const prefix = net.cidr.split('/')[1];
  const sourceNat = i.ips.find((p) => p.is_source_nat);
  const publicOf = (vmId: string) => i.ips.find((p) => p.static_nat_vm_id === vmId)?.address ?? sourceNat?.address;
  const vms: VmData[] = i.vms.map((v) => {
    const pub = publicOf(v.vm_id);
    const pw = i.passwords.get(v.vm_id);
    return {
      ip: v.ip4, ...(v.user_data ? { userData: v.user_data } : {}), ...(pw ? { password: pw } : {}),
      metadata: {
        'service-offering': v.offering_name, 'availability-zone': net.zone_name, 'local-ipv4': v.ip4, 'local-hostname': v.name,
        ...(pub ? { 'public-ipv4': pub, 'public-hostname': pub } : {}), 'instance-id': v.instance_name, 'vm-id': v.vm_uuid,
        'cloud-identifier': `CloudStack-{${net.zone_id}}`,
        // The VM's own copy of its key pairs' public keys, one a line (validated when registered).
        ...(v.ssh_public_keys ? { 'public-keys': v.ssh_public_keys } : {}),
      },
    };
  });
  const guest: GuestNetwork = {
    interface: IF.guest, cidr: net.cidr, gateway: net.gateway, domain: net.network_domain ?? defaultNetworkDomain(net.account_id),
    dnsForwarders: [net.dns1 ?? net.zone_dns1, net.dns2 ?? net.zone_dns2].filter((x): x is string => Boolean(x)),
    leaseSeconds: LEASE_SECONDS,
    reservations: i.vms.map((v) => ({ mac: v.mac, ip: v.ip4, hostname: v.name })),
    vms,
  };
  return {
    version: ROUTER_SPEC_VERSION, routerId: router.instance_name,
    interfaces: [
      { name: IF.guest, mac: router.guest_mac!, role: 'guest', addresses: [`${net.gateway}/${prefix}`] },
      { name: IF.control, mac: router.control_mac, role: 'control', addresses: [`${router.link_local_ip}/16`] },
      { name: IF.public, mac: router.public_mac, role: 'public', addresses: i.ips.map((p) => `${p.address}/${prefixOf(p.netmask)}`) },
    ],
    routes: sourceNat ? [{ destination: 'default', gateway: sourceNat.range_gateway, interface: IF.public }] : [],
    guestNetworks: [guest],
    firewall: firewallOf(net, i.ips, i.rules),
    ...(i.vpn ? { vpn: i.vpn } : {}),
    ...(i.lb ? { lb: i.lb } : {}),
  };
}

// ---- loading ----

export async function netInfo(sql: Sql, networkId: string): Promise<NetInfo> {
  const n = (await sql.query<NetInfo>(`${NET_SELECT} WHERE n.id = $1`, [networkId]))[0];
  if (!n) throw new Error(`network ${networkId} vanished`);
  return n;
}

export async function networkIps(sql: Sql, networkId: string): Promise<PublicIpRow[]> {
  return sql.query<PublicIpRow>(`${PUBLIC_IP_ROW_SELECT} WHERE p.network_id = $1 ORDER BY p.is_source_nat DESC, p.allocated, p.address`, [networkId]);
}
export async function networkRules(sql: Sql, networkId: string): Promise<RuleRow[]> {
  return sql.query<RuleRow>(`SELECT * FROM network_rules WHERE network_id = $1 ORDER BY created, id`, [networkId]);
}

export async function loadInput(s: Services, router: RouterRow): Promise<RouterInput> {
  const db = s.db;
  const net = await netInfo(db, router.network_id);
  const vms = await db.query<VmNicRow>(
    `SELECT v.id AS vm_id, v.id AS vm_uuid, v.name, v.instance_name, c.mac, c.ip4, v.user_data, v.password_enc, v.ssh_public_keys, so.name AS offering_name, v.state
     FROM nics c JOIN vm_instances v ON v.id = c.vm_id JOIN service_offerings so ON so.id = v.service_offering_id
     WHERE c.network_id = $1 AND v.type = 'User' AND v.state <> 'Destroyed' AND c.ip4 IS NOT NULL ORDER BY v.created, v.id`, [net.id]);
  const passwords = new Map<string, string>();
  for (const v of vms) if (v.password_enc) { try { passwords.set(v.vm_id, s.secrets.open(v.password_enc)); } catch { /* unreadable: not served */ } }
  return {
    net, router, ips: await networkIps(db, net.id), rules: await networkRules(db, net.id), vms, passwords,
    vpn: await vpnSpecOf(s, db, net.id), lb: await lbSpecOf(db, net.id, s.secrets),
  };
}

// ---- implementing a network ----

/**
 * A router's MACs derive from its network: a re-created router (destroyRouter, then restart)
 * answers with the MACs the guests and the uplink's gateway have in their ARP caches, so
 * traffic resumes at once instead of after the neighbours' entries go stale.
 */
const stableMac = (networkId: string, role: string) => ['02', ...[...createHash('sha256').update(`${networkId}/${role}`).digest().subarray(0, 5)].map((b) => b.toString(16).padStart(2, '0'))].join(':');

/**
 * Allocates a free public address of the zone's public ranges (not for system VMs) to a network,
 * or refuses with 533 when none is left. Dedicated ranges (dedicatePublicIpRange) as CloudStack's
 * IpAddressManagerImpl: the account's own first, then its domain's, then the system pool; a range
 * dedicated to another account or domain never.
 */
export async function allocatePublicIp(sql: Sql, o: { zoneId: string; networkId: string; accountId: string; domainId: string; sourceNat: boolean; id?: string; address?: string }): Promise<string> {
  const ranges = await sql.query<{ id: string; start_ip: string; end_ip: string }>(
    `SELECT id, start_ip, end_ip FROM vlan_ip_ranges WHERE zone_id = $1 AND for_virtual_network AND NOT for_system_vms AND start_ip IS NOT NULL
       AND (account_id = $2 OR (account_id IS NULL AND (domain_id IS NULL OR domain_id = $3))) ORDER BY account_id NULLS LAST, domain_id NULLS LAST, seq`, [o.zoneId, o.accountId, o.domainId]);
  if (!ranges.length) throw apiError('INSUFFICIENT_CAPACITY', 'Insufficient address capacity: the zone has no public IP range (createVlanIpRange with forvirtualnetwork=true)');
  // Two allocations in one zone at once (concurrent deploys on PostgreSQL) would pick the same
  // first free address and one would die on the unique index (a 530): they take turns instead.
  await sql.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`public_ip:${o.zoneId}`]);
  const used = new Set((await sql.query<{ address: string }>('SELECT address FROM public_ip_addresses WHERE zone_id = $1', [o.zoneId])).map((r) => r.address));
  const insert = async (rangeId: string, ip: string) => {
    const id = o.id ?? randomUUID();
    await sql.query(
      `INSERT INTO public_ip_addresses (id, address, zone_id, vlan_range_id, network_id, account_id, domain_id, is_source_nat) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)`,
      [id, ip, o.zoneId, rangeId, o.networkId, o.accountId, o.domainId, o.sourceNat]);
    return id;
  };
  if (o.address !== undefined) {
    // associateIpAddress ipaddress=…: that address, if a public range the account may use has it free.
    const want = parseIPv4('ipaddress', o.address);
    const r = ranges.find((x) => parseIPv4('startip', x.start_ip).value <= want.value && want.value <= parseIPv4('endip', x.end_ip).value);
    if (!r) throw apiError('INSUFFICIENT_CAPACITY', `Insufficient address capacity: ${want.text} is not in a public IP range of the zone this account may use`);
    if (used.has(want.text)) throw apiError('INSUFFICIENT_CAPACITY', `Insufficient address capacity: public IP address ${want.text} is already allocated`);
    return insert(r.id, want.text);
  }
  for (const r of ranges) {
    const ip = firstFree({ family: 4, start: parseIPv4('startip', r.start_ip).value, end: parseIPv4('endip', r.end_ip).value }, (t) => used.has(t));
    if (ip) return insert(r.id, ip);
  }
  throw apiError('INSUFFICIENT_CAPACITY', 'Insufficient address capacity: every public IP address of the zone is allocated');
}

/** A free VNI of the network's physical network's range. */
async function allocateVni(sql: Sql, n: NetInfo): Promise<number> {
  const pn = (await sql.query<{ vlan: string | null; isolation_methods: string; name: string }>('SELECT vlan, isolation_methods, name FROM physical_networks WHERE id = $1', [n.physical_network_id]))[0];
  if (!pn?.vlan) throw apiError('INSUFFICIENT_CAPACITY', `Unable to implement network ${n.name}: its physical network has no VLAN/VNI range`);
  const method = (pn.isolation_methods.split(',')[0] || 'VLAN').toUpperCase() === 'VXLAN' ? 'VXLAN' : 'VLAN';
  const ranges = parseVnetRanges('vlan', pn.vlan, method);
  // As public addresses: concurrent implementations in one zone take turns picking a free VNI.
  await sql.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`vni:${n.zone_id}`]);
  const used = new Set((await sql.query<{ vni: number }>('SELECT vni FROM networks WHERE zone_id = $1 AND vni IS NOT NULL', [n.zone_id])).map((r) => r.vni));
  // Guest VLAN ranges dedicated to the owner come first; those dedicated to others are never taken.
  const dedicated = await sql.query<{ account_id: string; start_vni: number; end_vni: number }>(
    'SELECT account_id, start_vni, end_vni FROM dedicated_guest_vlan_ranges WHERE physical_network_id = $1 ORDER BY start_vni', [n.physical_network_id]);
  for (const d of dedicated) if (d.account_id === n.account_id) for (let v = d.start_vni; v <= d.end_vni; v++) if (!used.has(v)) return v;
  const others = dedicated.filter((d) => d.account_id !== n.account_id);
  const free = (v: number) => !used.has(v) && !others.some((d) => v >= d.start_vni && v <= d.end_vni);
  for (const [lo, hi] of ranges) for (let v = lo; v <= hi; v++) if (free(v)) return v;
  throw apiError('INSUFFICIENT_CAPACITY', `Unable to implement network ${n.name}: every VNI of physical network ${pn.name} (${pn.vlan}) is in use`);
}

/** Records (once) what an implemented isolated network has: VNI, source NAT IP, router VM. */
export async function implementNetwork(sql: Sql, networkId: string): Promise<void> {
  const n = (await sql.query<NetInfo>(`${NET_SELECT} WHERE n.id = $1 FOR UPDATE OF n`, [networkId]))[0];
  if (!n) throw new Error(`network ${networkId} vanished`);
  if (n.guest_type === 'L2') {
    // The segment only: its VNI, nothing else (CloudStack's L2 network implement).
    if (n.vni === null) await sql.query('UPDATE networks SET vni = $2 WHERE id = $1', [n.id, await allocateVni(sql, n)]);
    if (n.state === 'Allocated') await sql.query(`UPDATE networks SET state = 'Implemented' WHERE id = $1`, [n.id]);
    return;
  }
  if (n.guest_type !== 'Isolated') return;
  if (n.vni === null) await sql.query('UPDATE networks SET vni = $2 WHERE id = $1', [n.id, await allocateVni(sql, n)]);
  const snat = await sql.query('SELECT 1 FROM public_ip_addresses WHERE network_id = $1 AND is_source_nat', [n.id]);
  if (!snat.length) await allocatePublicIp(sql, { zoneId: n.zone_id, networkId: n.id, accountId: n.account_id!, domainId: n.domain_id, sourceNat: true });
  if (!(await routerOf(sql, n.id))) await createRouterRecord(sql, n);
  if (n.state !== 'Implemented') await sql.query(`UPDATE networks SET state = 'Implemented' WHERE id = $1`, [n.id]);
}

async function createRouterRecord(sql: Sql, n: NetInfo): Promise<string> {
  const so = (await sql.query<{ id: string }>(`SELECT id FROM service_offerings WHERE unique_name = $1`, [ROUTER_OFFERING]))[0];
  if (!so) throw new Error('the router system offering is missing');
  const seq = (await sql.query<{ n: number }>(`SELECT nextval('vm_instance_seq')::int AS n`))[0]!.n;
  const id = randomUUID();
  const name = `r-${seq}-VM`;
  await sql.query(
    `INSERT INTO vm_instances (id, name, display_name, instance_name, type, state, zone_id, template_id, service_offering_id, account_id, domain_id)
     VALUES ($1,$2,$2,$2,'DomainRouter','Stopped',$3,$4,$5,$6,$7)`, [id, name, n.zone_id, SYSTEM_TEMPLATE_ID, so.id, n.account_id, n.domain_id]);
  await sql.query('INSERT INTO nics (id, vm_id, network_id, device_id, mac, ip4, is_default) VALUES ($1,$2,$3,0,$4,$5,false)', [randomUUID(), id, n.id, stableMac(n.id, 'guest'), n.gateway]);
  const ll = `169.254.${1 + (Math.floor(seq / 254) % 254)}.${1 + (seq % 254)}`;
  await sql.query('INSERT INTO routers (vm_id, network_id, public_mac, control_mac, link_local_ip) VALUES ($1,$2,$3,$4,$5)', [id, n.id, stableMac(n.id, 'public'), stableMac(n.id, 'control'), ll]);
  return id;
}

// ---- appliers ----

export async function publicNetwork(sql: Sql, zoneId: string): Promise<NetworkSpec & { id: string }> {
  const t = (await sql.query<{ physical_network_id: string; kvm_label: string | null }>(
    `SELECT t.physical_network_id, t.kvm_label FROM traffic_types t JOIN physical_networks p ON p.id = t.physical_network_id
     WHERE p.zone_id = $1 AND t.traffic_type = 'Public' ORDER BY p.seq LIMIT 1`, [zoneId]))[0];
  if (!t) throw apiError('RESOURCE_UNAVAILABLE', 'The zone has no physical network carrying Public traffic: a router cannot be given its public NIC');
  return { id: t.physical_network_id, kind: 'public', ...(t.kvm_label ? { uplinkInterface: t.kvm_label } : {}) };
}

/** The router VM as its host runs it: three NICs, the router appliance role, no command line. */
export async function routerVmSpec(sql: Sql, router: RouterRow): Promise<{ spec: VmSpec; networks: NetworkSpec[] }> {
  const so = (await sql.query<{ cpu_number: number; cpu_speed: number; memory: number }>(
    `SELECT s.cpu_number, s.cpu_speed, s.memory FROM vm_instances v JOIN service_offerings s ON s.id = v.service_offering_id WHERE v.id = $1`, [router.vm_id]))[0]!;
  const pub = await publicNetwork(sql, router.zone_id);
  const nics: NicSpec[] = [
    { deviceId: 0, mac: router.guest_mac!, networkId: router.network_id },
    { deviceId: 1, mac: router.control_mac, networkId: CONTROL_NETWORK_ID },
    { deviceId: 2, mac: router.public_mac, networkId: pub.id, default: true },
  ];
  return {
    spec: {
      name: router.instance_name, hostname: router.instance_name, cpus: so.cpu_number, cpuMhz: so.cpu_speed, memoryMb: Math.max(16, so.memory),
      template: { kind: 'system', role: 'router' }, nics, controlChannel: 'unix',
      // Leases and acknowledged passwords outlive this router VM: a re-created router of the
      // network gets them back from the host.
      stateKey: router.network_id,
    },
    networks: [pub, { id: CONTROL_NETWORK_ID, kind: 'control', hostAddress: CONTROL_HOST_ADDRESS }],
  };
}

/** Prepares the router's networks on the host, starts it there, and sends it its spec. */
export async function startRouterOnHost(s: Services, vmId: string, hostId: string): Promise<void> {
  const router = (await s.db.query<RouterRow>(`${ROUTER_ROW_SELECT} WHERE r.vm_id = $1`, [vmId]))[0];
  if (!router) throw new Error(`router ${vmId} vanished`);
  const { spec, networks } = await routerVmSpec(s.db, router);
  // Three bridges, each behind its own lock on the agent: prepared side by side.
  const guest = await networkSpec(s.db, router.network_id, hostId);
  await Promise.all([guest, ...networks].map((n) => s.agents.request(hostId, 'prepareNetwork', n)));
  await s.agents.request(hostId, 'startVm', { spec }, 120_000);
  await refreshPeers(s, router.network_id, [hostId]);
  await pushSpec(s, { ...router, host_id: hostId, state: 'Starting' });
}

/** The network is implemented and its router Running (placed and started if need be). */
export async function ensureRouter(s: Services, networkId: string): Promise<void> {
  await serialized(`net:${networkId}`, async () => {
    await s.db.tx((sql) => implementNetwork(sql, networkId));
    const r = (await routerOf(s.db, networkId))!;
    if (r.state === 'Running' && r.host_id && s.agents.isConnected(r.host_id)) { await syncRouter(s, networkId); return; }
    await bringUp(s, r);
  });
}

/** Places a router that is not running, starts it and marks it Running; nothing half-made on failure. */
async function bringUp(s: Services, r: RouterRow, hostId?: string): Promise<void> {
  const host = await s.db.tx(async (sql) => {
    const so = (await sql.query<{ cpu_number: number; cpu_speed: number; memory: number }>(
      `SELECT s.cpu_number, s.cpu_speed, s.memory FROM vm_instances v JOIN service_offerings s ON s.id = v.service_offering_id WHERE v.id = $1`, [r.vm_id]))[0]!;
    const h = await planHost(sql, { zoneId: r.zone_id, ...(hostId ? { hostId } : {}), cpus: so.cpu_number, mhz: so.cpu_speed, memoryMb: so.memory, hypervisor: 'LXC', what: `router ${r.instance_name}` });
    await sql.query(`UPDATE vm_instances SET state = 'Starting', host_id = $2, pod_id = $3 WHERE id = $1`, [r.vm_id, h.id, h.pod_id]);
    return h;
  });
  try {
    await startRouterOnHost(s, r.vm_id, host.id);
  } catch (e) {
    await s.db.query(`UPDATE vm_instances SET state = 'Stopped', last_host_id = host_id, host_id = NULL, pod_id = NULL WHERE id = $1`, [r.vm_id]);
    if (s.agents.isConnected(host.id)) await s.agents.request(host.id, 'destroyVm', { name: r.instance_name }).catch(() => undefined);
    await releaseUnusedNetworks(s, host.id).catch(() => undefined);
    throw agentFailure(e, `Starting router ${r.instance_name}`);
  }
  await s.db.query(`UPDATE vm_instances SET state = 'Running' WHERE id = $1`, [r.vm_id]);
}

/** Takes a router off its host (stop or destroy there); its records stay (stop) or go (destroy). */
export async function takeDownRouter(s: Services, r: RouterRow, destroy: boolean): Promise<void> {
  await serialized(`net:${r.network_id}`, async () => {
    if (r.host_id && s.agents.isConnected(r.host_id)) {
      await s.agents.request(r.host_id, destroy ? 'destroyVm' : 'stopVm', { name: r.instance_name }).catch((e) => { throw agentFailure(e, `${destroy ? 'Destroying' : 'Stopping'} router ${r.instance_name}`); });
    }
    if (destroy) {
      await s.db.tx(async (sql) => {
        await sql.query('DELETE FROM routers WHERE vm_id = $1', [r.vm_id]);
        await sql.query('DELETE FROM nics WHERE vm_id = $1', [r.vm_id]);
        await sql.query(`UPDATE vm_instances SET state = 'Destroyed', last_host_id = coalesce(host_id, last_host_id), host_id = NULL, pod_id = NULL WHERE id = $1`, [r.vm_id]);
      });
    } else {
      await s.db.query(`UPDATE vm_instances SET state = 'Stopped', last_host_id = coalesce(host_id, last_host_id), host_id = NULL, pod_id = NULL WHERE id = $1`, [r.vm_id]);
      await s.db.query('UPDATE routers SET applied_generation = NULL WHERE vm_id = $1', [r.vm_id]);
    }
    if (r.host_id) await releaseUnusedNetworks(s, r.host_id).catch(() => undefined);
  });
}

/** Starts a stopped router (startRouter, restart): same records, same spec. */
export async function startRouter(s: Services, r: RouterRow): Promise<void> {
  await serialized(`net:${r.network_id}`, () => bringUp(s, r));
}

export class RouterApplyError extends Error {
  constructor(readonly code: string, readonly errors: string[]) { super(`router refused the spec (${code}): ${errors.slice(0, 5).join('; ')}`); }
}

/** The hash recorded as `routers.spec_hash` of the spec last built (the repair loop compares). */
export const specHash = (body: Omit<RouterSpec, 'generation'>): string => createHash('sha256').update(JSON.stringify(body)).digest('hex');

/** Builds the spec, bumps the generation if its content changed, and records it. */
async function currentSpec(s: Services, router: RouterRow): Promise<RouterSpec> {
  const body = routerSpecOf(await loadInput(s, router));
  const hash = specHash(body);
  const row = (await s.db.query<{ generation: number }>(
    `UPDATE routers SET generation = CASE WHEN spec_hash IS DISTINCT FROM $2 THEN generation + 1 ELSE generation END, spec_hash = $2
     WHERE vm_id = $1 RETURNING generation`, [router.vm_id, hash]))[0];
  return { ...body, generation: row?.generation ?? router.generation } as RouterSpec;
}

/** What a sync is known to change: the VPN peers of these public keys only (a delta may do). */
export interface SyncHint { vpnKeys?: readonly string[] }

/** Sends the router its current spec and records the generation it applied. */
async function pushSpec(s: Services, router: RouterRow, hint?: SyncHint): Promise<number> {
  if (!router.host_id) throw new Error(`router ${router.instance_name} has no host`);
  if (hint?.vpnKeys) {
    const g = await pushVpnDelta(s, router, hint.vpnKeys);
    if (g !== undefined) return g;
  }
  forgetApplied(s, router.vm_id);
  const spec = await currentSpec(s, router);
  const id = randomUUID();
  const { payload } = await s.agents.request(router.host_id, 'relay', { name: router.instance_name, payload: { type: 'apply', id, spec }, timeoutMs: 60_000 }, 70_000);
  const reply = payload as { type?: string; generation?: number; code?: string; errors?: string[]; timings?: Record<string, number> };
  if (reply?.type === 'applied' || (reply?.type === 'error' && reply.code === 'stale_generation')) {
    // stale: the router already has a newer generation (a concurrent push won): nothing to do.
    const gen = reply.type === 'applied' ? reply.generation ?? spec.generation : spec.generation;
    if (reply.type === 'applied') rememberApplied(s, router.vm_id, spec, gen, reply.timings);
    await s.db.query('UPDATE routers SET applied_generation = greatest(coalesce(applied_generation, 0), $2) WHERE vm_id = $1', [router.vm_id, gen]);
    return gen;
  }
  throw new RouterApplyError(reply?.code ?? 'unknown', reply?.errors ?? [JSON.stringify(reply).slice(0, 300)]);
}

/**
 * Brings a network's running router in line with the database (no-op when there is no running
 * router: its spec is built from the same rows when it starts). Throws when the router refuses.
 */
export async function syncRouter(s: Services, networkId: string, hint?: SyncHint): Promise<boolean> {
  return serialized(`router:${networkId}`, async () => {
    const r = await routerOf(s.db, networkId);
    if (!r || !r.host_id || !['Running', 'Starting'].includes(r.state) || !s.agents.isConnected(r.host_id)) return false;
    await pushSpec(s, r, hint);
    return true;
  });
}

/** Every isolated network a VM has a NIC on gets its router up and the VM's reservation in. */
export async function prepareVmNetworks(s: Services, vmId: string): Promise<void> {
  const nets = await s.db.query<{ network_id: string }>(
    `SELECT DISTINCT c.network_id FROM nics c JOIN networks n ON n.id = c.network_id WHERE c.vm_id = $1 AND n.guest_type = 'Isolated'`, [vmId]);
  for (const n of nets) await ensureRouter(s, n.network_id);
  // An L2 network gets its VNI when its first VM deploys; no router.
  const l2 = await s.db.query<{ network_id: string }>(
    `SELECT DISTINCT c.network_id FROM nics c JOIN networks n ON n.id = c.network_id WHERE c.vm_id = $1 AND n.guest_type = 'L2' AND n.vni IS NULL`, [vmId]);
  for (const n of l2) await s.db.tx((sql) => implementNetwork(sql, n.network_id));
}

/** Re-sends the specs of the networks of a VM (its reservation, data or rules changed). */
export async function syncVmNetworks(s: Services, networkIds: string[]): Promise<void> {
  for (const id of new Set(networkIds)) await syncRouter(s, id);
}

// ---- reports and reconciliation ----

/** Asks a router for its report and records it; re-sends the spec when generations differ. */
export async function refreshRouter(s: Services, r: RouterRow): Promise<ReportMessage | undefined> {
  if (!r.host_id || !s.agents.isConnected(r.host_id)) return undefined;
  const { payload } = await s.agents.request(r.host_id, 'relay', { name: r.instance_name, payload: { type: 'report', id: randomUUID() }, timeoutMs: 5000 }, 10_000);
  const rep = payload as ReportMessage;
  if (rep?.type !== 'report') return undefined;
  await s.db.query(
    `UPDATE routers SET applied_generation = $2, health = $3, counters = $4, firewall_counters = $5, last_report = now() WHERE vm_id = $1`,
    [r.vm_id, rep.appliedGeneration, JSON.stringify(rep.health), JSON.stringify(rep.counters), JSON.stringify(rep.firewallCounters ?? {})]);
  if (rep.lb) await s.db.query('UPDATE routers SET lb_status = $2 WHERE vm_id = $1', [r.vm_id, JSON.stringify(rep.lb)]);
  if (rep.appliedGeneration !== r.generation || r.spec_hash === null) await syncRouter(s, r.network_id).catch((e) => s.log.warn({ err: e, router: r.instance_name }, 'router re-sync failed'));
  return rep;
}

/** Fresh per-rule counters of the routers of these networks (best effort: the last report on failure). */
export async function ruleCounters(s: Services, networkIds: string[]): Promise<Map<string, { packets: number; bytes: number }>> {
  const out = new Map<string, { packets: number; bytes: number }>();
  for (const id of new Set(networkIds)) {
    const r = await routerOf(s.db, id);
    if (!r) continue;
    let counters = r.firewall_counters ?? {};
    if (r.state === 'Running') {
      const rep = await refreshRouter(s, r).catch(() => undefined);
      if (rep?.firewallCounters) counters = rep.firewallCounters;
    }
    for (const [k, v] of Object.entries(counters)) out.set(k, v);
  }
  return out;
}

/**
 * Keeps the routers of a host alive: a router the database places there that the host does not
 * run (or runs in Error) is re-created with the same spec; a running one whose applied
 * generation differs is re-sent its spec. Idempotent; called after every (re)connect and
 * periodically.
 */
export async function reconcileRouters(s: Services, hostId: string, listed?: Map<string, string>): Promise<number> {
  if (!s.agents.isConnected(hostId)) return 0;
  const running = listed ?? new Map((await s.agents.request(hostId, 'listState', {})).vms.map((v) => [v.name, v.state]));
  const routers = await s.db.query<RouterRow>(`${ROUTER_ROW_SELECT} WHERE v.host_id = $1 AND v.state IN ('Running', 'Starting')`, [hostId]);
  for (const r of routers) {
    await serialized(`net:${r.network_id}`, async () => {
      const st = running.get(r.instance_name);
      if (st !== 'Running') {
        s.log.warn({ router: r.instance_name, hostId, state: st ?? 'absent' }, 're-creating a router that is not running on its host');
        if (st) await s.agents.request(hostId, 'destroyVm', { name: r.instance_name }).catch(() => undefined);
        await s.db.query('UPDATE routers SET applied_generation = NULL WHERE vm_id = $1', [r.vm_id]);
        try {
          await startRouterOnHost(s, r.vm_id, hostId);
          await s.db.query(`UPDATE vm_instances SET state = 'Running' WHERE id = $1`, [r.vm_id]);
        } catch (e) {
          await reportFailure(s, `re-creating router ${r.instance_name}`, e, { hostId });
          await s.db.query(`UPDATE vm_instances SET state = 'Error' WHERE id = $1`, [r.vm_id]);
        }
        return;
      }
      await refreshRouter(s, r).catch((e) => s.log.warn({ err: e, router: r.instance_name }, 'router report failed'));
    });
  }
  return routers.length;
}

/** The manager's periodic check of every host's routers; returns its stopper. */
export function startRouterMonitor(s: Services, intervalMs: number): () => Promise<void> {
  let stopped = false;
  let current: Promise<void> = Promise.resolve();
  const tick = async () => {
    const t0 = performance.now();
    let checked = 0;
    const hosts = await s.db.query<{ host_id: string }>(`SELECT DISTINCT v.host_id FROM vm_instances v WHERE v.type = 'DomainRouter' AND v.state = 'Running' AND v.host_id IS NOT NULL`);
    for (const h of hosts) {
      if (stopped) return;
      // A host that drops mid-check is the heartbeat's business; anything else is reported.
      checked += await reconcileRouters(s, h.host_id).catch(async (e) => {
        if (e instanceof AgentRequestError) s.log.warn({ err: e, hostId: h.host_id }, 'router monitor: host unreachable');
        else await reportFailure(s, `router monitor of host ${h.host_id}`, e);
        return 0;
      });
    }
    // Per-router cost = cycle time / routers: bench:scale reads both to show it stays flat.
    s.metrics.routerMonitorCycle.observe((performance.now() - t0) / 1000);
    s.metrics.routerMonitorRouters.set(checked);
  };
  // Ticks never overlap (each waits for the last); a failing tick is reported by the guard.
  const timer = setInterval(() => { if (!stopped) current = current.then(() => guard(s, 'router monitor', tick)); }, intervalMs);
  timer.unref();
  return async () => { stopped = true; clearInterval(timer); await current; };
}
