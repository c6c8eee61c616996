import { ADMINS, ALL_ROLES, LIST_OWNED_PARAMS, SUCCESS_RESPONSE, command } from '../../api/registry.ts';
import { pagedRows } from '../../api/paging.ts';
import { paramError } from '../../api/errors.ts';
import { hashPassword, newApiKey, verifyPassword } from '../../api/crypto.ts';
import { Where } from '../../db/sql.ts';
import { uuidCheck } from '../../api/params.ts';
import type { Context } from '../../api/context.ts';
import { USER, USER_KEYS, USER_SELECT, userView, type UserRow } from './views.ts';
import { accountById, accountByName, domainById, userById } from './lookup.ts';
import { USER_FIELDS_PARAMS, insertUser } from './accounts.ts';
import { checkEmail, checkTimezone, checkUsername } from './validate.ts';

async function viewOf(ctx: Context, id: string): Promise<Record<string, unknown>> {
  return userView((await ctx.sql.query<UserRow>(`${USER_SELECT} WHERE u.id = $1`, [id]))[0]!);
}

export const createUser = command({
  name: 'createUser', description: 'Creates a user for an account that already exists', since: '1.0', roles: ADMINS, response: USER, shape: 'object', event: 'USER.CREATE',
  params: {
    ...USER_FIELDS_PARAMS,
    account: { type: 'string', required: true, description: 'Creates the user under the specified account. If no account is specified, the username will be used as the account name.' },
    domainid: { type: 'uuid', entity: 'domain', description: 'Creates the user under the specified domain. Has to be accompanied with the account parameter' },
    userid: { type: 'string', check: uuidCheck, description: 'User UUID, required for adding account from external provisioning system' },
  },
  async handler(ctx, a) {
    const acc = await accountByName(ctx, a.account, a.domainid ?? ctx.caller.domainId);
    const id = await insertUser(ctx, acc.id, acc.domain_id, a);
    ctx.setResource('User', id);
    return viewOf(ctx, id);
  },
});

export const updateUser = command({
  name: 'updateUser', description: 'Updates a user account', since: '1.0', roles: ALL_ROLES, response: USER, shape: 'object', event: 'USER.UPDATE',
  params: {
    id: { type: 'uuid', entity: 'user', required: true, description: 'User uuid' },
    username: { type: 'string', description: 'Unique username', check: checkUsername },
    password: { type: 'string', description: 'Clear text password (default hashed to SHA256SALT). If you wish to use any other hashing algorithm, you would need to write a custom authentication adapter.' },
    currentpassword: { type: 'string', description: 'Current password that was being used by the user. You must inform the current password when updating the password.' },
    firstname: { type: 'string', description: 'first name' },
    lastname: { type: 'string', description: 'last name' },
    email: { type: 'string', description: 'email', check: checkEmail },
    timezone: { type: 'string', description: 'Specifies a timezone for this command.', check: checkTimezone },
    userapikey: { type: 'string', description: 'The API key for the user. Must be specified with userSecretKey' },
    usersecretkey: { type: 'string', description: 'The secret key for the user. Must be specified with userApiKey' },
  },
  async handler(ctx, a) {
    const u = await userById(ctx, a.id);
    if (a.username !== undefined && a.username !== u.username) {
      if ((await ctx.sql.query('SELECT 1 FROM users WHERE domain_id = $1 AND username = $2 AND id <> $3', [u.domain_id, a.username, u.id])).length) {
        throw paramError(`The user ${a.username} already exists in domain id=${u.domain_id}`);
      }
    }
    if (a.password !== undefined) {
      // A user changing its own password proves it knows the current one; an admin resetting
      // somebody else's does not need to.
      if (u.id === ctx.caller.userId) {
        if (a.currentpassword === undefined) throw paramError('Current password is required to change the password');
        const row = (await ctx.sql.query<{ password_hash: string }>('SELECT password_hash FROM users WHERE id = $1', [u.id]))[0]!;
        if (!(await verifyPassword(a.currentpassword, row.password_hash))) throw paramError('Current password is incorrect');
      }
    }
    if ((a.userapikey === undefined) !== (a.usersecretkey === undefined)) throw paramError('Please provide both userapikey and usersecretkey');
    if (a.userapikey !== undefined) {
      if ((await ctx.sql.query('SELECT 1 FROM users WHERE api_key = $1 AND id <> $2', [a.userapikey, u.id])).length) throw paramError('The api key is already in use');
    }
    await ctx.sql.query(
      `UPDATE users SET username = coalesce($2, username), password_hash = coalesce($3, password_hash), firstname = coalesce($4, firstname),
         lastname = coalesce($5, lastname), email = coalesce($6, email), timezone = coalesce($7, timezone),
         api_key = coalesce($8, api_key), secret_key_enc = coalesce($9, secret_key_enc) WHERE id = $1`,
      [u.id, a.username ?? null, a.password !== undefined ? await hashPassword(a.password) : null, a.firstname ?? null, a.lastname ?? null,
        a.email ?? null, a.timezone ?? null, a.userapikey ?? null, a.usersecretkey !== undefined ? ctx.services.secrets.seal(a.usersecretkey) : null]);
    ctx.setResource('User', u.id);
    return viewOf(ctx, u.id);
  },
});

