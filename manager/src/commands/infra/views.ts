// Response objects of the infra area: the declared fields (for listApis and docs) next to the
// functions that build them from rows, so the two cannot drift apart. Names follow CloudStack's
// *Response.java classes and the object names its ApiResponseHelper gives them.
import { field as f, type ResponseDef } from '../../api/registry.ts';
import { compact, csDate } from '../../api/serialize.ts';
import { parseIPv4, parseNetmask, subnetOf } from '../../orchestrator/ipam.ts';


// ---- zone ----

export const ZONE: ResponseDef = {
  name: 'zone', tagged: 'Zone',
  fields: {
    id: f('string', 'Zone id'),
    name: f('string', 'Zone name'),
    description: f('string', 'Zone description'),
    dns1: f('string', 'the first DNS for the Zone'),
    dns2: f('string', 'the second DNS for the Zone'),
    ip6dns1: f('string', 'the first IPv6 DNS for the Zone'),
    ip6dns2: f('string', 'the second IPv6 DNS for the Zone'),
    internaldns1: f('string', 'the first internal DNS for the Zone'),
    internaldns2: f('string', 'the second internal DNS for the Zone'),
    guestcidraddress: f('string', 'the guest CIDR address for the Zone'),
    displaytext: f('string', 'the display text of the zone'),
    domain: f('string', 'Network domain name for the networks in the zone'),
    domainid: f('string', 'the UUID of the containing domain, null for public zones'),
    domainname: f('string', 'the name of the containing domain, null for public zones'),
    networktype: f('string', 'the network type of the zone; can be Basic or Advanced'),
    securitygroupsenabled: f('boolean', 'true if security groups support is enabled, false otherwise'),
    allocationstate: f('string', 'the allocation state of the cluster'),
    zonetoken: f('string', 'Zone Token'),
    dhcpprovider: f('string', 'the dhcp Provider for the Zone'),
    localstorageenabled: f('boolean', 'true if local storage offering enabled, false otherwise'),
    tags: f('set', 'the list of resource tags associated with zone.', '4.3'),
    type: f('string', 'the type of the zone - core or edge', '4.18.0'),
    nsxenabled: f('boolean', 'true, if zone is NSX enabled', '4.20.0'),
    multiarch: f('boolean', 'true, if zone contains clusters and hosts from different CPU architectures', '4.20'),
    routedmodeenabled: f('boolean', 'true, if routed network/vpc is enabled', '4.20.1'),
  },
};

export interface ZoneRow {
  id: string; name: string; description: string | null; dns1: string | null; dns2: string | null; ip6dns1: string | null; ip6dns2: string | null;
  internaldns1: string | null; internaldns2: string | null; guest_cidr: string | null; network_type: string; network_domain: string | null;
  domain_id: string | null; domain_name: string | null; domain_path: string | null; allocation_state: string; security_groups_enabled: boolean;
  local_storage_enabled: boolean; dhcp_provider: string; zone_token: string; multi_arch: boolean;
}

export const ZONE_SELECT = `SELECT z.*, d.name AS domain_name, d.path AS domain_path,
  (SELECT count(DISTINCT c.arch) FROM clusters c WHERE c.zone_id = z.id) > 1 AS multi_arch
  FROM zones z LEFT JOIN domains d ON d.id = z.domain_id`;

/**
 * CloudStack answers listZones in two views: the full one for root admins, a restricted one
 * for everyone else, without DNS servers, the guest CIDR or the zone token (ResponseView).
 */
export function zoneView(r: ZoneRow, full: boolean): Record<string, unknown> {
  return compact({
    id: r.id, name: r.name, description: r.description ?? undefined, displaytext: r.description ?? undefined,
    dns1: full ? r.dns1 : undefined, dns2: full ? r.dns2 : undefined, ip6dns1: full ? r.ip6dns1 : undefined, ip6dns2: full ? r.ip6dns2 : undefined,
    internaldns1: full ? r.internaldns1 : undefined, internaldns2: full ? r.internaldns2 : undefined,
    guestcidraddress: full ? r.guest_cidr : undefined, domain: r.network_domain ?? undefined,
    domainid: r.domain_id ?? undefined, domainname: r.domain_name ?? undefined, networktype: r.network_type,
    securitygroupsenabled: r.security_groups_enabled, allocationstate: r.allocation_state,
    zonetoken: full ? r.zone_token : undefined, dhcpprovider: r.dhcp_provider, localstorageenabled: r.local_storage_enabled,
    tags: [], type: 'Core', nsxenabled: false, multiarch: Boolean(r.multi_arch), routedmodeenabled: false,
  });
}

