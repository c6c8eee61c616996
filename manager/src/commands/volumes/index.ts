// Volumes and disk offerings: ROOT volumes of VMs, data volumes, their files on hosts.
import type { Seeder } from '../../seed.ts';
import { seedDiskOfferings } from './offerings.ts';

export { listDiskOfferings, createDiskOffering, deleteDiskOffering } from './offerings.ts';
export { listVolumes, createVolume, attachVolume, detachVolume, resizeVolume, deleteVolume } from './volumes.ts';

export const seed: Seeder = seedDiskOfferings;
