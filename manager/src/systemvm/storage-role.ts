// The secondary storage role (CloudStack's SecondaryStorageVm): one per zone. Its appliance is the
// host agent's `storage` role — storage/src/main.ts once that exists; until then the agent bundles
// the health-only stand-in (appliance-image/src/health-appliance.ts), so the VM, its public
// address, its monitor and the API's start/stop/reboot/destroy work today. Registration contract
// for the storage service: the appliance answers `{type:'configure', id, …}` with
// `{type:'configured', id}` and `{type:'report', id}` with `{type:'report', id, …}` on its control
// socket; what `configure` carries is this role's `configure` below (extend it here).
import type { SystemVmRole } from './roles.ts';

/** Where the storage appliance serves on its public address (templates, uploads, health). */
export const SECONDARY_STORAGE_PORT = 80;

export const SECONDARY_STORAGE_ROLE: SystemVmRole = {
  type: 'SecondaryStorageVm', apiName: 'secondarystoragevm', appliance: 'storage', namePrefix: 's', offering: 'Cloud.com-SecondaryStorage',
  eventPrefix: 'SSVM', enabledKey: 'secondary.storage.vm',
  async configure(_s, vm) {
    return { vmId: vm.vm_id, zoneId: vm.zone_id, port: SECONDARY_STORAGE_PORT, publicIp: vm.public_ip };
  },
};