export const deleteUser = command({
  name: 'deleteUser', description: 'Deletes a user for an account', since: '1.0', roles: ADMINS, response: SUCCESS_RESPONSE, shape: 'success', event: 'USER.DELETE',
  params: { id: { type: 'uuid', entity: 'user', required: true, description: 'id of the user to be deleted' } },
  async handler(ctx, a) {
    const u = await userById(ctx, a.id);
    if (u.id === ctx.caller.userId) throw paramError('The caller cannot delete itself');
    if (u.account_type === 1 && u.username === 'admin' && u.is_default) throw paramError('The default admin user cannot be deleted');
    await ctx.sql.query('DELETE FROM sessions WHERE user_id = $1', [u.id]);
    await ctx.sql.query('DELETE FROM users WHERE id = $1', [u.id]);
    ctx.setResource('User', u.id);
  },
});

export const listUsers = command({
  name: 'listUsers', description: 'Lists user accounts', since: '1.0', roles: ALL_ROLES, response: USER, shape: 'list',
  params: {
    ...LIST_OWNED_PARAMS,
    id: { type: 'uuid', entity: 'user', description: 'List user by ID.' },
    username: { type: 'string', description: 'List user by the username' },
    accounttype: { type: 'integer', description: 'List users by account type.' },
    state: { type: 'string', description: 'List users by state of the user account.' },
  },
  async handler(ctx, a) {
    const c = ctx.caller;
    const w = new Where();
    if (a.id) { await userById(ctx, a.id); w.add('u.id = ?', a.id); }
    if (c.role === 'User') w.add('u.account_id = ?', c.accountId);
    else if (a.domainid) {
      const d = await domainById(ctx, a.domainid, 'domainid');
      if (a.account) w.add('a.id = ?', (await accountByName(ctx, a.account, d.id)).id);
      else if (a.isrecursive) w.add(`(d.path = ? OR starts_with(d.path, ? || '/'))`, d.path, d.path); else w.add('u.domain_id = ?', d.id);
    } else if (c.role === 'DomainAdmin') {
      w.add(`u.domain_id IN (SELECT id FROM domains WHERE path = ? OR starts_with(path, ? || '/'))`, c.domainPath, c.domainPath);
    }
    w.add('u.username = ?', a.username).add('a.type = ?', a.accounttype).add('u.state = lower(?)', a.state).keyword(a.keyword, 'u.username', 'u.firstname', 'u.lastname', 'u.email');
    return (await pagedRows<UserRow>(ctx.sql, a, { select: USER_SELECT, where: w, orderBy: 'u.username, u.id' })).map(userView);
  },
});

