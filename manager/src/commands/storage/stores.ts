// addImageStore / listImageStores / deleteImageStore (CloudStack's ImageStoreResponse). Flotilla's
// provider is `Local`: `url=file:///absolute/path`, a directory the zone's secondary storage
// service keeps its templates and ISOs in (docs/decisions/0420).
import { randomUUID } from 'node:crypto';
import { statfs } from 'node:fs/promises';
import { ADMIN, LIST_PARAMS, SUCCESS_RESPONSE, command, field as f, type ResponseDef } from '../../api/registry.ts';
import { apiError, notFound, paramError } from '../../api/errors.ts';
import { Where } from '../../db/sql.ts';
import { compact } from '../../api/serialize.ts';
import { zoneById } from '../infra/lookup.ts';
import { newStoreSecret, storageOf, type StoreRow } from './runtime.ts';
import { kickPending } from './images.ts';

export const IMAGE_STORE: ResponseDef = {
  name: 'imagestore',
  fields: {
    id: f('string', 'the ID of the image store'), name: f('string', 'the name of the image store'), url: f('string', 'the url of the image store'),
    protocol: f('string', 'the protocol of the image store'), providername: f('string', 'the provider name of the image store'),
    scope: f('string', 'the scope of the image store'), zoneid: f('string', 'the Zone ID of the image store'), zonename: f('string', 'the Zone name of the image store'),
    readonly: f('boolean', 'defines if store is read-only'), disksizetotal: f('long', 'the total disk size of the host'), disksizeused: f('long', 'the host\'s currently used disk size'),
    hasannotations: f('boolean', 'whether this image store has annotations'),
  },
};

type Row = StoreRow & { zone_name: string | null };
const SELECT = 'SELECT s.*, z.name AS zone_name FROM image_stores s LEFT JOIN zones z ON z.id = s.zone_id';

async function view(r: Row): Promise<Record<string, unknown>> {
  const fs = await statfs(r.path).catch(() => undefined);
  return compact({
    id: r.id, name: r.name, url: r.url, protocol: r.protocol, providername: r.provider, scope: r.zone_id ? 'ZONE' : 'REGION',
    zoneid: r.zone_id ?? undefined, zonename: r.zone_name ?? undefined, readonly: r.readonly,
    disksizetotal: fs ? fs.blocks * fs.bsize : undefined, disksizeused: fs ? (fs.blocks - fs.bfree) * fs.bsize : undefined, hasannotations: false,
  });
}

/** file:///abs/path → /abs/path; a string naming the problem otherwise. */
export function localPath(url: string): string {
  // The raw text is checked (a URL parser would resolve "/tmp/../etc" to "/etc" first).
  const m = /^file:\/\/(?:localhost)?(\/[A-Za-z0-9._\/-]*)$/.exec(url);
  if (!m) throw paramError('provider Local takes url=file:///absolute/path (the directory of the store on the manager\'s machine), a path of letters, digits, ".", "_", "-" and "/"');
  const parts = m[1]!.split('/').filter(Boolean);
  if (!parts.length || parts.some((x) => x === '..' || x === '.')) throw paramError('the path of a Local image store must not be / nor contain "." or ".." components');
  return `/${parts.join('/')}`;
}

