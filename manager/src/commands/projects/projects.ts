// createProject, listProjects, updateProject, deleteProject, activateProject, suspendProject,
// addAccountToProject, deleteAccountFromProject, listProjectAccounts — CloudStack's
// ProjectManagerImpl with project.invite.required=false (the default): an account is added at
// once, no invitation. A project's resources are owned by its project account (type 5).
import { randomUUID } from 'node:crypto';
import { ALL_ROLES, LIST_PARAMS, SUCCESS_RESPONSE, command } from '../../api/registry.ts';
import { apiError, paramError } from '../../api/errors.ts';
import { Where } from '../../db/sql.ts';
import type { Context } from '../../api/context.ts';
import { accountById, accountByName, domainById } from '../accounts/lookup.ts';
import { PROJECT_SELECT, projectById, type ProjectRow } from './lookup.ts';
import { PROJECT, PROJECT_ACCOUNT, PROJECT_ACCOUNT_SELECT, projectAccountView, projectViews, type ProjectAccountRow } from './views.ts';

/** CloudStack's Account.Type.PROJECT. */
export const PROJECT_ACCOUNT_TYPE = 5;

async function viewOf(ctx: Context, id: string): Promise<Record<string, unknown>> {
  const r = (await ctx.sql.query<ProjectRow>(`${PROJECT_SELECT} WHERE p.id = $1`, [id]))[0]!;
  return (await projectViews(ctx.sql, [r]))[0]!;
}

/** Resources a project's account still owns, named for a 536 (deleteProject without cleanup). */
async function projectResources(ctx: Context, accountId: string): Promise<string[]> {
  const q = async (what: string, sql: string) => ((await ctx.sql.query<{ n: number }>(sql, [accountId]))[0]!.n > 0 ? [what] : []);
  return [
    ...await q('virtual machines', `SELECT count(*)::int AS n FROM vm_instances WHERE account_id = $1 AND type = 'User' AND state <> 'Destroyed'`),
    ...await q('networks', 'SELECT count(*)::int AS n FROM networks WHERE account_id = $1'),
    ...await q('public IP addresses', 'SELECT count(*)::int AS n FROM public_ip_addresses WHERE account_id = $1'),
  ];
}

const ROLE_TYPES = ['Admin', 'Regular'] as const;
const roleType = (v: string | undefined): 'Admin' | 'Regular' => {
  if (v === undefined) return 'Regular';
  const r = ROLE_TYPES.find((x) => x.toLowerCase() === v.toLowerCase());
  if (!r) throw paramError(`Invalid parameter roletype value=${v}: supported values are Admin and Regular`);
  return r;
};

