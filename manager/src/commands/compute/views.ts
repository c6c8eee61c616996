// Response objects of the compute area (templates, networks, VMs, NICs, system VMs), declared
// next to the functions that build them from rows.
import { field as f, type ResponseDef } from '../../api/registry.ts';
import { ownerFields, projectColumns } from '../projects/lookup.ts';
import { compact, csDate } from '../../api/serialize.ts';
import { netmaskOf } from '../../orchestrator/ipam.ts';
import { osTypeByName } from '../catalog/ostypes.ts';
import { networkServicesView } from '../offerings/element-capabilities.ts';


// ---- templates ----

export const TEMPLATE: ResponseDef = {
  name: 'template', tagged: 'Template',
  fields: {
    id: f('string', 'the template ID'), name: f('string', 'the template name'), displaytext: f('string', 'the template display text'),
    ispublic: f('boolean', 'true if this template is a public template, false otherwise'), isfeatured: f('boolean', 'true if this template is a featured template, false otherwise'),
    isready: f('boolean', 'true if the template is ready to be deployed from, false otherwise.'), status: f('string', 'the status of the template'),
    format: f('string', 'the format of the template.'), hypervisor: f('string', 'the hypervisor on which the template runs'),
    templatetype: f('string', 'the type of the template'), ostypeid: f('string', 'the ID of the OS type for this template.'), ostypename: f('string', 'the name of the OS type for this template.'),
    passwordenabled: f('boolean', 'true if the reset password feature is enabled, false otherwise'), crossZones: f('boolean', 'true if the template is managed across all Zones, false otherwise'),
    zoneid: f('string', 'the ID of the zone for this template'), zonename: f('string', 'the name of the zone for this template'),
    account: f('string', 'the account name to which the template belongs'), domainid: f('string', 'the ID of the domain to which the template belongs'),
    url: f('string', 'the URL which the template/iso is registered from'), checksum: f('string', 'checksum of the template'), size: f('long', 'the size of the template'), physicalsize: f('long', 'the physical size of the template'),
    created: f('date', 'the date this template was created'), isextractable: f('boolean', 'true if the template is extractable, false otherwise'),
    bootable: f('boolean', 'true if the ISO is bootable, false otherwise'), sshkeyenabled: f('boolean', 'true if template is sshkey enabled, false otherwise'),
  },
};
export interface TemplateRow { id: string; name: string; display_text: string; kind: string; template_type: string; hypervisor: string; format: string; url: string | null; checksum: string | null; os_type: string; is_public: boolean; is_featured: boolean; is_ready: boolean; status: string; password_enabled: boolean; account_id: string | null; account_name: string | null; domain_id: string | null; zone_id: string | null; zone_name: string | null; size: number | null; created: Date; store_id?: string | null; transfer_state?: string | null; physical_size?: number | null; sha256?: string | null; compression?: string | null; is_iso?: boolean; bootable?: boolean; is_extractable?: boolean; removed?: Date | null }
export const TEMPLATE_SELECT = `SELECT t.*, a.name AS account_name, z.name AS zone_name FROM templates t LEFT JOIN accounts a ON a.id = t.account_id LEFT JOIN zones z ON z.id = t.zone_id`;
export function templateView(r: TemplateRow): Record<string, unknown> {
  return compact({
    id: r.id, name: r.name, displaytext: r.display_text, ispublic: r.is_public, isfeatured: r.is_featured, isready: r.is_ready, status: r.status,
    format: r.format, hypervisor: r.hypervisor, templatetype: r.template_type, ostypename: r.os_type, ostypeid: osTypeByName(r.os_type)?.id, passwordenabled: r.password_enabled,
    crossZones: r.zone_id === null, zoneid: r.zone_id ?? undefined, zonename: r.zone_name ?? undefined, account: r.account_name ?? 'system',
    domainid: r.domain_id ?? undefined, url: r.url ?? undefined, checksum: r.checksum ?? undefined, size: r.size === null ? undefined : Number(r.size), physicalsize: r.physical_size == null ? undefined : Number(r.physical_size),
    created: csDate(r.created), isextractable: r.is_extractable ?? false, bootable: r.bootable ?? true, sshkeyenabled: false,
  });
}

