// Projects for the other areas: finding one the caller may work in, and the owner a create
// with `projectid` gets (the project's account), checked once here.
import type { Context, Caller } from '../../api/context.ts';
import { apiError, notFound, paramError } from '../../api/errors.ts';
import { canAccessDomain } from '../../api/scope.ts';
import { accountByName } from '../accounts/lookup.ts';
import { isUuid } from '../../api/params.ts';

export interface ProjectRow { id: string; name: string; display_text: string; account_id: string; account_name: string; domain_id: string; domain_name: string; domain_path: string; state: string; created: Date; owner: string | null }

export const PROJECT_SELECT = `SELECT p.*, a.name AS account_name, d.name AS domain_name, d.path AS domain_path,
  (SELECT oa.name FROM project_accounts pa JOIN accounts oa ON oa.id = pa.account_id WHERE pa.project_id = p.id AND pa.role = 'Admin' ORDER BY pa.created LIMIT 1) AS owner
  FROM projects p JOIN accounts a ON a.id = p.account_id JOIN domains d ON d.id = p.domain_id`;

/** The project accounts the caller is a member of (see auth.ts): its right to act on their objects. */
export const memberOf = (c: Caller, accountId: string | null | undefined): boolean => Boolean(accountId && c.projectAccountIds?.includes(accountId));

/**
 * A project the caller may see: a member, or an admin of its domain (CloudStack's
 * ProjectManagerImpl checks). `manage`: the caller must be its Admin member or a domain/root admin.
 */
export async function projectById(ctx: Context, id: string, param = 'id', manage = false): Promise<ProjectRow> {
  if (!isUuid(id)) throw notFound(ctx.command, param, id);
  const p = (await ctx.sql.query<ProjectRow>(`${PROJECT_SELECT} WHERE p.id = $1 AND p.state <> 'Disabled'`, [id]))[0];
  if (!p) throw notFound(ctx.command, param, id);
  const c = ctx.caller;
  const admin = c.role === 'Admin' || (c.role === 'DomainAdmin' && canAccessDomain(c, p.domain_path));
  if (admin) return p;
  const role = (await ctx.sql.query<{ role: string }>('SELECT role FROM project_accounts WHERE project_id = $1 AND account_id = $2', [p.id, c.accountId]))[0]?.role;
  if (!role) throw apiError('ACCOUNT_ERROR', `Account ${c.accountName} is not a member of project ${p.name}`, [p.id]);
  if (manage && role !== 'Admin') throw apiError('ACCOUNT_ERROR', `Account ${c.accountName} does not have permission to manage project ${p.name}: it is not its admin`, [p.id]);
  return p;
}

export interface Owner { accountId: string; accountName: string; domainId: string }

/**
 * Who owns what a create makes: the project's account with `projectid` (the project must be
 * Active), else `account`+`domainid` for admins acting for others, else the caller.
 */
export async function ownerOf(ctx: Context, a: { account?: string | undefined; domainid?: string | undefined; projectid?: string | undefined }): Promise<Owner> {
  if (a.projectid) {
    if (a.account) throw paramError('Account and projectId can\'t be specified together');
    const p = await projectById(ctx, a.projectid, 'projectid');
    if (p.state !== 'Active') throw apiError('RESOURCE_UNAVAILABLE', `Project ${p.name} is not active (state ${p.state}): no resources can be created in it`, [p.id]);
    return { accountId: p.account_id, accountName: p.account_name, domainId: p.domain_id };
  }
  if (a.account || a.domainid) {
    if (!a.account || !a.domainid) throw paramError('account and domainid must be given together');
    const acc = await accountByName(ctx, a.account, a.domainid);
    return { accountId: acc.id, accountName: acc.name, domainId: acc.domain_id };
  }
  return { accountId: ctx.caller.accountId, accountName: ctx.caller.accountName, domainId: ctx.caller.domainId };
}

/** The project columns a view of an account-owned row needs (`<alias>.account_id`). */
export const projectColumns = (alias: string): string =>
  `(SELECT pj.id FROM projects pj WHERE pj.account_id = ${alias}.account_id) AS project_id, (SELECT pj.name FROM projects pj WHERE pj.account_id = ${alias}.account_id) AS project_name`;

/** CloudStack's ApiResponseHelper.populateOwner: a project's object shows project/projectid, not its account. */
export function ownerFields(r: { project_id?: string | null; project_name?: string | null }, account: string | null | undefined): Record<string, unknown> {
  return r.project_id ? { projectid: r.project_id, project: r.project_name ?? undefined } : { account: account ?? undefined };
}
