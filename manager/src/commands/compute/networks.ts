// Guest networks. Shared networks (admin-made, a VNI and an IP range given by the admin; the
// manager assigns VM addresses) work now; isolated networks come with the virtual router.
// Netns hosts have no 802.1Q, so a network's VLAN id is carried as its VXLAN VNI.
import { randomUUID } from 'node:crypto';
import { checkResourceLimit } from '../limits/limits.ts';
import { ALL_ROLES, LIST_OWNED_PARAMS, SUCCESS_RESPONSE, command } from '../../api/registry.ts';
import { apiError, paramError, notFound } from '../../api/errors.ts';
import { Where } from '../../db/sql.ts';
import { applyScope, resolveScope } from '../../api/scope.ts';
import { ownerOf } from '../projects/lookup.ts';
import type { Context } from '../../api/context.ts';
import { ipam, checkIPv4, checkNetmask } from '../infra/validate.ts';
import { zoneById, physicalNetworkById } from '../infra/lookup.ts';
import { domainById, accountByName } from '../accounts/lookup.ts';
import { checkNetworkDomain } from '../accounts/validate.ts';
import { parseVlanTag, validateV4Range } from '../../orchestrator/ipam.ts';
import { NETWORK, NETWORK_COUNT_FROM, NETWORK_SELECT, networkView, type NetworkRow } from './views.ts';
import { domainSubtree, networkById, whereUsableNetwork } from './lookup.ts';
import { pagedRows } from '../../api/paging.ts';
import type { ZoneRow } from '../infra/views.ts';
import { parseCidr, parseIPv4, parseNetmask, subnetOf, contains, addrText, isPrivateGuestCidr, overlaps, subnetSpan } from '../../orchestrator/ipam.ts';
import { defaultNetworkDomain, ensureRouter, routerOf, syncRouter, takeDownRouter } from '../../orchestrator/router.ts';
import { agentFailure } from '../../orchestrator/compute.ts';

/**
 * An isolated network (CloudStack's GuestNetworkGuru): owned by one account, Allocated until
 * its first VM deploys (then implemented: VNI, source NAT IP, router). Its CIDR is the given
 * gateway/netmask or the zone's guest CIDR; overlapping CIDRs of different networks are fine,
 * since each lives on its own VNI behind its own router.
 */
