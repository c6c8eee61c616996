// Dynamic roles (CloudStack's RoleManager): roles with a type and ordered allow/deny rules on
// API names. Root admins manage them; domain admins may list the roles they could hand out.
import { randomUUID } from 'node:crypto';
import { ADMIN, ADMINS, LIST_PARAMS, SUCCESS_RESPONSE, command } from '../../api/registry.ts';
import { apiError, paramError } from '../../api/errors.ts';
import type { Context } from '../../api/context.ts';
import type { MapValue } from '../../api/params.ts';
import { Where } from '../../db/sql.ts';
import { ROLE, ROLE_PERMISSION, PERMISSION_SELECT, permissionView, roleView, type PermissionRow, type RoleRow } from './views.ts';
import { ROOT_ADMIN_ROLE, RULE_PATTERN, forgetRoles } from '../../api/permissions.ts';

/** Role types Flotilla has (CloudStack's ResourceAdmin has no counterpart here yet). */
const TYPES = ['Admin', 'DomainAdmin', 'User'] as const;
const ACCOUNT_TYPE: Record<string, number> = { Admin: 1, DomainAdmin: 2, User: 0 };
const notFound = (param: string, id: string) => paramError(`Invalid parameter ${param} value=${id} due to incorrect long value format, or entity does not exist`);

function roleType(v: string | undefined): string | undefined {
  if (v === undefined) return undefined;
  if (v.toLowerCase() === 'resourceadmin') throw paramError('Role type ResourceAdmin is not supported yet; use Admin, DomainAdmin or User');
  const t = TYPES.find((x) => x.toLowerCase() === v.toLowerCase());
  if (!t) throw paramError(`Invalid parameter type value=${v}: must be one of ${TYPES.join(', ')}`);
  return t;
}

function checkRule(rule: string): string {
  if (!RULE_PATTERN.test(rule)) throw paramError(`Invalid parameter rule value=${rule}: only API names and wildcards (*) are allowed`);
  return rule;
}
function checkPermission(p: string): 'allow' | 'deny' {
  const v = p.toLowerCase();
  if (v !== 'allow' && v !== 'deny') throw paramError(`Invalid parameter permission value=${p}: must be allow or deny`);
  return v;
}

async function roleById(ctx: Context, id: string, param = 'id'): Promise<RoleRow> {
  const r = (await ctx.sql.query<RoleRow>('SELECT * FROM roles WHERE id = $1', [id]))[0];
  if (!r) throw notFound(param, id);
  return r;
}
async function nameFree(ctx: Context, name: string, except?: string): Promise<void> {
  const dup = await ctx.sql.query('SELECT 1 FROM roles WHERE lower(name) = lower($1) AND id IS DISTINCT FROM $2', [name, except ?? null]);
  if (dup.length) throw paramError(`Role with name ${name} already exists`);
}
function mutable(r: RoleRow, what: string): void {
  if (r.id === ROOT_ADMIN_ROLE) throw paramError(`The ${what} of the Root Admin role cannot be changed: it may call every command`);
}
async function appendRule(ctx: Context, roleId: string, rule: string, permission: string, description: string | undefined): Promise<string> {
  const id = randomUUID();
  await ctx.sql.query(
    `INSERT INTO role_permissions (id, role_id, rule, permission, description, sort_order)
     VALUES ($1, $2, $3, $4, $5, (SELECT coalesce(max(sort_order) + 1, 0) FROM role_permissions WHERE role_id = $2))`,
    [id, roleId, rule, permission, description ?? null]);
  return id;
}
const viewOfRole = async (ctx: Context, id: string) => roleView(await roleById(ctx, id));
const permissionById = async (ctx: Context, id: string) =>
  (await ctx.sql.query<PermissionRow>(`${PERMISSION_SELECT} WHERE p.id = $1`, [id]))[0];

