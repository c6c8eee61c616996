// Public (and Basic-zone direct) IP ranges. Every range is checked by IPAM before anything is
// written: its own consistency (gateway, netmask, start ≤ end …) and its conflicts with the
// zone (other ranges, guest CIDR, pod ranges, guest VLAN ranges of the physical networks).
import { pagedRows } from '../../api/paging.ts';
import { randomUUID } from 'node:crypto';
import { ADMIN, LIST_PARAMS, SUCCESS_RESPONSE, command } from '../../api/registry.ts';
import { apiError, paramError, notFound } from '../../api/errors.ts';
import { Where } from '../../db/sql.ts';
import type { Context } from '../../api/context.ts';
import {
  checkRangeConflicts, parseVlanTag, parseVnetRanges, validateV4Range, validateV6Range, vnetContains, type V4Range, type V6Range,
} from '../../orchestrator/ipam.ts';
import { accountByName, domainById } from '../accounts/lookup.ts';
import { VLAN_IP_RANGE, VLAN_IP_RANGE_LIST, VLAN_RANGE_SELECT, vlanRangeView, type PhysicalNetworkRow, type PodRow, type VlanRangeRow, type ZoneRow } from './views.ts';
import { physicalNetworkById, podById, vlanRangeById, zoneById, zoneFacts, lockInfra } from './lookup.ts';
import { USAGE_CHECKS, deleting, uses } from './usage.ts';
import { checkIp6Cidr, checkIPv4, checkIPv6, checkNetmask, ipam } from './validate.ts';

async function trafficCarrier(ctx: Context, zone: ZoneRow, traffic: string): Promise<PhysicalNetworkRow | undefined> {
  const rows = await ctx.sql.query<{ id: string }>(
    `SELECT n.id FROM physical_networks n JOIN traffic_types t ON t.physical_network_id = n.id WHERE n.zone_id = $1 AND t.traffic_type = $2 ORDER BY n.seq LIMIT 1`,
    [zone.id, traffic]);
  return rows[0] ? physicalNetworkById(ctx, rows[0].id, 'physicalnetworkid') : undefined;
}

/** The zone a range goes to: zoneid, or the zone of the physical network or pod given. */
async function resolvePlace(ctx: Context, a: { zoneid?: string | undefined; physicalnetworkid?: string | undefined; podid?: string | undefined }): Promise<{ zone: ZoneRow; pnet?: PhysicalNetworkRow; pod?: PodRow }> {
  const pnet = a.physicalnetworkid ? await physicalNetworkById(ctx, a.physicalnetworkid, 'physicalnetworkid') : undefined;
  const pod = a.podid ? await podById(ctx, a.podid, 'podid') : undefined;
  const zoneId = a.zoneid ?? pnet?.zone_id ?? pod?.zone_id;
  if (!zoneId) throw paramError('Please specify a valid zone: zoneid (or the physicalnetworkid or podid of one)');
  const zone = await zoneById(ctx, zoneId, 'zoneid');
  if (pnet && pnet.zone_id !== zone.id) throw paramError(`Physical network ${pnet.name} (physicalnetworkid ${pnet.id}) is not in zone ${zone.name} (zoneid ${zone.id})`);
  if (pod && pod.zone_id !== zone.id) throw paramError(`Pod ${pod.name} (podid ${pod.id}) is not in zone ${zone.name} (zoneid ${zone.id})`);
  return { zone, ...(pnet ? { pnet } : {}), ...(pod ? { pod } : {}) };
}

