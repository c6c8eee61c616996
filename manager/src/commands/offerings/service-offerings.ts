// createServiceOffering, listServiceOfferings, updateServiceOffering, deleteServiceOffering.
// Flotilla runs no tenant VMs of its own yet; service offerings matter now for the routers
// (systemvmtype=domainrouter) and are kept CloudStack-shaped for the clients that list them.
import { randomUUID } from 'node:crypto';
import { ADMIN, ALL_ROLES, LIST_PARAMS, SUCCESS_RESPONSE, command } from '../../api/registry.ts';
import { paramError } from '../../api/errors.ts';
import { canAccessDomain } from '../../api/scope.ts';
import type { Sql } from '../../db/sql.ts';
import { Where } from '../../db/sql.ts';
import { canonical } from './features.ts';
import { configValue } from './config.ts';
import { SERVICE_OFFERING, serviceOfferingViews, type ServiceOfferingRow } from './views.ts';
import {
  SERVICE_OFFERING_REFERRERS, addDomainVisibility, assertMaySeeSystem, checkDomainIds, checkZoneIds, firstUse, inUse, serviceOfferingById,
} from './lookup.ts';

const SYSTEM_VM_TYPES = ['domainrouter', 'consoleproxy', 'secondarystoragevm'] as const;
const STORAGE_TYPES = ['local', 'shared'] as const;
const PROVISIONING = ['thin', 'sparse', 'fat'] as const;
const STATES = ['Active', 'Inactive'] as const;

async function viewOf(sql: Sql, id: string): Promise<Record<string, unknown>> {
  return (await serviceOfferingViews(sql, [await serviceOfferingById(sql, id)]))[0]!;
}

export const createServiceOffering = command({
  name: 'createServiceOffering', description: 'Creates a service offering.', since: '1.0', roles: ADMIN, response: SERVICE_OFFERING, shape: 'object',
  event: 'SERVICE.OFFERING.CREATE',
  params: {
    name: { type: 'string', required: true, description: 'the name of the service offering' },
    displaytext: { type: 'string', description: "The display text of the service offering, defaults to 'name'." },
    cpunumber: { type: 'integer', min: 1, description: 'the CPU number of the service offering' },
    cpuspeed: { type: 'integer', min: 0, description: 'the CPU speed of the service offering in MHz.' },
    memory: { type: 'integer', min: 32, description: 'the total memory of the service offering in MB' },
    provisioningtype: { type: 'string', description: 'provisioning type used to create volumes. Valid values are thin, sparse, fat.' },
    offerha: { type: 'boolean', description: 'the HA for the service offering' },
    limitcpuuse: { type: 'boolean', description: 'restrict the CPU usage to committed service offering' },
    isvolatile: { type: 'boolean', description: 'true if the virtual machine needs to be volatile so that on every reboot of VM, original root disk is dettached then destroyed and a fresh root disk is created and attached to VM' },
    storagetype: { type: 'string', description: 'the storage type of the service offering. Values are local and shared.' },
    tags: { type: 'string', length: 4096, description: 'the tags for this service offering.' },
    domainid: { type: 'list', entity: 'domain', access: 'none', of: 'uuid', description: 'the ID of the containing domain(s), null for public offerings' },
    zoneid: { type: 'list', entity: 'zone', of: 'uuid', since: '4.13', description: 'the ID of the containing zone(s), null for public offerings' },
    hosttags: { type: 'string', length: 4096, description: 'the host tag for this service offering.' },
    issystem: { type: 'boolean', description: 'is this a system vm offering' },
    systemvmtype: { type: 'string', description: 'the system VM type. Possible types are "domainrouter", "consoleproxy" and "secondarystoragevm".' },
    networkrate: { type: 'integer', description: 'data transfer rate in megabits per second allowed. Supported only for non-System offering and system offerings having "domainrouter" systemvmtype' },
    customized: { type: 'boolean', since: '4.13', description: 'Whether service offering size is custom or not' },
  },
  async handler(ctx, a) {
    const sql = ctx.sql;
    const name = a.name.trim();
    if (!name) throw paramError('Failed to create service offering because offering name has not been specified.');
    const storage = canonical(STORAGE_TYPES, a.storagetype ?? 'shared');
    if (!storage) throw paramError(`Invalid storage type ${a.storagetype} specified, valid types are: 'local' and 'shared'`);
    const provisioning = canonical(PROVISIONING, a.provisioningtype ?? 'thin');
    if (!provisioning) throw paramError(`Invalid provisioning type ${a.provisioningtype}; valid types are thin, sparse, fat`);
    const isSystem = a.issystem ?? false;
    let vmType: string | null = null;
    if (a.systemvmtype !== undefined) {
      if (!isSystem) throw paramError('systemvmtype can be given only for a system offering (issystem=true)');
      vmType = canonical(SYSTEM_VM_TYPES, a.systemvmtype) ?? null;
      if (!vmType) throw paramError('Invalid system vm type. Supported types are domainrouter, consoleproxy, secondarystoragevm');
    } else if (isSystem) {
      vmType = 'domainrouter';   // CloudStack's default for a system offering
    }
    if (a.networkrate !== undefined && isSystem && vmType !== 'domainrouter') {
      throw paramError('Network rate can be specified only for non-System offering and system offerings having "domainrouter" systemvmtype');
    }
    const partial = a.cpunumber === undefined || a.memory === undefined;
    if (a.customized === false && partial) throw paramError('For creating a fixed compute offering cpunumber and memory must be given');
    if (a.customized === true && !partial) throw paramError('For creating a custom compute offering cpunumber and memory must be empty');
    if (isSystem && partial) throw paramError('A system offering needs cpunumber and memory');
    if (a.domainid?.length) await checkDomainIds(sql, a.domainid);
    if (a.zoneid?.length) await checkZoneIds(sql, a.zoneid);
    const id = randomUUID();
    await sql.query(
      `INSERT INTO service_offerings (id, name, display_text, cpu_number, cpu_speed, memory, storage_type, provisioning_type, offer_ha,
         limit_cpu_use, is_volatile, is_system, system_vm_type, network_rate, storage_tags, host_tags, domain_ids, zone_ids)
       VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18)`,
      [id, name, a.displaytext || name, a.cpunumber ?? null, a.cpuspeed ?? null, a.memory ?? null, storage, provisioning, a.offerha ?? false,
        a.limitcpuuse ?? false, a.isvolatile ?? false, isSystem, vmType, a.networkrate ?? null, a.tags?.trim() || null, a.hosttags?.trim() || null,
        a.domainid?.length ? [...new Set(a.domainid)] : null, a.zoneid?.length ? [...new Set(a.zoneid)] : null]);
    ctx.setResource('ServiceOffering', id);
    return viewOf(sql, id);
  },
});