async function createIsolated(ctx: Context, a: { name: string; displaytext?: string | undefined; gateway?: string | undefined; netmask?: string | undefined; networkdomain?: string | undefined; account?: string | undefined; domainid?: string | undefined; vlan?: string | undefined; startip?: string | undefined; dns1?: string | undefined; dns2?: string | undefined; acltype?: string | undefined; physicalnetworkid?: string | undefined; projectid?: string | undefined },
  zone: ZoneRow, off: { id: string; name: string }): Promise<Record<string, unknown>> {
  const o = (await ctx.sql.query<{ for_vpc: boolean; services: Record<string, string[]> }>('SELECT for_vpc, services FROM network_offerings WHERE id = $1', [off.id]))[0]!;
  if (o.for_vpc) throw paramError(`Network offering ${off.name} is for VPC tiers; VPCs are not supported yet`);
  if (a.vlan) throw paramError('vlan can only be given for Shared networks: an isolated network gets a VNI from its physical network when it is implemented');
  if (a.startip) throw paramError(`Network offering ${off.name} does not support specifying IP ranges (startip)`);
  if (a.acltype === 'Domain') throw paramError('Isolated networks have acltype Account');
  if (Boolean(a.gateway) !== Boolean(a.netmask)) throw paramError('gateway and netmask must be given together');
  let cidr: string; let gateway: string;
  if (a.gateway) {
    const gw = ipam(() => parseIPv4('gateway', a.gateway!));
    const subnet = subnetOf(gw, ipam(() => parseNetmask('netmask', a.netmask!)));
    if (subnet.prefix > 29) throw paramError(`The netmask ${a.netmask} leaves no room for VMs: an isolated network needs at least a /29`);
    if (gw.value === subnet.network || gw.value === subnet.network + (1n << BigInt(32 - subnet.prefix)) - 1n) throw paramError(`The gateway ${a.gateway} is the network or broadcast address of ${subnet.text}`);
    cidr = subnet.text; gateway = gw.text;
  } else {
    if (!zone.guest_cidr) throw paramError(`Zone ${zone.name} has no guest CIDR: give gateway and netmask`);
    const subnet = parseCidr('cidr', zone.guest_cidr, 4, false);
    cidr = subnet.text; gateway = addrText(4, subnet.network + 1n);
  }
  const subnet = parseCidr('cidr', cidr, 4, false);
  if (!contains(subnet, ipam(() => parseIPv4('gateway', gateway)))) throw paramError(`The gateway ${gateway} is not in ${cidr}`);
  // CloudStack's NetworkServiceImpl (NetUtils.validateGuestCidr): private addresses only; and never
  // the zone's public subnets, whose addresses the router NATs to (a guest network there would
  // shadow them).
  if (!isPrivateGuestCidr(subnet)) throw paramError(`Virtual Guest Cidr ${cidr} is not RFC 1918 or 6598 compliant`);
  const publics = await ctx.sql.query<{ gateway: string; netmask: string; start_ip: string; end_ip: string }>(
    `SELECT gateway, netmask, start_ip, end_ip FROM vlan_ip_ranges WHERE zone_id = $1 AND for_virtual_network AND gateway IS NOT NULL AND netmask IS NOT NULL ORDER BY seq`, [zone.id]);
  for (const r of publics) {
    const pub = ipam(() => subnetOf(parseIPv4('gateway', r.gateway), parseNetmask('netmask', r.netmask)));
    if (overlaps(subnetSpan(subnet), subnetSpan(pub))) throw paramError(`The guest CIDR ${cidr} overlaps the subnet ${pub.text} of public IP range ${r.start_ip}-${r.end_ip} of zone ${zone.name}`);
  }
  // The caller, account+domainid an admin names, or the account of project `projectid`.
  const owner = await ownerOf(ctx, a);
  await checkResourceLimit(ctx.sql, owner.accountId, 'network');
  const pnId = a.physicalnetworkid ?? (await ctx.sql.query<{ id: string }>(
    `SELECT p.id FROM physical_networks p JOIN traffic_types t ON t.physical_network_id = p.id AND t.traffic_type = 'Guest' WHERE p.zone_id = $1 ORDER BY p.created LIMIT 1`, [zone.id]))[0]?.id;
  if (!pnId) throw paramError(`Zone ${zone.name} has no physical network carrying Guest traffic`);
  const pn = await physicalNetworkById(ctx, pnId, 'physicalnetworkid');
  if (pn.zone_id !== zone.id) throw paramError(`Physical network ${pn.name} is not in zone ${zone.name}`);
  const first = addrText(4, subnet.network + 1n);
  const last = addrText(4, subnet.network + (1n << BigInt(32 - subnet.prefix)) - 2n);
  const id = randomUUID();
  await ctx.sql.query(
    `INSERT INTO networks (id, name, display_text, zone_id, physical_network_id, network_offering_id, guest_type, acl_type, account_id, domain_id, state,
       vni, cidr, gateway, start_ip, end_ip, network_domain, dns1, dns2)
     VALUES ($1,$2,$3,$4,$5,$6,'Isolated','Account',$7,$8,'Allocated',NULL,$9,$10,$11,$12,$13,$14,$15)`,
    [id, a.name, a.displaytext ?? a.name, zone.id, pn.id, off.id, owner.accountId, owner.domainId, cidr, gateway, first, last,
      a.networkdomain ?? defaultNetworkDomain(owner.accountId), a.dns1 ?? null, a.dns2 ?? null]);
  ctx.setResource('Network', id);
  return view(ctx, id);
}

