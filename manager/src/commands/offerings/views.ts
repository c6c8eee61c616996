// Response objects of the offerings area: the declared fields (for listApis and docs) next to
// the functions that build them from rows, so the two cannot drift apart.
import type { ResponseDef } from '../../api/registry.ts';
import type { Sql } from '../../db/sql.ts';
import { compact, csDate } from '../../api/serialize.ts';
import { CAPABILITIES, SHOWN_CAPABILITIES } from './features.ts';
import { configDef } from './config.ts';
import { ROUTER_OFFERING_UNIQUE_NAME } from './defaults.ts';

// ---- network offerings ----

export const NETWORK_OFFERING: ResponseDef = {
  name: 'networkoffering',
  fields: {
    id: { type: 'string', description: 'the id of the network offering' },
    name: { type: 'string', description: 'the name of the network offering' },
    displaytext: { type: 'string', description: 'an alternate display text of the network offering.' },
    tags: { type: 'string', description: 'the tags for the network offering' },
    created: { type: 'date', description: 'the date this network offering was created' },
    traffictype: { type: 'string', description: 'the traffic type for the network offering, supported types are Public, Management, Control, Guest, Vlan or Storage.' },
    isdefault: { type: 'boolean', description: 'true if network offering is default, false otherwise' },
    specifyvlan: { type: 'boolean', description: 'true if network offering supports vlans, false otherwise' },
    conservemode: { type: 'boolean', description: 'true if network offering is ip conserve mode enabled' },
    specifyipranges: { type: 'boolean', description: 'true if network offering supports specifying ip ranges, false otherwise' },
    availability: { type: 'string', description: 'availability of the network offering' },
    networkrate: { type: 'integer', description: 'data transfer rate in megabits per second allowed.' },
    state: { type: 'string', description: 'state of the network offering. Can be Disabled/Enabled/Inactive' },
    guestiptype: { type: 'string', description: 'guest type of the network offering, can be Shared or Isolated' },
    serviceofferingid: { type: 'string', description: 'the ID of the service offering used by virtual router provider' },
    service: { type: 'list', description: 'the list of supported services' },
    forvpc: { type: 'boolean', description: 'true if network offering can be used by VPC networks only' },
    fornsx: { type: 'boolean', description: 'true if network offering can be used by NSX networks only' },
    fortungsten: { type: 'boolean', description: 'true if network offering can be used by Tungsten-Fabric networks only' },
    ispersistent: { type: 'boolean', description: 'true if network offering supports persistent networks, false otherwise' },
    egressdefaultpolicy: { type: 'boolean', description: 'true if guest network default egress policy is allow; false if default egress policy is deny' },
    maxconnections: { type: 'integer', description: 'maximum number of concurrents connections to be handled by lb' },
    supportsstrechedl2subnet: { type: 'boolean', description: 'true if network offering supports network that span multiple zones', since: '4.4' },
    supportspublicaccess: { type: 'boolean', description: 'true if network offering supports public access for guest networks', since: '4.10.0' },
    supportsinternallb: { type: 'boolean', description: 'true if network offering supports public access for guest networks', since: '4.20.0' },
    domainid: { type: 'string', description: 'the domain ID(s) this disk offering belongs to. Ignore this information as it is not currently applicable.' },
    domain: { type: 'string', description: 'the domain name(s) this disk offering belongs to. Ignore this information as it is not currently applicable.' },
    zoneid: { type: 'string', description: 'the zone ID(s) this disk offering belongs to. Ignore this information as it is not currently applicable.', since: '4.13.0' },
    zone: { type: 'string', description: 'the zone name(s) this disk offering belongs to. Ignore this information as it is not currently applicable.', since: '4.13.0' },
    internetprotocol: { type: 'string', description: 'the internet protocol of the network offering' },
  },
};

export interface NetworkOfferingRow {
  id: string; name: string; unique_name: string | null; display_text: string; traffic_type: string; guest_ip_type: string;
  specify_vlan: boolean; specify_ip_ranges: boolean; conserve_mode: boolean; state: string; availability: string; is_default: boolean;
  is_persistent: boolean; for_vpc: boolean; egress_default_policy: boolean; network_rate: number | null; max_connections: number | null;
  keep_alive_enabled: boolean; sort_key: number; tags: string | null; internet_protocol: string;
  services: Record<string, string[]>; capabilities: Record<string, string>; service_offering_id: string | null;
  domain_ids: string[] | null; zone_ids: string[] | null; created: Date;
}

/** Names of domains and zones referred to by rows, looked up once per answer. */
async function namesOf(sql: Sql, table: 'domains' | 'zones', ids: string[]): Promise<Map<string, string>> {
  if (!ids.length) return new Map();
  const rows = await sql.query<{ id: string; name: string }>(`SELECT id::text AS id, name FROM ${table} WHERE id::text = ANY($1::text[])`, [[...new Set(ids)]]);
  return new Map(rows.map((r) => [r.id, r.name]));
}

