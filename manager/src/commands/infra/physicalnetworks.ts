// Physical networks and what hangs off them: traffic types, network service providers and the
// virtual router elements. CloudStack's behaviour is kept: a new physical network gets the
// default providers, Disabled, and the VirtualRouter/VpcVirtualRouter elements (not enabled); a
// provider can be enabled only once its element is; deleting a physical network takes its
// providers, traffic types and public ranges with it unless something registered in
// USAGE_CHECKS (guest networks, allocated addresses) still uses it.
import { pagedRows } from '../../api/paging.ts';
import { randomUUID } from 'node:crypto';
import { ADMIN, LIST_PARAMS, SUCCESS_RESPONSE, command } from '../../api/registry.ts';
import { apiError, paramError, notFound } from '../../api/errors.ts';
import { Where, type Sql } from '../../db/sql.ts';
import { formatVnetRanges, parseVnetRanges, vnetContains, vnetOverlap, type VnetInterval } from '../../orchestrator/ipam.ts';
import { domainById } from '../accounts/lookup.ts';
import {
  INTERNAL_LB_ELEMENT, NETWORK_SERVICE_PROVIDER, PHYSICAL_NETWORK, PHYSICAL_NETWORK_SELECT, TRAFFIC_TYPE, VIRTUAL_ROUTER_ELEMENT, VR_ELEMENT_SELECT,
  internalLbElementView, nspView, physicalNetworkView, trafficTypeView, vrElementView,
  type NspRow, type PhysicalNetworkRow, type TrafficTypeRow, type VrElementRow, type ZoneRow,
} from './views.ts';
import { nspById, physicalNetworkById, vrElementById, zoneById, lockInfra } from './lookup.ts';
import { USAGE_CHECKS, deleting, uses } from './usage.ts';
import { checkKvmLabel, checkLabel, checkName, checkNetworkSpeed, checkTag, checkVnetSyntax, ipam } from './validate.ts';

/** Isolation methods with a guest id space; L3 has none. */
const ISOLATION_METHODS = ['VLAN', 'VXLAN', 'GRE', 'L3'] as const;

/** The providers CloudStack puts on every new physical network (without optional plugins). */
export const DEFAULT_PROVIDERS: readonly { name: string; services: readonly string[]; individual: boolean; element?: 'VirtualRouter' | 'VPCVirtualRouter' | 'InternalLbVm' }[] = [
  { name: 'VirtualRouter', services: ['Dhcp', 'Dns', 'UserData', 'Gateway', 'Firewall', 'Lb', 'SourceNat', 'StaticNat', 'PortForwarding', 'Vpn'], individual: true, element: 'VirtualRouter' },
  { name: 'SecurityGroupProvider', services: ['SecurityGroup'], individual: false },
  { name: 'VpcVirtualRouter', services: ['Dhcp', 'Dns', 'UserData', 'Gateway', 'Lb', 'SourceNat', 'StaticNat', 'PortForwarding', 'Vpn', 'NetworkACL'], individual: true, element: 'VPCVirtualRouter' },
  { name: 'InternalLbVm', services: ['Lb'], individual: false, element: 'InternalLbVm' },
  { name: 'ConfigDrive', services: ['UserData', 'Dhcp', 'Dns'], individual: false },
];

/** CloudStack's Network.Service names. */
const SERVICES = ['Vpn', 'Dhcp', 'Dns', 'SourceNat', 'PortForwarding', 'Lb', 'UserData', 'StaticNat', 'NetworkACL', 'Firewall', 'Gateway', 'SecurityGroup', 'Connectivity'];

async function pnetView(sql: Sql, id: string): Promise<Record<string, unknown>> {
  return physicalNetworkView((await sql.query<PhysicalNetworkRow>(`${PHYSICAL_NETWORK_SELECT} WHERE n.id = $1`, [id]))[0]!);
}

const methodOf = (isolation: string) => (isolation.split(',')[0] || 'VLAN').toUpperCase();

/**
 * Guest ids of one physical network must not be another's in the same zone when both use the
 * same isolation method (they would share a VXLAN VNI or a VLAN on the same fabric), nor be a
 * VLAN a public range of the zone already uses.
 */
