// The registry of system VM roles, as data: a role is a vm_instances type (CloudStack's
// VirtualMachine.Type), the API's systemvmtype name, the appliance role the host agent starts
// (its allow-list names the program; the manager never sends a command line), what the VM needs
// (an offering, a public address, a port its appliance serves), when the zone wants it, and the
// configuration the appliance is handed after every start. The framework (orchestrator.ts)
// starts, monitors, re-creates, stops and destroys the VMs of every registered role alike; a
// role plugs in by calling registerSystemVmRole (console-role.ts, storage-role.ts).
import type { Services } from '../services.ts';

export interface SystemVmRow {
  vm_id: string; instance_name: string; type: string; state: string; zone_id: string; host_id: string | null; pod_id: string | null; last_host_id: string | null;
  public_ip: string; public_netmask: string; public_gateway: string; public_mac: string; control_mac: string; link_local_ip: string;
  sessions: number; report: Record<string, unknown> | null; last_report: Date | null; created: Date;
}

export interface SystemVmRole {
  /** vm_instances.type: ConsoleProxy | SecondaryStorageVm | … */
  readonly type: string;
  /** listSystemVms' systemvmtype: consoleproxy | secondarystoragevm */
  readonly apiName: string;
  /** the appliance role on the host agent's allow-list (agent DEFAULT_APPLIANCES) */
  readonly appliance: string;
  /** instance names `<prefix>-<seq>-VM` (CloudStack: v- console proxy, s- secondary storage) */
  readonly namePrefix: string;
  /** unique name of the system service offering it runs with */
  readonly offering: string;
  /** event type prefix (CloudStack's EventTypes: PROXY.START, SSVM.START, …) */
  readonly eventPrefix: string;
  /** Boolean configuration key: false = the zones get no VM of this role */
  readonly enabledKey: string;
  /** how many VMs of the role a zone wants now (default 1) */
  wanted?(s: Services, zoneId: string, vms: SystemVmRow[]): Promise<number>;
  /** the appliance's `configure` message (type and id are added), sent after every start */
  configure(s: Services, vm: SystemVmRow): Promise<Record<string, unknown>>;
  /** whether a running appliance's last report shows it needs its configuration again */
  stale?(s: Services, vm: SystemVmRow, report: Record<string, unknown>): Promise<boolean>;
  /** periodic work of the role (the console proxy rotates its key here) */
  tick?(s: Services): Promise<void>;
}

const roles = new Map<string, SystemVmRole>();

/** A role registers itself once (by type); registering the same type again replaces it. */
export function registerSystemVmRole(role: SystemVmRole): void { roles.set(role.type, role); }
export function systemVmRoles(): SystemVmRole[] { return [...roles.values()]; }
export function roleOfType(type: string): SystemVmRole | undefined { return roles.get(type); }
export function roleOfApiName(name: string): SystemVmRole | undefined { return [...roles.values()].find((r) => r.apiName === name); }
export function systemVmTypes(): string[] { return [...roles.keys()]; }
