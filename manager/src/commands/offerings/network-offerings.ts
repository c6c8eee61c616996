// createNetworkOffering, listNetworkOfferings, updateNetworkOffering, deleteNetworkOffering.
// Validation follows ConfigurationManagerImpl.createNetworkOffering rule by rule (with its
// messages), and checks services, providers and capabilities against features.ts: an offering
// that Flotilla's routers could not honour is refused before anything is written.
import { randomUUID } from 'node:crypto';
import { ADMIN, ALL_ROLES, LIST_PARAMS, SUCCESS_RESPONSE, command } from '../../api/registry.ts';
import { paramError } from '../../api/errors.ts';
import { canAccessDomain } from '../../api/scope.ts';
import { isUuid, type MapValue } from '../../api/params.ts';
import type { Context } from '../../api/context.ts';
import type { Sql } from '../../db/sql.ts';
import { Where } from '../../db/sql.ts';
import {
  CAPABILITIES, CLOUDSTACK_PROVIDERS, CLOUDSTACK_SERVICES, FLOTILLA_PROVIDERS, FLOTILLA_SERVICES, canonical, defaultProvider,
} from './features.ts';
import { fallbackCapabilities } from './defaults.ts';
import { configNumber } from './config.ts';
import { NETWORK_OFFERING, OFFERING_CONTEXT_COLUMNS, networkOfferingViews, type NetworkOfferingRow } from './views.ts';
import {
  NETWORK_OFFERING_REFERRERS, addDomainVisibility, checkDomainIds, checkZoneIds, firstUse, inUse, networkOfferingById,
} from './lookup.ts';

const TRAFFIC_TYPES = ['Public', 'Management', 'Control', 'Guest', 'Vlan', 'Storage'] as const;
const GUEST_TYPES = ['Shared', 'Isolated', 'L2'] as const;
const AVAILABILITIES = ['Required', 'Optional'] as const;
const STATES = ['Enabled', 'Disabled', 'Inactive'] as const;
const PROTOCOLS = ['IPv4', 'DualStack'] as const;

/** CloudStack's StringUtils.cleanupTags: trimmed, empty items dropped, comma-joined. */
function cleanupTags(tags: string | undefined): string | null {
  if (tags === undefined) return null;
  const t = tags.split(',').map((x) => x.trim()).filter(Boolean).join(',');
  return t || null;
}

const refuseTrue = (what: string) => (v: boolean) => (v ? `${what} offerings are not supported by Flotilla` : undefined);

async function viewOf(sql: Sql, id: string): Promise<Record<string, unknown>> {
  return (await networkOfferingViews(sql, [await networkOfferingById(sql, id)]))[0]!;
}

/** A service offering a network offering may name: an active system offering for routers. */
async function checkRouterOffering(sql: Sql, id: string): Promise<void> {
  const so = (await sql.query<{ is_system: boolean; system_vm_type: string | null; state: string }>(
    'SELECT is_system, system_vm_type, state FROM service_offerings WHERE id = $1', [id]))[0];
  if (!so) throw paramError(`Could not find specified service offering [${id}].`);
  if (so.state !== 'Active') throw paramError(`The specified service offering [${id}] is inactive.`);
  if (!so.is_system || so.system_vm_type !== 'domainrouter') {
    throw paramError(`The specified service offering [${id}] is not a system offering with systemvmtype domainrouter.`);
  }
}

/** Reads one map parameter's item, naming the parameter and index when a key is missing. */
function mapItem(param: string, item: Record<string, string>, i: number, keys: readonly string[]): Record<string, string> {
  for (const k of keys) if (!item[k]) throw paramError(`${param}[${i}].${k} is missing: each item needs ${keys.map((x) => `${param}[${i}].${x}`).join(', ')}`);
  return item;
}

interface ServicePlan { services: Record<string, string[]>; capabilities: Record<string, string>; forVpc: boolean; lbCapsGiven: boolean }