async function checkVnetConflicts(sql: Sql, zone: ZoneRow, selfId: string | null, method: string, set: VnetInterval[]): Promise<void> {
  if (!set.length) return;
  const others = await sql.query<{ id: string; name: string; vlan: string; isolation_methods: string }>(
    `SELECT id, name, vlan, isolation_methods FROM physical_networks WHERE zone_id = $1 AND id IS DISTINCT FROM $2 AND coalesce(vlan, '') <> '' ORDER BY seq`,
    [zone.id, selfId]);
  for (const o of others) {
    if (methodOf(o.isolation_methods) !== method) continue;
    const theirs = parseVnetRanges('vlan', o.vlan, method);
    const hit = vnetOverlap(set, theirs);
    if (hit) {
      throw paramError(`The ${method} range ${formatVnetRanges(set)} (vlan) overlaps with ${method === 'VXLAN' ? 'VNIs' : 'ids'} ${hit[0]}-${hit[1]} of physical network ${o.name} (id ${o.id}) of zone ${zone.name}`);
    }
  }
  const scheme = method === 'VXLAN' ? 'vxlan' : 'vlan';
  const ranges = await sql.query<{ id: string; vlan: string }>(`SELECT id, vlan FROM vlan_ip_ranges WHERE zone_id = $1 AND starts_with(vlan, $2) ORDER BY seq`, [zone.id, `${scheme}://`]);
  for (const r of ranges) {
    const n = Number(r.vlan.slice(scheme.length + 3));
    if (Number.isInteger(n) && vnetContains(set, n)) {
      throw paramError(`The ${method} range ${formatVnetRanges(set)} (vlan) contains ${r.vlan}, which public IP range id ${r.id} of zone ${zone.name} uses`);
    }
  }
}

function parseTags(tags: string[] | undefined): string | undefined {
  if (tags === undefined) return undefined;
  if (tags.length > 1) throw paramError('Only one tag can be specified for a physical network at this time');
  for (const t of tags) { const why = checkTag(t); if (why) throw paramError(`Invalid parameter tags value=${t} due to ${why}`); }
  return tags.join(',');
}

