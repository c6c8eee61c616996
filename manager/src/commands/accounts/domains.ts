import { randomUUID } from 'node:crypto';
import { pagedRows } from '../../api/paging.ts';
import { ADMINS, ALL_ROLES, LIST_PARAMS, SUCCESS_RESPONSE, command } from '../../api/registry.ts';
import { apiError, paramError } from '../../api/errors.ts';
import { inTree } from '../../api/scope.ts';
import { Where } from '../../db/sql.ts';
import { uuidCheck } from '../../api/params.ts';
import type { Context } from '../../api/context.ts';
import { DOMAIN, DOMAIN_SELECT, domainView, type DomainRow } from './views.ts';
import { domainById } from './lookup.ts';
import { deleteAccountCascade } from './accounts.ts';
import { checkNetworkDomain } from './validate.ts';

const checkDomainName = (v: string) => (/[/\\]/.test(v) ? 'a domain name cannot contain / or \\' : v.trim() !== v ? 'leading or trailing spaces' : undefined);

export const createDomain = command({
  name: 'createDomain', description: 'Creates a domain', since: '1.0', roles: ADMINS, response: DOMAIN, shape: 'object', event: 'DOMAIN.CREATE',
  params: {
    name: { type: 'string', required: true, description: 'creates domain with this name', check: checkDomainName },
    parentdomainid: { type: 'uuid', entity: 'domain', description: 'assigns new domain a parent domain by domain ID of the parent.  If no parent domain is specified, the ROOT domain is assumed.' },
    networkdomain: { type: 'string', description: "Network domain for networks in the domain", check: checkNetworkDomain },
    domainid: { type: 'string', check: uuidCheck, description: 'Domain UUID, required for adding domain from another Region' },
  },
  async handler(ctx, a) {
    const parent = a.parentdomainid ? await domainById(ctx, a.parentdomainid, 'parentdomainid') : await domainById(ctx, ctx.caller.domainId);
    const path = `${parent.path}/${a.name}`;
    const clash = await ctx.sql.query('SELECT 1 FROM domains WHERE lower(path) = lower($1)', [path]);
    if (clash.length) throw paramError(`Domain with name ${a.name} already exists for the parent id=${parent.id}`);
    const id = a.domainid ?? randomUUID();
    if ((await ctx.sql.query('SELECT 1 FROM domains WHERE id = $1', [id])).length) throw paramError(`Domain with id ${id} already exists`);
    await ctx.sql.query('INSERT INTO domains (id, name, path, parent_id, level, network_domain) VALUES ($1,$2,$3,$4,$5,$6)',
      [id, a.name, path, parent.id, parent.level + 1, a.networkdomain ?? null]);
    ctx.setResource('Domain', id);
    return domainView((await ctx.sql.query<DomainRow>(`${DOMAIN_SELECT} WHERE d.id = $1`, [id]))[0]!);
  },
});

export const updateDomain = command({
  name: 'updateDomain', description: 'Updates a domain with a new name', since: '1.0', roles: ADMINS, response: DOMAIN, shape: 'object', event: 'DOMAIN.UPDATE',
  params: {
    id: { type: 'uuid', entity: 'domain', required: true, description: 'ID of domain to update' },
    name: { type: 'string', description: 'updates domain with this name', check: checkDomainName },
    networkdomain: { type: 'string', description: 'Network domain for the domain\'s networks; empty string will update domainName with NULL value', length: 255, emptyClears: true },
  },
  async handler(ctx, a) {
    const d = await domainById(ctx, a.id);
    if (a.name !== undefined && a.name !== d.name) {
      if (!d.parent_id) throw paramError('ROOT domain can not be edited with a new name');
      if (ctx.caller.role !== 'Admin' && d.id === ctx.caller.domainId) throw apiError('ACCOUNT_ERROR', 'A domain admin cannot rename its own domain');
      const newPath = `${d.path.slice(0, d.path.lastIndexOf('/'))}/${a.name}`;
      if ((await ctx.sql.query('SELECT 1 FROM domains WHERE lower(path) = lower($1) AND id <> $2', [newPath, d.id])).length) {
        throw paramError(`Domain with name ${a.name} already exists for the parent id=${d.parent_id}`);
      }
      // Rename the subtree's paths in the same statement: all or nothing.
      await ctx.sql.query(`UPDATE domains SET path = $2 || substr(path, length($1) + 1) WHERE path = $1 OR starts_with(path, $1 || '/')`, [d.path, newPath]);
      await ctx.sql.query('UPDATE domains SET name = $2 WHERE id = $1', [d.id, a.name]);
    }
    if (a.networkdomain !== undefined) {
      const nd = a.networkdomain.trim();
      if (nd) { const why = checkNetworkDomain(nd); if (why) throw paramError(`Invalid parameter networkdomain value=${nd} due to ${why}`); }
      await ctx.sql.query('UPDATE domains SET network_domain = $2 WHERE id = $1', [d.id, nd || null]);
    }
    ctx.setResource('Domain', d.id);
    return domainView((await ctx.sql.query<DomainRow>(`${DOMAIN_SELECT} WHERE d.id = $1`, [d.id]))[0]!);
  },
});