/** Services, providers and capabilities of a create request → what the offering will hold. Pure. */
export function planServices(a: { supportedservices?: string[] | undefined; serviceproviderlist?: MapValue | undefined; servicecapabilitylist?: MapValue | undefined; forvpc?: boolean | undefined; guestType: string }): ServicePlan {
  let forVpc = a.forvpc;
  const services = new Map<string, string[]>();
  for (const raw of a.supportedservices ?? []) {
    const s = canonical(CLOUDSTACK_SERVICES, raw);
    if (!s || s === 'Gateway') throw paramError(`Invalid service ${raw}`);
    if (!canonical(FLOTILLA_SERVICES, s)) throw paramError(`Service ${s} is not supported by Flotilla; supported services are ${FLOTILLA_SERVICES.join(', ')}`);
    if (forVpc === undefined && s === 'Firewall') forVpc = false;
    if (forVpc === undefined && s === 'NetworkACL') forVpc = true;
    services.set(s, []);
  }
  (a.serviceproviderlist ?? []).forEach((raw, i) => {
    const item = mapItem('serviceproviderlist', raw, i, ['service', 'provider']);
    const s = canonical(CLOUDSTACK_SERVICES, item.service!);
    if (!s || !services.has(s)) throw paramError(`Service ${item.service} is not enabled for the network offering, can't add a provider to it`);
    const p = canonical(CLOUDSTACK_PROVIDERS, item.provider!);
    if (!p) throw paramError(`Invalid service provider: ${item.provider}`);
    const feature = FLOTILLA_PROVIDERS[p];
    if (!feature) throw paramError(`Provider ${p} is not supported by Flotilla; supported providers are ${Object.keys(FLOTILLA_PROVIDERS).join(', ')}`);
    const list = services.get(s)!;
    if (list.length && !list.includes(p)) throw paramError('In the current release only one provider can be specified for the service');
    if (forVpc === undefined && feature.vpcOnly) forVpc = true;
    if (!list.includes(p)) list.push(p);
  });
  const vpc = forVpc ?? false;
  for (const [s, providers] of services) {
    if (!providers.length) providers.push(defaultProvider(vpc));
    for (const p of providers) {
      const f = FLOTILLA_PROVIDERS[p]!;
      if (!f.services.includes(s as never)) throw paramError(`Provider ${p} doesn't support service ${s}`);
      if (f.vpcOnly && !vpc) throw paramError(`Provider ${p} can be used only by an offering for VPC networks (forvpc=true)`);
      if (!f.vpcOnly && vpc) throw paramError(`Provider ${p} can't be used by an offering for VPC networks; use VPCVirtualRouter`);
    }
  }
  if (a.guestType === 'Shared' && vpc) throw paramError('An offering for VPC networks must have guestiptype Isolated');
  // The guest asks its DHCP server for user data, so a router serving UserData must serve DHCP too.
  const ud = services.get('UserData');
  if (ud && ud.some((p) => p in FLOTILLA_PROVIDERS) && !services.get('Dhcp')?.some((p) => ud.includes(p))) {
    throw paramError('Without VR as dhcp provider, User data can\'t selected for VR. Please select VR as DHCP provider ');
  }
  // CloudStack adds the router's Firewall when it does port forwarding or static NAT, and Gateway with SourceNat.
  const fwBy = [...(services.get('PortForwarding') ?? []), ...(services.get('StaticNat') ?? [])].find((p) => p === 'VirtualRouter');
  if (fwBy && !services.has('Firewall')) services.set('Firewall', [fwBy]);
  if (services.has('SourceNat')) services.set('Gateway', [...services.get('SourceNat')!]);

  const given: Record<string, string> = {};
  let lbCapsGiven = false;
  (a.servicecapabilitylist ?? []).forEach((raw, i) => {
    const item = mapItem('servicecapabilitylist', raw, i, ['service', 'capabilitytype', 'capabilityvalue']);
    const s = canonical(CLOUDSTACK_SERVICES, item.service!) ?? item.service!;
    if (!services.has(s)) throw paramError(`Capabilities for ${s} service can be specified only when ${s} service is enabled for network offering.`);
    const table = CAPABILITIES[s];
    if (!table) throw paramError(`No capabilities can be specified for ${s} service`);
    const cap = canonical(Object.keys(table), item.capabilitytype!);
    if (!cap) throw paramError(`Only ${Object.keys(table).join(', ')} capabilities can be specified for ${s} service`);
    const value = item.capabilityvalue!.toLowerCase();
    if (!table[cap]!.values.includes(value)) {
      throw paramError(`Capability ${cap} with value ${item.capabilityvalue} is not supported by provider ${services.get(s)!.join(',')}; supported: ${table[cap]!.values.join(', ')}`);
    }
    if (s === 'Lb') lbCapsGiven = true;
    given[cap] = value;
  });
  const serviceNames = [...services.keys()];
  return { services: Object.fromEntries(services), capabilities: { ...fallbackCapabilities(serviceNames), ...given }, forVpc: vpc, lbCapsGiven };
}