/**
 * What every network offering answer needs besides the rows: network.throttling.rate, and the
 * router offering used when an offering names none (router.service.offering, else the stock
 * one). A list selects these as extra columns of its one query (OFFERING_CONTEXT_COLUMNS): on
 * embedded PGlite each round trip is a sizeable share of a request's cost.
 */
export const OFFERING_CONTEXT_COLUMNS = `
  (SELECT coalesce(value, default_value) FROM configurations WHERE name = 'network.throttling.rate') AS ctx_rate,
  (SELECT nullif(coalesce(value, default_value), '') FROM configurations WHERE name = 'router.service.offering') AS ctx_router,
  (SELECT id::text FROM service_offerings WHERE unique_name = '${ROUTER_OFFERING_UNIQUE_NAME}') AS ctx_stock`;

interface ContextColumns { ctx_rate?: string | null; ctx_router?: string | null; ctx_stock?: string | null }

async function offeringContext(sql: Sql, first: ContextColumns): Promise<{ throttling: number; routerOffering: string | undefined }> {
  const r = 'ctx_rate' in first ? first : (await sql.query<ContextColumns>(`SELECT ${OFFERING_CONTEXT_COLUMNS}`))[0]!;
  const throttling = Number(r.ctx_rate ?? configDef('network.throttling.rate')!.defaultValue);
  return { throttling, routerOffering: r.ctx_router?.toLowerCase() ?? r.ctx_stock ?? undefined };
}

export async function networkOfferingViews(sql: Sql, rows: Array<NetworkOfferingRow & ContextColumns>): Promise<Record<string, unknown>[]> {
  if (!rows.length) return [];
  const { throttling, routerOffering } = await offeringContext(sql, rows[0]!);
  const domains = await namesOf(sql, 'domains', rows.flatMap((r) => r.domain_ids ?? []));
  const zones = await namesOf(sql, 'zones', rows.flatMap((r) => r.zone_ids ?? []));
  return rows.map((r) => {
    // CloudStack: the offering's rate, else network.throttling.rate; 0 means unlimited, shown as -1.
    const rate = r.network_rate ?? throttling;
    const services = Object.entries(r.services).filter(([s]) => s !== 'Gateway').map(([s, providers]) => compact({
      name: s,
      provider: providers.map((p) => ({ name: p })),
      capability: SHOWN_CAPABILITIES[s]?.map((c) => ({ name: c, value: r.capabilities[c] ?? CAPABILITIES[s]?.[c]?.fallback ?? 'false' })),
    }));
    return compact({
      id: r.id, name: r.name, displaytext: r.display_text, tags: r.tags, created: csDate(r.created), traffictype: r.traffic_type,
      isdefault: r.is_default, specifyvlan: r.specify_vlan, conservemode: r.conserve_mode, specifyipranges: r.specify_ip_ranges,
      availability: r.availability, networkrate: rate === 0 ? -1 : rate, state: r.state, guestiptype: r.guest_ip_type,
      serviceofferingid: r.service_offering_id ?? routerOffering, service: services, forvpc: r.for_vpc, fornsx: false, fortungsten: false,
      ispersistent: r.is_persistent, egressdefaultpolicy: r.egress_default_policy, maxconnections: r.max_connections,
      supportsstrechedl2subnet: false, supportspublicaccess: false, supportsinternallb: false,
      domainid: r.domain_ids?.join(','), domain: r.domain_ids?.map((d) => domains.get(d) ?? d).join(','),
      zoneid: r.zone_ids?.join(','), zone: r.zone_ids?.map((z) => zones.get(z) ?? z).join(','),
      internetprotocol: r.internet_protocol,
    });
  });
}

// ---- service offerings ----