export const createProject = command({
  name: 'createProject', description: 'Creates a project', since: '3.0.0', roles: ALL_ROLES, response: PROJECT, shape: 'object',
  isAsync: true, event: 'PROJECT.CREATE', instance: { type: 'Project', creates: true },
  params: {
    name: { type: 'string', required: true, description: 'name of the project' },
    displaytext: { type: 'string', required: true, description: 'display text of the project' },
    account: { type: 'string', description: 'account who will be Admin for the project' },
    domainid: { type: 'uuid', entity: 'domain', description: 'domain ID of the account owning a project' },
    accountid: { type: 'uuid', entity: 'account', since: '4.15.0', description: 'ID of the account owning a project' },
    userid: { type: 'uuid', entity: 'user', since: '4.15.0', description: 'user ID of the account to be assigned as owner of the project i.e., Project Admin' },
  },
  async handler(ctx, a) {
    let owner = { id: ctx.caller.accountId, domainId: ctx.caller.domainId };
    if (a.accountid) {
      const acc = await accountById(ctx, a.accountid, 'accountid');
      owner = { id: acc.id, domainId: acc.domain_id };
    } else if (a.account || a.domainid) {
      if (!a.account || !a.domainid) throw paramError('Account name and domain id must be specified together');
      const acc = await accountByName(ctx, a.account, a.domainid);
      owner = { id: acc.id, domainId: acc.domain_id };
    }
    if (a.userid) {
      const u = (await ctx.sql.query<{ account_id: string }>('SELECT account_id FROM users WHERE id = $1', [a.userid]))[0];
      if (!u || u.account_id !== owner.id) throw paramError(`Unable to find user by id ${a.userid} in the owner account`);
    }
    const type = (await ctx.sql.query<{ type: number }>('SELECT type FROM accounts WHERE id = $1', [owner.id]))[0]!.type;
    if (type === PROJECT_ACCOUNT_TYPE) throw paramError('A project account cannot own a project');
    const clash = await ctx.sql.query('SELECT 1 FROM projects WHERE domain_id = $1 AND lower(name) = lower($2)', [owner.domainId, a.name]);
    if (clash.length) throw paramError(`Project with name ${a.name} already exists in domain id=${owner.domainId}`);
    const id = ctx.newId ?? randomUUID();
    const accountId = randomUUID();
    // CloudStack names the project's account PrjAcct-<name>-<id>: never a name a person chose.
    await ctx.sql.query(`INSERT INTO accounts (id, name, domain_id, type, state) VALUES ($1, $2, $3, $4, 'enabled')`,
      [accountId, `PrjAcct-${a.name}-${id.slice(0, 8)}`, owner.domainId, PROJECT_ACCOUNT_TYPE]);
    await ctx.sql.query(`INSERT INTO projects (id, name, display_text, account_id, domain_id, state) VALUES ($1,$2,$3,$4,$5,'Active')`,
      [id, a.name, a.displaytext, accountId, owner.domainId]);
    await ctx.sql.query(`INSERT INTO project_accounts (project_id, account_id, role) VALUES ($1, $2, 'Admin')`, [id, owner.id]);
    ctx.setResource('Project', id);
    return viewOf(ctx, id);
  },
});

export const listProjects = command({
  name: 'listProjects', description: 'Lists projects and provides detailed information for listed projects', since: '3.0.0', roles: ALL_ROLES,
  response: PROJECT, shape: 'list',
  params: {
    ...LIST_PARAMS,
    id: { type: 'uuid', entity: 'project', description: 'list projects by project ID' },
    name: { type: 'string', description: 'list projects by name' },
    displaytext: { type: 'string', description: 'list projects by display text' },
    state: { type: 'string', description: 'list projects by state' },
    account: { type: 'string', description: 'list resources by account. Must be used with the domainId parameter.' },
    domainid: { type: 'uuid', entity: 'domain', description: 'list only resources belonging to the domain specified' },
    isrecursive: { type: 'boolean', description: "defaults to false, but if true, lists all resources from the parent specified by the domainId till leaves." },
    listall: { type: 'boolean', description: "If set to false, list only resources belonging to the command's caller; if set to true - list resources that the caller is authorized to see. Default value is false" },
    username: { type: 'string', since: '4.15.0', description: 'List projects by username' },
  },
  async handler(ctx, a) {
    const c = ctx.caller;
    const w = new Where().add('p.id = ?', a.id).add('lower(p.name) = lower(?)', a.name).add('lower(p.display_text) = lower(?)', a.displaytext)
      .add('lower(p.state) = lower(?)', a.state).keyword(a.keyword, 'p.name', 'p.display_text');
    w.add(`p.state <> 'Disabled'`);
    const member = `p.id IN (SELECT project_id FROM project_accounts WHERE account_id = ?)`;
    if (a.account !== undefined) {
      if (!a.domainid) throw paramError('account must be specified with domainid');
      const acc = await accountByName(ctx, a.account, a.domainid);
      w.add(member, acc.id);
    } else if (a.domainid) {
      const d = await domainById(ctx, a.domainid, 'domainid');
      if (a.isrecursive) w.add(`(d.path = ? OR starts_with(d.path, ? || '/'))`, d.path, d.path); else w.add('p.domain_id = ?', d.id);
      if (c.role === 'User') w.add(member, c.accountId);
    } else if (c.role === 'User' || (!a.listall && !a.id)) {
      // CloudStack: without listall an admin sees the projects its own account is in.
      w.add(member, c.accountId);
    } else if (c.role === 'DomainAdmin') {
      w.add(`(d.path = ? OR starts_with(d.path, ? || '/'))`, c.domainPath, c.domainPath);
    }
    if (a.username) w.add(`p.id IN (SELECT pa.project_id FROM project_accounts pa JOIN users u ON u.account_id = pa.account_id WHERE u.username = ?)`, a.username);
    const rows = await ctx.sql.query<ProjectRow>(`${PROJECT_SELECT} ${w} ORDER BY p.created, p.id`, w.params);
    return projectViews(ctx.sql, rows);
  },
});