// ---- pod ----

export const POD: ResponseDef = {
  name: 'pod',
  fields: {
    id: f('string', 'the ID of the Pod'),
    name: f('string', 'the name of the Pod'),
    zoneid: f('string', 'the Zone ID of the Pod'),
    zonename: f('string', 'the Zone name of the Pod'),
    gateway: f('string', 'the gateway of the Pod'),
    netmask: f('string', 'the netmask of the Pod'),
    ipranges: f('list', 'the IP ranges for the Pod', '4.16.0'),
    startip: f('list', "the starting IP for the Pod. This parameter is deprecated, please use 'startip' from ipranges parameter."),
    endip: f('list', "the ending IP for the Pod. This parameter is deprecated, please use 'endip' from ipranges parameter."),
    forsystemvms: f('list', "indicates if range is dedicated for CPVM and SSVM. This parameter is deprecated, please use 'forsystemvms' from ipranges parameter."),
    vlanid: f('list', "indicates Vlan ID for the range. This parameter is deprecated, please use 'vlanid' from ipranges parameter."),
    allocationstate: f('string', 'the allocation state of the Pod'),
  },
};

export interface PodRow { id: string; name: string; zone_id: string; zone_name: string; gateway: string | null; netmask: string | null; start_ip: string | null; end_ip: string | null; allocation_state: string }
export const POD_SELECT = `SELECT p.*, z.name AS zone_name FROM pods p JOIN zones z ON z.id = p.zone_id`;

export function podView(r: PodRow): Record<string, unknown> {
  const has = r.start_ip !== null;
  let cidr: string | undefined;
  if (r.gateway && r.netmask) { try { cidr = subnetOf(parseIPv4('gateway', r.gateway), parseNetmask('netmask', r.netmask)).text; } catch { cidr = undefined; } }
  return compact({
    id: r.id, name: r.name, zoneid: r.zone_id, zonename: r.zone_name, gateway: r.gateway, netmask: r.netmask,
    ipranges: has ? [compact({ startip: r.start_ip, endip: r.end_ip ?? undefined, forsystemvms: 'false', vlanid: 'untagged', gateway: r.gateway, cidr })] : [],
    startip: has ? [r.start_ip] : [], endip: has ? [r.end_ip ?? ''] : [], forsystemvms: has ? ['0'] : [], vlanid: has ? ['untagged'] : [],
    allocationstate: r.allocation_state,
  });
}

// ---- cluster ----

export const CLUSTER: ResponseDef = {
  name: 'cluster',
  fields: {
    id: f('string', 'the cluster ID'),
    name: f('string', 'the cluster name'),
    podid: f('string', 'the Pod ID of the cluster'),
    podname: f('string', 'the Pod name of the cluster'),
    zoneid: f('string', 'the Zone ID of the cluster'),
    zonename: f('string', 'the Zone name of the cluster'),
    hypervisortype: f('string', 'the hypervisor type of the cluster'),
    clustertype: f('string', 'the type of the cluster'),
    allocationstate: f('string', 'the allocation state of the cluster'),
    managedstate: f('string', 'whether this cluster is managed by cloudstack'),
    cpuovercommitratio: f('string', 'The cpu overcommit ratio of the cluster'),
    memoryovercommitratio: f('string', 'The memory overcommit ratio of the cluster'),
    arch: f('string', 'CPU Arch of the hosts in the cluster', '4.20'),
  },
};

export interface ClusterRow { id: string; name: string; pod_id: string; pod_name: string; zone_id: string; zone_name: string; hypervisor: string; cluster_type: string; allocation_state: string; managed_state: string; arch: string }
export const CLUSTER_SELECT = `SELECT c.*, p.name AS pod_name, z.name AS zone_name FROM clusters c JOIN pods p ON p.id = c.pod_id JOIN zones z ON z.id = c.zone_id`;