export const createRole = command({
  name: 'createRole', description: 'Creates a role', since: '4.9.0', roles: ADMIN, response: ROLE, shape: 'object', event: 'ROLE.CREATE',
  params: {
    name: { type: 'string', required: true, description: 'Creates a role with this unique name' },
    type: { type: 'string', description: 'The type of the role, valid options are: Admin, ResourceAdmin, DomainAdmin, User' },
    roleid: { type: 'uuid', entity: 'role', description: 'ID of the role to be cloned from. Either roleid or type must be passed in', since: '4.15' },
    description: { type: 'string', description: 'The description of the role' },
  },
  async handler(ctx, a) {
    let type = roleType(a.type);
    const source = a.roleid ? await roleById(ctx, a.roleid, 'roleid') : undefined;
    if (!type && !source) throw paramError('Either the role type or the id of a role to clone (roleid) must be given');
    if (type && source && type !== source.type) throw paramError(`The role to clone is of type ${source.type}, not ${type}`);
    type ??= source!.type;
    await nameFree(ctx, a.name);
    const id = randomUUID();
    await ctx.sql.query('INSERT INTO roles (id, name, type, description) VALUES ($1, $2, $3, $4)', [id, a.name, type, a.description ?? null]);
    if (source) {
      await ctx.sql.query(
        `INSERT INTO role_permissions (id, role_id, rule, permission, description, sort_order)
         SELECT gen_random_uuid(), $1, rule, permission, description, sort_order FROM role_permissions WHERE role_id = $2`, [id, source.id]);
    }
    forgetRoles(ctx.services.db);
    ctx.setResource('Role', id);
    return viewOfRole(ctx, id);
  },
});

export const importRole = command({
  name: 'importRole', description: 'Imports a role based on provided map of rule permissions', since: '4.15.0', roles: ADMIN, response: ROLE, shape: 'object', event: 'ROLE.IMPORT',
  params: {
    name: { type: 'string', required: true, description: 'Creates a role with this unique name' },
    type: { type: 'string', description: 'The type of the role, valid options are: Admin, ResourceAdmin, DomainAdmin, User' },
    rules: { type: 'map', required: true, description: 'Rules param list, rule and permission is must. Example: rules[0].rule=create*&rules[0].permission=allow&rules[0].description=create%20rule&rules[1].rule=list*&rules[1].permission=allow&rules[1].description=listing' },
    forced: { type: 'boolean', description: 'Force create a role with the same name. This overrides the role type, description and rule permissions for the existing role. Default is false.' },
    description: { type: 'string', description: 'The description of the role' },
  },
  async handler(ctx, a) {
    const type = roleType(a.type);
    if (!type) throw paramError('Unable to execute API command importrole due to missing parameter type');
    const rules = (a.rules as MapValue).map((r, i) => {
      if (!r.rule || !r.permission) throw paramError(`Invalid rules parameter: rules[${i}] needs rule and permission`);
      return { rule: checkRule(r.rule), permission: checkPermission(r.permission), description: r.description };
    });
    const existing = (await ctx.sql.query<RoleRow>('SELECT * FROM roles WHERE lower(name) = lower($1)', [a.name]))[0];
    let id: string;
    if (existing) {
      if (!a.forced) throw paramError(`Role with name ${a.name} already exists`);
      if (existing.is_default) throw paramError('Default roles cannot be overwritten');
      id = existing.id;
      await ctx.sql.query('UPDATE roles SET type = $2, description = $3 WHERE id = $1', [id, type, a.description ?? existing.description]);
      await ctx.sql.query('DELETE FROM role_permissions WHERE role_id = $1', [id]);
    } else {
      id = randomUUID();
      await ctx.sql.query('INSERT INTO roles (id, name, type, description) VALUES ($1, $2, $3, $4)', [id, a.name, type, a.description ?? null]);
    }
    for (const r of rules) await appendRule(ctx, id, r.rule, r.permission, r.description);
    forgetRoles(ctx.services.db);
    ctx.setResource('Role', id);
    return viewOfRole(ctx, id);
  },
});