export const updateProject = command({
  name: 'updateProject', description: 'Updates a project', since: '3.0.0', roles: ALL_ROLES, response: PROJECT, shape: 'object', isAsync: true,
  event: 'PROJECT.UPDATE', instance: { type: 'Project', param: 'id' },
  params: {
    id: { type: 'uuid', entity: 'project', required: true, description: 'id of the project to be modified' },
    displaytext: { type: 'string', description: 'display text of the project' },
    account: { type: 'string', description: 'new Admin account for the project' },
    roletype: { type: 'string', since: '4.15.0', description: 'Account level role to be assigned to the user/account : Admin/Regular' },
    userid: { type: 'uuid', entity: 'user', since: '4.15.0', description: 'ID of the user to be promoted/demoted' },
    swapowner: { type: 'boolean', since: '4.15.0', description: 'when true, it swaps ownership with the account/ user provided. Ideally to be used when a single project administrator is present. In case of multiple project admins, swapowner is to be set to false,to promote or demote the user/account based on the roleType (Admin or Regular) provided. Defaults to true' },
  },
  async handler(ctx, a) {
    const p = await projectById(ctx, a.id, 'id', true);
    if (a.userid) throw paramError('userid is not supported yet: project roles are per account in Flotilla');
    if (a.displaytext !== undefined) await ctx.sql.query('UPDATE projects SET display_text = $2 WHERE id = $1', [p.id, a.displaytext]);
    if (a.account !== undefined) {
      const acc = (await ctx.sql.query<{ id: string; type: number }>('SELECT id, type FROM accounts WHERE domain_id = $1 AND lower(name) = lower($2)', [p.domain_id, a.account]))[0];
      if (!acc || acc.type === PROJECT_ACCOUNT_TYPE) throw paramError(`Unable to find account name ${a.account} in domain id=${p.domain_id}`);
      const role = a.roletype !== undefined ? roleType(a.roletype) : 'Admin';
      // swapowner (the default): the new Admin takes the owner's place, the old owners become Regular.
      if ((a.swapowner ?? true) && role === 'Admin') await ctx.sql.query(`UPDATE project_accounts SET role = 'Regular' WHERE project_id = $1 AND role = 'Admin'`, [p.id]);
      await ctx.sql.query(`INSERT INTO project_accounts (project_id, account_id, role) VALUES ($1, $2, $3) ON CONFLICT (project_id, account_id) DO UPDATE SET role = EXCLUDED.role`, [p.id, acc.id, role]);
      const admins = await ctx.sql.query(`SELECT 1 FROM project_accounts WHERE project_id = $1 AND role = 'Admin'`, [p.id]);
      if (!admins.length) throw paramError(`Project ${p.name} would have no Admin left`);
    }
    ctx.setResource('Project', p.id);
    return viewOf(ctx, p.id);
  },
});

