// Disk offerings: CloudStack's defaults (Small 5 GB, Medium 20 GB, Large 100 GB, Custom) seeded
// once, createDiskOffering / deleteDiskOffering for root admins, listDiskOfferings for everyone
// (offerings dedicated to a domain: that domain's subtree).
import { randomUUID } from 'node:crypto';
import { ADMIN, ALL_ROLES, LIST_PARAMS, SUCCESS_RESPONSE, command } from '../../api/registry.ts';
import { notFound, paramError } from '../../api/errors.ts';
import { inTree } from '../../api/scope.ts';
import type { Context } from '../../api/context.ts';
import { Where, type Sql } from '../../db/sql.ts';
import { domainById } from '../accounts/lookup.ts';
import { zoneById } from '../infra/lookup.ts';
import { DISK_OFFERING, DISK_OFFERING_SELECT, GiB, diskOfferingView, type DiskOfferingRow } from './views.ts';

const DEFAULTS = [
  { name: 'Small', displayText: 'Small Disk, 5 GB', size: 5 },
  { name: 'Medium', displayText: 'Medium Disk, 20 GB', size: 20 },
  { name: 'Large', displayText: 'Large Disk, 100 GB', size: 100 },
  { name: 'Custom', displayText: 'Custom Disk', size: null },
] as const;

export async function seedDiskOfferings(sql: Sql): Promise<void> {
  for (const d of DEFAULTS) {
    await sql.query(
      `INSERT INTO disk_offerings (id, name, unique_name, display_text, disk_size, is_customized) VALUES ($1,$2,$3,$4,$5,$6)
       ON CONFLICT (unique_name) WHERE unique_name IS NOT NULL DO NOTHING`,
      [randomUUID(), d.name, `Cloud.com-Disk-${d.name}`, d.displayText, d.size === null ? null : d.size * GiB, d.size === null]);
  }
}

/** An active disk offering the caller may use (431 otherwise, naming the parameter). */
export async function diskOfferingById(ctx: Context, id: string, param = 'diskofferingid'): Promise<DiskOfferingRow & { domain_path: string | null }> {
  const o = (await ctx.sql.query<DiskOfferingRow & { domain_path: string | null }>(`${DISK_OFFERING_SELECT.replace('d.name AS domain_name', 'd.name AS domain_name, d.path AS domain_path')} WHERE o.id = $1 AND o.state = 'Active'`, [id]))[0];
  if (!o || (o.domain_path !== null && ctx.caller.role !== 'Admin' && !inTree(ctx.caller.domainPath, o.domain_path))) throw notFound(ctx.command, param, id);
  return o;
}

export const listDiskOfferings = command({
  name: 'listDiskOfferings', description: 'Lists all available disk offerings.', since: '1.0', roles: ALL_ROLES, response: DISK_OFFERING, shape: 'list',
  params: {
    ...LIST_PARAMS,
    id: { type: 'uuid', entity: 'diskoffering', description: 'ID of the disk offering' },
    name: { type: 'string', description: 'name of the disk offering' },
    domainid: { type: 'uuid', entity: 'domain', description: 'the ID of the domain of the disk offering.' },
    isrecursive: { type: 'boolean', description: 'defaults to false, but if true, lists all resources from the parent specified by the domainId till leaves.' },
    zoneid: { type: 'uuid', entity: 'zone', description: 'id of zone disk offering is associated with', since: '4.13' },
    volumeid: { type: 'uuid', entity: 'volume', description: 'The ID of the volume, tags of the volume are used to filter the offerings', since: '4.17' },
    state: { type: 'string', description: "Filter by state of the disk offering. Defaults to 'Active'. If set to 'all' shows both Active & Inactive offerings.", since: '4.19' },
  },
  async handler(ctx, a) {
    const w = new Where([]).add('o.id = ?', a.id).add('lower(o.name) = lower(?)', a.name).add('(o.zone_id IS NULL OR o.zone_id = ?)', a.zoneid).keyword(a.keyword, 'o.name', 'o.display_text');
    if (!a.state || a.state.toLowerCase() !== 'all') w.add('lower(o.state) = lower(?)', a.state ?? 'Active');
    if (a.domainid) w.add('o.domain_id = ?', (await domainById(ctx, a.domainid, 'domainid')).id);
    const rows = await ctx.sql.query<DiskOfferingRow & { domain_path: string | null }>(`${DISK_OFFERING_SELECT.replace('d.name AS domain_name', 'd.name AS domain_name, d.path AS domain_path')} ${w} ORDER BY o.created, o.is_customized, o.disk_size, o.name`, w.params);
    // A domain's offerings are seen in its subtree (and by root admins); public ones by everyone.
    return rows.filter((r) => r.domain_path === null || ctx.caller.role === 'Admin' || inTree(ctx.caller.domainPath, r.domain_path) || inTree(r.domain_path, ctx.caller.domainPath)).map(diskOfferingView);
  },
});

