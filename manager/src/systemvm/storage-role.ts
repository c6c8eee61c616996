// The secondary storage role (CloudStack's SecondaryStorageVm): one per zone. Its appliance is the
// host agent's `ssvm` role — today the health-only stand-in (appliance-image/src/health-appliance.ts),
// so the VM, its public address, its monitor and the API's start/stop/reboot/destroy work before
// the storage service runs in it. Registration contract for the storage service: an entry point
// started as `<entry> --control <unix socket>` (point APPLIANCE_ENTRIES.ssvm at it) that answers
// `{type:'configure', id, …}` with `{type:'configured', id}` once it serves, and
// `{type:'report', id}` with `{type:'report', id, …}`; what `configure` carries is this role's
// `configure` below (extend it: the store's directory, its secret, the listen port).
import type { SystemVmRole } from './roles.ts';

/** Where the storage appliance serves on its public address (templates, uploads, health). */
export const SECONDARY_STORAGE_PORT = 80;

export const SECONDARY_STORAGE_ROLE: SystemVmRole = {
  type: 'SecondaryStorageVm', apiName: 'secondarystoragevm', appliance: 'ssvm', namePrefix: 's', offering: 'Cloud.com-SecondaryStorage',
  eventPrefix: 'SSVM', enabledKey: 'secondary.storage.vm',
  async configure(_s, vm) {
    return { vmId: vm.vm_id, zoneId: vm.zone_id, port: SECONDARY_STORAGE_PORT, publicIp: vm.public_ip };
  },
};