async function setState(ctx: Context, id: string, state: 'Active' | 'Suspended'): Promise<Record<string, unknown>> {
  const p = await projectById(ctx, id, 'id', true);
  if (p.state === state) throw paramError(`Project ${p.name} is already ${state.toLowerCase()}`);
  await ctx.sql.query('UPDATE projects SET state = $2 WHERE id = $1', [p.id, state]);
  ctx.setResource('Project', p.id);
  return viewOf(ctx, p.id);
}

export const activateProject = command({
  name: 'activateProject', description: 'Activates a project', since: '3.0.0', roles: ALL_ROLES, response: PROJECT, shape: 'object', isAsync: true,
  event: 'PROJECT.ACTIVATE', instance: { type: 'Project', param: 'id' },
  params: { id: { type: 'uuid', entity: 'project', required: true, description: 'id of the project to be modified' } },
  handler: (ctx, a) => setState(ctx, a.id, 'Active'),
});

export const suspendProject = command({
  name: 'suspendProject', description: 'Suspends a project', since: '3.0.0', roles: ALL_ROLES, response: PROJECT, shape: 'object', isAsync: true,
  event: 'PROJECT.SUSPEND', instance: { type: 'Project', param: 'id' },
  params: { id: { type: 'uuid', entity: 'project', required: true, description: 'id of the project to be suspended' } },
  handler: (ctx, a) => setState(ctx, a.id, 'Suspended'),
});

export const deleteProject = command({
  name: 'deleteProject', description: 'Deletes a project', since: '3.0.0', roles: ALL_ROLES, response: SUCCESS_RESPONSE, shape: 'success', isAsync: true,
  event: 'PROJECT.DELETE', instance: { type: 'Project', param: 'id' },
  params: {
    id: { type: 'uuid', entity: 'project', required: true, description: 'id of the project to be deleted' },
    cleanup: { type: 'boolean', since: '4.16.0', description: 'true if all project resources have to be cleaned up, false otherwise' },
  },
  async handler(ctx, a) {
    const p = await projectById(ctx, a.id, 'id', true);
    const left = await projectResources(ctx, p.account_id);
    if (left.length) {
      throw apiError('RESOURCE_IN_USE', `Project ${p.name} still owns ${left.join(', ')}: delete them first${a.cleanup ? ' (cleanup of a project\'s VMs and networks is not supported yet)' : ''}`, [p.id]);
    }
    // Its key pairs and tags go with it; the project and its account are gone for good.
    await ctx.sql.query('DELETE FROM ssh_keypairs WHERE account_id = $1', [p.account_id]);
    await ctx.sql.query('DELETE FROM projects WHERE id = $1', [p.id]);
    await ctx.sql.query(`UPDATE accounts SET state = 'disabled', name = name || '-removed-' || substr(md5(random()::text), 1, 6) WHERE id = $1`, [p.account_id]);
    ctx.setResource('Project', p.id);
  },
});

export const addAccountToProject = command({
  name: 'addAccountToProject', description: 'Adds account to a project', since: '3.0.0', roles: ALL_ROLES, response: SUCCESS_RESPONSE, shape: 'success', isAsync: true,
  event: 'PROJECT.ACCOUNT.ADD', instance: { type: 'Project', param: 'projectid' },
  params: {
    projectid: { type: 'uuid', entity: 'project', required: true, description: 'ID of project to add the account to' },
    account: { type: 'string', description: 'name of the account to be added to the project' },
    email: { type: 'string', description: 'email to which invitation to the project is going to be sent' },
    roletype: { type: 'string', since: '4.15.0', description: 'Project role type to be assigned to the user - Admin/Regular; default: Regular' },
    projectroleid: { type: 'uuid', entity: 'projectrole', since: '4.15.0', description: 'ID of the project role' },
  },
  async handler(ctx, a) {
    const p = await projectById(ctx, a.projectid, 'projectid', true);
    if (a.projectroleid) throw paramError('projectroleid is not supported yet: project roles (createProjectRole) do not exist in Flotilla');
    if (!a.account) throw paramError(a.email ? 'Invitations by email are not supported: project.invite.required is false, give account' : 'Either accountName or email is required');
    const acc = (await ctx.sql.query<{ id: string; type: number }>('SELECT id, type FROM accounts WHERE domain_id = $1 AND lower(name) = lower($2)', [p.domain_id, a.account]))[0];
    if (!acc || acc.type === PROJECT_ACCOUNT_TYPE) throw paramError(`Unable to find account name ${a.account} in domain id=${p.domain_id}`);
    const there = await ctx.sql.query('SELECT 1 FROM project_accounts WHERE project_id = $1 AND account_id = $2', [p.id, acc.id]);
    if (there.length) throw paramError(`Account ${a.account} is already assigned to the project id=${p.id}`);
    await ctx.sql.query('INSERT INTO project_accounts (project_id, account_id, role) VALUES ($1, $2, $3)', [p.id, acc.id, roleType(a.roletype)]);
    ctx.setResource('Project', p.id);
  },
});