export const createPhysicalNetwork = command({
  name: 'createPhysicalNetwork', description: 'Creates a physical network', since: '3.0.0', roles: ADMIN, response: PHYSICAL_NETWORK, shape: 'object',
  isAsync: true, event: 'PHYSICAL.NETWORK.CREATE', instance: { type: 'PhysicalNetwork', creates: true },
  params: {
    zoneid: { type: 'uuid', entity: 'zone', required: true, description: 'the Zone ID for the physical network' },
    vlan: { type: 'string', description: 'the VLAN for the physical network', length: 4096, check: checkVnetSyntax },
    networkspeed: { type: 'string', description: 'the speed for the physical network[1G/10G]', check: checkNetworkSpeed },
    domainid: { type: 'uuid', entity: 'domain', description: 'domain ID of the account owning a physical network' },
    broadcastdomainrange: { type: 'string', description: 'the broadcast domain range for the physical network[Pod or Zone]. In Acton release it can be Zone only in Advance zone, and Pod in Basic', values: ['ZONE', 'POD'] },
    tags: { type: 'list', of: 'string', description: 'Tag the physical network' },
    isolationmethods: { type: 'list', of: 'string', description: 'the isolation method for the physical network[VLAN/L3/GRE]' },
    name: { type: 'string', required: true, description: 'the name of the physical network', check: checkName },
  },
  async handler(ctx, a) {
    await lockInfra(ctx);
    const zone = await zoneById(ctx, a.zoneid, 'zoneid');
    if (zone.allocation_state === 'Enabled') {
      throw apiError('ACCOUNT_ERROR', `Cannot create PhysicalNetwork since the Zone is currently enabled, zone: ${zone.name} (id ${zone.id}); disable it first`, [zone.id]);
    }
    const basic = zone.network_type === 'Basic';
    if (basic && (await ctx.sql.query('SELECT 1 FROM physical_networks WHERE zone_id = $1', [zone.id])).length) {
      throw paramError(`Cannot add the physical network to basic zone ${zone.name}: there is a physical network already existing in this basic zone`);
    }
    const tags = parseTags(a.tags);
    if (a.isolationmethods && a.isolationmethods.length > 1) throw paramError('Only one isolationMethod can be specified for a physical network at this time');
    const method = (a.isolationmethods?.[0] ?? 'VLAN').toUpperCase();
    if (!(ISOLATION_METHODS as readonly string[]).includes(method)) throw paramError(`Invalid parameter isolationmethods value=${a.isolationmethods![0]} due to it must be one of ${ISOLATION_METHODS.join(', ')}`);
    if (a.vlan !== undefined && basic) throw paramError("Can't add vnet range to the physical network in the Basic zone");
    if (a.vlan !== undefined && method === 'L3') throw paramError('L3 isolation has no VLAN range: vlan must not be given with isolationmethods=L3');
    const range = a.vlan !== undefined ? ipam(() => parseVnetRanges('vlan', a.vlan!, method)) : [];
    await checkVnetConflicts(ctx.sql, zone, null, method, range);
    const bdr = a.broadcastdomainrange ?? (basic ? 'POD' : 'ZONE');
    if (basic && bdr !== 'POD') throw paramError('Basic zone can have broadcast domain type of value POD only');
    if (!basic && bdr !== 'ZONE') throw paramError('Advance zone can have broadcast domain type of value ZONE only');
    if (a.domainid) await domainById(ctx, a.domainid, 'domainid');
    const id = ctx.newId ?? randomUUID();
    await ctx.sql.query(
      `INSERT INTO physical_networks (id, zone_id, name, vlan, isolation_methods, broadcast_domain_range, network_speed, tags, domain_id)
       VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)`,
      [id, zone.id, a.name, range.length ? formatVnetRanges(range) : null, method, bdr, a.networkspeed ?? null, tags ?? null, a.domainid ?? null]);
    for (const p of DEFAULT_PROVIDERS) {
      const nspId = randomUUID();
      await ctx.sql.query(
        `INSERT INTO network_service_providers (id, physical_network_id, name, state, services, can_enable_individual_service) VALUES ($1,$2,$3,'Disabled',$4,$5)`,
        [nspId, id, p.name, p.services.join(','), p.individual]);
      if (p.element) await ctx.sql.query('INSERT INTO virtual_router_elements (id, nsp_id, type, enabled) VALUES ($1,$2,$3,false)', [randomUUID(), nspId, p.element]);
    }
    ctx.setResource('PhysicalNetwork', id);
    return pnetView(ctx.sql, id);
  },
});

export const listPhysicalNetworks = command({
  name: 'listPhysicalNetworks', description: 'Lists physical networks', since: '3.0.0', roles: ADMIN, response: PHYSICAL_NETWORK, shape: 'list',
  params: {
    ...LIST_PARAMS,
    id: { type: 'uuid', entity: 'physicalnetwork', description: 'list physical network by id' },
    zoneid: { type: 'uuid', entity: 'zone', description: 'the Zone ID for the physical network' },
    name: { type: 'string', description: 'search by name' },
  },
  async handler(ctx, a) {
    const w = new Where().add('n.id = ?', a.id).add('n.zone_id = ?', a.zoneid).keyword(a.name, 'n.name').keyword(a.keyword, 'n.name');
    return (await pagedRows<PhysicalNetworkRow>(ctx.sql, a, { select: PHYSICAL_NETWORK_SELECT, where: w, orderBy: 'n.seq' })).map(physicalNetworkView);
  },
});