const PROVISIONING = ['thin', 'sparse', 'fat'] as const;

export const createDiskOffering = command({
  name: 'createDiskOffering', description: 'Creates a disk offering.', since: '1.0', roles: ADMIN, response: DISK_OFFERING, shape: 'object', event: 'DISK.OFFERING.CREATE',
  params: {
    name: { type: 'string', required: true, description: 'name of the disk offering' },
    displaytext: { type: 'string', description: 'An alternate display text of the disk offering, defaults to \'name\'.', length: 4096 },
    disksize: { type: 'long', description: 'size of the disk offering in GB (1GB = 1,073,741,824 bytes)', min: 1, max: 1048576 },
    customized: { type: 'boolean', description: 'whether disk offering size is custom or not' },
    // CloudStack takes lists here; an offering of Flotilla belongs to at most one domain and zone.
    domainid: { type: 'list', entity: 'domain', access: 'none', of: 'uuid', description: 'the ID of the containing domain(s), null for public offerings' },
    zoneid: { type: 'list', entity: 'zone', of: 'uuid', description: 'the ID of the containing zone(s), null for public offerings', since: '4.13' },
    storagetype: { type: 'string', description: 'the storage type of the disk offering. Values are local and shared.', values: ['local', 'shared'] },
    provisioningtype: { type: 'string', description: 'provisioning type used to create volumes. Valid values are thin, sparse, fat.', values: PROVISIONING },
    displayoffering: { type: 'boolean', description: 'an optional field, whether to display the offering to the end user or not.' },
  },
  async handler(ctx, a) {
    if (a.name.trim() !== a.name || !a.name) throw paramError('Invalid parameter name: no leading or trailing spaces');
    const customized = a.customized ?? false;
    if (!customized && a.disksize === undefined) throw paramError('Disksize is required for a non-customized disk offering');
    if (customized && a.disksize !== undefined) throw paramError('Disksize must not be given for a customized disk offering');
    for (const p of ['domainid', 'zoneid'] as const) {
      if ((a[p]?.length ?? 0) > 1) throw paramError(`Invalid parameter ${p}: a disk offering of more than one ${p === 'domainid' ? 'domain' : 'zone'} is not supported yet`);
    }
    const domainId = a.domainid?.[0] ? (await domainById(ctx, a.domainid[0], 'domainid')).id : null;
    const zoneId = a.zoneid?.[0] ? (await zoneById(ctx, a.zoneid[0], 'zoneid')).id : null;
    const id = randomUUID();
    await ctx.sql.query(
      `INSERT INTO disk_offerings (id, name, display_text, disk_size, is_customized, storage_type, provisioning_type, domain_id, zone_id) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)`,
      [id, a.name, a.displaytext ?? a.name, a.disksize !== undefined ? a.disksize * GiB : null, customized, a.storagetype ?? 'shared', a.provisioningtype ?? 'thin', domainId, zoneId]);
    ctx.setResource('DiskOffering', id);
    return diskOfferingView((await ctx.sql.query<DiskOfferingRow>(`${DISK_OFFERING_SELECT} WHERE o.id = $1`, [id]))[0]!);
  },
});

export const deleteDiskOffering = command({
  name: 'deleteDiskOffering', description: 'Updates a disk offering.', since: '1.0', roles: ADMIN, response: SUCCESS_RESPONSE, shape: 'success', event: 'DISK.OFFERING.DELETE',
  params: { id: { type: 'uuid', entity: 'diskoffering', required: true, description: 'ID of the disk offering' } },
  async handler(ctx, a) {
    const o = await diskOfferingById(ctx, a.id, 'id');
    // As CloudStack: the offering becomes Inactive; volumes made from it keep naming it.
    await ctx.sql.query(`UPDATE disk_offerings SET state = 'Inactive' WHERE id = $1`, [o.id]);
    ctx.setResource('DiskOffering', o.id);
  },
});
