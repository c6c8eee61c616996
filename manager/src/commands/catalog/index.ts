// What clients list on their way: OS types/categories, hypervisors, resource limits, and the
// honest empty lists of features Flotilla does not have yet.
export { listOsTypes, listOsCategories, listHypervisors, listAffinityGroups, listSecurityGroups, listInstanceGroups, listResourceLimits } from './catalog.ts';
