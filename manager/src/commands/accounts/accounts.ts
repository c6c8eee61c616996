import { randomUUID } from 'node:crypto';
import { ADMINS, ALL_ROLES, LIST_OWNED_PARAMS, SUCCESS_RESPONSE, command } from '../../api/registry.ts';
import { apiError, paramError, notFound } from '../../api/errors.ts';
import { canAccessDomain } from '../../api/scope.ts';
import { forgetRoles } from '../../api/permissions.ts';
import { hashPassword } from '../../api/crypto.ts';
import { Where } from '../../db/sql.ts';
import { uuidCheck } from '../../api/params.ts';
import type { Context } from '../../api/context.ts';
import { ACCOUNT, ACCOUNT_SELECT, BUILTIN_ROLES, accountViews, type AccountRow } from './views.ts';
import { accountByIdOrName, domainById } from './lookup.ts';
import { cleanUpAccountResources } from './cleanup.ts';
import { checkEmail, checkNetworkDomain, checkTimezone, checkUsername } from './validate.ts';

const ACCOUNT_TYPES = { 0: 'User', 1: 'Admin', 2: 'DomainAdmin' } as const;

/**
 * Account type and own role from `accounttype` or `roleid` (CloudStack requires one of them): a
 * built-in role is the account type alone (role_id NULL), a custom role gives its type.
 */
async function accountRoleOf(ctx: Context, a: { accounttype?: number | undefined; roleid?: string | undefined }): Promise<{ type: number; roleId: string | null }> {
  if (a.roleid !== undefined) {
    const builtin = BUILTIN_ROLES.find((r) => r.id === a.roleid);
    const role = builtin ?? (await ctx.sql.query<{ type: string }>('SELECT type FROM roles WHERE id = $1', [a.roleid]))[0];
    if (!role) throw notFound(undefined, 'roleid', a.roleid);
    const type = ACCOUNT_TYPE_OF_ROLE[role.type]!;
    if (a.accounttype !== undefined && a.accounttype !== type) throw paramError('accounttype does not match the role given by roleid');
    return { type, roleId: builtin ? null : a.roleid };
  }
  if (a.accounttype === undefined) throw paramError('Neither role ID nor account type provided');
  if (!(a.accounttype in ACCOUNT_TYPES)) throw paramError(`Invalid parameter accounttype value=${a.accounttype}: must be 0 (user), 1 (root admin) or 2 (domain admin)`);
  return { type: a.accounttype, roleId: null };
}
const ACCOUNT_TYPE_OF_ROLE: Record<string, number> = { Admin: 1, DomainAdmin: 2, User: 0 };

export const USER_FIELDS_PARAMS = {
  username: { type: 'string', required: true, description: 'Unique username.', check: checkUsername },
  password: { type: 'string', required: true, description: 'Clear text password (Default hashed to SHA256SALT).', length: 255 },
  email: { type: 'string', required: true, description: 'email', check: checkEmail },
  firstname: { type: 'string', required: true, description: 'firstname' },
  lastname: { type: 'string', required: true, description: 'lastname' },
  timezone: { type: 'string', description: 'Specifies a timezone for this command.', check: checkTimezone },
} as const;

export async function insertUser(ctx: Context, accountId: string, domainId: string, a: { username: string; password: string; email: string; firstname: string; lastname: string; timezone?: string | undefined; userid?: string | undefined }): Promise<string> {
  if ((await ctx.sql.query('SELECT 1 FROM users WHERE domain_id = $1 AND username = $2', [domainId, a.username])).length) {
    throw paramError(`The user ${a.username} already exists in domain id=${domainId}`);
  }
  if (a.password.length === 0) throw paramError('Password cannot be empty');
  const id = a.userid ?? randomUUID();
  await ctx.sql.query(
    `INSERT INTO users (id, account_id, domain_id, username, password_hash, firstname, lastname, email, timezone) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)`,
    [id, accountId, domainId, a.username, await hashPassword(a.password), a.firstname, a.lastname, a.email, a.timezone ?? null]);
  return id;
}