/**
 * An L2 network (CloudStack 4.10+, NetworkServiceImpl with GuestType.L2): the segment only — no
 * CIDR, no gateway, no router, no address management. Owned by an account (acltype Account) or
 * shared by a domain (root admins). Its VNI is the given vlan (offerings with specifyvlan, root
 * admins only, state Setup) or one of its physical network's range when its first VM deploys
 * (Allocated until then, as CloudStack implements it).
 */
async function createL2(ctx: Context, a: { name: string; displaytext?: string | undefined; gateway?: string | undefined; netmask?: string | undefined; startip?: string | undefined; endip?: string | undefined; networkdomain?: string | undefined; account?: string | undefined; domainid?: string | undefined; vlan?: string | undefined; acltype?: string | undefined; physicalnetworkid?: string | undefined; dns1?: string | undefined; dns2?: string | undefined; subdomainaccess?: boolean | undefined; projectid?: string | undefined },
  zone: ZoneRow, off: { id: string; name: string; specify_vlan: boolean }): Promise<Record<string, unknown>> {
  for (const p of ['gateway', 'netmask', 'startip', 'endip', 'networkdomain', 'dns1', 'dns2'] as const) {
    if (a[p]) throw paramError(`${p} can not be given for an L2 network: it has no IP address management (network offering ${off.name})`);
  }
  let vni: number | null = null;
  if (off.specify_vlan) {
    if (!a.vlan) throw paramError(`Unable to execute API command createnetwork due to missing parameter vlan: network offering ${off.name} has specifyvlan=true`);
    if (ctx.caller.role !== 'Admin') throw apiError('ACCOUNT_ERROR', 'Only root admins can specify the vlan of a network');
    const tag = ipam(() => parseVlanTag('vlan', a.vlan!));
    if (tag.id === undefined) throw paramError('Invalid parameter vlan value=untagged: an L2 network needs its own VLAN/VNI');
    const clash = (await ctx.sql.query<{ id: string; name: string }>('SELECT id, name FROM networks WHERE zone_id = $1 AND vni = $2', [zone.id, tag.id]))[0];
    if (clash) throw paramError(`The vlan ${tag.id} is already used by network ${clash.name} (id ${clash.id}) in zone ${zone.name}`);
    vni = tag.id;
  } else if (a.vlan) {
    throw paramError(`vlan can not be given: network offering ${off.name} has specifyvlan=false (the VNI comes from the physical network's range)`);
  }
  const acl = a.acltype ?? 'Account';
  if (acl === 'Domain' && ctx.caller.role !== 'Admin') throw apiError('ACCOUNT_ERROR', 'Only root admins can create L2 networks with acltype=Domain');
  let owner: { accountId: string; domainId: string } = { accountId: ctx.caller.accountId, domainId: ctx.caller.domainId };
  if (acl === 'Account') { owner = await ownerOf(ctx, a); await checkResourceLimit(ctx.sql, owner.accountId, 'network'); }
  let accountId: string | null = owner.accountId;
  if (acl === 'Domain') {
    if (a.projectid) throw paramError('projectid can not be given for an L2 network with acltype=Domain');
    accountId = null;
    owner = { accountId: '', domainId: a.domainid ? (await domainById(ctx, a.domainid, 'domainid')).id : ctx.caller.domainId };
  }
  const pnId = a.physicalnetworkid ?? (await ctx.sql.query<{ id: string }>(
    `SELECT p.id FROM physical_networks p JOIN traffic_types t ON t.physical_network_id = p.id AND t.traffic_type = 'Guest' WHERE p.zone_id = $1 ORDER BY p.created LIMIT 1`, [zone.id]))[0]?.id;
  if (!pnId) throw paramError(`Zone ${zone.name} has no physical network carrying Guest traffic`);
  const pn = await physicalNetworkById(ctx, pnId, 'physicalnetworkid');
  if (pn.zone_id !== zone.id) throw paramError(`Physical network ${pn.name} is not in zone ${zone.name}`);
  const id = randomUUID();
  await ctx.sql.query(
    `INSERT INTO networks (id, name, display_text, zone_id, physical_network_id, network_offering_id, guest_type, acl_type, account_id, domain_id, state,
       vni, cidr, gateway, subdomain_access)
     VALUES ($1,$2,$3,$4,$5,$6,'L2',$7,$8,$9,$10,$11,NULL,NULL,$12)`,
    [id, a.name, a.displaytext ?? a.name, zone.id, pn.id, off.id, acl, accountId, owner.domainId, vni === null ? 'Allocated' : 'Setup', vni,
      acl === 'Domain' ? a.subdomainaccess ?? true : null]);
  ctx.setResource('Network', id);
  return view(ctx, id);
}