export const listServiceOfferings = command({
  name: 'listServiceOfferings', description: 'Lists all available service offerings.', since: '1.0', roles: ALL_ROLES, response: SERVICE_OFFERING, shape: 'list',
  params: {
    ...LIST_PARAMS,
    id: { type: 'uuid', entity: 'serviceoffering', description: 'ID of the service offering' },
    name: { type: 'string', description: 'name of the service offering' },
    domainid: { type: 'uuid', entity: 'domain', description: 'the ID of the domain associated with the service offering' },
    issystem: { type: 'boolean', description: 'is this a system vm offering' },
    systemvmtype: { type: 'string', description: 'the system VM type. Possible types are "consoleproxy", "secondarystoragevm" or "domainrouter".' },
    zoneid: { type: 'uuid', entity: 'zone', since: '4.13', description: 'id of zone disk offering is associated with' },
    cpunumber: { type: 'integer', since: '4.15', description: 'the CPU number that listed offerings must support' },
    memory: { type: 'integer', since: '4.15', description: 'the RAM memory that listed offering must support' },
    cpuspeed: { type: 'integer', since: '4.15', description: 'the CPU speed that listed offerings must support' },
    storagetype: { type: 'string', since: '4.19', description: 'the storage type of the service offering. Values are local and shared.' },
    state: { type: 'string', since: '4.19', description: "Filter by state of the service offering. Defaults to 'Active'. If set to 'all' shows both Active & Inactive offerings." },
  },
  async handler(ctx, a) {
    const sql = ctx.sql;
    const c = ctx.caller;
    const isSystem = a.issystem ?? false;
    if (isSystem) assertMaySeeSystem(c);
    let state: string | undefined = 'Active';
    if (a.state !== undefined) {
      if (a.state.toLowerCase() === 'all') state = undefined;
      else {
        state = canonical(STATES, a.state);
        if (!state) throw paramError(`Invalid state value: ${a.state}`);
      }
    }
    if (a.domainid) {
      const d = (await sql.query<{ path: string }>('SELECT path FROM domains WHERE id = $1', [a.domainid]))[0];
      if (!d) throw paramError(`Unable to find the domain by id=${a.domainid}`);
      if (!canAccessDomain(c, d.path)) throw paramError(`Unable to list service offerings for domain: ${a.domainid} as caller does not have access for it`);
    }
    if (a.zoneid && !(await sql.query('SELECT 1 FROM zones WHERE id = $1', [a.zoneid])).length) throw paramError(`Unable to find the zone by id=${a.zoneid}`);
    const w = new Where()
      .add('o.id = ?', a.id).add('lower(o.name) = lower(?)', a.name).add('o.is_system = ?', isSystem)
      .add('lower(o.system_vm_type) = lower(?)', a.systemvmtype).add('o.state = ?', state)
      .add('lower(o.storage_type) = lower(?)', a.storagetype)
      .add('(o.zone_ids IS NULL OR ? = ANY(o.zone_ids))', a.zoneid)
      // "must support": a fixed offering of that size, or a customised one
      .add('(o.cpu_number IS NULL OR o.cpu_number = ?)', a.cpunumber).add('(o.memory IS NULL OR o.memory = ?)', a.memory)
      .add('(o.cpu_speed IS NULL OR o.cpu_speed = ?)', a.cpuspeed)
      .keyword(a.keyword, 'o.name', 'o.display_text');
    // domainid: the offerings of that domain only (CloudStack's searchForServiceOfferings), not the
    // public ones; the caller still sees only what its own domain may use.
    if (a.domainid) w.add('? = ANY(o.domain_ids)', a.domainid.toLowerCase());
    if (c.role !== 'Admin') addDomainVisibility(w, 'o.domain_ids', c.domainPath);
    const rows = await sql.query<ServiceOfferingRow>(`SELECT o.* FROM service_offerings o ${w} ORDER BY o.sort_key, o.seq`, w.params);
    return serviceOfferingViews(sql, rows);
  },
});