export const createVlanIpRange = command({
  name: 'createVlanIpRange', description: 'Creates a VLAN IP range.', since: '1.0', roles: ADMIN, response: VLAN_IP_RANGE, shape: 'object', event: 'VLAN.IP.RANGE.CREATE',
  params: {
    account: { type: 'string', description: 'account who will own the VLAN. If VLAN is Zone wide, this parameter should be omitted' },
    projectid: { type: 'uuid', entity: 'project', description: 'project who will own the VLAN. If VLAN is Zone wide, this parameter should be omitted' },
    domainid: { type: 'uuid', entity: 'domain', description: 'domain ID of the account owning a VLAN' },
    endip: { type: 'string', description: 'the ending IP address in the VLAN IP range', check: checkIPv4 },
    forvirtualnetwork: { type: 'boolean', description: 'true if VLAN is of Virtual type, false if Direct' },
    gateway: { type: 'string', description: 'the gateway of the VLAN IP range', check: checkIPv4 },
    netmask: { type: 'string', description: 'the netmask of the VLAN IP range', check: checkNetmask },
    podid: { type: 'uuid', entity: 'pod', description: 'optional parameter. Have to be specified for Direct Untagged vlan only.' },
    startip: { type: 'string', description: 'the beginning IP address in the VLAN IP range', check: checkIPv4 },
    vlan: { type: 'string', description: 'the ID or VID of the VLAN. If not specified, will be defaulted to the vlan of the network or if vlan of the network is null - to Untagged', length: 64 },
    zoneid: { type: 'uuid', entity: 'zone', description: 'the Zone ID of the VLAN IP range' },
    networkid: { type: 'uuid', entity: 'network', access: 'use', description: 'the network id' },
    physicalnetworkid: { type: 'uuid', entity: 'physicalnetwork', description: 'the physical network id' },
    startipv6: { type: 'string', description: 'the beginning IPv6 address in the IPv6 network range', check: checkIPv6 },
    endipv6: { type: 'string', description: 'the ending IPv6 address in the IPv6 network range', check: checkIPv6 },
    ip6gateway: { type: 'string', description: 'the gateway of the IPv6 network. Required for Shared networks and Isolated networks when it belongs to VPC', check: checkIPv6 },
    ip6cidr: { type: 'string', description: 'the CIDR of IPv6 network, must be at least /64', check: checkIp6Cidr },
    forsystemvms: { type: 'boolean', description: 'true if IP range is set to system vms, false if not' },
  },
  async handler(ctx, a) {
    await lockInfra(ctx);
    // Guest networks and projects arrive with later areas; until then none can be named.
    if (a.networkid) throw notFound(ctx.command, 'networkid', a.networkid);
    if (a.projectid) throw paramError(`Unable to find project by projectid=${a.projectid}`);
    const place = await resolvePlace(ctx, a);
    const { zone, pod } = place;
    const virtual = a.forvirtualnetwork ?? true;
    if (virtual) {
      if (zone.network_type === 'Basic') throw paramError(`Public (forvirtualnetwork=true) IP ranges cannot be added to zone ${zone.name}: it is a Basic zone`);
      if (pod) throw paramError('podid can only be given for direct (forvirtualnetwork=false) ranges of a Basic zone');
    } else {
      if (zone.network_type === 'Advanced') throw paramError('Direct (forvirtualnetwork=false) IP ranges of an Advanced zone belong to a shared network: networkid is required');
      if (!pod) throw paramError(`Pod id is required for Basic zone direct untagged ranges: podid is missing (zone ${zone.name})`);
    }
    const traffic = virtual ? 'Public' : 'Guest';
    let pnet = place.pnet;
    if (pnet) {
      const carries = await ctx.sql.query('SELECT 1 FROM traffic_types WHERE physical_network_id = $1 AND traffic_type = $2', [pnet.id, traffic]);
      if (!carries.length) throw paramError(`Physical network ${pnet.name} (physicalnetworkid ${pnet.id}) does not carry ${traffic} traffic; add the traffic type first`);
    } else {
      pnet = await trafficCarrier(ctx, zone, traffic);
      if (!pnet) throw paramError(`Zone ${zone.name} has no physical network with traffic type ${traffic}; create one and add the traffic type first`);
    }

    const tag = ipam(() => parseVlanTag('vlan', a.vlan ?? 'untagged'));
    if (!virtual && tag.uri !== 'vlan://untagged') throw paramError('Basic zone direct ranges are untagged: vlan must be omitted or untagged');
    if (tag.id !== undefined) {
      // A public VLAN inside a guest VLAN/VNI range would be handed to a tenant network too.
      const method = tag.scheme === 'vxlan' ? 'VXLAN' : 'VLAN';
      const pnets = await ctx.sql.query<{ id: string; name: string; vlan: string; isolation_methods: string }>(
        `SELECT id, name, vlan, isolation_methods FROM physical_networks WHERE zone_id = $1 AND coalesce(vlan, '') <> '' ORDER BY seq`, [zone.id]);
      for (const p of pnets) {
        if ((p.isolation_methods.split(',')[0] || 'VLAN').toUpperCase() !== method) continue;
        if (vnetContains(parseVnetRanges('vlan', p.vlan, method), tag.id)) {
          throw paramError(`The VLAN tag ${tag.uri} (vlan) is already being used for dynamic vlan allocation for the guest network of physical network ${p.name} (id ${p.id}, range ${p.vlan}) in zone ${zone.name}`);
        }
      }
    }

    if (tag.id !== undefined) {
      // A guest network (compute area) on the same VLAN/VNI would share the segment.
      const net = (await ctx.sql.query<{ id: string; name: string }>('SELECT id, name FROM networks WHERE zone_id = $1 AND vni = $2 ORDER BY created LIMIT 1', [zone.id, tag.id]))[0];
      if (net) throw paramError(`The VLAN tag ${tag.uri} (vlan) is already used by network ${net.name} (id ${net.id}) of zone ${zone.name}`);
    }

    const hasV4 = [a.gateway, a.netmask, a.startip, a.endip].some((x) => x !== undefined);
    const hasV6 = [a.ip6gateway, a.ip6cidr, a.startipv6, a.endipv6].some((x) => x !== undefined);
    if (!hasV4 && !hasV6) throw paramError('Please specify IPv4 (gateway, netmask, startip) or IPv6 (ip6gateway, ip6cidr) address');
    let v4: V4Range | undefined;
    let v6: V6Range | undefined;
    if (hasV4) {
      const missing = (['gateway', 'netmask', 'startip'] as const).filter((k) => a[k] === undefined);
      if (missing.length) throw paramError(`An IPv4 range needs gateway, netmask and startip: missing ${missing.join(', ')}`);
      v4 = ipam(() => validateV4Range({ gateway: a.gateway!, netmask: a.netmask!, startip: a.startip!, endip: a.endip }));
    }
    if (hasV6) {
      const missing = (['ip6gateway', 'ip6cidr'] as const).filter((k) => a[k] === undefined);
      if (missing.length) throw paramError(`An IPv6 range needs ip6gateway and ip6cidr: missing ${missing.join(', ')}`);
      v6 = ipam(() => validateV6Range({ ip6gateway: a.ip6gateway!, ip6cidr: a.ip6cidr!, startipv6: a.startipv6, endipv6: a.endipv6 }));
    }
    const facts = await zoneFacts(ctx.sql, zone);
    ipam(() => checkRangeConflicts({ vlan: tag.uri, v4, v6 }, facts));

    let domainId: string | null = null;
    let accountId: string | null = null;
    if (a.account !== undefined) {
      if (!a.domainid) throw paramError('account must be specified with domainid');
      const acc = await accountByName(ctx, a.account, a.domainid);
      accountId = acc.id; domainId = acc.domain_id;
    } else if (a.domainid) {
      domainId = (await domainById(ctx, a.domainid, 'domainid')).id;
    }
    if (a.forsystemvms && (accountId || domainId)) throw paramError('A range for system VMs (forsystemvms=true) cannot be dedicated to an account or domain');

    const id = randomUUID();
    await ctx.sql.query(
      `INSERT INTO vlan_ip_ranges (id, zone_id, pod_id, physical_network_id, vlan, for_virtual_network, gateway, netmask, start_ip, end_ip,
         ip6_gateway, ip6_cidr, start_ipv6, end_ipv6, for_system_vms, domain_id, account_id)
       VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17)`,
      [id, zone.id, pod?.id ?? null, pnet.id, tag.uri, virtual, v4?.gateway.text ?? null, v4?.netmask ?? null, v4?.start.text ?? null, v4?.end.text ?? null,
        v6?.gateway.text ?? null, v6?.subnet.text ?? null, v6?.start?.text ?? null, v6?.end?.text ?? null, Boolean(a.forsystemvms), domainId, accountId]);
    ctx.setResource('VlanIpRange', id);
    return vlanRangeView((await vlanRangeById(ctx, id)));
  },
});

