// The roles area: dynamic roles and their rules; permits() is what dispatch and listApis ask.
export {
  createRole, listRoles, updateRole, deleteRole, importRole,
  createRolePermission, listRolePermissions, updateRolePermission, deleteRolePermission,
} from './roles.ts';
