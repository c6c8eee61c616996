// The offerings area: network and service offerings and the global configuration keys. Each
// exported command is registered by commands/index.ts; `seed` runs idempotently at every start.
import type { Seeder } from '../../seed.ts';
import { seedOfferings } from './defaults.ts';

export { createNetworkOffering, listNetworkOfferings, updateNetworkOffering, deleteNetworkOffering } from './network-offerings.ts';
export { createServiceOffering, listServiceOfferings, updateServiceOffering, deleteServiceOffering } from './service-offerings.ts';
export { listConfigurations, updateConfiguration } from './configurations.ts';

/** CloudStack's default network and service offerings and Flotilla's configuration keys. */
export const seed: Seeder = async (sql) => { await seedOfferings(sql); };