export const updateServiceOffering = command({
  name: 'updateServiceOffering', description: 'Updates a service offering.', since: '1.0', roles: ADMIN, response: SERVICE_OFFERING, shape: 'object',
  event: 'SERVICE.OFFERING.EDIT',
  params: {
    id: { type: 'uuid', entity: 'serviceoffering', required: true, description: 'the ID of the service offering to be updated' },
    name: { type: 'string', description: 'the name of the service offering to be updated' },
    displaytext: { type: 'string', description: 'the display text of the service offering to be updated' },
    sortkey: { type: 'integer', description: 'sort key of the service offering, integer' },
    storagetags: { type: 'string', length: 4096, since: '4.16', description: 'comma-separated list of tags for the service offering, tags should match with existing storage pool tags' },
    hosttags: { type: 'string', length: 4096, since: '4.16', description: 'the host tag for this service offering.' },
    state: { type: 'string', since: '4.19', description: 'state of the service offering' },
  },
  async handler(ctx, a) {
    const o = await serviceOfferingById(ctx.sql, a.id);
    const set: Record<string, unknown> = {};
    if (a.name !== undefined) { if (!a.name.trim()) throw paramError('the name of a service offering cannot be empty'); set.name = a.name.trim(); }
    if (a.displaytext !== undefined) set.display_text = a.displaytext;
    if (a.sortkey !== undefined) set.sort_key = a.sortkey;
    if (a.storagetags !== undefined) set.storage_tags = a.storagetags.trim() || null;
    if (a.hosttags !== undefined) set.host_tags = a.hosttags.trim() || null;
    if (a.state !== undefined) {
      const st = canonical(STATES, a.state);
      if (!st) throw paramError(`Invalid state value: ${a.state}; valid values are Active, Inactive`);
      if (st === 'Inactive') await assertNotRouterDefault(ctx.sql, o, 'made inactive');
      set.state = st;
    }
    const cols = Object.keys(set);
    if (cols.length) await ctx.sql.query(`UPDATE service_offerings SET ${cols.map((k, i) => `${k} = $${i + 2}`).join(', ')} WHERE id = $1`, [o.id, ...cols.map((k) => set[k])]);
    ctx.setResource('ServiceOffering', o.id);
    return viewOf(ctx.sql, o.id);
  },
});

/** The offering router.service.offering names is what new routers get: it must stay usable. */
async function assertNotRouterDefault(sql: Sql, o: ServiceOfferingRow, verb: string): Promise<void> {
  const configured = (await configValue(sql, 'router.service.offering')).toLowerCase();
  if (configured === o.id) throw inUse(`Service offering ${o.name} is the router offering set by router.service.offering and can't be ${verb}; change the setting first`, o.id);
}

export const deleteServiceOffering = command({
  name: 'deleteServiceOffering', description: 'Deletes a service offering.', since: '1.0', roles: ADMIN, response: SUCCESS_RESPONSE, shape: 'success',
  event: 'SERVICE.OFFERING.DELETE',
  params: { id: { type: 'uuid', entity: 'serviceoffering', required: true, description: 'the ID of the service offering' } },
  async handler(ctx, a) {
    const o = await serviceOfferingById(ctx.sql, a.id);
    if (o.default_use) throw paramError('Default service offerings cannot be deleted');
    await assertNotRouterDefault(ctx.sql, o, 'deleted');
    const use = await firstUse(ctx.sql, SERVICE_OFFERING_REFERRERS, o.id);
    if (use) throw inUse(`Can't delete service offering ${o.name} as it is used by ${use.count} ${use.what}`, o.id);
    await ctx.sql.query('DELETE FROM service_offerings WHERE id = $1', [o.id]);
    ctx.setResource('ServiceOffering', o.id);
  },
});
