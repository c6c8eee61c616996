// createTags, deleteTags, listTags (CloudStack's CreateTagsCmd, DeleteTagsCmd, ListTagsCmd).
// A tag belongs to its resource's owner; a caller may tag what it may act on (its own
// resources, a domain admin its subtree's, a root admin anything — unowned types such as zones
// only root admins).
import { randomUUID } from 'node:crypto';
import { ALL_ROLES, LIST_OWNED_PARAMS, SUCCESS_RESPONSE, command } from '../../api/registry.ts';
import { apiError, paramError } from '../../api/errors.ts';
import type { Context } from '../../api/context.ts';
import type { MapValue } from '../../api/params.ts';
import { applyScope, canAccessDomain, resolveScope } from '../../api/scope.ts';
import { Where } from '../../db/sql.ts';
import { TAGGABLE, TAG_TYPES, resourceExists, tagTypeOf, type TagType, type Taggable } from './types.ts';
import type { OwnedEntity } from '../../api/entities.ts';
import { TAG, TAG_SELECT, tagView, type TagRow } from './views.ts';

const RESOURCE_TYPE = { type: 'string', required: true, description: 'type of the resource' } as const;
/** The entity the ownership check sees behind `resourceids` (TAGGABLE's `entity`). */
function entityOfType(resourcetype: unknown): OwnedEntity | undefined {
  const t = typeof resourcetype === 'string' ? tagTypeOf(resourcetype) : undefined;
  return t ? (TAGGABLE[t] as Taggable).entity : undefined;
}
const RESOURCE_IDS = { type: 'list', of: 'uuid', entity: 'taggedresource', entityOf: (a: Record<string, unknown>) => entityOfType(a.resourcetype), required: true, description: 'list of resources to create the tags for' } as const;

function typeOf(s: string): TagType {
  const t = tagTypeOf(s);
  if (!t) throw paramError(`Invalid resource type ${s}: Flotilla tags ${TAG_TYPES.join(', ')}`);
  return t;
}

interface Owned { id: string; account_id: string | null; domain_id: string | null; domain_path: string | null }

/** The resources named, each checked: it exists (431) and the caller may act on it (531). */
async function resources(ctx: Context, type: TagType, ids: string[]): Promise<Owned[]> {
  const t = TAGGABLE[type];
  const rows = await ctx.sql.query<Owned>(t.owned
    ? `SELECT x.id, x.account_id, x.domain_id, d.path AS domain_path FROM ${t.from.replace(' x WHERE', ' x LEFT JOIN domains d ON d.id = x.domain_id WHERE')} AND x.id = ANY($1::uuid[])`
    : `SELECT x.id, NULL::uuid AS account_id, NULL::uuid AS domain_id, NULL AS domain_path FROM ${t.from} AND x.id = ANY($1::uuid[])`, [ids]);
  const c = ctx.caller;
  return ids.map((id) => {
    const r = rows.find((x) => x.id === id);
    if (!r) throw paramError(`Unable to find resource by id ${id} and type ${type}`);
    const ok = c.role === 'Admin' || (t.owned && (r.account_id === c.accountId
      || (c.role === 'DomainAdmin' && r.domain_path !== null && canAccessDomain(c, r.domain_path) && r.account_id !== null)));
    if (!ok) throw apiError('ACCOUNT_ERROR', `Account ${c.accountName} does not have permission to operate with ${type} id=${id}`, [id]);
    return r;
  });
}

function pairsOf(tags: MapValue | undefined, required: boolean): Array<{ key: string; value?: string }> {
  const out: Array<{ key: string; value?: string }> = [];
  for (const p of tags ?? []) {
    if (p.key === undefined || p.key.trim() === '') throw paramError('Invalid parameter tags: every tags[n] needs a non-empty key');
    if (required && (p.value === undefined || p.value === '')) throw paramError(`Value for the key ${p.key} is either null or empty`);
    if (p.key.length > 255 || (p.value?.length ?? 0) > 255) throw paramError(`Invalid parameter tags: a tag key or value is longer than 255 characters (${p.key.slice(0, 32)})`);
    if (out.some((o) => o.key === p.key)) throw paramError(`Invalid parameter tags: key ${p.key} is given twice`);
    out.push({ key: p.key, ...(p.value !== undefined ? { value: p.value } : {}) });
  }
  return out;
}

