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
  | { readonly kind: 'account'; readonly accountId: string };

export function inTree(path: string, root: string): boolean {
  return path === root || path.startsWith(`${root}/`);
}

/** Whether the caller may see (and, for admins, manage) things in the domain at `path`. */
export function canAccessDomain(caller: Caller, path: string): boolean {
  if (caller.role === 'Admin') return true;
  return inTree(path, caller.domainPath);
}

export interface OwnerArgs { account?: string | undefined; domainid?: string | undefined; isrecursive?: boolean | undefined; listall?: boolean | undefined }

export async function resolveScope(sql: Sql, caller: Caller, a: OwnerArgs): Promise<Scope> {
  if (a.account !== undefined && a.domainid === undefined) throw paramError('account must be specified with domainid');
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
  if (caller.role === 'User' || !a.listall) return { kind: 'account', accountId: caller.accountId };
  return caller.role === 'Admin' ? { kind: 'all' } : { kind: 'tree', path: caller.domainPath };
}

/** Adds the scope's condition on an account column and a domain column to a Where. */
export function applyScope(w: Where, scope: Scope, cols: { account: string; domain: string }): Where {
  switch (scope.kind) {
    case 'all': return w;
    case 'account': return w.add(`${cols.account} = ?`, scope.accountId);
    case 'domain': return w.add(`${cols.domain} = ?`, scope.domainId);
    case 'tree': return w.add(`${cols.domain} IN (SELECT id FROM domains WHERE path = ? OR starts_with(path, ? || '/'))`, scope.path, scope.path);
  }
}