/** An account's isolated networks in a zone (CloudStack's getIsolatedNetworksOwnedByAccountInZone). */
export async function isolatedNetworksOf(ctx: Context, accountId: string, zoneId: string): Promise<Array<{ id: string; name: string }>> {
  return ctx.sql.query<{ id: string; name: string }>(
    `SELECT id, name FROM networks WHERE account_id = $1 AND zone_id = $2 AND guest_type = 'Isolated' ORDER BY created`, [accountId, zoneId]);
}

/**
 * The network a VM deployed without networkids joins in an advanced zone, as CloudStack's
 * UserVmManagerImpl picks it: the owner's one isolated network in the zone; with none, a new
 * one `<account>-network` from the Required isolated offering (DefaultIsolatedNetworkOffering-
 * WithSourceNatService), made in the caller's transaction; with several, a 431.
 */
export async function defaultNetworkFor(ctx: Context, owner: { accountId: string; accountName: string; domainId: string }, zone: ZoneRow): Promise<string> {
  const nets = await isolatedNetworksOf(ctx, owner.accountId, zone.id);
  if (nets.length > 1) throw paramError(`More than 1 default Isolated networks are found for account ${owner.accountName}; please specify networkIds`);
  if (nets.length === 1) return nets[0]!.id;
  const off = (await ctx.sql.query<{ id: string; name: string }>(
    `SELECT id, name FROM network_offerings WHERE availability = 'Required' AND guest_ip_type = 'Isolated' AND state = 'Enabled' AND NOT for_vpc ORDER BY created LIMIT 1`))[0];
  if (!off) throw paramError('Unable to find a network offering with availability=Required to create the default network for the account; please specify networkIds');
  const name = `${owner.accountName}-network`;
  const made = await createIsolated(ctx, { name, displaytext: name, ...(owner.accountId !== ctx.caller.accountId ? { account: owner.accountName, domainid: owner.domainId } : {}) }, zone, off);
  return made.id as string;
}

async function view(ctx: Context, id: string): Promise<Record<string, unknown>> {
  return networkView((await ctx.sql.query<NetworkRow>(`${NETWORK_SELECT} WHERE n.id = $1`, [id]))[0]!, ctx.caller.role === 'Admin');
}