// ---- networks ----

export const NETWORK: ResponseDef = {
  name: 'network', tagged: 'Network',
  fields: {
    id: f('string', 'the id of the network'), name: f('string', 'the name of the network'), displaytext: f('string', 'the displaytext of the network'),
    broadcastdomaintype: f('string', 'Broadcast domain type of the network'), traffictype: f('string', 'the traffic type of the network'),
    gateway: f('string', 'the network\'s gateway'), netmask: f('string', 'the network\'s netmask'), cidr: f('string', 'Cloudstack managed address space, all CloudStack managed VMs get IP address from CIDR'),
    zoneid: f('string', 'zone id of the network'), zonename: f('string', 'the name of the zone the network belongs to'),
    networkofferingid: f('string', 'network offering id the network is created from'), networkofferingname: f('string', 'name of the network offering the network is created from'),
    networkofferingdisplaytext: f('string', 'display text of the network offering the network is created from'),
    state: f('string', 'state of the network'), type: f('string', 'the type of the network'), vlan: f('string', 'The vlan of the network. This parameter is visible to ROOT admins only'),
    broadcasturi: f('string', 'broadcast uri of the network. This parameter is visible to ROOT admins only'), acltype: f('string', 'acl type - access type to the network'), subdomainaccess: f('boolean', 'true if users from subdomains can access the domain level network'),
    account: f('string', 'the owner of the network'), projectid: f('string', 'the project id of the network'), project: f('string', 'the project name of the network'), domainid: f('string', 'the domain id of the network owner'), domain: f('string', 'the domain name of the network owner'),
    networkdomain: f('string', 'the network domain'), physicalnetworkid: f('string', 'the physical network id'), dns1: f('string', 'the first IPv4 DNS for the network'),
    dns2: f('string', 'the second IPv4 DNS for the network'), ip6gateway: f('string', 'the gateway of IPv6 network'), ip6cidr: f('string', 'the cidr of IPv6 network'),
    issystem: f('boolean', 'true if network is system, false otherwise'), canusefordeploy: f('boolean', 'list networks available for vm deployment'),
    restartrequired: f('boolean', 'true network requires restart'), specifyipranges: f('boolean', 'true if network supports specifying ip ranges, false otherwise'),
    ispersistent: f('boolean', 'list networks that are persistent'), service: f('list', 'the list of services'), created: f('date', 'the date this network was created'),
  },
};
export interface NetworkRow { project_id?: string | null; project_name?: string | null; id: string; subdomain_access: boolean | null; name: string; display_text: string; zone_id: string; zone_name: string; physical_network_id: string | null; network_offering_id: string; offering_name: string; offering_display_text: string; services: Record<string, string[]>; guest_type: string; acl_type: string; account_id: string | null; account_name: string | null; domain_id: string; domain_name: string; domain_path: string; state: string; vni: number | null; cidr: string | null; gateway: string | null; start_ip: string | null; end_ip: string | null; ip6_gateway: string | null; ip6_cidr: string | null; network_domain: string | null; dns1: string | null; dns2: string | null; created: Date; specify_ip_ranges: boolean }
export const NETWORK_SELECT = `SELECT n.*, z.name AS zone_name, o.name AS offering_name, o.display_text AS offering_display_text, o.services, o.specify_ip_ranges,
  a.name AS account_name, d.name AS domain_name, d.path AS domain_path, ${projectColumns('n')}
  FROM networks n JOIN zones z ON z.id = n.zone_id JOIN network_offerings o ON o.id = n.network_offering_id
  LEFT JOIN accounts a ON a.id = n.account_id JOIN domains d ON d.id = n.domain_id`;