export const listRoles = command({
  name: 'listRoles', description: 'Lists dynamic roles in CloudStack', since: '4.9.0', roles: ADMINS, response: ROLE, shape: 'list',
  params: {
    ...LIST_PARAMS,
    id: { type: 'uuid', entity: 'role', description: 'List role by role ID.' },
    name: { type: 'string', description: 'List role by role name.' },
    type: { type: 'string', description: 'List role by role type, valid options are: Admin, ResourceAdmin, DomainAdmin, User.' },
  },
  async handler(ctx, a) {
    const w = new Where().add('r.id = ?', a.id).add('lower(r.name) = lower(?)', a.name).add('r.type = ?', roleType(a.type)).keyword(a.keyword, 'r.name', 'r.description');
    // A domain admin sees the roles it could give its accounts.
    if (ctx.caller.role !== 'Admin') w.add(`r.type IN ('DomainAdmin', 'User')`);
    return (await ctx.sql.query<RoleRow>(`SELECT r.* FROM roles r ${w} ORDER BY r.is_default DESC, r.created, r.id`, w.params)).map(roleView);
  },
});

export const updateRole = command({
  name: 'updateRole', description: 'Updates a role', since: '4.9.0', roles: ADMIN, response: ROLE, shape: 'object', event: 'ROLE.UPDATE',
  params: {
    id: { type: 'uuid', entity: 'role', required: true, description: 'ID of the role' },
    name: { type: 'string', description: 'creates a role with this unique name' },
    type: { type: 'string', description: 'The type of the role, valid options are: Admin, ResourceAdmin, DomainAdmin, User' },
    description: { type: 'string', description: 'The description of the role' },
  },
  async handler(ctx, a) {
    const r = await roleById(ctx, a.id);
    if (r.is_default) throw paramError('Default roles cannot be updated');
    const type = roleType(a.type);
    if (type && type !== r.type) {
      const used = await ctx.sql.query('SELECT 1 FROM accounts WHERE role_id = $1 LIMIT 1', [r.id]);
      if (used.length) throw apiError('RESOURCE_IN_USE', `The type of role ${r.name} cannot be changed while accounts have it`);
    }
    if (a.name !== undefined) await nameFree(ctx, a.name, r.id);
    await ctx.sql.query('UPDATE roles SET name = coalesce($2, name), type = coalesce($3, type), description = coalesce($4, description) WHERE id = $1',
      [r.id, a.name ?? null, type ?? null, a.description ?? null]);
    forgetRoles(ctx.services.db);
    ctx.setResource('Role', r.id);
    return viewOfRole(ctx, r.id);
  },
});

export const deleteRole = command({
  name: 'deleteRole', description: 'Deletes a role', since: '4.9.0', roles: ADMIN, response: SUCCESS_RESPONSE, shape: 'success', event: 'ROLE.DELETE',
  params: { id: { type: 'uuid', entity: 'role', required: true, description: 'ID of the role' } },
  async handler(ctx, a) {
    const r = await roleById(ctx, a.id);
    if (r.is_default) throw paramError('Default roles cannot be deleted');
    const used = await ctx.sql.query<{ n: number }>('SELECT count(*)::int AS n FROM accounts WHERE role_id = $1', [r.id]);
    if (used[0]!.n > 0) throw apiError('RESOURCE_IN_USE', `Role ${r.name} is in use by ${used[0]!.n} account(s) and cannot be deleted`, [r.id]);
    await ctx.sql.query('DELETE FROM roles WHERE id = $1', [r.id]);
    forgetRoles(ctx.services.db);
    ctx.setResource('Role', r.id);
  },
});

export const createRolePermission = command({
  name: 'createRolePermission', description: 'Adds an API permission to a role', since: '4.9.0', roles: ADMIN, response: ROLE_PERMISSION, shape: 'object', event: 'ROLE.PERMISSION.CREATE',
  params: {
    roleid: { type: 'uuid', entity: 'role', required: true, description: 'ID of the role' },
    rule: { type: 'string', required: true, description: 'The API name or wildcard rule such as list*' },
    permission: { type: 'string', required: true, description: 'The rule permission, allow or deny. Default: deny.' },
    description: { type: 'string', description: 'The description of the role permission' },
  },
  async handler(ctx, a) {
    const r = await roleById(ctx, a.roleid, 'roleid');
    mutable(r, 'rules');
    const dup = await ctx.sql.query('SELECT 1 FROM role_permissions WHERE role_id = $1 AND rule = $2', [r.id, checkRule(a.rule)]);
    if (dup.length) throw paramError(`Rule ${a.rule} already exists for role ${r.name}`);
    const id = await appendRule(ctx, r.id, a.rule, checkPermission(a.permission), a.description);
    forgetRoles(ctx.services.db);
    ctx.setResource('RolePermission', id);
    return permissionView((await permissionById(ctx, id))!);
  },
});

