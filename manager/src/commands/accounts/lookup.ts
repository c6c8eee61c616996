// Finding the objects a command names, with the caller's right to act on them checked once
// here: a missing object and a forbidden one both answer precisely, never with a 530.
import type { Context } from '../../api/context.ts';
import { apiError, notFound, paramError } from '../../api/errors.ts';
import { canAccessDomain } from '../../api/scope.ts';
import { ACCOUNT_SELECT, DOMAIN_SELECT, USER_SELECT, type AccountRow, type DomainRow, type UserRow } from './views.ts';

export async function domainById(ctx: Context, id: string, param = 'id'): Promise<DomainRow> {
  const d = (await ctx.sql.query<DomainRow>(`${DOMAIN_SELECT} WHERE d.id = $1`, [id]))[0];
  if (!d) throw notFound(ctx.command, param, id);
  if (!canAccessDomain(ctx.caller, d.path)) throw apiError('ACCOUNT_ERROR', `Caller ${ctx.caller.accountName} does not have permission to operate within domain id=${id}`, [id]);
  return d;
}

export async function accountById(ctx: Context, id: string, param = 'id'): Promise<AccountRow> {
  const a = (await ctx.sql.query<AccountRow>(`${ACCOUNT_SELECT} WHERE a.id = $1`, [id]))[0];
  if (!a) throw notFound(ctx.command, param, id);
  assertAccountAccess(ctx, a);
  return a;
}

export async function accountByName(ctx: Context, name: string, domainId: string): Promise<AccountRow> {
  // One statement when the account exists (its row carries its domain's path); when it does not,
  // the domain's own errors (missing, forbidden) come first, as before.
  const a = (await ctx.sql.query<AccountRow>(`${ACCOUNT_SELECT} WHERE a.domain_id = $1 AND lower(a.name) = lower($2)`, [domainId, name]))[0];
  if (!a) {
    await domainById(ctx, domainId, 'domainid');
    throw paramError(`Unable to find account ${name} in domain id=${domainId}`);
  }
  if (!canAccessDomain(ctx.caller, a.domain_path)) throw apiError('ACCOUNT_ERROR', `Caller ${ctx.caller.accountName} does not have permission to operate within domain id=${domainId}`, [domainId]);
  assertAccountAccess(ctx, a);
  return a;
}

/** `id`, or `account` + `domainid`, as CloudStack's account commands take them. */
export async function accountByIdOrName(ctx: Context, a: { id?: string | undefined; account?: string | undefined; domainid?: string | undefined }): Promise<AccountRow> {
  if (a.id) return accountById(ctx, a.id);
  if (a.account && a.domainid) return accountByName(ctx, a.account, a.domainid);
  throw paramError('Either id or account and domainid must be specified');
}

export function assertAccountAccess(ctx: Context, a: { id: string; domain_path: string; type: number }): void {
  const c = ctx.caller;
  const ok = c.role === 'Admin'
    || (c.role === 'DomainAdmin' && canAccessDomain(c, a.domain_path) && (a.type !== 1 || a.id === c.accountId))
    || (c.role === 'User' && a.id === c.accountId);
  if (!ok) throw apiError('ACCOUNT_ERROR', `Caller ${c.accountName} does not have permission to operate with account id=${a.id}`, [a.id]);
}

export async function userById(ctx: Context, id: string, param = 'id'): Promise<UserRow & { domain_path: string }> {
  const u = (await ctx.sql.query<UserRow & { domain_path: string }>(
    `${USER_SELECT.replace('d.name AS domain_name', 'd.name AS domain_name, d.path AS domain_path')} WHERE u.id = $1`, [id]))[0];
  if (!u) throw notFound(ctx.command, param, id);
  assertAccountAccess(ctx, { id: u.account_id, domain_path: u.domain_path, type: u.account_type });
  return u;
}