export const createNetwork = command({
  name: 'createNetwork', description: 'Creates a network', since: '1.0', roles: ALL_ROLES, response: NETWORK, shape: 'object', event: 'NETWORK.CREATE',
  params: {
    name: { type: 'string', required: true, description: 'the name of the network' },
    displaytext: { type: 'string', description: 'the display text of the network' },
    networkofferingid: { type: 'uuid', entity: 'networkoffering', required: true, description: 'the network offering ID' },
    zoneid: { type: 'uuid', entity: 'zone', required: true, description: 'the zone ID for the network' },
    physicalnetworkid: { type: 'uuid', entity: 'physicalnetwork', description: 'the physical network ID the network belongs to' },
    gateway: { type: 'string', description: 'the gateway of the network. Required for shared networks and isolated networks when it belongs to VPC', check: checkIPv4 },
    netmask: { type: 'string', description: 'the netmask of the network. Required for shared networks and isolated networks when it belongs to VPC', check: checkNetmask },
    startip: { type: 'string', description: 'the beginning IP address in the network IP range', check: checkIPv4 },
    endip: { type: 'string', description: 'the ending IP address in the network IP range. If not specified, will be defaulted to startIP', check: checkIPv4 },
    vlan: { type: 'string', description: 'the ID or VID of the network (Flotilla carries it as the VXLAN VNI)' },
    networkdomain: { type: 'string', description: 'network domain', check: checkNetworkDomain },
    acltype: { type: 'string', description: 'Access control type; supported values are account and domain. In 3.0 all shared networks should have aclType=Domain, and all isolated networks - Account. Account means that only the account owner can use the network, domain - all accounts in the domain can use the network', values: ['Account', 'Domain'] },
    account: { type: 'string', description: 'account that will own the network. Account should be under the selected domain' },
    domainid: { type: 'uuid', entity: 'domain', description: 'domain ID of the account owning a network. If the account is not specified, but the acltype is Domain, the network will be created for the specified domain.' },
    projectid: { type: 'uuid', entity: 'project', description: 'an optional project for the network' },
    subdomainaccess: { type: 'boolean', description: 'Defines whether to allow subdomains to use networks dedicated to their parent domain(s). Should be used with aclType=Domain, defaulted to allow.subdomain.network.access global config if not specified' },
    dns1: { type: 'string', description: 'the first IPv4 DNS for the network. Empty string will update the first IPv4 DNS with the value from the zone', check: checkIPv4 },
    dns2: { type: 'string', description: 'the second IPv4 DNS for the network. Empty string will update the second IPv4 DNS with the value from the zone', check: checkIPv4 },
  },
  async handler(ctx, a) {
    const zone = await zoneById(ctx, a.zoneid, 'zoneid');
    // CloudStack's NetworkServiceImpl: only root admins act in a disabled zone (one being set up).
    if (zone.allocation_state !== 'Enabled' && ctx.caller.role !== 'Admin') throw apiError('ACCOUNT_ERROR', `Cannot perform this operation, Zone is currently disabled: ${zone.id}`);
    const off = (await ctx.sql.query<{ id: string; name: string; guest_ip_type: string; state: string; specify_vlan: boolean }>(
      'SELECT id, name, guest_ip_type, state, specify_vlan FROM network_offerings WHERE id = $1', [a.networkofferingid]))[0];
    if (!off) throw notFound(ctx.command, 'networkofferingid', a.networkofferingid);
    if (off.state !== 'Enabled') throw paramError(`Network offering ${off.name} is not enabled`);
    if (off.guest_ip_type === 'Isolated') return createIsolated(ctx, a, zone, off);
    if (off.guest_ip_type === 'L2') return createL2(ctx, a, zone, off);
    if (ctx.caller.role !== 'Admin') throw apiError('ACCOUNT_ERROR', 'Only root admins can create shared networks');
    if (a.projectid) throw paramError('projectid is not supported yet for Shared networks');
    for (const p of ['gateway', 'netmask', 'startip', 'vlan'] as const) if (!a[p]) throw paramError(`Unable to execute API command createnetwork due to missing parameter ${p}: shared networks need gateway, netmask, startip and vlan`);
    const range = ipam(() => validateV4Range({ gateway: a.gateway!, netmask: a.netmask!, startip: a.startip!, endip: a.endip }));
    const tag = ipam(() => parseVlanTag('vlan', a.vlan!));
    const pnId = a.physicalnetworkid ?? (await ctx.sql.query<{ id: string }>(
      `SELECT p.id FROM physical_networks p JOIN traffic_types t ON t.physical_network_id = p.id AND t.traffic_type = 'Guest' WHERE p.zone_id = $1 ORDER BY p.created LIMIT 1`, [zone.id]))[0]?.id;
    const pn = pnId ? await physicalNetworkById(ctx, pnId, 'physicalnetworkid') : undefined;
    if (pn && pn.zone_id !== zone.id) throw paramError(`Physical network ${pn.name} is not in zone ${zone.name}`);
    if (tag.id !== undefined) {
      const clash = (await ctx.sql.query<{ id: string; name: string }>('SELECT id, name FROM networks WHERE zone_id = $1 AND vni = $2', [zone.id, tag.id]))[0];
      if (clash) throw paramError(`The vlan ${tag.id} is already used by network ${clash.name} (id ${clash.id}) in zone ${zone.name}`);
    } else {
      // Untagged: the network is the hosts' own guest uplink (the guest traffic label names the
      // host interface), a flat provider network as CloudStack's untagged shared networks are.
      const label = pn ? (await ctx.sql.query<{ kvm_label: string | null }>(`SELECT kvm_label FROM traffic_types WHERE physical_network_id = $1 AND traffic_type = 'Guest'`, [pn.id]))[0]?.kvm_label : undefined;
      if (!pn || !label) throw paramError('Invalid parameter vlan value=untagged: an untagged network needs a physical network whose Guest traffic type has a kvmnetworklabel naming the hosts\' uplink interface');
      // Only another untagged *shared* network holds the uplink: an isolated network has no VNI
      // until it is implemented, and that is no claim on the untagged slot.
      const other = (await ctx.sql.query<{ name: string }>(`SELECT name FROM networks WHERE physical_network_id = $1 AND vni IS NULL AND guest_type = 'Shared' AND state <> 'Destroy'`, [pn.id]))[0];
      if (other) throw paramError(`Physical network ${pn.name} already has the untagged network ${other.name}`);
    }
    const acl = a.acltype ?? 'Domain';
    let domainId = ctx.caller.domainId;
    let accountId: string | null = null;
    if (a.domainid) domainId = (await domainById(ctx, a.domainid, 'domainid')).id;
    if (acl === 'Account') {
      if (!a.account || !a.domainid) throw paramError('acltype=Account needs account and domainid');
      accountId = (await accountByName(ctx, a.account, a.domainid)).id;
    }
    const id = randomUUID();
    await ctx.sql.query(
      `INSERT INTO networks (id, name, display_text, zone_id, physical_network_id, network_offering_id, guest_type, acl_type, account_id, domain_id, state,
         vni, cidr, gateway, start_ip, end_ip, network_domain, dns1, dns2, subdomain_access)
       VALUES ($1,$2,$3,$4,$5,$6,'Shared',$7,$8,$9,'Setup',$10,$11,$12,$13,$14,$15,$16,$17,$18)`,
      [id, a.name, a.displaytext ?? a.name, zone.id, pn?.id ?? null, off.id, acl, accountId, domainId, tag.id ?? null, range.subnet.text, range.gateway.text,
        range.start.text, range.end.text, a.networkdomain ?? null, a.dns1 ?? null, a.dns2 ?? null, a.subdomainaccess ?? true]);
    ctx.setResource('Network', id);
    return view(ctx, id);
  },
});

