// Who may see what. CloudStack's rules for account-owned resources
// (AccountManagerImpl.buildACLSearchParameters): a user sees only its own account; an admin or
// domain admin sees its own account unless `listall=true` (then everything it may see: all for
// root admin, its domain subtree for a domain admin); `domainid` narrows to a domain (with
// `isrecursive`, its subtree) the caller may see; `account`+`domainid` to one account.
import type { Caller } from './context.ts';
import { apiError, paramError } from './errors.ts';
import type { Sql } from '../db/sql.ts';
import type { Where } from '../db/sql.ts';

export type Scope =
  | { readonly kind: 'all' }
  | { readonly kind: 'tree'; readonly path: string }
  | { readonly kind: 'domain'; readonly domainId: string }
  | { readonly kind: 'account'; readonly accountId: string }
  | { readonly kind: 'accounts'; readonly accountIds: readonly string[] };

export function inTree(path: string, root: string): boolean {
  return path === root || path.startsWith(`${root}/`);
}

/** Whether the caller may see (and, for admins, manage) things in the domain at `path`. */
export function canAccessDomain(caller: Caller, path: string): boolean {
  if (caller.role === 'Admin') return true;
  return inTree(path, caller.domainPath);
}

/** The caller's own account, or a project account it is a member of (CloudStack: a project's members act on its objects). */
export function ownsAccount(caller: Caller, accountId: string | null | undefined): boolean {
  return Boolean(accountId) && (accountId === caller.accountId || (caller.projectAccountIds?.includes(accountId!) ?? false));
}

export interface OwnerArgs { account?: string | undefined; domainid?: string | undefined; isrecursive?: boolean | undefined; listall?: boolean | undefined; projectid?: string | undefined; id?: unknown }

/**
 * `projectid`: that project's objects (the caller a member, or an admin over its domain);
 * `projectid=-1`: the objects of every project the caller may see (CloudStack's listing across projects).
 */
async function projectScope(sql: Sql, caller: Caller, projectid: string): Promise<Scope> {
  if (projectid === '-1') {
    if (caller.role === 'User') return { kind: 'accounts', accountIds: caller.projectAccountIds ?? [] };
    const rows = await sql.query<{ account_id: string }>(
      `SELECT p.account_id FROM projects p JOIN domains d ON d.id = p.domain_id WHERE p.state <> 'Disabled' AND ($1 = 'all' OR d.path = $2 OR starts_with(d.path, $3 || '/') OR p.account_id = ANY($4::uuid[]))`,
      [caller.role === 'Admin' ? 'all' : 'tree', caller.domainPath, caller.domainPath, caller.projectAccountIds ?? []]);
    return { kind: 'accounts', accountIds: rows.map((r) => r.account_id) };
  }
  const p = (await sql.query<{ account_id: string; path: string; name: string }>(
    `SELECT p.account_id, d.path, p.name FROM projects p JOIN domains d ON d.id = p.domain_id WHERE p.id = $1 AND p.state <> 'Disabled'`, [projectid]))[0];
  if (!p) throw paramError(`Unable to find project by id ${projectid}`);
  const admin = caller.role === 'Admin' || (caller.role === 'DomainAdmin' && canAccessDomain(caller, p.path));
  if (!admin && !ownsAccount(caller, p.account_id)) throw apiError('ACCOUNT_ERROR', `Account ${caller.accountName} does not have permission to access project ${p.name}`);
  return { kind: 'account', accountId: p.account_id };
}

export async function resolveScope(sql: Sql, caller: Caller, a: OwnerArgs): Promise<Scope> {
  if (a.projectid !== undefined) {
    if (a.account !== undefined) throw paramError('Account and projectId can\'t be specified together');
    return projectScope(sql, caller, a.projectid);
  }
  // CloudStack's buildACLSearchParameters: an account without domainid is looked up in the caller's domain.
  if (a.account !== undefined && a.domainid === undefined) a = { ...a, domainid: caller.domainId };
  if (a.domainid !== undefined) {
    const d = (await sql.query<{ id: string; path: string }>('SELECT id, path FROM domains WHERE id = $1', [a.domainid]))[0];
    if (!d) throw paramError(`Unable to find domain by id ${a.domainid}`);
    if (!canAccessDomain(caller, d.path)) throw apiError('ACCOUNT_ERROR', `Caller ${caller.accountName} does not have permission to operate within domain id=${a.domainid}`);
    if (a.account !== undefined) {
      const acc = (await sql.query<{ id: string }>('SELECT id FROM accounts WHERE domain_id = $1 AND lower(name) = lower($2)', [d.id, a.account]))[0];
      if (!acc) throw paramError(`Unable to find account ${a.account} in domain id=${a.domainid}`);
      if (caller.role === 'User' && acc.id !== caller.accountId) throw apiError('ACCOUNT_ERROR', `Caller ${caller.accountName} does not have permission to operate with resource of account ${a.account}`);
      return { kind: 'account', accountId: acc.id };
    }
    if (caller.role === 'User') return { kind: 'account', accountId: caller.accountId };
    return a.isrecursive ? { kind: 'tree', path: d.path } : { kind: 'domain', domainId: d.id };
  }
  // A list by id finds the object wherever the caller may see it (CloudStack treats id as listall),
  // and a user's own projects' objects too.
  if (typeof a.id === 'string' && a.id) {
    if (caller.role === 'User') return caller.projectAccountIds?.length ? { kind: 'accounts', accountIds: [caller.accountId, ...caller.projectAccountIds] } : { kind: 'account', accountId: caller.accountId };
    a = { ...a, listall: true };
  }
  if (caller.role === 'User' || !a.listall) return { kind: 'account', accountId: caller.accountId };
  return caller.role === 'Admin' ? { kind: 'all' } : { kind: 'tree', path: caller.domainPath };
}

/** Adds the scope's condition on an account column and a domain column to a Where. */
export function applyScope(w: Where, scope: Scope, cols: { account: string; domain: string }): Where {
  switch (scope.kind) {
    case 'all': return w;
    case 'account': return w.add(`${cols.account} = ?`, scope.accountId);
    case 'accounts': return w.add(`${cols.account} = ANY(?::uuid[])`, [...scope.accountIds]);
    case 'domain': return w.add(`${cols.domain} = ?`, scope.domainId);
    case 'tree': return w.add(`${cols.domain} IN (SELECT id FROM domains WHERE path = ? OR starts_with(path, ? || '/'))`, scope.path, scope.path);
  }
}
