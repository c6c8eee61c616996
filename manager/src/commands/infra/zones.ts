import { randomUUID } from 'node:crypto';
import { ADMIN, ALL_ROLES, LIST_PARAMS, SUCCESS_RESPONSE, command } from '../../api/registry.ts';
import { apiError, paramError } from '../../api/errors.ts';
import { Where } from '../../db/sql.ts';
import type { Context } from '../../api/context.ts';
import { checkGuestCidr as checkGuestCidrConflicts, parseGuestCidr } from '../../orchestrator/ipam.ts';
import { domainById } from '../accounts/lookup.ts';
import { checkNetworkDomain } from '../accounts/validate.ts';
import { ZONE, ZONE_SELECT, zoneView, type ZoneRow } from './views.ts';
import { zoneById, zoneFacts, lockInfra } from './lookup.ts';
import { USAGE_CHECKS, deleting, uses } from './usage.ts';
import { checkGuestCidr, checkIPv4, checkIPv6, checkName, ipam } from './validate.ts';

const ALLOCATION_STATES = ['Enabled', 'Disabled'] as const;
const DHCP_PROVIDERS = ['VirtualRouter', 'VpcVirtualRouter', 'ConfigDrive', 'ExternalDhcpServer', 'BaremetalDhcpProvider'] as const;

const DNS_PARAMS = {
  dns2: { type: 'string', description: 'the second DNS for the Zone', check: checkIPv4 },
  ip6dns1: { type: 'string', description: 'the first DNS for IPv6 network in the Zone', check: checkIPv6 },
  ip6dns2: { type: 'string', description: 'the second DNS for IPv6 network in the Zone', check: checkIPv6 },
  internaldns1: { type: 'string', description: 'the first internal DNS for the Zone', check: checkIPv4 },
  internaldns2: { type: 'string', description: 'the second internal DNS for the Zone', check: checkIPv4 },
  guestcidraddress: { type: 'string', description: 'the guest CIDR address for the Zone', check: checkGuestCidr },
} as const;

async function viewOf(ctx: Context, id: string): Promise<Record<string, unknown>> {
  return zoneView((await ctx.sql.query<ZoneRow>(`${ZONE_SELECT} WHERE z.id = $1`, [id]))[0]!, true);
}

async function assertNameFree(ctx: Context, name: string, except?: string): Promise<void> {
  const clash = await ctx.sql.query<{ id: string }>('SELECT id FROM zones WHERE lower(name) = lower($1) AND id IS DISTINCT FROM $2', [name, except ?? null]);
  if (clash.length) throw paramError(`A zone with name ${name} already exists (id ${clash[0]!.id}). Please specify a unique zone name.`);
}

export const createZone = command({
  name: 'createZone', description: 'Creates a Zone.', since: '1.0', roles: ADMIN, response: ZONE, shape: 'object', event: 'ZONE.CREATE',
  params: {
    dns1: { type: 'string', required: true, description: 'the first DNS for the Zone', check: checkIPv4 },
    ...DNS_PARAMS,
    name: { type: 'string', required: true, description: 'the name of the Zone', check: checkName },
    domain: { type: 'string', description: 'Network domain name for the networks in the zone', check: checkNetworkDomain },
    domainid: { type: 'uuid', entity: 'domain', description: 'the ID of the containing domain, null for public zones' },
    networktype: { type: 'string', required: true, description: 'network type of the zone, can be Basic or Advanced', values: ['Basic', 'Advanced'] },
    allocationstate: { type: 'string', description: 'Allocation state of this Zone for allocation of new resources', values: ALLOCATION_STATES },
    securitygroupenabled: { type: 'boolean', description: 'true if network is security group enabled, false otherwise' },
    localstorageenabled: { type: 'boolean', description: 'true if local storage offering enabled, false otherwise' },
  },
  async handler(ctx, a) {
    await lockInfra(ctx);
    await assertNameFree(ctx, a.name);
    if (a.domainid) await domainById(ctx, a.domainid, 'domainid');
    if (a.guestcidraddress !== undefined && a.networktype === 'Basic') throw paramError('guestcidraddress can only be set on an Advanced zone');
    const id = randomUUID();
    // CloudStack creates zones Disabled unless told otherwise: nothing is allocated in a zone
    // until its physical networks and ranges are in place.
    await ctx.sql.query(
      `INSERT INTO zones (id, name, dns1, dns2, ip6dns1, ip6dns2, internaldns1, internaldns2, guest_cidr, network_type, network_domain, domain_id,
         allocation_state, security_groups_enabled, local_storage_enabled, zone_token)
       VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16)`,
      [id, a.name, a.dns1, a.dns2 ?? null, a.ip6dns1 ?? null, a.ip6dns2 ?? null, a.internaldns1 ?? null, a.internaldns2 ?? null,
        a.guestcidraddress ? ipam(() => parseGuestCidr('guestcidraddress', a.guestcidraddress!)).text : null, a.networktype, a.domain ?? null,
        a.domainid ?? null, a.allocationstate ?? 'Disabled', Boolean(a.securitygroupenabled), Boolean(a.localstorageenabled), randomUUID()]);
    ctx.setResource('Zone', id);
    return viewOf(ctx, id);
  },
});