export const listNetworks = command({
  name: 'listNetworks', description: 'Lists all available networks.', since: '1.0', roles: ALL_ROLES, response: NETWORK, shape: 'list',
  params: {
    ...LIST_OWNED_PARAMS,
    id: { type: 'uuid', entity: 'network', description: 'list networks by ID' },
    name: { type: 'string', description: 'list networks by name' },
    zoneid: { type: 'uuid', entity: 'zone', description: 'the zone ID of the network' },
    type: { type: 'string', description: 'the type of the network. Supported values are: isolated, l2, shared and all' },
    traffictype: { type: 'string', description: 'type of the traffic' },
    physicalnetworkid: { type: 'uuid', entity: 'physicalnetwork', description: 'list networks by physical network id' },
    networkofferingid: { type: 'uuid', entity: 'networkoffering', description: 'list networks by network offering ID' },
    canusefordeploy: { type: 'boolean', description: 'list networks available for VM deployment' },
    issystem: { type: 'boolean', description: 'true if network is system, false otherwise' },
    projectid: { type: 'uuid', entity: 'project', description: 'list objects by project; if projectid=-1 lists All VMs' },
  },
  async handler(ctx, a) {
    const w = new Where();
    w.add('n.id = ?', a.id).add('lower(n.name) = lower(?)', a.name).add('n.zone_id = ?', a.zoneid).add('n.physical_network_id = ?', a.physicalnetworkid)
      .add('n.network_offering_id = ?', a.networkofferingid).keyword(a.keyword, 'n.name', 'n.display_text');
    if (a.type && a.type.toLowerCase() !== 'all') w.add('lower(n.guest_type) = lower(?)', a.type);
    if (a.traffictype && a.traffictype.toLowerCase() !== 'guest') w.add('false');
    if (a.issystem) w.add('false');
    if (a.canusefordeploy) w.add(`n.state <> 'Destroy'`);
    // Account networks follow CloudStack's listall/account/domainid rules; domain networks are
    // listed to everyone who may use them.
    const c = ctx.caller;
    whereUsableNetwork(w, c);
    if (a.projectid) {
      // A project's networks (projectid=-1: every project's the caller may see).
      applyScope(w, await resolveScope(ctx.sql, c, a), { account: 'n.account_id', domain: 'n.domain_id' });
    } else if (a.domainid) {
      // accountByName checks the domain too (one statement fewer than looking both up).
      const acc = a.account ? await accountByName(ctx, a.account, a.domainid) : undefined;
      const d = acc ? { id: acc.domain_id, path: acc.domain_path } : await domainById(ctx, a.domainid, 'domainid');
      if (a.isrecursive) w.add(domainSubtree('n.domain_id'), d.path, d.path); else w.add('n.domain_id = ?', d.id);
      if (acc) w.add('n.account_id = ?', acc.id);
    } else if (!a.listall && !a.id) {
      w.add(`(n.acl_type = 'Domain' OR n.account_id = ?)`, c.accountId);
    }
    const page = await pagedRows<NetworkRow>(ctx.sql, a, { select: NETWORK_SELECT, where: w, orderBy: 'n.created, n.id', countFrom: NETWORK_COUNT_FROM });
    return page.map((n) => networkView(n, c.role === 'Admin'));
  },
});