async function checkRequiredAvailability(sql: Sql, guestType: string, services: Record<string, string[]>, selfId?: string): Promise<void> {
  if (guestType !== 'Isolated' || !services.SourceNat) {
    throw paramError('Availability can be Required only for networkOfferings of type Isolated and with SourceNat enabled');
  }
  const other = (await sql.query<{ id: string }>(`SELECT id FROM network_offerings WHERE availability = 'Required' AND id <> $1`, [selfId ?? '00000000-0000-0000-0000-000000000000']))[0];
  if (other) throw paramError(`System already has network offering id=${other.id} with availability Required`);
}

async function checkNameFree(sql: Sql, name: string, selfId?: string): Promise<void> {
  const clash = await sql.query('SELECT 1 FROM network_offerings WHERE lower(name) = lower($1) AND id <> $2', [name, selfId ?? '00000000-0000-0000-0000-000000000000']);
  if (clash.length) throw paramError(`Network offering with name ${name} already exists`);
}

export const createNetworkOffering = command({
  name: 'createNetworkOffering', description: 'Creates a network offering.', since: '3.0.0', roles: ADMIN, response: NETWORK_OFFERING, shape: 'object',
  event: 'NETWORK.OFFERING.CREATE',
  params: {
    name: { type: 'string', required: true, description: 'the name of the network offering' },
    displaytext: { type: 'string', description: "the display text of the network offering, defaults to the value of 'name'." },
    traffictype: { type: 'string', required: true, description: 'the traffic type for the network offering. Supported type in current release is GUEST only' },
    tags: { type: 'string', length: 4096, description: 'the tags for the network offering.' },
    specifyvlan: { type: 'boolean', description: 'true if network offering supports vlans' },
    availability: { type: 'string', description: 'the availability of network offering. The default value is Optional.  Another value is Required, which will make it as the default network offering for new networks ' },
    networkrate: { type: 'integer', description: 'data transfer rate in megabits per second allowed' },
    conservemode: { type: 'boolean', description: 'true if the network offering is IP conserve mode enabled' },
    serviceofferingid: { type: 'uuid', entity: 'serviceoffering', description: 'the service offering ID used by virtual router provider' },
    guestiptype: { type: 'string', required: true, description: 'guest type of the network offering: Shared, Isolated or L2' },
    internetprotocol: { type: 'string', since: '4.17.0', description: 'The internet protocol of network offering. Options are ipv4 and dualstack. Default is ipv4. dualstack will create a network offering that supports both IPv4 and IPv6' },
    supportedservices: { type: 'list', of: 'string', description: 'services supported by the network offering' },
    serviceproviderlist: { type: 'map', description: 'provider to service mapping. If not specified, the provider for the service will be mapped to the default provider on the physical network' },
    servicecapabilitylist: { type: 'map', description: 'desired service capabilities as part of network offering' },
    specifyipranges: { type: 'boolean', description: 'true if network offering supports specifying ip ranges; defaulted to false if not specified' },
    ispersistent: { type: 'boolean', description: 'true if network offering supports persistent networks; defaulted to false if not specified' },
    forvpc: { type: 'boolean', description: 'true if network offering is meant to be used for VPC, false otherwise.' },
    fornsx: { type: 'boolean', since: '4.20.0', description: 'true if network offering is meant to be used for NSX, false otherwise.', check: refuseTrue('NSX') },
    fortungsten: { type: 'boolean', description: 'true if network offering is meant to be used for Tungsten-Fabric, false otherwise.', check: refuseTrue('Tungsten-Fabric') },
    egressdefaultpolicy: { type: 'boolean', description: 'true if guest network default egress policy is allow; false if default egress policy is deny' },
    keepaliveenabled: { type: 'boolean', description: 'if true keepalive will be turned on in the loadbalancer. At the time of writing this has only an effect on haproxy; the mode http and httpclose options are unset in the haproxy conf file.' },
    maxconnections: { type: 'integer', min: 1, description: 'maximum number of concurrent connections supported by the network offering' },
    domainid: { type: 'list', entity: 'domain', access: 'none', of: 'uuid', description: 'the ID of the containing domain(s), null for public offerings' },
    zoneid: { type: 'list', entity: 'zone', of: 'uuid', since: '4.13', description: 'the ID of the containing zone(s), null for public offerings' },
    enable: { type: 'boolean', since: '4.16', description: 'set to true if the offering is to be enabled during creation. Default is false' },
  },
  async handler(ctx, a) {
    const sql = ctx.sql;
    const traffic = canonical(TRAFFIC_TYPES, a.traffictype);
    if (!traffic) throw paramError('Invalid value for traffictype. Supported traffic types: Public, Management, Control, Guest, Vlan or Storage');
    if (traffic !== 'Guest') throw paramError('Only traffic type Guest is supported in the current release');
    const guestType = canonical(GUEST_TYPES, a.guestiptype);
    if (!guestType) throw paramError('Invalid "type" parameter is given; can have Shared, Isolated and L2 values');
    let protocol: string = 'IPv4';
    if (a.internetprotocol !== undefined) {
      const p = canonical(PROTOCOLS, a.internetprotocol);
      if (!p) throw paramError(`Invalid value for internetprotocol: ${a.internetprotocol}; supported values are ipv4 and dualstack`);
      if (guestType !== 'Isolated') throw paramError('internetprotocol is supported only for Isolated guest type');
      protocol = p;
    }
    const availability = canonical(AVAILABILITIES, a.availability ?? 'Optional');
    if (!availability) throw paramError('Invalid value for Availability. Supported types: Required, Optional');
    const networkRate = a.networkrate !== undefined && a.networkrate < 0 ? 0 : a.networkrate;
    if (a.serviceofferingid) await checkRouterOffering(sql, a.serviceofferingid);
    const plan = planServices({ ...a, guestType });

    const specifyIpRanges = a.specifyipranges ?? false;
    // An L2 network is the segment only: no router, no addresses, so nothing a service could run on
    // (CloudStack allows UserData by ConfigDrive alone, a provider Flotilla does not have).
    if (guestType === 'L2') {
      if (Object.keys(plan.services).length) throw paramError('An L2 network offering cannot have services: an L2 network is the segment only (no router, no IP address management)');
      if (specifyIpRanges) throw paramError('SpecifyIpRanges can not be true for L2 network offerings');
    }
    if (specifyIpRanges && guestType === 'Isolated' && plan.services.SourceNat) {
      throw paramError('SpecifyIpRanges can only be true for Shared network offerings and Isolated with no SourceNat service');
    }
    if (!specifyIpRanges && guestType === 'Shared') throw paramError('SpecifyIpRanges should always be true for Shared network offerings');
    if (a.ispersistent && guestType === 'Shared') throw paramError("isPersistent should be false if network offering's type is Shared");
    if (a.maxconnections !== undefined && !plan.services.Lb) throw paramError('maxconnections can be given only when the Lb service is enabled for the network offering');
    if (availability === 'Required') await checkRequiredAvailability(sql, guestType, plan.services);
    if (a.domainid?.length) await checkDomainIds(sql, a.domainid);
    if (a.zoneid?.length) await checkZoneIds(sql, a.zoneid);
    await checkNameFree(sql, a.name);
    // CloudStack fills the LB connection limit from the global setting when LB capabilities are given.
    const maxConn = a.maxconnections ?? (plan.lbCapsGiven ? await configNumber(sql, 'network.loadbalancer.haproxy.max.conn') : null);

    const id = randomUUID();
    await sql.query(
      `INSERT INTO network_offerings (id, name, display_text, traffic_type, guest_ip_type, specify_vlan, specify_ip_ranges, conserve_mode, state,
         availability, is_persistent, for_vpc, egress_default_policy, network_rate, max_connections, keep_alive_enabled, tags, internet_protocol,
         services, capabilities, service_offering_id, domain_ids, zone_ids)
       VALUES ($1,$2,$3,'Guest',$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22)`,
      [id, a.name, a.displaytext || a.name, guestType, a.specifyvlan ?? false, specifyIpRanges, a.conservemode ?? true, a.enable ? 'Enabled' : 'Disabled',
        availability, a.ispersistent ?? false, plan.forVpc, a.egressdefaultpolicy ?? true, networkRate ?? null, maxConn, a.keepaliveenabled ?? false,
        cleanupTags(a.tags), protocol, JSON.stringify(plan.services), JSON.stringify(plan.capabilities), a.serviceofferingid ?? null,
        a.domainid?.length ? [...new Set(a.domainid)] : null, a.zoneid?.length ? [...new Set(a.zoneid)] : null]);
    ctx.setResource('NetworkOffering', id);
    return viewOf(sql, id);
  },
});

