// Response objects of the accounts area: the declared fields (for listApis and docs) and the
// functions that build them from rows, side by side so they cannot drift apart.
import type { ResponseDef } from '../../api/registry.ts';
import { COUNTED, LIMITED, accountUsage } from './usage.ts';
import type { Sql } from '../../db/sql.ts';
import { compact, csDate } from '../../api/serialize.ts';

import { BUILTIN_ROLES } from '../../api/permissions.ts';
export { BUILTIN_ROLES };
export const roleOfAccountType = (t: number) => BUILTIN_ROLES.find((r) => r.accounttype === t) ?? BUILTIN_ROLES[2];
/** An account's role: its own (role_id, joined as role_name/role_type), or the built-in one of its type. */
const roleOfRow = (r: { role_id?: string | null; role_name?: string | null; role_type?: string | null }, type: number) =>
  (r.role_id && r.role_name && r.role_type ? { id: r.role_id, name: r.role_name, type: r.role_type } : roleOfAccountType(type));

export const DOMAIN: ResponseDef = {
  name: 'domain',
  fields: {
    id: { type: 'string', description: 'the ID of the domain' },
    name: { type: 'string', description: 'the name of the domain' },
    level: { type: 'integer', description: 'the level of the domain' },
    parentdomainid: { type: 'string', description: 'the domain ID of the parent domain' },
    parentdomainname: { type: 'string', description: 'the domain name of the parent domain' },
    haschild: { type: 'boolean', description: 'whether the domain has one or more sub-domains' },
    networkdomain: { type: 'string', description: 'the network domain' },
    path: { type: 'string', description: 'the path of the domain' },
    state: { type: 'string', description: 'the state of the domain' },
    created: { type: 'date', description: 'the date when this domain was created' },
    ...Object.fromEntries(LIMITED.flatMap((k) => [
      [`${k}limit`, { type: 'string', description: `the total ${k} the domain can own` }],
      [`${k}available`, { type: 'string', description: `the total ${k} available to be created for this domain` }],
    ])),
  },
};

export interface DomainRow { id: string; name: string; path: string; parent_id: string | null; level: number; network_domain: string | null; state: string; created: Date; parent_name?: string | null; has_child?: boolean }

export const DOMAIN_SELECT = `SELECT d.*, p.name AS parent_name,
  EXISTS (SELECT 1 FROM domains c WHERE c.parent_id = d.id) AS has_child
  FROM domains d LEFT JOIN domains p ON p.id = d.parent_id`;

export function domainView(r: DomainRow): Record<string, unknown> {
  return compact({
    id: r.id, name: r.name, level: r.level, parentdomainid: r.parent_id ?? undefined, parentdomainname: r.parent_name ?? undefined,
    haschild: Boolean(r.has_child), networkdomain: r.network_domain ?? undefined, path: r.path, state: r.state, created: csDate(r.created),
    // No resource limit is enforced yet (listResourceLimits answers -1): CloudStack's 'Unlimited'.
    ...Object.fromEntries(LIMITED.flatMap((k) => [[`${k}limit`, 'Unlimited'], [`${k}available`, 'Unlimited']])),
  });
}

export const USER: ResponseDef = {
  name: 'user',
  fields: {
    id: { type: 'string', description: 'the user ID' },
    username: { type: 'string', description: 'the user name' },
    firstname: { type: 'string', description: 'the user firstname' },
    lastname: { type: 'string', description: 'the user lastname' },
    email: { type: 'string', description: 'the user email address' },
    created: { type: 'date', description: 'the date and time the user account was created' },
    state: { type: 'string', description: 'the user state' },
    account: { type: 'string', description: 'the account name of the user' },
    accountid: { type: 'string', description: 'the account ID of the user' },
    accounttype: { type: 'integer', description: 'the account type of the user' },
    roleid: { type: 'string', description: 'the ID of the role' },
    roletype: { type: 'string', description: 'the type of the role' },
    rolename: { type: 'string', description: 'the name of the role' },
    domainid: { type: 'string', description: 'the domain ID of the user' },
    domain: { type: 'string', description: 'the domain name of the user' },
    timezone: { type: 'string', description: 'the timezone user was created in' },
    apikey: { type: 'string', description: 'the api key of the user' },
    isdefault: { type: 'boolean', description: 'true if user is default, false otherwise' },
    usersource: { type: 'string', description: 'the source type of the user in lowercase, such as native, ldap, saml2' },
  },
};

export interface UserRow { id: string; username: string; firstname: string | null; lastname: string | null; email: string | null; created: Date; state: string; account_id: string; account_name: string; account_type: number; domain_id: string; domain_name: string; timezone: string | null; api_key: string | null; is_default: boolean; role_id: string | null; role_name: string | null; role_type: string | null }

