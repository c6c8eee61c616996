// ResourceTagResponse, and the one mechanism that gives every taggable answer its `tags` and
// every taggable list its `tags[n].key/value` filter: a command declares `tagged: '<type>'`
// and the dispatcher calls attachTags/filterByTags on its result (api/dispatch.ts).
import { field as f, type ResponseDef } from '../../api/registry.ts';
import type { MapValue } from '../../api/params.ts';
import { compact } from '../../api/serialize.ts';
import type { Sql } from '../../db/sql.ts';
import type { TagType } from './types.ts';

export const TAG_FIELDS = {
  key: f('string', 'tag key name'), value: f('string', 'tag value'), resourcetype: f('string', 'resource type'),
  resourceid: f('string', 'id of the resource'), account: f('string', 'the account associated with the tag'),
  domainid: f('string', 'the ID of the domain associated with the tag'), domain: f('string', 'the domain associated with the tag'),
  projectid: f('string', 'the project id the tag belongs to'), project: f('string', 'the project name where tag belongs to'),
  customer: f('string', 'customer associated with the tag'),
};
export const TAG: ResponseDef = { name: 'tag', fields: TAG_FIELDS };

export interface TagRow { key: string; value: string; resource_type: string; resource_id: string; account_name: string | null; domain_id: string | null; domain_name: string | null; customer: string | null }
export const TAG_SELECT = `SELECT t.key, t.value, t.resource_type, t.resource_id, a.name AS account_name, t.domain_id, d.name AS domain_name, t.customer
  FROM resource_tags t LEFT JOIN accounts a ON a.id = t.account_id LEFT JOIN domains d ON d.id = t.domain_id`;

export function tagView(r: TagRow): Record<string, unknown> {
  return compact({
    key: r.key, value: r.value, resourcetype: r.resource_type, resourceid: r.resource_id, account: r.account_name ?? undefined,
    domainid: r.domain_id ?? undefined, domain: r.domain_name ?? undefined, customer: r.customer ?? undefined,
  });
}

/** The `tags` field a taggable response declares. */
export const TAGS_FIELD = f('set', 'the list of resource tags associated');

/** The `tags` filter parameter of a taggable list (CloudStack's BaseListTaggedResourcesCmd). */
export const TAGS_PARAM = { type: 'map', description: 'List resources by tags (key/value pairs)' } as const;

/** Adds `tags` (an empty array when none) to each item that has an id. One query for all. */
export async function attachTags(sql: Sql, type: TagType, items: Array<Record<string, unknown>>): Promise<void> {
  const ids = items.map((i) => i.id).filter((x): x is string => typeof x === 'string');
  const byId = new Map<string, Record<string, unknown>[]>();
  if (ids.length) {
    const rows = await sql.query<TagRow>(`${TAG_SELECT} WHERE t.resource_type = $1 AND t.resource_id = ANY($2::uuid[]) ORDER BY t.created, t.key`, [type, ids]);
    for (const r of rows) { const l = byId.get(r.resource_id) ?? []; l.push(tagView(r)); byId.set(r.resource_id, l); }
  }
  for (const i of items) if (typeof i.id === 'string') i.tags = byId.get(i.id) ?? [];
}

/**
 * Keeps the items carrying any of the given tags (CloudStack ORs the pairs of `tags[n]`; a pair
 * without a value matches the key with any value).
 */
export async function filterByTags<T extends Record<string, unknown>>(sql: Sql, type: TagType, items: T[], tags: MapValue): Promise<T[]> {
  const pairs = tags.filter((p) => p.key !== undefined);
  if (!pairs.length || !items.length) return items;
  const params: unknown[] = [type];
  const conds = pairs.map((p) => {
    params.push(p.key);
    const k = `t.key = $${params.length}`;
    if (p.value === undefined) return `(${k})`;
    params.push(p.value);
    return `(${k} AND t.value = $${params.length})`;
  });
  const hit = new Set((await sql.query<{ resource_id: string }>(`SELECT DISTINCT t.resource_id FROM resource_tags t WHERE t.resource_type = $1 AND (${conds.join(' OR ')})`, params)).map((r) => r.resource_id));
  return items.filter((i) => typeof i.id === 'string' && hit.has(i.id));
}