export const updateZone = command({
  name: 'updateZone', description: 'Updates a Zone.', since: '1.0', roles: ADMIN, response: ZONE, shape: 'object', event: 'ZONE.EDIT',
  params: {
    id: { type: 'uuid', entity: 'zone', required: true, description: 'the ID of the Zone' },
    name: { type: 'string', description: 'the name of the Zone', check: checkName },
    dns1: { type: 'string', description: 'the first DNS for the Zone', check: checkIPv4 },
    ...DNS_PARAMS,
    ispublic: { type: 'boolean', description: 'updates a private zone to public if set, but not vice-versa' },
    allocationstate: { type: 'string', description: 'Allocation state of this cluster for allocation of new resources', values: ALLOCATION_STATES },
    details: { type: 'map', description: 'the details for the Zone' },
    dhcpprovider: { type: 'string', description: 'the dhcp Provider for the Zone', values: DHCP_PROVIDERS },
    domain: { type: 'string', description: 'Network domain name for the networks in the zone; empty string will update domain with NULL value', length: 255, emptyClears: true },
    dnssearchorder: { type: 'list', of: 'string', description: 'the dns search order list' },
    localstorageenabled: { type: 'boolean', description: 'true if local storage offering enabled, false otherwise' },
    sortkey: { type: 'integer', description: 'sort key of the zone, integer' },
  },
  async handler(ctx, a) {
    await lockInfra(ctx);
    const z = await zoneById(ctx, a.id);
    const set: string[] = [];
    const vals: unknown[] = [z.id];
    const put = (col: string, v: unknown) => { vals.push(v); set.push(`${col} = $${vals.length}`); };
    if (a.name !== undefined && a.name !== z.name) { await assertNameFree(ctx, a.name, z.id); put('name', a.name); }
    for (const k of ['dns1', 'dns2', 'ip6dns1', 'ip6dns2', 'internaldns1', 'internaldns2'] as const) if (a[k] !== undefined) put(k, a[k]);
    if (a.guestcidraddress !== undefined) {
      if (z.network_type === 'Basic') throw paramError('guestcidraddress can only be set on an Advanced zone');
      const cidr = ipam(() => parseGuestCidr('guestcidraddress', a.guestcidraddress!));
      const facts = await zoneFacts(ctx.sql, z);
      ipam(() => checkGuestCidrConflicts('guestcidraddress', cidr, facts));
      put('guest_cidr', cidr.text);
    }
    if (a.ispublic) put('domain_id', null);
    if (a.allocationstate !== undefined) put('allocation_state', a.allocationstate);
    if (a.dhcpprovider !== undefined) put('dhcp_provider', a.dhcpprovider);
    if (a.domain !== undefined) {
      const nd = a.domain.trim();
      if (nd) { const why = checkNetworkDomain(nd); if (why) throw paramError(`Invalid parameter domain value=${nd} due to ${why}`); }
      put('network_domain', nd || null);
    }
    if (a.localstorageenabled !== undefined) put('local_storage_enabled', a.localstorageenabled);
    if (a.sortkey !== undefined) put('sort_key', a.sortkey);
    if (set.length) await ctx.sql.query(`UPDATE zones SET ${set.join(', ')} WHERE id = $1`, vals);
    ctx.setResource('Zone', z.id);
    return viewOf(ctx, z.id);
  },
});

