// Who may call what: a command is available to a caller when its declaration lists the caller's
// role type (registry) AND the rules of the caller's role allow it — the first rule, in order,
// whose pattern matches the API name decides; none matching denies (CloudStack's
// DynamicRoleBasedAPIAccessChecker). The built-in Root Admin role may call everything.
// Rules are read from the database at most once a second per role and account (any manager
// sharing the database may change them) and at once after a role command of this manager.
import type { Database } from '../db/sql.ts';
import type { Caller } from './context.ts';

/** CloudStack's built-in roles (account types 1, 2, 0), with fixed ids (rows of the roles table). */
export const BUILTIN_ROLES = [
  { id: '6f0d1a3e-0000-4000-8000-000000000001', name: 'Root Admin', type: 'Admin', accounttype: 1 },
  { id: '6f0d1a3e-0000-4000-8000-000000000002', name: 'Domain Admin', type: 'DomainAdmin', accounttype: 2 },
  { id: '6f0d1a3e-0000-4000-8000-000000000004', name: 'User', type: 'User', accounttype: 0 },
] as const;
export const ROOT_ADMIN_ROLE = BUILTIN_ROLES[0].id;
/** CloudStack's rule syntax: API names with `*` wildcards. */
export const RULE_PATTERN = /^[A-Za-z0-9*]+$/;

export interface Rule { readonly rule: string; readonly permission: 'allow' | 'deny' }

const compiled = new Map<string, RegExp>();
function matcher(rule: string): RegExp {
  let re = compiled.get(rule);
  if (!re) {
    re = new RegExp(`^${rule.replace(/\*/g, '[A-Za-z0-9]*')}$`, 'i');
    if (compiled.size > 10_000) compiled.clear();
    compiled.set(rule, re);
  }
  return re;
}

/** The decision of an ordered rule list for one API name (pure). */
export function decide(rules: readonly Rule[], api: string): boolean {
  for (const r of rules) if (matcher(r.rule).test(api)) return r.permission === 'allow';
  return false;
}

const TTL_MS = 1000;
interface Cached<T> { value: T; at: number }
interface Caches { roleOf: Map<string, Cached<string>>; rules: Map<string, Cached<readonly Rule[]>> }
const byDb = new WeakMap<Database, Caches>();
const caches = (db: Database): Caches => {
  let c = byDb.get(db);
  if (!c) { c = { roleOf: new Map(), rules: new Map() }; byDb.set(db, c); }
  return c;
};

/** Forgets what this manager read of roles (after any change to roles, rules or an account's role). */
export function forgetRoles(db: Database): void { byDb.delete(db); }

/** The role of an account: its own, or the built-in role of its type. */
export async function roleIdOf(db: Database, caller: Pick<Caller, 'accountId' | 'accountType'>): Promise<string> {
  const c = caches(db);
  const hit = c.roleOf.get(caller.accountId);
  if (hit && Date.now() - hit.at < TTL_MS) return hit.value;
  const row = (await db.query<{ role_id: string | null }>('SELECT role_id FROM accounts WHERE id = $1', [caller.accountId]))[0];
  const value = row?.role_id ?? BUILTIN_ROLES.find((r) => r.accounttype === caller.accountType)?.id ?? BUILTIN_ROLES[2].id;
  c.roleOf.set(caller.accountId, { value, at: Date.now() });
  return value;
}

async function rulesOf(db: Database, roleId: string): Promise<readonly Rule[]> {
  const c = caches(db);
  const hit = c.rules.get(roleId);
  if (hit && Date.now() - hit.at < TTL_MS) return hit.value;
  const value = await db.query<Rule>('SELECT rule, permission FROM role_permissions WHERE role_id = $1 ORDER BY sort_order, id', [roleId]);
  c.rules.set(roleId, { value, at: Date.now() });
  return value;
}

/** Whether the caller's role allows `api` (its type is checked by the registry's `roles`). */
export async function permits(db: Database, caller: Pick<Caller, 'accountId' | 'accountType'>, api: string): Promise<boolean> {
  const roleId = await roleIdOf(db, caller);
  if (roleId === ROOT_ADMIN_ROLE) return true;
  return decide(await rulesOf(db, roleId), api);
}

/** The subset of `apis` the caller's role allows (listApis). */
export async function permitted(db: Database, caller: Pick<Caller, 'accountId' | 'accountType'>, apis: readonly string[]): Promise<Set<string>> {
  const roleId = await roleIdOf(db, caller);
  if (roleId === ROOT_ADMIN_ROLE) return new Set(apis);
  const rules = await rulesOf(db, roleId);
  return new Set(apis.filter((a) => decide(rules, a)));
}
