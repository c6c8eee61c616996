// addRegion, listRegions, updateRegion, removeRegion (CloudStack's RegionManagerImpl): the
// regions this management server knows. Flotilla serves one region, id 1; the others are
// bookkeeping for clients that read them (no cross-region sync, GSLB or portable IPs).
import { ADMIN, ALL_ROLES, LIST_PARAMS, SUCCESS_RESPONSE, command, field as f, type ResponseDef } from '../../api/registry.ts';
import { apiError, paramError } from '../../api/errors.ts';
import { Where } from '../../db/sql.ts';

/** The region this management server is (CloudStack's region.id, default 1). */
export const LOCAL_REGION_ID = 1;

const REGION: ResponseDef = {
  name: 'region',
  fields: {
    id: f('integer', 'the ID of the region'), name: f('string', 'the name of the region'), endpoint: f('string', 'the end point of the region'),
    gslbserviceenabled: f('boolean', 'true if GSLB service is enabled in the region, false otherwise'),
    portableipserviceenabled: f('boolean', 'true if security groups support is enabled, false otherwise'),
  },
};
interface RegionRow { id: number; name: string; endpoint: string; gslb_service_enabled: boolean; portableip_service_enabled: boolean }
const view = (r: RegionRow) => ({ id: r.id, name: r.name, endpoint: r.endpoint, gslbserviceenabled: r.gslb_service_enabled, portableipserviceenabled: r.portableip_service_enabled });

/** An http(s) URL: a region's endpoint is where clients send that region's API calls. */
const checkEndpoint = (v: string) => {
  try {
    const u = new URL(v);
    return u.protocol === 'http:' || u.protocol === 'https:' ? undefined : 'the endpoint must be an http or https URL';
  } catch { return 'the endpoint must be a URL, e.g. http://mgmt.example.org:8080/client/'; }
};

async function regionById(sql: import('../../db/sql.ts').Sql, id: number): Promise<RegionRow> {
  const r = (await sql.query<RegionRow>('SELECT * FROM regions WHERE id = $1', [id]))[0];
  if (!r) throw paramError(`Region with id: ${id} does not exist`);
  return r;
}

async function checkNameFree(sql: import('../../db/sql.ts').Sql, name: string, self?: number): Promise<void> {
  const clash = await sql.query('SELECT 1 FROM regions WHERE lower(name) = lower($1) AND id <> $2', [name, self ?? -1]);
  if (clash.length) throw paramError(`Region with name: ${name} already exists`);
}

export const addRegion = command({
  name: 'addRegion', description: 'Adds a Region', since: '4.1.0', roles: ADMIN, response: REGION, shape: 'object', event: 'REGION.ADD',
  params: {
    id: { type: 'integer', required: true, min: 1, description: 'Id of the Region' },
    name: { type: 'string', required: true, description: 'Name of the region' },
    endpoint: { type: 'string', required: true, length: 1024, check: checkEndpoint, description: 'Region service endpoint' },
  },
  async handler(ctx, a) {
    if ((await ctx.sql.query('SELECT 1 FROM regions WHERE id = $1', [a.id])).length) throw paramError(`Region with id: ${a.id} already exists`);
    await checkNameFree(ctx.sql, a.name);
    await ctx.sql.query('INSERT INTO regions (id, name, endpoint) VALUES ($1, $2, $3)', [a.id, a.name, a.endpoint]);
    ctx.setResource('Region', String(a.id));
    return view(await regionById(ctx.sql, a.id));
  },
});

export const listRegions = command({
  name: 'listRegions', description: 'Lists Regions', since: '4.1.0', roles: ALL_ROLES, response: REGION, shape: 'list',
  params: {
    ...LIST_PARAMS,
    id: { type: 'integer', description: 'List Region by region ID.' },
    name: { type: 'string', description: 'List Region by region name.' },
  },
  async handler(ctx, a) {
    const w = new Where().add('id = ?', a.id).add('lower(name) = lower(?)', a.name).keyword(a.keyword, 'name');
    return (await ctx.sql.query<RegionRow>(`SELECT * FROM regions ${w} ORDER BY id`, w.params)).map(view);
  },
});

export const updateRegion = command({
  name: 'updateRegion', description: 'Updates a region', since: '4.1.0', roles: ADMIN, response: REGION, shape: 'object', event: 'REGION.EDIT',
  params: {
    id: { type: 'integer', required: true, description: 'Id of region to update' },
    name: { type: 'string', description: 'updates region with this name' },
    endpoint: { type: 'string', length: 1024, check: checkEndpoint, description: 'updates region with this end point' },
  },
  async handler(ctx, a) {
    const r = await regionById(ctx.sql, a.id);
    if (a.name !== undefined) await checkNameFree(ctx.sql, a.name, r.id);
    await ctx.sql.query('UPDATE regions SET name = coalesce($2, name), endpoint = coalesce($3, endpoint) WHERE id = $1', [r.id, a.name ?? null, a.endpoint ?? null]);
    ctx.setResource('Region', String(r.id));
    return view(await regionById(ctx.sql, r.id));
  },
});

export const removeRegion = command({
  name: 'removeRegion', description: 'Removes specified region', since: '4.1.0', roles: ADMIN, response: SUCCESS_RESPONSE, shape: 'success', event: 'REGION.DELETE',
  params: { id: { type: 'integer', required: true, description: 'ID of the region to delete' } },
  async handler(ctx, a) {
    const r = await regionById(ctx.sql, a.id);
    if (r.id === LOCAL_REGION_ID) throw apiError('RESOURCE_IN_USE', `Region ${r.name} (id ${r.id}) is the local region: it cannot be removed`);
    await ctx.sql.query('DELETE FROM regions WHERE id = $1', [r.id]);
    ctx.setResource('Region', String(r.id));
  },
});