/** What keeps a zone alive, as CloudStack's checkIfZoneIsDeletable lists it. */
async function zoneDependents(ctx: Context, zoneId: string): Promise<string[]> {
  const found: string[] = [];
  const named = async (what: string, sql: string) => {
    const rows = await ctx.sql.query<{ label: string }>(sql, [zoneId]);
    if (rows.length) found.push(`${rows.length} ${what} (${rows.slice(0, 5).map((r) => r.label).join(', ')}${rows.length > 5 ? ', …' : ''})`);
  };
  await named('host(s)', `SELECT name || ' id ' || id AS label FROM hosts WHERE zone_id = $1 ORDER BY created`);
  await named('pod(s)', `SELECT name || ' id ' || id AS label FROM pods WHERE zone_id = $1 ORDER BY created`);
  await named('physical network(s)', `SELECT name || ' id ' || id AS label FROM physical_networks WHERE zone_id = $1 ORDER BY seq`);
  await named('VLAN IP range(s)', `SELECT coalesce(start_ip || '-' || end_ip, start_ipv6 || '-' || end_ipv6, ip6_cidr) || ' id ' || id AS label FROM vlan_ip_ranges WHERE zone_id = $1 ORDER BY seq`);
  found.push(...await uses(USAGE_CHECKS.zone, ctx.sql, zoneId));
  return found;
}

export const deleteZone = command({
  name: 'deleteZone', description: 'Deletes a Zone.', since: '1.0', roles: ADMIN, response: SUCCESS_RESPONSE, shape: 'success', event: 'ZONE.DELETE',
  params: { id: { type: 'uuid', entity: 'zone', required: true, description: 'the ID of the Zone' } },
  async handler(ctx, a) {
    await lockInfra(ctx);
    const z = await zoneById(ctx, a.id);
    const deps = await zoneDependents(ctx, z.id);
    if (deps.length) {
      throw apiError('RESOURCE_IN_USE', `The zone ${z.name} (id ${z.id}) is not deletable because it still has ${deps.join(', ')}; delete them first`, [z.id]);
    }
    await deleting(`The zone ${z.name} (id ${z.id})`, z.id, () => ctx.sql.query('DELETE FROM zones WHERE id = $1', [z.id]));
    ctx.setResource('Zone', z.id);
  },
});

export const listZones = command({
  name: 'listZones', description: 'Lists zones', since: '1.0', roles: ALL_ROLES, response: ZONE, shape: 'list',
  params: {
    ...LIST_PARAMS,
    id: { type: 'uuid', entity: 'zone', description: 'the ID of the zone' },
    ids: { type: 'list', entity: 'zone', of: 'uuid', description: 'the IDs of the zones, mutually exclusive with id', since: '4.19.0' },
    available: { type: 'boolean', description: 'true if you want to retrieve all available Zones. False if you only want to return the Zones from which you have at least one VM. Default is false.' },
    domainid: { type: 'uuid', entity: 'domain', description: 'the ID of the domain associated with the zone' },
    name: { type: 'string', description: 'the name of the zone' },
    networktype: { type: 'string', description: 'the network type of the zone that the virtual machine belongs to' },
    showcapacities: { type: 'boolean', description: 'flag to display the capacity of the zones' },
    tags: { type: 'map', description: 'List zones by resource tags (key/value pairs)', since: '4.3' },
    showicon: { type: 'boolean', description: 'flag to display the resource image for the zones' },
  },
  async handler(ctx, a) {
    if (a.id && a.ids) throw paramError('id and ids are mutually exclusive');
    const c = ctx.caller;
    const w = new Where();
    w.add('z.id = ?', a.id);
    if (a.ids) w.add('z.id = ANY(?::uuid[])', a.ids);
    w.add('lower(z.name) = lower(?)', a.name).add('lower(z.network_type) = lower(?)', a.networktype).add('z.domain_id = ?', a.domainid);
    w.keyword(a.keyword, 'z.name', 'z.description');
    if (c.role !== 'Admin') {
      // Others see enabled zones that are public, dedicated to their domain or one above it,
      // or (domain admins) to a domain they manage.
      w.add(`z.allocation_state = 'Enabled'`);
      const sub = c.role === 'DomainAdmin' ? ` OR d.path = ? OR starts_with(d.path, ? || '/')` : '';
      const args = c.role === 'DomainAdmin' ? [c.domainPath, c.domainPath, c.domainPath] : [c.domainPath];
      w.add(`(z.domain_id IS NULL OR ? = d.path OR starts_with(?, d.path || '/')${sub})`, c.domainPath, ...args);
    }
    const rows = await ctx.sql.query<ZoneRow>(`${ZONE_SELECT} ${w} ORDER BY z.sort_key, z.created, z.name`, w.params);
    return rows.map((r) => zoneView(r, c.role === 'Admin'));
  },
});