async function viewOf(ctx: Context, id: string): Promise<Record<string, unknown>> {
  return (await accountViews(ctx.sql, await ctx.sql.query<AccountRow>(`${ACCOUNT_SELECT} WHERE a.id = $1`, [id])))[0]!;
}

export const createAccount = command({
  name: 'createAccount', description: 'Creates an account', since: '1.0', roles: ADMINS, response: ACCOUNT, shape: 'object', event: 'ACCOUNT.CREATE',
  params: {
    ...USER_FIELDS_PARAMS,
    account: { type: 'string', description: 'Name of the account to be created. The user will be added to this newly created account. If no account is specified, the username will be used as the account name.', check: checkUsername },
    accounttype: { type: 'integer', description: 'Type of the account.  Specify 0 for user, 1 for root admin, and 2 for domain admin' },
    roleid: { type: 'uuid', entity: 'role', description: 'Creates the account under the specified role.' },
    domainid: { type: 'uuid', entity: 'domain', description: 'Creates the user under the specified domain.' },
    networkdomain: { type: 'string', description: "Network domain for the account's networks", check: checkNetworkDomain },
    accountid: { type: 'string', check: uuidCheck, description: 'Account UUID, required for adding account from external provisioning system' },
    userid: { type: 'string', check: uuidCheck, description: 'User UUID, required for adding account from external provisioning system' },
    accountdetails: { type: 'map', description: 'details for account used to store specific parameters' },
  },
  async handler(ctx, a) {
    const { type, roleId } = await accountRoleOf(ctx, a);
    const domain = await domainById(ctx, a.domainid ?? ctx.caller.domainId, 'domainid');
    if (ctx.caller.role !== 'Admin' && type === 1) throw apiError('ACCOUNT_ERROR', 'Only a root admin can create root admin accounts');
    if (type === 1 && domain.parent_id) throw paramError('Root admin accounts can only be created in the ROOT domain');
    const name = a.account ?? a.username;
    if ((await ctx.sql.query('SELECT 1 FROM accounts WHERE domain_id = $1 AND lower(name) = lower($2)', [domain.id, name])).length) {
      throw paramError(`The specified account: ${name} already exists in domain id=${domain.id}`);
    }
    const id = a.accountid ?? randomUUID();
    if ((await ctx.sql.query('SELECT 1 FROM accounts WHERE id = $1', [id])).length) throw paramError(`Account with id ${id} already exists`);
    await ctx.sql.query('INSERT INTO accounts (id, name, domain_id, type, network_domain, role_id) VALUES ($1,$2,$3,$4,$5,$6)',
      [id, name, domain.id, type, a.networkdomain ?? null, roleId]);
    await insertUser(ctx, id, domain.id, a);
    ctx.setResource('Account', id);
    return viewOf(ctx, id);
  },
});

export const updateAccount = command({
  name: 'updateAccount', description: 'Updates account information for the authenticated user', since: '1.0', roles: ADMINS, response: ACCOUNT, shape: 'object', event: 'ACCOUNT.UPDATE',
  params: {
    id: { type: 'uuid', entity: 'account', description: 'Account UUID' },
    account: { type: 'string', description: 'the current account name' },
    domainid: { type: 'uuid', entity: 'domain', description: 'the ID of the domain where the account exists' },
    newname: { type: 'string', description: 'new name for the account', check: checkUsername },
    networkdomain: { type: 'string', description: "Network domain for the account's networks; empty string will update domainName with NULL value", emptyClears: true },
    roleid: { type: 'uuid', entity: 'role', description: 'The UUID of the dynamic role to set for the account' },
    accountdetails: { type: 'map', description: 'Details for the account used to store specific parameters' },
  },
  async handler(ctx, a) {
    const acc = await accountByIdOrName(ctx, a);
    if (a.newname !== undefined && a.newname !== acc.name) {
      if (acc.is_default) throw paramError('The default admin account cannot be renamed');
      if ((await ctx.sql.query('SELECT 1 FROM accounts WHERE domain_id = $1 AND lower(name) = lower($2) AND id <> $3', [acc.domain_id, a.newname, acc.id])).length) {
        throw paramError(`The account name ${a.newname} already exists in domain id=${acc.domain_id}`);
      }
      await ctx.sql.query('UPDATE accounts SET name = $2 WHERE id = $1', [acc.id, a.newname]);
    }
    if (a.networkdomain !== undefined) {
      const nd = a.networkdomain.trim();
      if (nd) { const why = checkNetworkDomain(nd); if (why) throw paramError(`Invalid parameter networkdomain value=${nd} due to ${why}`); }
      await ctx.sql.query('UPDATE accounts SET network_domain = $2 WHERE id = $1', [acc.id, nd || null]);
    }
    if (a.roleid !== undefined) {
      const { type, roleId } = await accountRoleOf(ctx, { roleid: a.roleid });
      if (acc.is_default || acc.id === ctx.caller.accountId) throw paramError('The role of the caller\'s own or the default admin account cannot be changed');
      if (ctx.caller.role !== 'Admin' && type === 1) throw apiError('ACCOUNT_ERROR', 'Only a root admin can grant the root admin role');
      await ctx.sql.query('UPDATE accounts SET type = $2, role_id = $3 WHERE id = $1', [acc.id, type, roleId]);
      forgetRoles(ctx.services.db);
    }
    ctx.setResource('Account', acc.id);
    return viewOf(ctx, acc.id);
  },
});