export const listNetworkOfferings = command({
  name: 'listNetworkOfferings', description: 'Lists all available network offerings.', since: '3.0.0', roles: ALL_ROLES, response: NETWORK_OFFERING, shape: 'list',
  params: {
    ...LIST_PARAMS,
    id: { type: 'uuid', entity: 'networkoffering', description: 'list network offerings by ID' },
    name: { type: 'string', description: 'list network offerings by name' },
    displaytext: { type: 'string', description: 'list network offerings by display text' },
    traffictype: { type: 'string', description: 'list by traffic type' },
    isdefault: { type: 'boolean', description: 'true if need to list only default network offerings. Default value is false' },
    specifyvlan: { type: 'boolean', description: 'the tags for the network offering.' },
    availability: { type: 'string', description: 'the availability of network offering. Default value is required' },
    domainid: { type: 'uuid', entity: 'domain', since: '4.13', description: 'list network offerings available for network creation in specific domain' },
    zoneid: { type: 'uuid', entity: 'zone', description: 'list network offerings available for network creation in specific zone' },
    state: { type: 'string', description: 'list network offerings by state' },
    networkid: { type: 'uuid', entity: 'network', description: 'the ID of the network. Pass this in if you want to see the available network offering that a network can be changed to.' },
    guestiptype: { type: 'string', description: 'list network offerings by guest type: shared or isolated' },
    supportedservices: { type: 'list', of: 'string', description: 'list network offerings supporting certain services' },
    sourcenatsupported: { type: 'boolean', description: 'true if need to list only netwok offerings where source NAT is supported, false otherwise' },
    specifyipranges: { type: 'boolean', description: 'true if need to list only network offerings which support specifying ip ranges' },
    tags: { type: 'string', length: 4096, description: 'list network offerings by tags' },
    istagged: { type: 'boolean', description: 'true if offering has tags specified' },
    forvpc: { type: 'boolean', description: 'the network offering can be used only for network creation inside the VPC' },
  },
  async handler(ctx, a) {
    const sql = ctx.sql;
    const c = ctx.caller;
    let visibleFor = c.domainPath;
    if (a.domainid) {
      const d = (await sql.query<{ path: string }>('SELECT path FROM domains WHERE id = $1', [a.domainid]))[0];
      if (!d) throw paramError(`Unable to find the domain by id=${a.domainid}`);
      if (!canAccessDomain(c, d.path)) throw paramError(`Unable to list network offerings for domain: ${a.domainid} as caller does not have access for it`);
      visibleFor = d.path;
    }
    if (a.zoneid) {
      const z = (await sql.query<{ network_type: string }>('SELECT network_type FROM zones WHERE id = $1', [a.zoneid]))[0];
      if (!z) throw paramError(`Unable to find the zone by id=${a.zoneid}`);
      // CloudStack: networks can't be created in a Basic zone, so it lists no offerings for one.
      if (z.network_type === 'Basic') return [];
    }
    if (a.networkid) {
      // Network offerings for an upgrade need the networks area; until then no network exists.
      throw paramError(`Unable to find the network by id=${a.networkid}`);
    }
    const wanted = (a.supportedservices ?? []).map((s) => {
      const known = canonical(CLOUDSTACK_SERVICES, s);
      if (!known) throw paramError(`Invalid service specified ${s}`);
      return known;
    });
    const w = new Where()
      .add('o.id = ?', a.id).add('lower(o.name) = lower(?)', a.name)
      .add(`strpos(lower(o.display_text), lower(?)) > 0`, a.displaytext)
      .add('lower(o.traffic_type) = lower(?)', a.traffictype).add('o.is_default = ?', a.isdefault).add('o.specify_vlan = ?', a.specifyvlan)
      .add('lower(o.availability) = lower(?)', a.availability).add('lower(o.state) = lower(?)', a.state)
      .add('lower(o.guest_ip_type) = lower(?)', a.guestiptype).add('o.specify_ip_ranges = ?', a.specifyipranges)
      .add('o.tags = ?', a.tags).add('o.for_vpc = ?', a.forvpc)
      .add('(o.zone_ids IS NULL OR ? = ANY(o.zone_ids))', a.zoneid)
      .keyword(a.keyword, 'o.name', 'o.display_text');
    if (a.istagged !== undefined) w.add(a.istagged ? 'o.tags IS NOT NULL' : 'o.tags IS NULL');
    // Users see what they may use: enabled offerings, public or dedicated to their domain's branch.
    if (c.role !== 'Admin') w.add(`o.state = 'Enabled'`);
    if (c.role !== 'Admin' || a.domainid) addDomainVisibility(w, 'o.domain_ids', visibleFor);
    let rows = await sql.query<NetworkOfferingRow>(`SELECT o.*, ${OFFERING_CONTEXT_COLUMNS} FROM network_offerings o ${w} ORDER BY o.sort_key, o.seq`, w.params);
    if (wanted.length) rows = rows.filter((r) => wanted.every((s) => s in r.services));
    if (a.sourcenatsupported !== undefined) rows = rows.filter((r) => ('SourceNat' in r.services) === a.sourcenatsupported);
    return networkOfferingViews(sql, rows);
  },
});