export const createTags = command({
  name: 'createTags', description: 'Creates resource tag(s)', since: '4.0.0', roles: ALL_ROLES, response: SUCCESS_RESPONSE, shape: 'success',
  isAsync: true, event: 'CREATE_TAGS',
  params: {
    tags: { type: 'map', required: true, description: 'Map of tags (key/value pairs)' },
    resourcetype: RESOURCE_TYPE,
    resourceids: RESOURCE_IDS,
    customer: { type: 'string', description: 'identifies client specific tag. When the value is not null, the tag can\'t be used by cloudStack code internally' },
  },
  async handler(ctx, a) {
    const type = typeOf(a.resourcetype);
    const pairs = pairsOf(a.tags, true);
    if (!pairs.length) throw paramError('Unable to execute API command createtags due to missing parameter tags');
    const owned = await resources(ctx, type, a.resourceids);
    // Tags of resources that are gone (a deleted VM's, rule's …) go first, so ids never collide.
    await ctx.sql.query(`DELETE FROM resource_tags t WHERE NOT ${resourceExists('t')}`);
    for (const r of owned) {
      for (const p of pairs) {
        const dup = await ctx.sql.query('SELECT 1 FROM resource_tags WHERE resource_id = $1 AND resource_type = $2 AND key = $3', [r.id, type, p.key]);
        if (dup.length) throw paramError(`A tag with key ${p.key} already exists on ${type} id=${r.id}`);
        await ctx.sql.query('INSERT INTO resource_tags (id, key, value, resource_type, resource_id, account_id, domain_id, customer) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)',
          [randomUUID(), p.key, p.value, type, r.id, r.account_id, r.domain_id, a.customer ?? null]);
      }
    }
    ctx.setResource(type, owned[0]!.id);
  },
});

export const deleteTags = command({
  name: 'deleteTags', description: 'Deleting resource tag(s)', since: '4.0.0', roles: ALL_ROLES, response: SUCCESS_RESPONSE, shape: 'success',
  isAsync: true, event: 'DELETE_TAGS',
  params: {
    tags: { type: 'map', description: 'Delete tags matching key/value pairs' },
    resourcetype: { ...RESOURCE_TYPE, description: 'Delete tag by resource type' },
    resourceids: { ...RESOURCE_IDS, description: 'Delete tags for resource id(s)' },
  },
  async handler(ctx, a) {
    const type = typeOf(a.resourcetype);
    const pairs = pairsOf(a.tags, false);
    const owned = await resources(ctx, type, a.resourceids);
    const w = new Where([]).add('resource_type = ?', type).add('resource_id = ANY(?::uuid[])', owned.map((r) => r.id));
    if (pairs.length) {
      const conds = pairs.map((p) => {
        w.params.push(p.key);
        const k = `key = $${w.params.length}`;
        if (p.value === undefined) return `(${k})`;
        w.params.push(p.value);
        return `(${k} AND value = $${w.params.length})`;
      });
      w.clauses.push(`(${conds.join(' OR ')})`);
    }
    const gone = await ctx.sql.query(`DELETE FROM resource_tags ${w} RETURNING id`, w.params);
    if (!gone.length) throw paramError('Unable to find any tags which conform to specified delete parameters.');
    ctx.setResource(type, owned[0]!.id);
  },
});

export const listTags = command({
  name: 'listTags', description: 'List resource tag(s)', since: '4.0.0', roles: ALL_ROLES, response: TAG, shape: 'list',
  params: {
    ...LIST_OWNED_PARAMS,
    resourcetype: { type: 'string', description: 'list by resource type' },
    resourceid: { type: 'string', description: 'list by resource id' },
    key: { type: 'string', description: 'list by key' },
    value: { type: 'string', description: 'list by value' },
    customer: { type: 'string', description: 'list by customer name' },
    projectid: { type: 'uuid', entity: 'project', description: 'list objects by project; if projectid=-1 lists All VMs' },
  },
  async handler(ctx, a) {
    if (a.projectid) return [];
    const type = a.resourcetype !== undefined ? typeOf(a.resourcetype) : undefined;
    const scope = await resolveScope(ctx.sql, ctx.caller, a);
    const w = applyScope(new Where([]), scope, { account: 't.account_id', domain: 't.domain_id' });
    w.add('t.resource_type = ?', type).add('t.resource_id::text = lower(?)', a.resourceid).add('t.key = ?', a.key).add('t.value = ?', a.value).add('t.customer = ?', a.customer)
      .keyword(a.keyword, 't.key', 't.value');
    w.clauses.push(resourceExists('t'));
    return (await ctx.sql.query<TagRow>(`${TAG_SELECT} ${w} ORDER BY t.created, t.resource_id, t.key`, w.params)).map(tagView);
  },
});
