// The infra area's commands (each exported const is a command) and its seed data.
import type { Seeder } from '../../seed.ts';

export { createZone, updateZone, deleteZone, listZones } from './zones.ts';
export { createPod, updatePod, listPods, deletePod } from './pods.ts';
export { addCluster, updateCluster, listClusters, deleteCluster, listHosts } from './clusters.ts';
export {
  createPhysicalNetwork, listPhysicalNetworks, updatePhysicalNetwork, deletePhysicalNetwork,
  addTrafficType, updateTrafficType, deleteTrafficType, listTrafficTypes, listNetworkServiceProviders, updateNetworkServiceProvider,
  listVirtualRouterElements, configureVirtualRouterElement, listInternalLoadBalancerElements, configureInternalLoadBalancerElement,
} from './physicalnetworks.ts';
export { createVlanIpRange, listVlanIpRanges, deleteVlanIpRange } from './vlanranges.ts';

/**
 * Default data of this area, run idempotently at every start. Infrastructure has none: a cloud
 * starts without zones, and an operator (or a test) builds them through the API.
 */
export const seed: Seeder = async () => {};