export const registerUserKeys = command({
  name: 'registerUserKeys', description: 'This command allows a user to register for the developer API, returning a secret key and an API key. This request is made through the integration API port, so it is a privileged command and must be made on behalf of a user. It is up to the implementer just how the username and password are entered, and then how that translates to an integration API request. Both secret key and API key should be returned to the user',
  since: '1.0', roles: ALL_ROLES, response: USER_KEYS, shape: 'object', event: 'REGISTER.USER.KEY',
  params: { id: { type: 'uuid', entity: 'user', required: true, description: 'User id' } },
  async handler(ctx, a) {
    const u = await userById(ctx, a.id);
    const apikey = newApiKey();
    const secretkey = newApiKey();
    await ctx.sql.query('UPDATE users SET api_key = $2, secret_key_enc = $3 WHERE id = $1', [u.id, apikey, ctx.services.secrets.seal(secretkey)]);
    ctx.setResource('User', u.id);
    return { apikey, secretkey };
  },
});

export const getUserKeys = command({
  name: 'getUserKeys', description: 'This command allows the user to query the seceret and API keys for the account', since: '4.10.0',
  roles: ALL_ROLES, response: USER_KEYS, shape: 'object',
  params: { id: { type: 'uuid', entity: 'user', required: true, description: 'ID of the user whose keys are required' } },
  async handler(ctx, a) {
    const u = await userById(ctx, a.id);
    const row = (await ctx.sql.query<{ api_key: string | null; secret_key_enc: string | null }>('SELECT api_key, secret_key_enc FROM users WHERE id = $1', [u.id]))[0]!;
    if (!row.api_key || !row.secret_key_enc) return {};
    return { apikey: row.api_key, secretkey: ctx.services.secrets.open(row.secret_key_enc) };
  },
});


export const moveUser = command({
  name: 'moveUser', description: 'Moves a user to another account in the same domain.', since: '4.11.0', roles: ADMINS, response: SUCCESS_RESPONSE, shape: 'success',
  event: 'USER.MOVE',
  params: {
    id: { type: 'uuid', entity: 'user', required: true, description: 'id of the user to be moved.' },
    account: { type: 'string', description: 'Creates the user under the specified account. If no account is specified, the username will be used as the account name.' },
    accountid: { type: 'uuid', entity: 'account', description: 'Creates the user under the specified domain. Has to be accompanied with the account parameter' },
  },
  async handler(ctx, a) {
    // CloudStack's AccountManagerImpl.moveUser: into another account of the user's own domain.
    const u = await userById(ctx, a.id);
    if (a.account === undefined && a.accountid === undefined) throw paramError('Specify either account name or account id to move the user to');
    const to = a.accountid ? await accountById(ctx, a.accountid, 'accountid') : await accountByName(ctx, a.account!, u.domain_id);
    if (a.accountid && a.account !== undefined && to.name.toLowerCase() !== a.account.toLowerCase()) throw paramError(`account ${a.account} and accountid ${a.accountid} name different accounts`);
    if (to.domain_id !== u.domain_id) throw paramError(`Account ${to.name} is not in the domain of user ${u.username}: a user moves within its domain`);
    if (to.id === u.account_id) throw paramError(`User ${u.username} is already in account ${to.name}`);
    if (to.type === 5) throw paramError('A user cannot be moved into a project\'s account');
    if (u.is_default) throw paramError('The default admin user cannot be moved');
    if (u.id === ctx.caller.userId) throw paramError('The caller cannot move itself');
    // Its sessions were opened as the old account: they end, as on a password change.
    await ctx.sql.query('DELETE FROM sessions WHERE user_id = $1', [u.id]);
    await ctx.sql.query('UPDATE users SET account_id = $2 WHERE id = $1', [u.id, to.id]);
    ctx.setResource('User', u.id);
  },
});