export const deleteAccountFromProject = command({
  name: 'deleteAccountFromProject', description: 'Deletes account from the project', since: '3.0.0', roles: ALL_ROLES, response: SUCCESS_RESPONSE, shape: 'success', isAsync: true,
  event: 'PROJECT.ACCOUNT.REMOVE', instance: { type: 'Project', param: 'projectid' },
  params: {
    projectid: { type: 'uuid', entity: 'project', required: true, description: 'ID of the project to remove the account from' },
    account: { type: 'string', required: true, description: 'name of the account to be removed from the project' },
  },
  async handler(ctx, a) {
    const p = await projectById(ctx, a.projectid, 'projectid', true);
    const m = (await ctx.sql.query<{ account_id: string; role: string }>(
      `SELECT pa.account_id, pa.role FROM project_accounts pa JOIN accounts x ON x.id = pa.account_id WHERE pa.project_id = $1 AND lower(x.name) = lower($2)`, [p.id, a.account]))[0];
    if (!m) throw paramError(`Account ${a.account} is not assigned to the project id=${p.id}`);
    if (m.role === 'Admin') {
      const admins = (await ctx.sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM project_accounts WHERE project_id = $1 AND role = 'Admin'`, [p.id]))[0]!.n;
      if (admins <= 1) throw paramError(`Unable to delete account ${a.account} from the project id=${p.id} as the account is the owner of the project`);
    }
    await ctx.sql.query('DELETE FROM project_accounts WHERE project_id = $1 AND account_id = $2', [p.id, m.account_id]);
    ctx.setResource('Project', p.id);
  },
});

export const listProjectAccounts = command({
  name: 'listProjectAccounts', description: "Lists project's accounts", since: '3.0.0', roles: ALL_ROLES, response: PROJECT_ACCOUNT, shape: 'list',
  params: {
    ...LIST_PARAMS,
    projectid: { type: 'uuid', entity: 'project', required: true, description: 'ID of the project' },
    account: { type: 'string', description: 'list accounts of the project by account name' },
    role: { type: 'string', description: 'list accounts of the project by role' },
    userid: { type: 'uuid', entity: 'user', since: '4.15.0', description: 'list invitations for specified account' },
    projectroleid: { type: 'uuid', entity: 'projectrole', since: '4.15.0', description: 'list accounts of the project by project role id' },
  },
  async handler(ctx, a) {
    const p = await projectById(ctx, a.projectid, 'projectid');
    const w = new Where().add('pa.project_id = ?', p.id).add('lower(a.name) = lower(?)', a.account).add('lower(pa.role) = lower(?)', a.role)
      .keyword(a.keyword, 'a.name');
    if (a.userid) w.add('pa.account_id IN (SELECT account_id FROM users WHERE id = ?)', a.userid);
    if (a.projectroleid) w.add('false');
    const rows = await ctx.sql.query<ProjectAccountRow>(`${PROJECT_ACCOUNT_SELECT} ${w} ORDER BY pa.created, a.name`, w.params);
    return rows.map(projectAccountView);
  },
});