export const listRolePermissions = command({
  name: 'listRolePermissions', description: 'Lists role permissions', since: '4.9.0', roles: ADMINS, response: ROLE_PERMISSION, shape: 'list',
  params: { roleid: { type: 'uuid', entity: 'role', description: 'ID of the role' } },
  async handler(ctx, a) {
    const w = new Where().add('p.role_id = ?', a.roleid);
    if (ctx.caller.role !== 'Admin') w.add(`r.type IN ('DomainAdmin', 'User')`);
    return (await ctx.sql.query<PermissionRow>(`${PERMISSION_SELECT} ${w} ORDER BY r.name, p.sort_order, p.id`, w.params)).map(permissionView);
  },
});

export const updateRolePermission = command({
  name: 'updateRolePermission', description: 'Updates a role permission order', since: '4.9.0', roles: ADMIN, response: SUCCESS_RESPONSE, shape: 'success', event: 'ROLE.PERMISSION.UPDATE',
  params: {
    roleid: { type: 'uuid', entity: 'role', required: true, description: 'ID of the role' },
    ruleorder: { type: 'list', entity: 'rolepermission', of: 'uuid', description: 'The parent role permission uuid, use 0 to move this rule at the top of the list' },
    ruleid: { type: 'uuid', entity: 'rolepermission', description: 'Role permission rule id', since: '4.11' },
    permission: { type: 'string', description: 'Rule permission, can be: allow or deny', since: '4.11' },
  },
  async handler(ctx, a) {
    const r = await roleById(ctx, a.roleid, 'roleid');
    mutable(r, 'rules');
    const hasOrder = a.ruleorder !== undefined;
    const hasRule = a.ruleid !== undefined || a.permission !== undefined;
    if (hasOrder === hasRule) throw paramError('Either ruleorder, or ruleid with permission, must be given');
    if (hasOrder) {
      const current = (await ctx.sql.query<{ id: string }>('SELECT id FROM role_permissions WHERE role_id = $1', [r.id])).map((x) => x.id);
      const order = a.ruleorder!;
      if (order.length !== current.length || new Set(order).size !== order.length || !order.every((id) => current.includes(id))) {
        throw paramError(`ruleorder must list every rule of role ${r.name} once (it has ${current.length})`);
      }
      for (const [i, id] of order.entries()) await ctx.sql.query('UPDATE role_permissions SET sort_order = $2 WHERE id = $1', [id, i]);
    } else {
      if (!a.ruleid || !a.permission) throw paramError('ruleid and permission must be given together');
      const done = await ctx.sql.query('UPDATE role_permissions SET permission = $3 WHERE id = $1 AND role_id = $2 RETURNING id', [a.ruleid, r.id, checkPermission(a.permission)]);
      if (!done.length) throw notFound('ruleid', a.ruleid);
    }
    forgetRoles(ctx.services.db);
    ctx.setResource('Role', r.id);
  },
});

export const deleteRolePermission = command({
  name: 'deleteRolePermission', description: 'Deletes a role permission', since: '4.9.0', roles: ADMIN, response: SUCCESS_RESPONSE, shape: 'success', event: 'ROLE.PERMISSION.DELETE',
  params: { id: { type: 'uuid', entity: 'rolepermission', required: true, description: 'ID of the role permission' } },
  async handler(ctx, a) {
    const p = await permissionById(ctx, a.id);
    if (!p) throw notFound('id', a.id);
    mutable(await roleById(ctx, p.role_id), 'rules');
    await ctx.sql.query('DELETE FROM role_permissions WHERE id = $1', [p.id]);
    forgetRoles(ctx.services.db);
    ctx.setResource('RolePermission', p.id);
  },
});

export { ACCOUNT_TYPE, roleById };