export const USER_SELECT = `SELECT u.id, u.username, u.firstname, u.lastname, u.email, u.created, u.state, u.timezone, u.api_key, u.is_default,
  a.id AS account_id, a.name AS account_name, a.type AS account_type, d.id AS domain_id, d.name AS domain_name,
  a.role_id, ro.name AS role_name, ro.type AS role_type
  FROM users u JOIN accounts a ON a.id = u.account_id JOIN domains d ON d.id = u.domain_id LEFT JOIN roles ro ON ro.id = a.role_id`;

export function userView(r: UserRow): Record<string, unknown> {
  const role = roleOfRow(r, r.account_type);
  return compact({
    id: r.id, username: r.username, firstname: r.firstname, lastname: r.lastname, email: r.email, created: csDate(r.created),
    state: r.state, account: r.account_name, accountid: r.account_id, accounttype: r.account_type, roleid: role.id, roletype: role.type,
    rolename: role.name, domainid: r.domain_id, domain: r.domain_name, timezone: r.timezone, apikey: r.api_key ?? undefined,
    isdefault: r.is_default, usersource: 'native',
  });
}

export const ACCOUNT: ResponseDef = {
  name: 'account',
  fields: {
    id: { type: 'string', description: 'the id of the account' },
    name: { type: 'string', description: 'the name of the account' },
    accounttype: { type: 'integer', description: 'account type (admin, domain-admin, user)' },
    roleid: { type: 'string', description: 'the ID of the role' },
    roletype: { type: 'string', description: 'the type of the role (Admin, ResourceAdmin, DomainAdmin, User)' },
    rolename: { type: 'string', description: 'the name of the role' },
    domainid: { type: 'string', description: 'id of the Domain the account belongs to' },
    domain: { type: 'string', description: 'name of the Domain the account belongs to' },
    domainpath: { type: 'string', description: 'path of the Domain the account belongs to' },
    networkdomain: { type: 'string', description: 'the network domain' },
    state: { type: 'string', description: 'the state of the account' },
    isdefault: { type: 'boolean', description: 'true if account is default, false otherwise' },
    created: { type: 'date', description: 'the date when this account was created' },
    user: { type: 'list', description: 'the list of users associated with account' },
    vmrunning: { type: 'integer', description: 'the total number of virtual machines running for this account' },
    vmstopped: { type: 'integer', description: 'the total number of virtual machines stopped for this account' },
    ...Object.fromEntries(LIMITED.flatMap((k) => [
      [`${k}limit`, { type: 'string', description: `the total ${k} the account can own` }],
      [`${k}available`, { type: 'string', description: `the total ${k} available to be created for this account` }],
    ])),
    ...Object.fromEntries(COUNTED.map((k) => [`${k}total`, { type: 'long', description: `the total ${k} owned by the account` }])),
  },
};

export interface AccountRow { id: string; name: string; type: number; domain_id: string; domain_name: string; domain_path: string; network_domain: string | null; state: string; created: Date; is_default: boolean; role_id: string | null; role_name: string | null; role_type: string | null }

export const ACCOUNT_SELECT = `SELECT a.*, d.name AS domain_name, d.path AS domain_path,
  (a.type = 1 AND d.parent_id IS NULL AND a.name = 'admin') AS is_default, ro.name AS role_name, ro.type AS role_type
  FROM accounts a JOIN domains d ON d.id = a.domain_id LEFT JOIN roles ro ON ro.id = a.role_id`;

export async function accountViews(sql: Sql, rows: AccountRow[]): Promise<Record<string, unknown>[]> {
  if (!rows.length) return [];
  const users = await sql.query<UserRow>(`${USER_SELECT} WHERE u.account_id = ANY($1::uuid[]) ORDER BY u.created`, [rows.map((r) => r.id)]);
  const usage = await accountUsage(sql, rows.map((r) => r.id));
  return rows.map((r) => {
    const role = roleOfRow(r, r.type);
    const u = usage.get(r.id)!;
    return compact({
      ...u.fields, vmrunning: u.vmrunning, vmstopped: u.vmstopped,
      id: r.id, name: r.name, accounttype: r.type, roleid: role.id, roletype: role.type, rolename: role.name,
      domainid: r.domain_id, domain: r.domain_name, domainpath: r.domain_path, networkdomain: r.network_domain ?? undefined,
      state: r.state, isdefault: r.is_default, created: csDate(r.created),
      user: users.filter((u) => u.account_id === r.id).map(userView),
    });
  });
}

export const USER_KEYS: ResponseDef = {
  name: 'userkeys',
  fields: {
    apikey: { type: 'string', description: 'the api key of the registered user' },
    secretkey: { type: 'string', description: 'the secret key of the registered user' },
  },
};
