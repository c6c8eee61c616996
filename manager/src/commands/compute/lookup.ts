// Lookups of the compute area. Who may name the object is checked once, by the dispatcher
// (api/entities.ts), from each id parameter's declared entity; these only find it.
import type { Caller, Context } from '../../api/context.ts';
import type { Where } from '../../db/sql.ts';
import { notFound, paramError } from '../../api/errors.ts';
import { mayAccess } from '../../api/entities.ts';
import { NETWORK_SELECT, TEMPLATE_SELECT, VM_SELECT, type NetworkRow, type TemplateRow, type VmRow } from './views.ts';

export async function templateById(ctx: Context, id: string, param = 'templateid'): Promise<TemplateRow> {
  const t = (await ctx.sql.query<TemplateRow>(`${TEMPLATE_SELECT} WHERE t.id = $1`, [id]))[0];
  if (!t || t.removed || t.is_iso) throw notFound(ctx.command, param, id);
  return t;
}

/** May the caller use (deploy into, list) this network? The dispatcher's rule (api/entities.ts). */
export function canUseNetwork(ctx: Context, n: NetworkRow): boolean {
  return mayAccess(ctx.caller, 'network', 'use', n);
}

/**
 * The network `use` rule of api/entities.ts (mayAccess) as a condition on `n` (networks), for
 * lists filtered in SQL: the two must say the same. Domains are matched as id arrays computed once per
 * statement (`= ANY(ARRAY(…))`), so the account and domain indexes can serve the lookup.
 */
export function whereUsableNetwork(w: Where, c: Caller): Where {
  if (c.role === 'Admin') return w;
  // Account networks: the owner (and domain admins above it); domain networks: accounts in
  // that domain, or below it unless subdomainaccess=false (and domain admins above it) — the
  // same rule as mayAccess(…, 'network', 'use', …).
  const ancestors = `n.domain_id = ANY(ARRAY(SELECT id FROM domains WHERE path = ? OR starts_with(?, path || '/')))`;
  const own = `(n.acl_type = 'Account' AND n.account_id = ANY(?::uuid[])) OR (n.acl_type <> 'Account' AND (n.domain_id = ? OR (n.subdomain_access IS DISTINCT FROM false AND ${ancestors})))`;
  if (c.role === 'DomainAdmin') return w.add(`(${own} OR ${domainSubtree('n.domain_id')})`, [c.accountId, ...(c.projectAccountIds ?? [])], c.domainId, c.domainPath, c.domainPath, c.domainPath, c.domainPath);
  return w.add(`(${own})`, [c.accountId, ...(c.projectAccountIds ?? [])], c.domainId, c.domainPath, c.domainPath);
}

/** `col` is the id of the domain at `?` or of one below it (two placeholders: the path twice). */
export const domainSubtree = (col: string) => `${col} = ANY(ARRAY(SELECT id FROM domains WHERE path = ? OR starts_with(path, ? || '/')))`;

export async function networkById(ctx: Context, id: string, param = 'id'): Promise<NetworkRow> {
  const n = (await ctx.sql.query<NetworkRow>(`${NETWORK_SELECT} WHERE n.id = $1`, [id]))[0];
  if (!n) throw notFound(ctx.command, param, id);
  return n;
}

export async function vmById(ctx: Context, id: string, param = 'id'): Promise<VmRow> {
  const v = (await ctx.sql.query<VmRow>(`${VM_SELECT} WHERE v.id = $1`, [id]))[0];
  if (!v || v.type !== 'User') throw notFound(ctx.command, param, id);
  return v;
}

export async function serviceOfferingById(ctx: Context, id: string, param = 'serviceofferingid'): Promise<{ id: string; name: string; cpu_number: number; cpu_speed: number; memory: number; is_system: boolean }> {
  const s = (await ctx.sql.query<{ id: string; name: string; cpu_number: number; cpu_speed: number; memory: number; is_system: boolean; state: string }>(
    'SELECT id, name, cpu_number, cpu_speed, memory, is_system, state FROM service_offerings WHERE id = $1', [id]))[0];
  if (!s || (s.is_system && ctx.caller.role !== 'Admin')) throw notFound(ctx.command, param, id);
  if (s.state !== 'Active') throw paramError(`Service offering ${s.name} is not active`);
  if (!s.cpu_number || !s.cpu_speed || !s.memory) throw paramError(`Service offering ${s.name} is a custom offering; Flotilla needs fixed cpunumber, cpuspeed and memory`);
  return s;
}