export const updatePhysicalNetwork = command({
  name: 'updatePhysicalNetwork', description: 'Updates a physical network', since: '3.0.0', roles: ADMIN, response: PHYSICAL_NETWORK, shape: 'object',
  isAsync: true, event: 'PHYSICAL.NETWORK.UPDATE', instance: { type: 'PhysicalNetwork', param: 'id' },
  params: {
    id: { type: 'uuid', entity: 'physicalnetwork', required: true, description: 'physical network id' },
    networkspeed: { type: 'string', description: 'the speed for the physical network[1G/10G]', check: checkNetworkSpeed },
    tags: { type: 'list', of: 'string', description: 'Tag the physical network' },
    state: { type: 'string', description: 'Enabled/Disabled', values: ['Enabled', 'Disabled'] },
    vlan: { type: 'string', description: 'the VLAN for the physical network', length: 4096, check: checkVnetSyntax },
  },
  async handler(ctx, a) {
    await lockInfra(ctx);
    const n = await physicalNetworkById(ctx, a.id);
    const zone = await zoneById(ctx, n.zone_id, 'zoneid');
    const set: string[] = [];
    const vals: unknown[] = [n.id];
    const put = (col: string, v: unknown) => { vals.push(v); set.push(`${col} = $${vals.length}`); };
    if (a.vlan !== undefined) {
      if (zone.network_type === 'Basic') throw paramError("Can't add vnet range to the physical network in the Basic zone");
      const method = methodOf(n.isolation_methods);
      if (method === 'L3') throw paramError('L3 isolation has no VLAN range: vlan cannot be set on this physical network');
      // The vlan given replaces the whole set, as in CloudStack (ids missing from it are removed).
      const range = ipam(() => parseVnetRanges('vlan', a.vlan!, method));
      await checkVnetConflicts(ctx.sql, zone, n.id, method, range);
      put('vlan', range.length ? formatVnetRanges(range) : null);
    }
    const tags = parseTags(a.tags);
    if (tags !== undefined) put('tags', tags || null);
    if (a.networkspeed !== undefined) put('network_speed', a.networkspeed);
    if (a.state !== undefined) put('state', a.state);
    if (set.length) await ctx.sql.query(`UPDATE physical_networks SET ${set.join(', ')} WHERE id = $1`, vals);
    ctx.setResource('PhysicalNetwork', n.id);
    return pnetView(ctx.sql, n.id);
  },
});

export const deletePhysicalNetwork = command({
  name: 'deletePhysicalNetwork', description: 'Deletes a Physical Network.', since: '3.0.0', roles: ADMIN, response: SUCCESS_RESPONSE, shape: 'success',
  isAsync: true, event: 'PHYSICAL.NETWORK.DELETE', instance: { type: 'PhysicalNetwork', param: 'id' },
  params: { id: { type: 'uuid', entity: 'physicalnetwork', required: true, description: 'the ID of the Physical network' } },
  async handler(ctx, a) {
    await lockInfra(ctx);
    const n = await physicalNetworkById(ctx, a.id);
    const why = await uses(USAGE_CHECKS.physicalNetwork, ctx.sql, n.id);
    if (why.length) throw apiError('RESOURCE_IN_USE', `The Physical Network ${n.name} (id ${n.id}) is not deletable because it still has ${why.join(', ')}`, [n.id]);
    // CloudStack removes the physical network's public ranges, providers (and their elements)
    // and traffic types with it.
    await deleting(`The Physical Network ${n.name} (id ${n.id})`, n.id, async () => {
      await ctx.sql.query('DELETE FROM vlan_ip_ranges WHERE physical_network_id = $1', [n.id]);
      await ctx.sql.query('DELETE FROM physical_networks WHERE id = $1', [n.id]);
    });
    ctx.setResource('PhysicalNetwork', n.id);
  },
});

// ---- traffic types ----

const LABEL_PARAMS = {
  xennetworklabel: { type: 'string', description: 'The network name label of the physical device dedicated to this traffic on a XenServer host', check: checkLabel },
  kvmnetworklabel: { type: 'string', description: 'The network name label of the physical device dedicated to this traffic on a KVM host', check: checkKvmLabel },
  vmwarenetworklabel: { type: 'string', description: 'The network name label of the physical device dedicated to this traffic on a VMware host', check: checkLabel },
  hypervnetworklabel: { type: 'string', description: 'The network name label of the physical device dedicated to this traffic on a Hyperv host', check: checkLabel },
  ovm3networklabel: { type: 'string', description: 'The network name of the physical device dedicated to this traffic on an OVM3 host', check: checkLabel },
} as const;

const TRAFFIC_TYPES = ['Public', 'Guest', 'Management', 'Storage'] as const;
/** System and public traffic have one physical network per zone. */
const ONE_PER_ZONE = new Set(['Public', 'Management', 'Storage']);

