// Response objects of the roles area, next to the functions that build them.
import { field, type ResponseDef } from '../../api/registry.ts';
import { compact } from '../../api/serialize.ts';

export const ROLE: ResponseDef = {
  name: 'role',
  fields: {
    id: field('string', 'the ID of the role'),
    name: field('string', 'the name of the role'),
    type: field('string', 'the type of the role'),
    description: field('string', 'the description of the role'),
    isdefault: field('boolean', 'true if role is default, false otherwise'),
  },
};

export interface RoleRow { id: string; name: string; type: string; description: string | null; is_default: boolean }
export const roleView = (r: RoleRow) => compact({ id: r.id, name: r.name, type: r.type, description: r.description ?? undefined, isdefault: r.is_default });

export const ROLE_PERMISSION: ResponseDef = {
  name: 'rolepermission',
  fields: {
    id: field('string', 'the ID of the role permission'),
    roleid: field('string', 'the ID of the role to which the role permission belongs'),
    rolename: field('string', 'the name of the role to which the role permission belongs'),
    rule: field('string', 'the api name or wildcard rule'),
    permission: field('string', 'the permission type of the api name or wildcard rule, allow/deny'),
    description: field('string', 'the description of the role permission'),
  },
};

export interface PermissionRow { id: string; role_id: string; role_name: string; rule: string; permission: string; description: string | null }
export const PERMISSION_SELECT = `SELECT p.id, p.role_id, r.name AS role_name, p.rule, p.permission, p.description
  FROM role_permissions p JOIN roles r ON r.id = p.role_id`;
export const permissionView = (p: PermissionRow) => compact({
  id: p.id, roleid: p.role_id, rolename: p.role_name, rule: p.rule, permission: p.permission, description: p.description ?? undefined,
});
