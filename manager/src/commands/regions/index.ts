// The regions area: the local region (id 1) and the peers an admin records.
export { addRegion, listRegions, updateRegion, removeRegion } from './regions.ts';