export const addTrafficType = command({
  name: 'addTrafficType', description: 'Adds traffic type to a physical network', since: '3.0.0', roles: ADMIN, response: TRAFFIC_TYPE, shape: 'object',
  isAsync: true, event: 'TRAFFIC.TYPE.CREATE', instance: { type: 'TrafficType', creates: true },
  params: {
    physicalnetworkid: { type: 'uuid', entity: 'physicalnetwork', required: true, description: 'the Physical Network ID' },
    traffictype: { type: 'string', required: true, description: 'the trafficType to be added to the physical network', values: TRAFFIC_TYPES },
    ...LABEL_PARAMS,
    isolationmethod: { type: 'string', description: 'Used if physical network has multiple isolation types and traffic type is public. Choose which isolation method. Valid options currently \'vlan\' or \'vxlan\', defaults to \'vlan\'.', values: ['vlan', 'vxlan'] },
    vlan: { type: 'string', description: 'The VLAN id to be used for Management traffic by VMware host', check: (v: string) => (/^\d{1,4}$/.test(v) && Number(v) >= 1 && Number(v) <= 4094 ? undefined : 'a VLAN id (1-4094)') },
  },
  async handler(ctx, a) {
    await lockInfra(ctx);
    const n = await physicalNetworkById(ctx, a.physicalnetworkid, 'physicalnetworkid');
    const zone = await zoneById(ctx, n.zone_id, 'zoneid');
    if ((await ctx.sql.query('SELECT 1 FROM traffic_types WHERE physical_network_id = $1 AND traffic_type = $2', [n.id, a.traffictype])).length) {
      throw paramError(`This physical network ${n.name} (id ${n.id}) already supports the traffic type: ${a.traffictype}`);
    }
    const carriers = await ctx.sql.query<{ id: string; name: string; tags: string | null }>(
      `SELECT n.id, n.name, n.tags FROM physical_networks n JOIN traffic_types t ON t.physical_network_id = n.id
       WHERE n.zone_id = $1 AND t.traffic_type = $2 ORDER BY n.seq`, [zone.id, a.traffictype]);
    if (ONE_PER_ZONE.has(a.traffictype) && carriers.length) {
      throw paramError(`Fail to add the traffic type to physical network because zone ${zone.name} already has a physical network with this traffic type: ${a.traffictype} (${carriers[0]!.name}, id ${carriers[0]!.id})`);
    }
    // Two untagged physical networks carrying the same traffic cannot be told apart when a
    // network is placed.
    const untagged = carriers.find((c) => !c.tags);
    if (!n.tags && untagged) {
      throw paramError(`There would be more than 1 physical network without tags carrying ${a.traffictype} traffic in zone ${zone.name}: ${untagged.name} (id ${untagged.id}) already does; tag one of them first`);
    }
    const id = ctx.newId ?? randomUUID();
    await ctx.sql.query(
      `INSERT INTO traffic_types (id, physical_network_id, traffic_type, kvm_label, xen_label, vmware_label, hyperv_label, ovm3_label, isolation_method, vlan)
       VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)`,
      [id, n.id, a.traffictype, a.kvmnetworklabel ?? null, a.xennetworklabel ?? null, a.vmwarenetworklabel ?? null, a.hypervnetworklabel ?? null,
        a.ovm3networklabel ?? null, a.isolationmethod ?? null, a.vlan ?? null]);
    ctx.setResource('TrafficType', id);
    return trafficTypeView((await ctx.sql.query<TrafficTypeRow>('SELECT * FROM traffic_types WHERE id = $1', [id]))[0]!);
  },
});


async function trafficTypeById(ctx: { sql: Sql; command?: string }, id: string): Promise<TrafficTypeRow & { pn_name: string }> {
  const r = (await ctx.sql.query<TrafficTypeRow & { pn_name: string }>('SELECT t.*, n.name AS pn_name FROM traffic_types t JOIN physical_networks n ON n.id = t.physical_network_id WHERE t.id = $1', [id]))[0];
  if (!r) throw notFound(ctx.command, 'id', id);
  return r;
}