/** CloudStack's updateNetworkOffering domainid/zoneid: comma-separated ids, or 'public'/'all' for none. */
function idList(raw: string | undefined, none: string, param: string): string[] | null | undefined {
  if (raw === undefined) return undefined;
  const t = raw.trim();
  if (t.toLowerCase() === none) return null;
  const ids = t.split(',').map((x) => x.trim()).filter(Boolean);
  for (const id of ids) if (!isUuid(id)) throw paramError(`Invalid parameter ${param} value=${id} due to it is not a valid id (or '${none}')`);
  return ids.length ? [...new Set(ids.map((x) => x.toLowerCase()))] : null;
}

export const updateNetworkOffering = command({
  name: 'updateNetworkOffering', description: 'Updates a network offering.', since: '3.0.0', roles: ADMIN, response: NETWORK_OFFERING, shape: 'object',
  event: 'NETWORK.OFFERING.EDIT',
  params: {
    id: { type: 'uuid', entity: 'networkoffering', description: 'the id of the network offering' },
    name: { type: 'string', description: 'the name of the network offering' },
    displaytext: { type: 'string', description: 'the display text of the network offering' },
    availability: { type: 'string', description: 'the availability of network offering. The value is Required makes this network offering default for Guest Virtual Networks. Only one network offering can have the value Required ' },
    sortkey: { type: 'integer', description: 'sort key of the network offering, integer' },
    state: { type: 'string', description: 'update state for the network offering' },
    keepaliveenabled: { type: 'boolean', description: 'if true keepalive will be turned on in the loadbalancer. At the time of writing this has only an effect on haproxy; the mode http and httpclose options are unset in the haproxy conf file.' },
    maxconnections: { type: 'integer', min: 1, description: 'maximum number of concurrent connections supported by the network offering' },
    tags: { type: 'string', length: 4096, description: 'the tags for the network offering.' },
    domainid: { type: 'string', length: 4096, description: 'the ID of the containing domain(s) as comma separated string, public for public offerings' },
    zoneid: { type: 'string', length: 4096, since: '4.13', description: 'the ID of the containing zone(s) as comma separated string, all for all zones offerings' },
  },
  async handler(ctx, a) {
    const sql = ctx.sql;
    if (!a.id) throw paramError('Unable to execute API command updatenetworkoffering due to missing parameter id');
    const o = await networkOfferingById(sql, a.id);
    const set: Record<string, unknown> = {};
    if (a.name !== undefined && a.name !== o.name) { await checkNameFree(sql, a.name, o.id); set.name = a.name; }
    if (a.displaytext !== undefined) set.display_text = a.displaytext;
    if (a.sortkey !== undefined) set.sort_key = a.sortkey;
    if (a.state !== undefined) {
      const st = canonical(STATES, a.state);
      if (!st) throw paramError(`Incorrect state value: ${a.state}`);
      set.state = st;
    }
    if (a.tags !== undefined) set.tags = cleanupTags(a.tags);
    if (a.availability !== undefined) {
      const av = canonical(AVAILABILITIES, a.availability);
      if (!av) throw paramError('Invalid value for Availability. Supported types: Required, Optional');
      if (av === 'Required') await checkRequiredAvailability(sql, o.guest_ip_type, o.services, o.id);
      set.availability = av;
    }
    if (a.maxconnections !== undefined) {
      if (!o.services.Lb) throw paramError('maxconnections can be given only when the Lb service is enabled for the network offering');
      set.max_connections = a.maxconnections;
    }
    if (a.keepaliveenabled !== undefined) set.keep_alive_enabled = a.keepaliveenabled;
    const domains = idList(a.domainid, 'public', 'domainid');
    if (domains) await checkDomainIds(sql, domains);
    if (domains !== undefined) set.domain_ids = domains;
    const zones = idList(a.zoneid, 'all', 'zoneid');
    if (zones) await checkZoneIds(sql, zones);
    if (zones !== undefined) set.zone_ids = zones;
    const cols = Object.keys(set);
    if (cols.length) {
      await sql.query(`UPDATE network_offerings SET ${cols.map((k, i) => `${k} = $${i + 2}`).join(', ')} WHERE id = $1`, [o.id, ...cols.map((k) => set[k])]);
    }
    ctx.setResource('NetworkOffering', o.id);
    return viewOf(sql, o.id);
  },
});

export const deleteNetworkOffering = command({
  name: 'deleteNetworkOffering', description: 'Deletes a network offering.', since: '3.0.0', roles: ADMIN, response: SUCCESS_RESPONSE, shape: 'success',
  event: 'NETWORK.OFFERING.DELETE',
  params: { id: { type: 'uuid', entity: 'networkoffering', required: true, description: 'the ID of the network offering' } },
  async handler(ctx: Context, a) {
    const o = await networkOfferingById(ctx.sql, a.id);
    if (o.is_default) throw paramError("Default network offering can't be deleted");
    const use = await firstUse(ctx.sql, NETWORK_OFFERING_REFERRERS, o.id);
    if (use) throw inUse(`Can't delete network offering ${o.name} as its used by ${use.count} ${use.what}. To make the network offering unavailable, disable it`, o.id);
    await ctx.sql.query('DELETE FROM network_offerings WHERE id = $1', [o.id]);
    ctx.setResource('NetworkOffering', o.id);
  },
});