export function clusterView(r: ClusterRow): Record<string, unknown> {
  return compact({
    id: r.id, name: r.name, podid: r.pod_id, podname: r.pod_name, zoneid: r.zone_id, zonename: r.zone_name, hypervisortype: r.hypervisor,
    clustertype: r.cluster_type, allocationstate: r.allocation_state, managedstate: r.managed_state,
    cpuovercommitratio: '1.0', memoryovercommitratio: '1.0', arch: r.arch,
  });
}

// ---- host ----

export const HOST: ResponseDef = {
  name: 'host',
  fields: {
    id: f('string', 'the ID of the host'),
    name: f('string', 'the name of the host'),
    state: f('string', 'the state of the host'),
    disconnected: f('date', 'true if the host is disconnected. False otherwise.'),
    type: f('string', 'the host type'),
    ipaddress: f('string', 'the IP address of the host'),
    zoneid: f('string', 'the Zone ID of the host'),
    zonename: f('string', 'the Zone name of the host'),
    podid: f('string', 'the Pod ID of the host'),
    podname: f('string', 'the Pod name of the host'),
    version: f('string', 'the host version'),
    hypervisor: f('string', 'the host hypervisor'),
    cpunumber: f('integer', 'the CPU number of the host'),
    cpuspeed: f('long', 'the CPU speed of the host'),
    memorytotal: f('long', 'the memory total of the host, this parameter is deprecated use memorywithoverprovisioning'),
    memorywithoverprovisioning: f('string', 'the amount of the host\'s memory after applying the mem.overprovisioning.factor'),
    lastpinged: f('date', 'the date and time the host was last pinged'),
    clusterid: f('string', 'the cluster ID of the host'),
    clustername: f('string', 'the cluster name of the host'),
    clustertype: f('string', 'the cluster type of the cluster that host belongs to'),
    islocalstorageactive: f('boolean', 'true if local storage is active, false otherwise'),
    created: f('date', 'the date and time the host was created'),
    resourcestate: f('string', 'the resource state of the host'),
    arch: f('string', 'CPU Arch of the host', '4.20'),
    cpuallocated: f('string', 'the amount of the host\'s CPU currently allocated'),
    cpuallocatedvalue: f('long', 'the amount of the host\'s CPU currently allocated in MHz'),
    cpuallocatedpercentage: f('string', 'the amount of the host\'s CPU currently allocated in percentage'),
    memoryallocated: f('long', 'the amount of the host\'s memory currently allocated'),
    memoryallocatedpercentage: f('string', 'the amount of the host\'s memory currently allocated in percentage'),
    memoryallocatedbytes: f('long', 'the amount of the host\'s memory currently allocated in bytes'),
  },
};

export interface HostRow {
  id: string; name: string; zone_id: string; zone_name: string; pod_id: string | null; pod_name: string | null; cluster_id: string | null;
  cluster_name: string | null; cluster_type: string | null; type: string; hypervisor: string; state: string; resource_state: string;
  ip_address: string | null; version: string | null; cpu_number: number; cpu_speed: number; memory: string | number; last_ping: Date | null;
  created: Date; arch: string; cpu_allocated?: string | number | null; mem_allocated?: string | number | null;
}
// Allocation as the planner counts it (orchestrator/compute.ts planHost): the offerings of the
// VMs placed on the host and not stopped (CloudStack's cpuallocated / memoryallocated).
const ALLOCATED = (what: string) => `coalesce((SELECT sum(${what}) FROM vm_instances v JOIN service_offerings s ON s.id = v.service_offering_id
    WHERE v.host_id = h.id AND v.state IN ('Starting', 'Running', 'Stopping', 'Migrating')), 0)`;
export const HOST_SELECT = `SELECT h.*, z.name AS zone_name, p.name AS pod_name, c.name AS cluster_name, c.cluster_type,
    ${ALLOCATED('s.cpu_number * s.cpu_speed')} AS cpu_allocated, ${ALLOCATED('s.memory')} * 1048576 AS mem_allocated
  FROM hosts h JOIN zones z ON z.id = h.zone_id LEFT JOIN pods p ON p.id = h.pod_id LEFT JOIN clusters c ON c.id = h.cluster_id`;