export const updateTrafficType = command({
  name: 'updateTrafficType', description: 'Updates traffic type of a physical network', since: '3.0.0', roles: ADMIN, response: TRAFFIC_TYPE, shape: 'object',
  isAsync: true, event: 'TRAFFIC.TYPE.UPDATE', instance: { type: 'TrafficType', param: 'id' },
  params: { id: { type: 'uuid', entity: 'traffictype', required: true, description: 'traffic type id' }, ...LABEL_PARAMS },
  async handler(ctx, a) {
    await lockInfra(ctx);
    const tt = await trafficTypeById(ctx, a.id);
    await ctx.sql.query(
      `UPDATE traffic_types SET xen_label = coalesce($2, xen_label), kvm_label = coalesce($3, kvm_label), vmware_label = coalesce($4, vmware_label),
         hyperv_label = coalesce($5, hyperv_label), ovm3_label = coalesce($6, ovm3_label) WHERE id = $1`,
      [tt.id, a.xennetworklabel ?? null, a.kvmnetworklabel ?? null, a.vmwarenetworklabel ?? null, a.hypervnetworklabel ?? null, a.ovm3networklabel ?? null]);
    ctx.setResource('TrafficType', tt.id);
    return trafficTypeView((await ctx.sql.query<TrafficTypeRow>('SELECT * FROM traffic_types WHERE id = $1', [tt.id]))[0]!);
  },
});

export const deleteTrafficType = command({
  name: 'deleteTrafficType', description: 'Deletes traffic type of a physical network', since: '3.0.0', roles: ADMIN, response: SUCCESS_RESPONSE, shape: 'success',
  isAsync: true, event: 'TRAFFIC.TYPE.DELETE', instance: { type: 'TrafficType', param: 'id' },
  params: { id: { type: 'uuid', entity: 'traffictype', required: true, description: 'traffic type id' } },
  async handler(ctx, a) {
    await lockInfra(ctx);
    const tt = await trafficTypeById(ctx, a.id);
    // What the traffic carries must go first: guest networks for Guest, public ranges for Public.
    const users = tt.traffic_type === 'Guest'
      ? await ctx.sql.query<{ label: string }>(`SELECT name AS label FROM networks WHERE physical_network_id = $1 ORDER BY created`, [tt.physical_network_id])
      : tt.traffic_type === 'Public'
        ? await ctx.sql.query<{ label: string }>(`SELECT coalesce(start_ip || '-' || end_ip, ip6_cidr) AS label FROM vlan_ip_ranges WHERE physical_network_id = $1 AND for_virtual_network ORDER BY seq`, [tt.physical_network_id])
        : [];
    if (users.length) {
      const what = tt.traffic_type === 'Guest' ? 'network(s)' : 'public IP range(s)';
      throw apiError('RESOURCE_IN_USE', `The traffic type ${tt.traffic_type} of physical network ${tt.pn_name} is not deletable because there are ${users.length} ${what} using it (${users.map((u) => u.label).join(', ')})`, [tt.id]);
    }
    await ctx.sql.query('DELETE FROM traffic_types WHERE id = $1', [tt.id]);
    ctx.setResource('TrafficType', tt.id);
  },
});

export const listTrafficTypes = command({
  name: 'listTrafficTypes', description: 'Lists traffic types of a given physical network.', since: '3.0.0', roles: ADMIN, response: TRAFFIC_TYPE, shape: 'list',
  params: {
    ...LIST_PARAMS,
    physicalnetworkid: { type: 'uuid', entity: 'physicalnetwork', required: true, description: 'the Physical Network ID' },
  },
  async handler(ctx, a) {
    const n = await physicalNetworkById(ctx, a.physicalnetworkid, 'physicalnetworkid');
    const w = new Where().add('physical_network_id = ?', n.id).keyword(a.keyword, 'traffic_type');
    return (await pagedRows<TrafficTypeRow>(ctx.sql, a, { select: 'SELECT * FROM traffic_types', where: w, orderBy: 'seq' })).map(trafficTypeView);
  },
});

// ---- network service providers ----