export const SERVICE_OFFERING: ResponseDef = {
  name: 'serviceoffering',
  fields: {
    id: { type: 'string', description: 'the id of the service offering' },
    name: { type: 'string', description: 'the name of the service offering' },
    displaytext: { type: 'string', description: 'an alternate display text of the service offering.' },
    cpunumber: { type: 'integer', description: 'the number of CPU' },
    cpuspeed: { type: 'integer', description: 'the clock rate CPU speed in Mhz' },
    memory: { type: 'integer', description: 'the memory in MB' },
    created: { type: 'date', description: 'the date this service offering was created' },
    storagetype: { type: 'string', description: 'the storage type for this service offering' },
    provisioningtype: { type: 'string', description: 'provisioning type used to create volumes. Valid values are thin, sparse, fat.', since: '4.4.0' },
    offerha: { type: 'boolean', description: 'the ha support in the service offering' },
    limitcpuuse: { type: 'boolean', description: 'restrict the CPU usage to committed service offering' },
    isvolatile: { type: 'boolean', description: 'true if the vm needs to be volatile, i.e., on every reboot of vm from API root disk is discarded and creates a new root disk' },
    storagetags: { type: 'string', description: 'the tags for the service offering' },
    domainid: { type: 'string', description: 'the domain ID(s) this disk offering belongs to. Ignore this information as it is not currently applicable.' },
    domain: { type: 'string', description: 'the domain name(s) this disk offering belongs to. Ignore this information as it is not currently applicable.' },
    zoneid: { type: 'string', description: 'the zone ID(s) this disk offering belongs to. Ignore this information as it is not currently applicable.', since: '4.13.0' },
    zone: { type: 'string', description: 'the zone name(s) this disk offering belongs to. Ignore this information as it is not currently applicable.', since: '4.13.0' },
    hosttags: { type: 'string', description: 'the host tag for the service offering' },
    issystem: { type: 'boolean', description: 'is this a system vm offering' },
    defaultuse: { type: 'boolean', description: 'is this a  default system vm offering' },
    systemvmtype: { type: 'string', description: 'is this a the systemvm type for system vm offering' },
    networkrate: { type: 'integer', description: 'data transfer rate in megabits per second allowed.' },
    iscustomized: { type: 'boolean', description: 'is true if the offering is customized', since: '4.3.0' },
    dynamicscalingenabled: { type: 'boolean', description: 'true if virtual machine needs to be dynamically scalable of cpu or memory', since: '4.16' },
    state: { type: 'string', description: 'state of the service offering', since: '4.19' },
  },
};

export interface ServiceOfferingRow {
  id: string; name: string; unique_name: string | null; display_text: string; cpu_number: number | null; cpu_speed: number | null; memory: number | null;
  storage_type: string; provisioning_type: string; offer_ha: boolean; limit_cpu_use: boolean; is_volatile: boolean; is_system: boolean;
  system_vm_type: string | null; default_use: boolean; network_rate: number | null; storage_tags: string | null; host_tags: string | null;
  sort_key: number; state: string; domain_ids: string[] | null; zone_ids: string[] | null; created: Date;
}

export async function serviceOfferingViews(sql: Sql, rows: ServiceOfferingRow[]): Promise<Record<string, unknown>[]> {
  if (!rows.length) return [];
  const domains = await namesOf(sql, 'domains', rows.flatMap((r) => r.domain_ids ?? []));
  const zones = await namesOf(sql, 'zones', rows.flatMap((r) => r.zone_ids ?? []));
  return rows.map((r) => compact({
    id: r.id, name: r.name, displaytext: r.display_text, cpunumber: r.cpu_number, cpuspeed: r.cpu_speed, memory: r.memory,
    created: csDate(r.created), storagetype: r.storage_type, provisioningtype: r.provisioning_type, offerha: r.offer_ha,
    limitcpuuse: r.limit_cpu_use, isvolatile: r.is_volatile, storagetags: r.storage_tags,
    domainid: r.domain_ids?.join(','), domain: r.domain_ids?.map((d) => domains.get(d) ?? d).join(','),
    zoneid: r.zone_ids?.join(','), zone: r.zone_ids?.map((z) => zones.get(z) ?? z).join(','),
    hosttags: r.host_tags, issystem: r.is_system, defaultuse: r.default_use, systemvmtype: r.system_vm_type, networkrate: r.network_rate,
    iscustomized: r.cpu_number === null || r.memory === null, dynamicscalingenabled: true, state: r.state,
  }));
}

// ---- configurations ----

export const CONFIGURATION: ResponseDef = {
  name: 'configuration',
  fields: {
    category: { type: 'string', description: 'The category of the configuration' },
    name: { type: 'string', description: 'The name of the configuration' },
    value: { type: 'string', description: 'The value of the configuration' },
    defaultvalue: { type: 'string', description: 'The default value of the configuration', since: '4.18.0' },
    description: { type: 'string', description: 'The description of the configuration' },
    isdynamic: { type: 'boolean', description: 'True if the configuration is dynamic' },
    type: { type: 'string', description: 'The type of the configuration value', since: '4.18.0' },
    displaytext: { type: 'string', description: 'The display text of the configuration', since: '4.18.0' },
  },
};

export interface ConfigurationRow { name: string; category: string; value: string | null; default_value: string | null; description: string; type: string; is_dynamic: boolean }

/** CloudStack's display text: the key's words capitalised ("network.throttling.rate" → "Network Throttling Rate"). */
const displayTextOf = (name: string) => name.split(/[.\-_]/).filter(Boolean).map((w) => w[0]!.toUpperCase() + w.slice(1)).join(' ');

export function configurationView(r: ConfigurationRow): Record<string, unknown> {
  return compact({
    category: r.category, name: r.name, value: r.value ?? '', defaultvalue: r.default_value ?? '', description: r.description,
    isdynamic: r.is_dynamic, type: r.type, displaytext: displayTextOf(r.name),
  });
}
