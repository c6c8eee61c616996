// The secondary storage role (CloudStack's SecondaryStorageVm): one per zone. Its appliance is the
// host agent's `ssvm` role, the storage service behind the control socket (storage/src/appliance.ts,
// storage/README.md). It is handed the zone's image store — its id, its directory on the host (the
// appliance is a trusted process of the host, so the host's path is its path) and its secret —
// and serves it on port 80 of all its addresses: the manager drives its transfers through the
// agent's relay (commands/storage/runtime.ts), hosts fetch templates from its control address,
// browsers post uploads and fetch extracts at its public one. A zone without an image store gets
// a VM that only answers GET /health until addImageStore re-configures it.
import type { Services } from '../services.ts';
import { STORAGE_VM_PORT, storageOf, storeSecret } from '../commands/storage/runtime.ts';
import type { SystemVmRole, SystemVmRow } from './roles.ts';

/** Where the storage appliance serves on its public address (templates, uploads, health). */
export const SECONDARY_STORAGE_PORT = STORAGE_VM_PORT;

async function zoneStore(s: Services, vm: SystemVmRow) { return storageOf(s).storeForZone(s.db, vm.zone_id); }

export const SECONDARY_STORAGE_ROLE: SystemVmRole = {
  type: 'SecondaryStorageVm', apiName: 'secondarystoragevm', appliance: 'ssvm', namePrefix: 's', offering: 'Cloud.com-SecondaryStorage',
  eventPrefix: 'SSVM', enabledKey: 'secondary.storage.vm',
  async configure(s, vm) {
    const st = await zoneStore(s, vm);
    storageOf(s).forgetVms();
    return {
      vmId: vm.vm_id, zoneId: vm.zone_id, port: SECONDARY_STORAGE_PORT, publicIp: vm.public_ip,
      ...(st ? { storeId: st.id, dir: st.path, secret: storeSecret(s, st.secret) } : {}),
    };
  },
  async stale(s, vm, report) {
    const st = await zoneStore(s, vm);
    return (report.storeId ?? null) !== (st?.id ?? null);
  },
};