const pct = (used: number, total: number) => `${total ? ((100 * used) / total).toFixed(2) : '0.00'}%`;
function allocation(r: HostRow): Record<string, unknown> {
  if (r.cpu_allocated === undefined || r.cpu_allocated === null) return {};
  const cpu = Number(r.cpu_allocated);
  const mem = Number(r.mem_allocated ?? 0);
  const cpuPct = pct(cpu, r.cpu_number * r.cpu_speed);
  return { cpuallocated: cpuPct, cpuallocatedvalue: cpu, cpuallocatedpercentage: cpuPct, memoryallocated: mem, memoryallocatedpercentage: pct(mem, Number(r.memory)), memoryallocatedbytes: mem };
}

export function hostView(r: HostRow): Record<string, unknown> {
  return compact({
    id: r.id, name: r.name, state: r.state, disconnected: r.state !== 'Up' && r.last_ping ? csDate(r.last_ping) : undefined, type: r.type,
    ipaddress: r.ip_address, zoneid: r.zone_id, zonename: r.zone_name, podid: r.pod_id, podname: r.pod_name, version: r.version,
    hypervisor: r.hypervisor, cpunumber: r.cpu_number, cpuspeed: r.cpu_speed, memorytotal: Number(r.memory),
    memorywithoverprovisioning: String(Number(r.memory)), lastpinged: r.last_ping ? csDate(r.last_ping) : undefined,
    clusterid: r.cluster_id, clustername: r.cluster_name, clustertype: r.cluster_type, islocalstorageactive: false,
    created: csDate(r.created), resourcestate: r.resource_state, arch: r.arch, ...allocation(r),
  });
}

// ---- physical network ----

export const PHYSICAL_NETWORK: ResponseDef = {
  name: 'physicalnetwork',
  fields: {
    id: f('string', 'the uuid of the physical network'),
    name: f('string', 'name of the physical network'),
    broadcastdomainrange: f('string', 'Broadcast domain range of the physical network'),
    zoneid: f('string', 'zone id of the physical network'),
    zonename: f('string', 'zone name of the physical network'),
    state: f('string', 'state of the physical network'),
    vlan: f('string', 'the vlan of the physical network'),
    domainid: f('string', 'the domain id of the physical network owner'),
    tags: f('string', 'comma separated tag'),
    isolationmethods: f('string', 'isolation methods'),
    networkspeed: f('string', 'the speed of the physical network'),
  },
};

export interface PhysicalNetworkRow { id: string; name: string; zone_id: string; zone_name: string; vlan: string | null; isolation_methods: string; broadcast_domain_range: string; network_speed: string | null; tags: string | null; domain_id: string | null; state: string }
export const PHYSICAL_NETWORK_SELECT = `SELECT n.*, z.name AS zone_name FROM physical_networks n JOIN zones z ON z.id = n.zone_id`;

export function physicalNetworkView(r: PhysicalNetworkRow): Record<string, unknown> {
  return compact({
    id: r.id, name: r.name, broadcastdomainrange: r.broadcast_domain_range, zoneid: r.zone_id, zonename: r.zone_name, state: r.state,
    vlan: r.vlan || undefined, domainid: r.domain_id, tags: r.tags || undefined, isolationmethods: r.isolation_methods, networkspeed: r.network_speed,
  });
}

// ---- traffic type ----

export const TRAFFIC_TYPE: ResponseDef = {
  name: 'traffictype',
  fields: {
    id: f('string', 'id of the network provider'),
    traffictype: f('string', 'the trafficType to be added to the physical network'),
    physicalnetworkid: f('string', 'the physical network this belongs to'),
    xennetworklabel: f('string', 'The network name label of the physical device dedicated to this traffic on a XenServer host'),
    kvmnetworklabel: f('string', 'The network name label of the physical device dedicated to this traffic on a KVM host'),
    vmwarenetworklabel: f('string', 'The network name label of the physical device dedicated to this traffic on a VMware host'),
    hypervnetworklabel: f('string', 'The network name label of the physical device dedicated to this traffic on a HyperV host'),
    ovm3networklabel: f('string', 'The network name of the physical device dedicated to this traffic on an OVM3 host'),
    vlan: f('string', 'The VLAN id to be used for Management traffic by VMware host'),
    isolationmethods: f('string', 'isolation methods for the physical network traffic'),
  },
};