/** Removes an account and its users. Later areas add their resources' checks here. */
export async function deleteAccountCascade(ctx: Context, accountId: string): Promise<void> {
  await ctx.sql.query('DELETE FROM sessions WHERE user_id IN (SELECT id FROM users WHERE account_id = $1)', [accountId]);
  await ctx.sql.query('DELETE FROM users WHERE account_id = $1', [accountId]);
  const used = await ctx.sql.query('SELECT 1 FROM vlan_ip_ranges WHERE account_id = $1 LIMIT 1', [accountId]);
  if (used.length) throw apiError('RESOURCE_IN_USE', `Account id=${accountId} still has public IP ranges dedicated to it`);
  await ctx.sql.query('DELETE FROM accounts WHERE id = $1', [accountId]);
}

function guardOwnAndDefault(ctx: Context, acc: AccountRow, verb: string): void {
  if (acc.is_default) throw paramError(`The default admin account cannot be ${verb}`);
  if (acc.id === ctx.caller.accountId) throw paramError(`The caller's own account cannot be ${verb}`);
}

export const deleteAccount = command({
  name: 'deleteAccount', description: 'Deletes a account, and all users associated with this account', since: '1.0', roles: ADMINS, response: SUCCESS_RESPONSE,
  shape: 'success', isAsync: true, transactional: false, event: 'ACCOUNT.DELETE', instance: { type: 'Account', param: 'id' },
  params: { id: { type: 'uuid', entity: 'account', required: true, description: 'Account id' } },
  async handler(ctx, a) {
    const acc = await accountByIdOrName(ctx, a);
    guardOwnAndDefault(ctx, acc, 'deleted');
    // Its VMs, networks, addresses and volumes first (each with its host objects), as CloudStack's
    // cleanupAccount does; then the account and its users in one transaction.
    await cleanUpAccountResources(ctx, acc.id);
    await ctx.services.db.tx((sql) => deleteAccountCascade({ ...ctx, sql }, acc.id));
    ctx.setResource('Account', acc.id);
  },
});

export const disableAccount = command({
  name: 'disableAccount', description: 'Disables an account', since: '1.0', roles: ADMINS, response: ACCOUNT, shape: 'object',
  isAsync: true, event: 'ACCOUNT.DISABLE', instance: { type: 'Account', param: 'id' },
  params: {
    id: { type: 'uuid', entity: 'account', description: 'Account id' },
    account: { type: 'string', description: 'Disables specified account.' },
    domainid: { type: 'uuid', entity: 'domain', description: 'Disables specified account in this domain.' },
    lock: { type: 'boolean', required: true, description: 'If true, only lock the account; else disable the account' },
  },
  async handler(ctx, a) {
    const acc = await accountByIdOrName(ctx, a);
    guardOwnAndDefault(ctx, acc, 'disabled');
    await ctx.sql.query('UPDATE accounts SET state = $2 WHERE id = $1', [acc.id, a.lock ? 'locked' : 'disabled']);
    // Sessions of a disabled account end now, not at their timeout.
    await ctx.sql.query('DELETE FROM sessions WHERE user_id IN (SELECT id FROM users WHERE account_id = $1)', [acc.id]);
    ctx.setResource('Account', acc.id);
    return viewOf(ctx, acc.id);
  },
});