/** What a count of listed networks needs: the WHERE of listNetworks refers to n only. */
export const NETWORK_COUNT_FROM = 'FROM networks n';
/** The dotted netmask of a CIDR's prefix length, as CloudStack shows beside it. */
export const cidrNetmask = (cidr: string | null): string | undefined => (cidr ? netmaskOf(Number(cidr.split('/')[1])) : undefined);
export function networkView(r: NetworkRow, admin: boolean): Record<string, unknown> {
  return compact({
    id: r.id, name: r.name, displaytext: r.display_text, broadcastdomaintype: 'Vxlan', traffictype: 'Guest', gateway: r.gateway ?? undefined,
    netmask: cidrNetmask(r.cidr), cidr: r.cidr ?? undefined, zoneid: r.zone_id, zonename: r.zone_name, networkofferingid: r.network_offering_id,
    networkofferingname: r.offering_name, networkofferingdisplaytext: r.offering_display_text, state: r.state, type: r.guest_type,
    vlan: admin && r.vni ? String(r.vni) : undefined, broadcasturi: admin && r.vni ? `vxlan://${r.vni}` : undefined, acltype: r.acl_type, subdomainaccess: r.acl_type === 'Domain' ? r.subdomain_access ?? true : undefined,
    ...ownerFields(r, r.account_name), domainid: r.domain_id, domain: r.domain_name, networkdomain: r.network_domain ?? undefined,
    physicalnetworkid: admin ? r.physical_network_id ?? undefined : undefined, dns1: r.dns1 ?? undefined, dns2: r.dns2 ?? undefined,
    ip6gateway: r.ip6_gateway ?? undefined, ip6cidr: r.ip6_cidr ?? undefined, issystem: false, canusefordeploy: r.state !== 'Destroy',
    restartrequired: false, specifyipranges: r.specify_ip_ranges, ispersistent: false,
    service: networkServicesView(r.services),
    created: csDate(r.created),
  });
}

// ---- NICs and VMs ----

export const NIC: ResponseDef = {
  name: 'nic',
  fields: {
    id: f('string', 'the ID of the nic'), networkid: f('string', 'the ID of the corresponding network'), networkname: f('string', 'the name of the corresponding network'),
    netmask: f('string', 'the netmask of the nic'), gateway: f('string', 'the gateway of the nic'), ipaddress: f('string', 'the ip address of the nic'),
    isolationuri: f('string', 'the isolation uri of the nic'), broadcasturi: f('string', 'the broadcast uri of the nic'), traffictype: f('string', 'the traffic type of the nic'),
    type: f('string', 'the type of the nic'), isdefault: f('boolean', 'true if nic is default, false otherwise'), macaddress: f('string', 'true if nic is default, false otherwise'),
    deviceid: f('string', 'device id for the network when plugged into the virtual machine'), virtualmachineid: f('string', 'Id of the vm to which the nic belongs'),
  },
};
export interface NicRow { id: string; vm_id: string; network_id: string; network_name: string; cidr: string | null; gateway: string | null; vni: number | null; guest_type: string; device_id: number; mac: string; ip4: string | null; is_default: boolean }
export const NIC_SELECT = `SELECT c.*, n.name AS network_name, n.cidr, n.gateway, n.vni, n.guest_type FROM nics c JOIN networks n ON n.id = c.network_id`;
export function nicView(r: NicRow): Record<string, unknown> {
  return compact({
    id: r.id, networkid: r.network_id, networkname: r.network_name, netmask: cidrNetmask(r.cidr), gateway: r.gateway ?? undefined, ipaddress: r.ip4 ?? undefined,
    isolationuri: r.vni ? `vxlan://${r.vni}` : undefined, broadcasturi: r.vni ? `vxlan://${r.vni}` : undefined, traffictype: 'Guest', type: r.guest_type,
    isdefault: r.is_default, macaddress: r.mac, deviceid: String(r.device_id), virtualmachineid: r.vm_id,
  });
}