export interface TrafficTypeRow { id: string; physical_network_id: string; traffic_type: string; kvm_label: string | null; xen_label: string | null; vmware_label: string | null; hyperv_label: string | null; ovm3_label: string | null; isolation_method: string | null; vlan: string | null }

export function trafficTypeView(r: TrafficTypeRow): Record<string, unknown> {
  return compact({
    id: r.id, traffictype: r.traffic_type, physicalnetworkid: r.physical_network_id, xennetworklabel: r.xen_label, kvmnetworklabel: r.kvm_label,
    vmwarenetworklabel: r.vmware_label, hypervnetworklabel: r.hyperv_label, ovm3networklabel: r.ovm3_label, vlan: r.vlan, isolationmethods: r.isolation_method,
  });
}

// ---- network service provider ----

export const NETWORK_SERVICE_PROVIDER: ResponseDef = {
  name: 'networkserviceprovider',
  fields: {
    name: f('string', 'the provider name'),
    physicalnetworkid: f('string', 'the physical network this belongs to'),
    destinationphysicalnetworkid: f('string', 'the destination physical network'),
    state: f('string', 'state of the network provider'),
    id: f('string', 'uuid of the network provider'),
    servicelist: f('list', 'services for this provider'),
    canenableindividualservice: f('boolean', 'true if individual services can be enabled/disabled'),
  },
};

export interface NspRow { id: string; physical_network_id: string; name: string; state: string; services: string; can_enable_individual_service: boolean; dest_physical_network_id: string | null }

export function nspView(r: NspRow): Record<string, unknown> {
  return compact({
    name: r.name, physicalnetworkid: r.physical_network_id, destinationphysicalnetworkid: r.dest_physical_network_id ?? '0', state: r.state, id: r.id,
    servicelist: r.services ? r.services.split(',') : [], canenableindividualservice: r.can_enable_individual_service,
  });
}

// ---- virtual router element ----

export const VIRTUAL_ROUTER_ELEMENT: ResponseDef = {
  name: 'virtualrouterelement',
  fields: {
    id: f('string', 'the id of the router'),
    nspid: f('string', 'the physical network service provider id of the provider'),
    enabled: f('boolean', 'Enabled/Disabled the service provider'),
    account: f('string', 'the account associated with the provider'),
    projectid: f('string', 'the project id of the ipaddress'),
    project: f('string', 'the project name of the address'),
    domainid: f('string', 'the domain ID associated with the provider'),
    domain: f('string', 'the domain associated with the provider'),
  },
};

export interface VrElementRow { id: string; nsp_id: string; type: string; enabled: boolean; account: string; domain_id: string; domain: string }
export const VR_ELEMENT_SELECT = `SELECT e.*, 'system' AS account, d.id AS domain_id, d.name AS domain
  FROM virtual_router_elements e CROSS JOIN (SELECT id, name FROM domains WHERE parent_id IS NULL LIMIT 1) d`;

/** Elements belong to the system account of the ROOT domain, as in CloudStack. */
export function vrElementView(r: VrElementRow): Record<string, unknown> {
  return compact({ id: r.id, nspid: r.nsp_id, enabled: r.enabled, account: r.account, domainid: r.domain_id, domain: r.domain });
}

export const INTERNAL_LB_ELEMENT: ResponseDef = {
  name: 'internalloadbalancerelement',
  fields: {
    id: f('string', 'the id of the internal load balancer element'),
    nspid: f('string', 'the physical network service provider id of the element'),
    enabled: f('boolean', 'Enabled/Disabled the element'),
  },
};

export function internalLbElementView(r: VrElementRow): Record<string, unknown> {
  return { id: r.id, nspid: r.nsp_id, enabled: r.enabled };
}

// ---- VLAN IP range ----