export const enableAccount = command({
  name: 'enableAccount', description: 'Enables an account', since: '1.0', roles: ADMINS, response: ACCOUNT, shape: 'object', event: 'ACCOUNT.ENABLE',
  params: {
    id: { type: 'uuid', entity: 'account', description: 'Account id' },
    account: { type: 'string', description: 'Enables specified account.' },
    domainid: { type: 'uuid', entity: 'domain', description: 'Enables specified account in this domain.' },
  },
  async handler(ctx, a) {
    const acc = await accountByIdOrName(ctx, a);
    await ctx.sql.query(`UPDATE accounts SET state = 'enabled' WHERE id = $1`, [acc.id]);
    ctx.setResource('Account', acc.id);
    return viewOf(ctx, acc.id);
  },
});

export const listAccounts = command({
  name: 'listAccounts', description: 'Lists accounts and provides detailed account information for listed accounts', since: '1.0', roles: ALL_ROLES, response: ACCOUNT, shape: 'list',
  params: {
    ...LIST_OWNED_PARAMS,
    id: { type: 'uuid', entity: 'account', description: 'list account by account ID' },
    name: { type: 'string', description: 'list account by account name' },
    accounttype: { type: 'integer', description: 'list accounts by account type.' },
    state: { type: 'string', description: 'list accounts by state. Valid states are enabled, disabled, and locked.' },
    roleid: { type: 'uuid', entity: 'role', description: 'List accounts by the Role ID' },
    iscleanuprequired: { type: 'boolean', description: 'list accounts by cleanuprequired attribute (values are true or false)' },
    details: { type: 'list', of: 'string', description: 'comma separated list of account details requested' },
  },
  async handler(ctx, a) {
    const c = ctx.caller;
    const w = new Where();
    if (a.id) {
      const acc = await accountByIdOrName(ctx, { id: a.id });
      w.add('a.id = ?', acc.id);
    } else if (c.role === 'User') {
      w.add('a.id = ?', c.accountId);
    } else if (a.domainid) {
      const d = await domainById(ctx, a.domainid, 'domainid');
      if (a.isrecursive) w.add(`(d.path = ? OR starts_with(d.path, ? || '/'))`, d.path, d.path); else w.add('a.domain_id = ?', d.id);
    } else if (a.listall || !a.name) {
      // An admin listing accounts sees the ones it manages (CloudStack lists the caller's
      // domain subtree for listAccounts even without listall).
      if (c.role !== 'Admin') w.add(`(d.path = ? OR starts_with(d.path, ? || '/'))`, c.domainPath, c.domainPath);
    }
    if (a.name) {
      if (c.role !== 'Admin' && !a.domainid) w.add(`(d.path = ? OR starts_with(d.path, ? || '/'))`, c.domainPath, c.domainPath);
      w.add('lower(a.name) = lower(?)', a.name);
    }
    if (a.account) w.add('lower(a.name) = lower(?)', a.account);
    // A built-in role is every account of its type without a role of its own.
    const builtinType = a.roleid ? BUILTIN_ROLES.find((r) => r.id === a.roleid)?.accounttype : undefined;
    if (builtinType !== undefined) w.add('a.type = ?', builtinType).add('a.role_id IS NULL');
    else w.add('a.role_id = ?', a.roleid);
    w.add('a.type = ?', a.accounttype).add('a.state = lower(?)', a.state).keyword(a.keyword, 'a.name');
    // A project's account (type 5) is no one's to list: CloudStack's listAccounts leaves it out.
    w.add('a.type <> 5');
    const rows = await ctx.sql.query<AccountRow>(`${ACCOUNT_SELECT} ${w} ORDER BY d.path, a.name`, w.params);
    return accountViews(ctx.sql, rows.filter((r) => c.role === 'Admin' || canAccessDomain(c, r.domain_path)));
  },
});