export const deleteDomain = command({
  name: 'deleteDomain', description: 'Deletes a specified domain', since: '1.0', roles: ADMINS, response: SUCCESS_RESPONSE, shape: 'success',
  isAsync: true, event: 'DOMAIN.DELETE', instance: { type: 'Domain', param: 'id' },
  params: {
    id: { type: 'uuid', entity: 'domain', required: true, description: 'ID of domain to delete' },
    cleanup: { type: 'boolean', description: 'true if all domain resources (child domains, accounts) have to be cleaned up, false otherwise' },
  },
  async handler(ctx, a) {
    const d = await domainById(ctx, a.id);
    if (!d.parent_id) throw paramError('Can\'t delete ROOT domain');
    if (inTree(ctx.caller.domainPath, d.path)) throw apiError('ACCOUNT_ERROR', `Caller ${ctx.caller.accountName} cannot delete its own domain or one of its parents`);
    const subtree = await ctx.sql.query<{ id: string; path: string }>(`SELECT id, path FROM domains WHERE path = $1 OR starts_with(path, $1 || '/') ORDER BY length(path) DESC`, [d.path]);
    const accounts = await ctx.sql.query<{ id: string }>(`SELECT id FROM accounts WHERE domain_id = ANY($1::uuid[])`, [subtree.map((x) => x.id)]);
    if (!a.cleanup && (subtree.length > 1 || accounts.length > 0)) {
      throw apiError('RESOURCE_IN_USE', `Failed to delete domain ${d.name}, because it has ${subtree.length - 1} sub-domain(s) and ${accounts.length} account(s); pass cleanup=true to delete them`, [d.id]);
    }
    for (const acc of accounts) await deleteAccountCascade(ctx, acc.id);
    await assertDomainUnused(ctx, subtree.map((x) => x.id));
    for (const x of subtree) await ctx.sql.query('DELETE FROM domains WHERE id = $1', [x.id]);
    ctx.setResource('Domain', d.id);
  },
});

/** Objects other areas tie to a domain (dedicated zones, offerings, ranges) keep it alive. */
async function assertDomainUnused(ctx: Context, ids: string[]): Promise<void> {
  for (const [table, what] of [['zones', 'zone'], ['vlan_ip_ranges', 'public IP range'], ['physical_networks', 'physical network']] as const) {
    const n = await ctx.sql.query(`SELECT 1 FROM ${table} WHERE domain_id = ANY($1::uuid[]) LIMIT 1`, [ids]);
    if (n.length) throw apiError('RESOURCE_IN_USE', `Failed to delete domain: a ${what} is dedicated to it`);
  }
  // Offerings restricted to domains list them in domain_ids; one left pointing at a deleted
  // domain would vanish from every non-root view.
  for (const [table, what] of [['network_offerings', 'network offering'], ['service_offerings', 'service offering']] as const) {
    const n = await ctx.sql.query<{ name: string }>(`SELECT name FROM ${table} WHERE domain_ids && $1::text[] LIMIT 1`, [ids]);
    if (n.length) throw apiError('RESOURCE_IN_USE', `Failed to delete domain: the ${what} ${n[0]!.name} is restricted to it; update the offering first`);
  }
}

export const listDomains = command({
  name: 'listDomains', description: 'Lists domains and provides detailed information for listed domains', since: '1.0', roles: ALL_ROLES, response: DOMAIN, shape: 'list',
  params: {
    ...LIST_PARAMS,
    id: { type: 'uuid', entity: 'domain', description: 'List domain by domain ID.' },
    name: { type: 'string', description: 'List domain by domain name.' },
    level: { type: 'integer', description: 'List domains by domain level.' },
    listall: { type: 'boolean', description: 'If set to false, list only resources belonging to the command\'s caller; if set to true - list resources that the caller is authorized to see. Default value is false' },
    details: { type: 'list', of: 'string', description: 'comma separated list of domain details requested, value can be a list of [ all, resource, min]' },
  },
  async handler(ctx, a) {
    const w = new Where();
    const c = ctx.caller;
    // CloudStack: without listall (or an id) only the caller's own domain; with it, its subtree.
    if (a.id) {
      await domainById(ctx, a.id);
      w.add('d.id = ?', a.id);
    } else if (a.listall && c.role !== 'User') {
      w.add(`(d.path = ? OR starts_with(d.path, ? || '/'))`, c.domainPath, c.domainPath);
    } else {
      w.add('d.id = ?', c.domainId);
    }
    w.add('lower(d.name) = lower(?)', a.name).add('d.level = ?', a.level).keyword(a.keyword, 'd.name', 'd.path');
    const rows = await ctx.sql.query<DomainRow>(`${DOMAIN_SELECT} ${w} ORDER BY d.path`, w.params);
    return rows.map(domainView);
  },
});

export const listDomainChildren = command({
  name: 'listDomainChildren', description: 'Lists all children domains belonging to a specified domain', since: '1.0', roles: ADMINS, response: DOMAIN, shape: 'list',
  params: {
    ...LIST_PARAMS,
    id: { type: 'uuid', entity: 'domain', description: 'list children domain by parent domain ID.' },
    name: { type: 'string', description: 'list children domains by name' },
    isrecursive: { type: 'boolean', description: 'to return the entire tree, use the value "true". To return the first level children, use the value "false".' },
    listall: { type: 'boolean', description: 'If set to false, list only resources belonging to the command\'s caller; if set to true - list resources that the caller is authorized to see.' },
  },
  async handler(ctx, a) {
    const parent = await domainById(ctx, a.id ?? ctx.caller.domainId);
    const w = new Where();
    if (a.isrecursive) w.add(`starts_with(d.path, ? || '/')`, parent.path); else w.add('d.parent_id = ?', parent.id);
    w.add('lower(d.name) = lower(?)', a.name).keyword(a.keyword, 'd.name');
    return (await pagedRows<DomainRow>(ctx.sql, a, { select: DOMAIN_SELECT, where: w, orderBy: 'd.path' })).map(domainView);
  },
});