export const listNetworkServiceProviders = command({
  name: 'listNetworkServiceProviders', description: 'Lists network serviceproviders for a given physical network.', since: '3.0.0', roles: ADMIN,
  response: NETWORK_SERVICE_PROVIDER, shape: 'list',
  params: {
    ...LIST_PARAMS,
    physicalnetworkid: { type: 'uuid', entity: 'physicalnetwork', description: 'the Physical Network ID' },
    name: { type: 'string', description: 'list providers by name' },
    state: { type: 'string', description: 'list providers by state' },
  },
  async handler(ctx, a) {
    if (a.physicalnetworkid) await physicalNetworkById(ctx, a.physicalnetworkid, 'physicalnetworkid');
    const w = new Where().add('physical_network_id = ?', a.physicalnetworkid).add('name = ?', a.name).add('state = ?', a.state).keyword(a.keyword, 'name');
    return (await pagedRows<NspRow>(ctx.sql, a, { select: 'SELECT * FROM network_service_providers', where: w, orderBy: 'seq' })).map(nspView);
  },
});

/** A provider backed by a router element can be enabled only once its element is enabled. */
async function providerReady(sql: Sql, nsp: NspRow): Promise<boolean> {
  const el = DEFAULT_PROVIDERS.find((p) => p.name === nsp.name)?.element;
  if (!el) return true;
  const rows = await sql.query<{ enabled: boolean }>('SELECT enabled FROM virtual_router_elements WHERE nsp_id = $1', [nsp.id]);
  return rows.some((r) => r.enabled);
}

export const updateNetworkServiceProvider = command({
  name: 'updateNetworkServiceProvider', description: 'Updates a network serviceProvider of a physical network', since: '3.0.0', roles: ADMIN,
  response: NETWORK_SERVICE_PROVIDER, shape: 'object', isAsync: true, event: 'SERVICE.PROVIDER.UPDATE', instance: { type: 'PhysicalNetworkServiceProvider', param: 'id' },
  params: {
    id: { type: 'uuid', entity: 'networkserviceprovider', required: true, description: 'network service provider id' },
    state: { type: 'string', description: 'Enabled/Disabled/Shutdown the physical network service provider', values: ['Enabled', 'Disabled', 'Shutdown'] },
    servicelist: { type: 'list', of: 'string', description: 'the list of services to be enabled for this physical network service provider' },
  },
  async handler(ctx, a) {
    await lockInfra(ctx);
    const nsp = await nspById(ctx, a.id);
    if (a.state === 'Shutdown') throw paramError("Updating the provider state to 'Shutdown' is not supported");
    if (a.state === 'Enabled' && !(await providerReady(ctx.sql, nsp))) {
      const how = nsp.name === 'InternalLbVm' ? 'configureInternalLoadBalancerElement' : 'configureVirtualRouterElement';
      throw paramError(`Provider ${nsp.name} (id ${nsp.id}) is not ready, cannot Enable the provider, please configure the provider first: enable its element with ${how}`);
    }
    if (a.servicelist !== undefined) {
      if (!nsp.can_enable_individual_service) throw paramError(`Cannot update set of Services for this Service Provider '${nsp.name}'`);
      const capable = DEFAULT_PROVIDERS.find((p) => p.name === nsp.name)?.services ?? [];
      const chosen: string[] = [];
      for (const s of a.servicelist) {
        const svc = SERVICES.find((x) => x.toLowerCase() === s.toLowerCase());
        if (!svc) throw paramError(`Invalid Network Service specified=${s}`);
        if (!capable.includes(svc)) throw paramError(`${nsp.name} Provider cannot provide this Service specified=${svc}`);
        if (!chosen.includes(svc)) chosen.push(svc);
      }
      await ctx.sql.query('UPDATE network_service_providers SET services = $2 WHERE id = $1', [nsp.id, chosen.join(',')]);
    }
    if (a.state !== undefined) await ctx.sql.query('UPDATE network_service_providers SET state = $2 WHERE id = $1', [nsp.id, a.state]);
    ctx.setResource('PhysicalNetworkServiceProvider', nsp.id);
    return nspView((await ctx.sql.query<NspRow>('SELECT * FROM network_service_providers WHERE id = $1', [nsp.id]))[0]!);
  },
});

// ---- virtual router elements ----