export const deleteNetwork = command({
  name: 'deleteNetwork', description: 'Deletes a network', since: '1.0', roles: ALL_ROLES, response: SUCCESS_RESPONSE, shape: 'success', isAsync: true, transactional: false,
  event: 'NETWORK.DELETE', instance: { type: 'Network', param: 'id' },
  params: {
    id: { type: 'uuid', entity: 'network', required: true, description: 'the ID of the network' },
    forced: { type: 'boolean', description: 'Force delete a network. Network will be marked as \'Destroy\' even when commands to shutdown and cleanup to the backend fails.' },
  },
  async handler(ctx, a) {
    const s = ctx.services;
    const n = await networkById(ctx, a.id);
    if (n.guest_type === 'Shared' && ctx.caller.role !== 'Admin') throw apiError('ACCOUNT_ERROR', 'Only root admins can delete shared networks');
    const vms = await s.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM nics c JOIN vm_instances v ON v.id = c.vm_id WHERE c.network_id = $1 AND v.type = 'User' AND v.state <> 'Destroyed'`, [n.id]);
    if (vms[0]!.n > 0) throw apiError('RESOURCE_IN_USE', `Network ${n.name} has ${vms[0]!.n} VM NIC(s); destroy those VMs first`, [n.id]);
    // The router goes first (its host objects, then its records); then rules and addresses.
    const r = await routerOf(s.db, n.id);
    if (r) {
      try { await takeDownRouter(s, r, true); } catch (e) { if (!a.forced) throw e; s.log.warn({ err: e, network: n.id }, 'forced delete: router teardown failed'); }
    }
    await s.db.tx(async (sql) => {
      await sql.query('DELETE FROM network_rules WHERE network_id = $1', [n.id]);
      // Its load balancer rules (their members, stickiness and health checks cascade), before the
      // addresses they listen on.
      await sql.query('DELETE FROM lb_rules WHERE network_id = $1', [n.id]);
      await sql.query('DELETE FROM public_ip_addresses WHERE network_id = $1', [n.id]);
      await sql.query(`DELETE FROM routers WHERE network_id = $1`, [n.id]);
      await sql.query('DELETE FROM nics WHERE network_id = $1', [n.id]);
      await sql.query('DELETE FROM networks WHERE id = $1', [n.id]);
    });
    // The router's kept state (leases, acknowledged passwords) has no use any more; a host that
    // is away now keeps a few files, which no later network can claim (its key was this id).
    for (const h of s.agents.connectedHosts()) await s.agents.request(h, 'releaseState', { stateKey: n.id }).catch(() => undefined);
    ctx.setResource('Network', n.id);
  },
});

export const updateNetwork = command({
  name: 'updateNetwork', description: 'Updates a network', since: '1.0', roles: ALL_ROLES, response: NETWORK, shape: 'object', isAsync: true, transactional: false,
  event: 'NETWORK.UPDATE', instance: { type: 'Network', param: 'id' },
  params: {
    id: { type: 'uuid', entity: 'network', required: true, description: 'the ID of the network' },
    name: { type: 'string', description: 'the new name for the network' },
    displaytext: { type: 'string', description: 'the new display text for the network' },
    networkdomain: { type: 'string', description: 'network domain', check: checkNetworkDomain },
    dns1: { type: 'string', description: 'the first IPv4 DNS for the network. Empty string will update the first IPv4 DNS with the value from the zone', check: checkIPv4 },
    dns2: { type: 'string', description: 'the second IPv4 DNS for the network. Empty string will update the second IPv4 DNS with the value from the zone', check: checkIPv4 },
  },
  async handler(ctx, a) {
    const s = ctx.services;
    const n = await networkById(ctx, a.id);
    if (n.guest_type === 'Shared' && ctx.caller.role !== 'Admin') throw apiError('ACCOUNT_ERROR', 'Only root admins can update shared networks');
    await s.db.query(`UPDATE networks SET name = coalesce($2, name), display_text = coalesce($3, display_text), network_domain = coalesce($4, network_domain),
      dns1 = coalesce($5, dns1), dns2 = coalesce($6, dns2) WHERE id = $1`, [n.id, a.name ?? null, a.displaytext ?? null, a.networkdomain ?? null, a.dns1 ?? null, a.dns2 ?? null]);
    // The router serves the domain and forwards to the DNS servers: it gets the new spec now.
    if (n.guest_type === 'Isolated') await syncRouter(s, n.id).catch((e) => { throw agentFailure(e, `Updating the router of network ${n.name}`); });
    ctx.setResource('Network', n.id);
    return view({ ...ctx, sql: s.db }, n.id);
  },
});

export const restartNetwork = command({
  name: 'restartNetwork', description: 'Restarts the network; includes 1) restarting network elements - virtual routers, DHCP servers 2) reapplying all ip addresses 3) reapplying all firewall rules', since: '1.0',
  roles: ALL_ROLES, response: SUCCESS_RESPONSE, shape: 'success', isAsync: true, transactional: false, event: 'NETWORK.RESTART', instance: { type: 'Network', param: 'id' },
  params: {
    id: { type: 'uuid', entity: 'network', required: true, description: 'The ID of the network to restart.' },
    cleanup: { type: 'boolean', description: 'If cleanup old network elements' },
    makeredundant: { type: 'boolean', description: 'Turn the network into a network with redundant routers.' },
  },
  async handler(ctx, a) {
    const s = ctx.services;
    const n = await networkById(ctx, a.id);
    if (n.guest_type !== 'Isolated') throw paramError(`Network ${n.name} is a ${n.guest_type} network: it has no router to restart`);
    if (a.makeredundant) throw paramError('Redundant routers are not supported yet');
    if (n.state === 'Allocated') throw paramError(`Network ${n.name} is not implemented yet (no VM was deployed in it): nothing to restart`);
    // cleanup: the router is destroyed on its host and started afresh from the same records
    // (name, MACs, addresses) and the same spec; without it the spec is re-applied.
    const r = await routerOf(s.db, n.id);
    try {
      if (r && a.cleanup && r.host_id && s.agents.isConnected(r.host_id)) await takeDownRouter(s, r, false);
      await ensureRouter(s, n.id);
    } catch (e) { throw agentFailure(e, `Restarting network ${n.name}`); }
    ctx.setResource('Network', n.id);
  },
});