export const addImageStore = command({
  name: 'addImageStore', description: 'Adds backup image store.', since: '4.2.0', roles: ADMIN, response: IMAGE_STORE, shape: 'object', event: 'IMAGE.STORE.ADD',
  transactional: false,
  params: {
    name: { type: 'string', description: 'the name for the image store' },
    provider: { type: 'string', required: true, description: 'the image store provider name (Flotilla: Local)' },
    url: { type: 'string', length: 2048, description: 'the URL for the image store (Local: file:///absolute/path)' },
    zoneid: { type: 'uuid', entity: 'zone', description: 'the Zone ID for the image store' },
    details: { type: 'map', description: 'the details for the image store. Example: details[0].key=accesskey&details[0].value=s389ddssaa&details[1].key=secretkey&details[1].value=8dshfsss' },
  },
  async handler(ctx, a) {
    if (a.provider.toLowerCase() !== 'local') throw paramError(`Cannot find image store provider ${a.provider}: Flotilla's provider is Local (url=file:///absolute/path)`);
    if (!a.url) throw paramError('url is required for provider Local');
    const path = localPath(a.url);
    if (a.zoneid) await zoneById(ctx, a.zoneid, 'zoneid');
    const db = ctx.services.db;
    if ((await db.query('SELECT 1 FROM image_stores WHERE path = $1', [path])).length) throw paramError(`an image store with path ${path} already exists`);
    const id = randomUUID();
    await db.query(`INSERT INTO image_stores (id, name, zone_id, provider, protocol, url, path, secret) VALUES ($1,$2,$3,'Local','file',$4,$5,$6)`,
      [id, a.name ?? path, a.zoneid ?? null, `file://${path}`, path, newStoreSecret(ctx.services)]);
    ctx.setResource('ImageStore', id);
    const row = (await db.query<Row>(`${SELECT} WHERE s.id = $1`, [id]))[0]!;
    try { await storageOf(ctx.services).attach(row); } catch (e) {
      await db.query('DELETE FROM image_stores WHERE id = $1', [id]);
      throw apiError('RESOURCE_UNAVAILABLE', `the storage service of ${path} could not start: ${(e as Error).message}`);
    }
    // Templates registered while the zone had no store are downloaded now (CloudStack syncs
    // templates when a secondary storage comes up).
    await kickPending(ctx.services, row);
    return view((await db.query<Row>(`${SELECT} WHERE s.id = $1`, [id]))[0]!);
  },
});

export const listImageStores = command({
  name: 'listImageStores', description: 'Lists image stores.', since: '4.2.0', roles: ADMIN, response: IMAGE_STORE, shape: 'list',
  params: {
    ...LIST_PARAMS,
    id: { type: 'uuid', entity: 'imagestore', description: 'the ID of the storage pool' },
    name: { type: 'string', description: 'the name of the image store' },
    protocol: { type: 'string', description: 'the image store protocol' },
    provider: { type: 'string', description: 'the image store provider' },
    zoneid: { type: 'uuid', entity: 'zone', description: 'the Zone ID for the image store' },
    readonly: { type: 'boolean', description: 'read-only status of the image store' },
  },
  async handler(ctx, a) {
    const w = new Where().add('s.id = ?', a.id).add('s.name = ?', a.name).add('lower(s.protocol) = lower(?)', a.protocol).add('lower(s.provider) = lower(?)', a.provider)
      .add('s.zone_id = ?', a.zoneid).add('s.readonly = ?', a.readonly).keyword(a.keyword, 's.name', 's.url');
    const rows = await ctx.sql.query<Row>(`${SELECT} ${w} ORDER BY s.created, s.id`, w.params);
    return Promise.all(rows.map(view));
  },
});

export const deleteImageStore = command({
  name: 'deleteImageStore', description: 'Deletes an image store or Secondary Storage.', since: '4.2.0', roles: ADMIN, response: SUCCESS_RESPONSE, shape: 'success',
  transactional: false, event: 'IMAGE.STORE.DELETE',
  params: { id: { type: 'uuid', entity: 'imagestore', required: true, description: 'The image store ID or Secondary Storage ID.' } },
  async handler(ctx, a) {
    const db = ctx.services.db;
    const st = (await db.query<Row>(`${SELECT} WHERE s.id = $1`, [a.id]))[0];
    if (!st) throw notFound(ctx.command, 'id', a.id);
    // CloudStack: "Cannot delete image store with active templates backup!"
    const n = (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM templates WHERE store_id = $1 AND removed IS NULL', [a.id]))[0]!.n;
    if (n > 0) throw paramError(`Cannot delete image store with active templates backup! (${n} templates or ISOs are on ${st.name})`);
    await storageOf(ctx.services).stop(st.id);
    await db.query('UPDATE templates SET store_id = NULL WHERE store_id = $1', [a.id]);
    await db.query('DELETE FROM image_stores WHERE id = $1', [a.id]);
    // The zone's storage VM leaves the store (or takes the zone's next one).
    await storageOf(ctx.services).reconfigureVms();
    ctx.setResource('ImageStore', a.id);
  },
});