export const VM: ResponseDef = {
  name: 'virtualmachine', tagged: 'UserVm',
  fields: {
    id: f('string', 'the ID of the virtual machine'), name: f('string', 'the name of the virtual machine'), displayname: f('string', 'user generated name. The name of the virtual machine is returned if no displayname exists.'),
    instancename: f('string', 'instance name of the user vm; this parameter is returned to the ROOT admin only'), state: f('string', 'the state of the virtual machine'),
    account: f('string', 'the account associated with the virtual machine'), projectid: f('string', 'the project id of the vm'), project: f('string', 'the project name of the vm'), domainid: f('string', 'the ID of the domain in which the virtual machine exists'), domain: f('string', 'the name of the domain in which the virtual machine exists'),
    zoneid: f('string', 'the ID of the availability zone for the virtual machine'), zonename: f('string', 'the name of the availability zone for the virtual machine'),
    hostid: f('string', 'the ID of the host for the virtual machine'), hostname: f('string', 'the name of the host for the virtual machine'),
    templateid: f('string', 'the ID of the template for the virtual machine. A -1 is returned if the virtual machine was created from an ISO file.'),
    templatename: f('string', 'the name of the template for the virtual machine'), serviceofferingid: f('string', 'the ID of the service offering of the virtual machine'),
    serviceofferingname: f('string', 'the name of the service offering of the virtual machine'), cpunumber: f('integer', 'the number of vCPUs this virtual machine is using'),
    cpuspeed: f('integer', 'the speed of each vCPU'), memory: f('integer', 'the memory allocated for the virtual machine'), hypervisor: f('string', 'the hypervisor on which the template runs'),
    nic: f('set', 'the list of nics associated with vm'), passwordenabled: f('boolean', 'true if the password rest feature is enabled, false otherwise'),
    haenable: f('boolean', 'true if high-availability is enabled, false otherwise'), created: f('date', 'the date when this virtual machine was created'),
    keypair: f('string', 'ssh key-pair'), keypairs: f('string', 'ssh key-pairs', '4.17.0'), userdata: f('string', 'Base64 string containing the user data'),
    password: f('string', 'the password (if exists) of the virtual machine'),
  },
};
export interface VmRow { project_id?: string | null; project_name?: string | null; id: string; name: string; display_name: string | null; instance_name: string; type: string; state: string; zone_id: string; zone_name: string; host_id: string | null; host_name: string | null; host_hypervisor: string | null; template_id: string; template_name: string; template_hypervisor: string; password_enabled: boolean; service_offering_id: string; offering_name: string; cpu_number: number; cpu_speed: number; memory: number; account_id: string; account_name: string; domain_id: string; domain_name: string; domain_path: string; account_type: number; user_data: string | null; keypair: string | null; created: Date; pod_id: string | null }
export const VM_SELECT = `SELECT v.*, z.name AS zone_name, h.name AS host_name, h.hypervisor AS host_hypervisor, t.name AS template_name, t.hypervisor AS template_hypervisor,
  t.password_enabled, s.name AS offering_name, s.cpu_number, s.cpu_speed, s.memory, a.name AS account_name, a.type AS account_type, d.name AS domain_name, d.path AS domain_path, ${projectColumns('v')}
  FROM vm_instances v JOIN zones z ON z.id = v.zone_id LEFT JOIN hosts h ON h.id = v.host_id JOIN templates t ON t.id = v.template_id
  JOIN service_offerings s ON s.id = v.service_offering_id JOIN accounts a ON a.id = v.account_id JOIN domains d ON d.id = v.domain_id`;
export function vmView(r: VmRow, nics: NicRow[], admin: boolean, withUserData = false): Record<string, unknown> {
  return compact({
    id: r.id, name: r.name, displayname: r.display_name ?? r.name, instancename: admin ? r.instance_name : undefined, state: r.state,
    ...ownerFields(r, r.account_name), domainid: r.domain_id, domain: r.domain_name, zoneid: r.zone_id, zonename: r.zone_name,
    hostid: admin ? r.host_id ?? undefined : undefined, hostname: admin ? r.host_name ?? undefined : undefined,
    templateid: r.template_id, templatename: r.template_name, serviceofferingid: r.service_offering_id, serviceofferingname: r.offering_name,
    cpunumber: r.cpu_number, cpuspeed: r.cpu_speed, memory: r.memory, hypervisor: r.host_hypervisor ?? r.template_hypervisor,
    nic: nics.filter((n) => n.vm_id === r.id).sort((a, b) => a.device_id - b.device_id).map(nicView), passwordenabled: r.password_enabled,
    haenable: false, created: csDate(r.created), keypair: r.keypair ?? undefined, keypairs: r.keypair ?? undefined, userdata: withUserData ? r.user_data ?? undefined : undefined,
  });
}