export const listVirtualRouterElements = command({
  name: 'listVirtualRouterElements', description: 'Lists all available virtual router elements.', since: '3.0.0', roles: ADMIN,
  response: VIRTUAL_ROUTER_ELEMENT, shape: 'list',
  params: {
    ...LIST_PARAMS,
    id: { type: 'uuid', entity: 'virtualrouterelement', description: 'list virtual router elements by id' },
    nspid: { type: 'uuid', entity: 'networkserviceprovider', description: 'list virtual router elements by network service provider id' },
    enabled: { type: 'boolean', description: 'list network offerings by enabled state' },
  },
  async handler(ctx, a) {
    // Only VirtualRouter and VpcVirtualRouter elements, as CloudStack lists them.
    const w = new Where().add(`e.type IN ('VirtualRouter', 'VPCVirtualRouter')`).add('e.id = ?', a.id).add('e.nsp_id = ?', a.nspid).add('e.enabled = ?', a.enabled);
    return (await pagedRows<VrElementRow>(ctx.sql, a, { select: VR_ELEMENT_SELECT, where: w, orderBy: 'e.seq' })).map(vrElementView);
  },
});

export const configureVirtualRouterElement = command({
  name: 'configureVirtualRouterElement', description: 'Configures a virtual router element.', since: '3.0.0', roles: ADMIN,
  response: VIRTUAL_ROUTER_ELEMENT, shape: 'object', isAsync: true, event: 'NETWORK.ELEMENT.CONFIGURE',
  params: {
    id: { type: 'uuid', entity: 'virtualrouterelement', required: true, description: 'the ID of the virtual router provider' },
    enabled: { type: 'boolean', required: true, description: 'Enabled/Disabled the service provider' },
  },
  async handler(ctx, a) {
    await lockInfra(ctx);
    const e = await vrElementById(ctx, a.id);
    await ctx.sql.query('UPDATE virtual_router_elements SET enabled = $2 WHERE id = $1', [e.id, a.enabled]);
    ctx.setResource('VirtualRouterElement', e.id);
    return vrElementView((await ctx.sql.query<VrElementRow>(`${VR_ELEMENT_SELECT} WHERE e.id = $1`, [e.id]))[0]!);
  },
});


// ---- internal load balancer elements (the InternalLbVm provider's element) ----

export const listInternalLoadBalancerElements = command({
  name: 'listInternalLoadBalancerElements', description: 'Lists all available Internal Load Balancer elements.', since: '4.2.0', roles: ADMIN,
  response: INTERNAL_LB_ELEMENT, shape: 'list',
  params: {
    ...LIST_PARAMS,
    id: { type: 'uuid', entity: 'internallbelement', description: 'list internal load balancer elements by id' },
    nspid: { type: 'uuid', entity: 'networkserviceprovider', description: 'list internal load balancer elements by network service provider id' },
    enabled: { type: 'boolean', description: 'list internal load balancer elements by enabled state' },
  },
  async handler(ctx, a) {
    const w = new Where().add(`e.type = 'InternalLbVm'`).add('e.id = ?', a.id).add('e.nsp_id = ?', a.nspid).add('e.enabled = ?', a.enabled);
    return (await pagedRows<VrElementRow>(ctx.sql, a, { select: VR_ELEMENT_SELECT, where: w, orderBy: 'e.seq' })).map(internalLbElementView);
  },
});

export const configureInternalLoadBalancerElement = command({
  name: 'configureInternalLoadBalancerElement', description: 'Configures an Internal Load Balancer element.', since: '4.2.0', roles: ADMIN,
  response: INTERNAL_LB_ELEMENT, shape: 'object', isAsync: true, event: 'NETWORK.ELEMENT.CONFIGURE',
  params: {
    id: { type: 'uuid', entity: 'internallbelement', required: true, description: 'the ID of the internal lb provider' },
    enabled: { type: 'boolean', required: true, description: 'Enables/Disables the Internal Load Balancer element' },
  },
  async handler(ctx, a) {
    await lockInfra(ctx);
    const e = (await ctx.sql.query<VrElementRow>(`${VR_ELEMENT_SELECT} WHERE e.id = $1 AND e.type = 'InternalLbVm'`, [a.id]))[0];
    if (!e) throw notFound(ctx.command, 'id', a.id);
    await ctx.sql.query('UPDATE virtual_router_elements SET enabled = $2 WHERE id = $1', [e.id, a.enabled]);
    ctx.setResource('InternalLbElement', e.id);
    return internalLbElementView({ ...e, enabled: a.enabled });
  },
});