export const listVlanIpRanges = command({
  name: 'listVlanIpRanges', description: 'Lists all VLAN IP ranges.', since: '1.0', roles: ADMIN, response: VLAN_IP_RANGE_LIST, shape: 'list',
  params: {
    ...LIST_PARAMS,
    account: { type: 'string', description: 'the account with which the VLAN IP range is associated. Must be used with the domainId parameter.' },
    projectid: { type: 'uuid', entity: 'project', description: 'project who will own the VLAN' },
    domainid: { type: 'uuid', entity: 'domain', description: 'the domain ID with which the VLAN IP range is associated.  If used with the account parameter, returns all VLAN IP ranges for that account in the specified domain.' },
    id: { type: 'uuid', entity: 'vlaniprange', description: 'the ID of the VLAN IP range' },
    vlan: { type: 'string', description: 'the ID or VID of the VLAN. Default is an "untagged" VLAN.', length: 64 },
    zoneid: { type: 'uuid', entity: 'zone', description: 'the Zone ID of the VLAN IP range' },
    networkid: { type: 'uuid', entity: 'network', description: 'network id of the VLAN IP range' },
    podid: { type: 'uuid', entity: 'pod', description: 'the Pod ID of the VLAN IP range' },
    physicalnetworkid: { type: 'uuid', entity: 'physicalnetwork', description: 'physical network id of the VLAN IP range' },
    forvirtualnetwork: { type: 'boolean', description: 'true if VLAN is of Virtual type, false if Direct' },
  },
  async handler(ctx, a) {
    if (a.account !== undefined && !a.domainid) throw paramError('account must be specified with domainid');
    if (a.projectid) return [];
    const w = new Where().add('v.id = ?', a.id).add('v.zone_id = ?', a.zoneid).add('v.pod_id = ?', a.podid).add('v.network_id = ?', a.networkid)
      .add('v.physical_network_id = ?', a.physicalnetworkid).add('v.for_virtual_network = ?', a.forvirtualnetwork);
    if (a.vlan !== undefined) w.add('v.vlan = ?', ipam(() => parseVlanTag('vlan', a.vlan!)).uri);
    if (a.account !== undefined) {
      const acc = await accountByName(ctx, a.account, a.domainid!);
      w.add('v.account_id = ?', acc.id);
    } else if (a.domainid) {
      w.add('v.domain_id = ?', (await domainById(ctx, a.domainid, 'domainid')).id);
    }
    w.keyword(a.keyword, 'v.start_ip', 'v.end_ip', 'v.gateway', 'v.vlan', 'v.start_ipv6', 'v.ip6_cidr');
    return (await pagedRows<VlanRangeRow>(ctx.sql, a, { select: VLAN_RANGE_SELECT, where: w, orderBy: 'v.seq' })).map(vlanRangeView);
  },
});

export const deleteVlanIpRange = command({
  name: 'deleteVlanIpRange', description: 'Deletes a VLAN IP range.', since: '1.0', roles: ADMIN, response: SUCCESS_RESPONSE, shape: 'success', event: 'VLAN.IP.RANGE.DELETE',
  params: { id: { type: 'uuid', entity: 'vlaniprange', required: true, description: 'the id of the VLAN IP range' } },
  async handler(ctx, a) {
    await lockInfra(ctx);
    const r = await vlanRangeById(ctx, a.id);
    const label = `The VLAN IP range ${r.start_ip ? `${r.start_ip}-${r.end_ip}` : r.ip6_cidr} (id ${r.id})`;
    const why = await uses(USAGE_CHECKS.vlanIpRange, ctx.sql, r.id);
    if (why.length) throw apiError('RESOURCE_IN_USE', `${label} cannot be deleted because it still has ${why.join(', ')}`, [r.id]);
    await deleting(label, r.id, () => ctx.sql.query('DELETE FROM vlan_ip_ranges WHERE id = $1', [r.id]));
    ctx.setResource('VlanIpRange', r.id);
  },
});
