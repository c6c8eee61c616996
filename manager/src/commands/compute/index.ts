// The compute area: hosts, templates, guest networks, VMs, system VMs.
import type { Seeder } from '../../seed.ts';
import { seedTemplates } from './templates.ts';

export { addHost, updateHost, deleteHost, prepareHostForMaintenance, cancelHostMaintenance } from './hosts.ts';
export { listTemplates, registerTemplate } from './templates.ts';
export { listSystemVms, startSystemVm, stopSystemVm, rebootSystemVm, destroySystemVm } from './systemvms.ts';
export { createNetwork, listNetworks, deleteNetwork, updateNetwork, restartNetwork } from './networks.ts';
export { deployVirtualMachine, listVirtualMachines, startVirtualMachine, stopVirtualMachine, rebootVirtualMachine, destroyVirtualMachine, listNics, updateVirtualMachine, resetPasswordForVirtualMachine, getVMPassword, resetSSHKeyForVirtualMachine,
  expungeVirtualMachine, recoverVirtualMachine, changeServiceForVirtualMachine, scaleVirtualMachine } from './vms.ts';

export const seed: Seeder = async (sql) => { await seedTemplates(sql); };