export const VLAN_IP_RANGE: ResponseDef = {
  name: 'vlan',
  fields: {
    id: f('string', 'the ID of the VLAN IP range'),
    forvirtualnetwork: f('boolean', 'the virtual network for the VLAN IP range'),
    zoneid: f('string', 'the Zone ID of the VLAN IP range'),
    vlan: f('string', 'the ID or VID of the VLAN.'),
    account: f('string', 'the account of the VLAN IP range'),
    domainid: f('string', 'the domain ID of the VLAN IP range'),
    domain: f('string', 'the domain name of the VLAN IP range'),
    domainpath: f('string', 'path of the domain to which the VLAN IP range belongs', '4.19.2.0'),
    podid: f('string', 'the Pod ID for the VLAN IP range'),
    podname: f('string', 'the Pod name for the VLAN IP range'),
    description: f('string', 'the description of the VLAN IP range'),
    gateway: f('string', 'the gateway of the VLAN IP range'),
    netmask: f('string', 'the netmask of the VLAN IP range'),
    cidr: f('string', 'the cidr of the VLAN IP range'),
    startip: f('string', 'the start ip of the VLAN IP range'),
    endip: f('string', 'the end ip of the VLAN IP range'),
    networkid: f('string', 'the network id of vlan range'),
    physicalnetworkid: f('string', 'the physical network this belongs to'),
    startipv6: f('string', 'the start ipv6 of the VLAN IP range'),
    endipv6: f('string', 'the end ipv6 of the VLAN IP range'),
    ip6gateway: f('string', 'the gateway of IPv6 network'),
    ip6cidr: f('string', 'the cidr of IPv6 network'),
    forsystemvms: f('boolean', 'indicates whether VLAN IP range is dedicated to system vms or not'),
    fornsx: f('boolean', 'indicates whether IP range is dedicated to NSX resources or not'),
  },
};
/** CloudStack answers createVlanIpRange with the object `vlan` but lists ranges as `vlaniprange`
 *  (ListVlanIpRangesCmd); clients such as Ansible's cs_vlan_ip_range read that key. */
export const VLAN_IP_RANGE_LIST: ResponseDef = { ...VLAN_IP_RANGE, name: 'vlaniprange' };

export interface VlanRangeRow {
  id: string; zone_id: string; pod_id: string | null; pod_name: string | null; physical_network_id: string | null; network_id: string | null; vlan: string;
  for_virtual_network: boolean; gateway: string | null; netmask: string | null; start_ip: string | null; end_ip: string | null;
  ip6_gateway: string | null; ip6_cidr: string | null; start_ipv6: string | null; end_ipv6: string | null; for_system_vms: boolean;
  domain_id: string | null; owner_domain_id: string | null; domain_name: string | null; domain_path: string | null; account_id: string | null; account_name: string | null;
}
// A range dedicated to no one belongs to CloudStack's `system` account in the ROOT domain.
export const VLAN_RANGE_SELECT = `SELECT v.*, p.name AS pod_name, d.id AS owner_domain_id, d.name AS domain_name, d.path AS domain_path,
  CASE WHEN v.domain_id IS NULL THEN 'system' ELSE a.name END AS account_name
  FROM vlan_ip_ranges v LEFT JOIN pods p ON p.id = v.pod_id
  LEFT JOIN domains d ON d.id = coalesce(v.domain_id, (SELECT r.id FROM domains r WHERE r.parent_id IS NULL LIMIT 1))
  LEFT JOIN accounts a ON a.id = v.account_id`;

/** The description CloudStack gives a range: start-end of each family, joined. */
function rangeDescription(r: VlanRangeRow): string {
  const parts: string[] = [];
  if (r.start_ip) parts.push(`${r.start_ip}-${r.end_ip}`);
  if (r.start_ipv6) parts.push(`${r.start_ipv6}-${r.end_ipv6}`);
  return parts.join(',');
}

export function vlanRangeView(r: VlanRangeRow): Record<string, unknown> {
  let cidr: string | undefined;
  if (r.gateway && r.netmask) cidr = subnetOf(parseIPv4('gateway', r.gateway), parseNetmask('netmask', r.netmask)).text;
  return compact({
    id: r.id, forvirtualnetwork: r.for_virtual_network, zoneid: r.zone_id, vlan: r.vlan,
    account: r.account_name, domainid: r.owner_domain_id, domain: r.domain_name, domainpath: r.domain_path,
    podid: r.pod_id, podname: r.pod_name, description: rangeDescription(r) || undefined,
    gateway: r.gateway, netmask: r.netmask, cidr, startip: r.start_ip, endip: r.end_ip, networkid: r.network_id,
    physicalnetworkid: r.physical_network_id, startipv6: r.start_ipv6, endipv6: r.end_ipv6, ip6gateway: r.ip6_gateway, ip6cidr: r.ip6_cidr,
    forsystemvms: r.for_system_vms, fornsx: false,
  });
}

