// The system VM framework (roles.ts, orchestrator.ts) with the roles Flotilla has. Another role
// registers itself the same way: registerSystemVmRole({ type, apiName, appliance, … }).
import { registerSystemVmRole } from './roles.ts';
import { CONSOLE_PROXY_ROLE } from './console-role.ts';
import { SECONDARY_STORAGE_ROLE } from './storage-role.ts';

registerSystemVmRole(CONSOLE_PROXY_ROLE);
registerSystemVmRole(SECONDARY_STORAGE_ROLE);

export { registerSystemVmRole, systemVmRoles, systemVmTypes, roleOfType, roleOfApiName, type SystemVmRole, type SystemVmRow } from './roles.ts';
export { startSystemVmMonitor, checkSystemVms, reconcileSystemVms, systemVmsEnabled } from './orchestrator.ts';
