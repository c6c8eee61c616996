// Response objects of the network area (routers, public IP addresses, firewall, egress and
// port-forwarding rules), declared next to the functions that build them from rows. Rule lists
// carry two fields CloudStack does not have: `packets` and `bytes`, the rule's hit counters as
// its router last reported them (connections it opened, see firewall/README.md).
import { field as f, type ResponseDef } from '../../api/registry.ts';
import { ownerFields, projectColumns } from '../projects/lookup.ts';
import { compact, csDate, CS_VERSION } from '../../api/serialize.ts';
import { cidrNetmask } from '../compute/views.ts';


export type Counters = Map<string, { packets: number; bytes: number }>;
const COUNTER_FIELDS = {
  packets: f('long', 'Flotilla: packets that opened connections through this rule, as its router last reported'),
  bytes: f('long', 'Flotilla: bytes of those packets, as its router last reported'),
};
const counted = (c: Counters | undefined, id: string) => ({ packets: c?.get(id)?.packets ?? 0, bytes: c?.get(id)?.bytes ?? 0 });

// ---- routers ----

export const ROUTER: ResponseDef = {
  name: 'router',
  fields: {
    id: f('string', 'the id of the router'), name: f('string', 'the name of the router'), state: f('string', 'the state of the router'),
    zoneid: f('string', 'the Zone ID for the router'), zonename: f('string', 'the Zone name for the router'), podid: f('string', 'the Pod ID for the router'),
    hostid: f('string', 'the host ID for the router'), hostname: f('string', 'the hostname for the router'), hypervisor: f('string', 'the hypervisor on which the template runs'),
    templateid: f('string', 'the template ID for the router'), templatename: f('string', 'the template name for the router'),
    serviceofferingid: f('string', 'the ID of the service offering of the virtual machine'), serviceofferingname: f('string', 'the name of the service offering of the virtual machine'),
    account: f('string', 'the account associated with the router'), domainid: f('string', 'the domain ID associated with the router'), domain: f('string', 'the domain associated with the router'),
    created: f('date', 'the date and time the router was created'), role: f('string', 'role of the domain router'),
    dns1: f('string', 'the first DNS for the router'), dns2: f('string', 'the second DNS for the router'), networkdomain: f('string', 'the network domain for the router'),
    gateway: f('string', 'the gateway for the router'),
    publicip: f('string', 'the public IP address for the router'), publicmacaddress: f('string', 'the public MAC address for the router'),
    publicnetmask: f('string', 'the public netmask for the router'), publicnetworkid: f('string', 'the ID of the corresponding public network'),
    guestipaddress: f('string', 'the guest IP address for the router'), guestmacaddress: f('string', 'the guest MAC address for the router'),
    guestnetmask: f('string', 'the guest netmask for the router'), guestnetworkid: f('string', 'the ID of the corresponding guest network'),
    guestnetworkname: f('string', 'the name of the corresponding guest network'),
    linklocalip: f('string', 'the link local IP address for the router'), linklocalmacaddress: f('string', 'the link local MAC address for the router'),
    linklocalnetmask: f('string', 'the link local netmask for the router'), linklocalnetworkid: f('string', 'the ID of the corresponding link local network'),
    isredundantrouter: f('boolean', 'if this router is an redundant virtual router'), redundantstate: f('string', 'the state of redundant virtual router'),
    requiresupgrade: f('boolean', 'true if the router template requires upgrader'), version: f('string', 'the version of template'),
    softwareversion: f('string', 'the version of the code / software in the router'),
    healthcheckresults: f('list', 'Last executed health check result for the router'), healthchecksfailed: f('boolean', 'true if any health checks had failed'),
    generation: f('integer', 'Flotilla: generation of the router\'s desired state (RouterSpec)'),
    appliedgeneration: f('integer', 'Flotilla: generation the router last reported as applied'),
  },
};
export interface RouterViewRow {
  id: string; name: string; state: string; zone_id: string; zone_name: string; pod_id: string | null; host_id: string | null; host_name: string | null;
  template_id: string; template_name: string; service_offering_id: string; offering_name: string; account_name: string; domain_id: string; domain_name: string; domain_path: string; account_id: string;
  created: Date; network_id: string; network_name: string; cidr: string; network_gateway: string; network_domain: string | null; dns1: string | null; dns2: string | null;
  zone_dns1: string | null; zone_dns2: string | null; public_mac: string; control_mac: string; link_local_ip: string; guest_mac: string | null;
  generation: number; applied_generation: number | null; health: Record<string, { ok: boolean; detail?: string }> | null; last_report: Date | null;
  public_ip: string | null; public_netmask: string | null; public_gateway: string | null; public_network_id: string | null;
}
export const ROUTER_SELECT = `SELECT v.id, v.name, v.state, v.zone_id, z.name AS zone_name, v.pod_id, v.host_id, h.name AS host_name, v.template_id, t.name AS template_name,
  v.service_offering_id, so.name AS offering_name, a.name AS account_name, v.account_id, v.domain_id, d.name AS domain_name, d.path AS domain_path, v.created,
  r.network_id, n.name AS network_name, n.cidr, n.gateway AS network_gateway, n.network_domain, n.dns1, n.dns2, z.dns1 AS zone_dns1, z.dns2 AS zone_dns2,
  r.public_mac, r.control_mac, r.link_local_ip, c.mac AS guest_mac, r.generation, r.applied_generation, r.health, r.last_report,
  p.address AS public_ip, vr.netmask AS public_netmask, vr.gateway AS public_gateway, vr.physical_network_id AS public_network_id
  FROM routers r JOIN vm_instances v ON v.id = r.vm_id JOIN networks n ON n.id = r.network_id JOIN zones z ON z.id = v.zone_id
  LEFT JOIN hosts h ON h.id = v.host_id JOIN templates t ON t.id = v.template_id JOIN service_offerings so ON so.id = v.service_offering_id
  JOIN accounts a ON a.id = v.account_id JOIN domains d ON d.id = v.domain_id LEFT JOIN nics c ON c.vm_id = v.id AND c.device_id = 0
  LEFT JOIN public_ip_addresses p ON p.network_id = r.network_id AND p.is_source_nat LEFT JOIN vlan_ip_ranges vr ON vr.id = p.vlan_range_id`;
export function routerView(r: RouterViewRow): Record<string, unknown> {
  const checks = Object.entries(r.health ?? {}).map(([name, h]) => compact({
    checkname: name, checktype: 'basic', success: h.ok, details: h.detail ?? (h.ok ? 'ok' : 'failed'), lastupdated: csDate(r.last_report),
  }));
  return compact({
    id: r.id, name: r.name, state: r.state, zoneid: r.zone_id, zonename: r.zone_name, podid: r.pod_id ?? undefined, hostid: r.host_id ?? undefined,
    hostname: r.host_name ?? undefined, hypervisor: 'LXC', templateid: r.template_id, templatename: r.template_name, serviceofferingid: r.service_offering_id,
    serviceofferingname: r.offering_name, account: r.account_name, domainid: r.domain_id, domain: r.domain_name, created: csDate(r.created), role: 'VIRTUAL_ROUTER',
    dns1: r.dns1 ?? r.zone_dns1 ?? undefined, dns2: r.dns2 ?? r.zone_dns2 ?? undefined, networkdomain: r.network_domain ?? undefined, gateway: r.public_gateway ?? undefined,
    publicip: r.public_ip ?? undefined, publicmacaddress: r.public_mac, publicnetmask: r.public_netmask ?? undefined, publicnetworkid: r.public_network_id ?? undefined,
    guestipaddress: r.network_gateway, guestmacaddress: r.guest_mac ?? undefined, guestnetmask: cidrNetmask(r.cidr), guestnetworkid: r.network_id, guestnetworkname: r.network_name,
    linklocalip: r.link_local_ip, linklocalmacaddress: r.control_mac, linklocalnetmask: '255.255.0.0', linklocalnetworkid: 'control',
    isredundantrouter: false, redundantstate: 'UNKNOWN', requiresupgrade: false, version: CS_VERSION.split('-')[0], softwareversion: CS_VERSION,
    healthcheckresults: checks, healthchecksfailed: checks.some((c) => c.success === false),
    generation: r.generation, appliedgeneration: r.applied_generation ?? undefined,
  });
}

// ---- public IP addresses ----

export const IP_ADDRESS: ResponseDef = {
  name: 'publicipaddress', tagged: 'PublicIpAddress',
  fields: {
    id: f('string', 'public IP address id'), ipaddress: f('string', 'public IP address'), allocated: f('date', 'date the public IP address was acquired'),
    zoneid: f('string', 'the ID of the zone the public IP address belongs to'), zonename: f('string', 'the name of the zone the public IP address belongs to'),
    issourcenat: f('boolean', 'true if the IP address is a source nat address, false otherwise'), account: f('string', 'the account the public IP address is associated with'),
    projectid: f('string', 'the project id of the ipaddress'), project: f('string', 'the project name of the address'),
    domainid: f('string', 'the domain ID the public IP address is associated with'), domain: f('string', 'the domain the public IP address is associated with'),
    forvirtualnetwork: f('boolean', 'the virtual network for the IP address'), vlanid: f('string', 'the ID of the VLAN associated with the IP address. This parameter is visible to ROOT admins only'),
    vlanname: f('string', 'the VLAN associated with the IP address'), isstaticnat: f('boolean', 'true if this ip is for static nat, false otherwise'),
    issystem: f('boolean', 'true if this ip is system ip (was allocated as a part of deployVm or createLbRule)'),
    virtualmachineid: f('string', 'virtual machine id the ip address is assigned to'), virtualmachinename: f('string', 'virtual machine name the ip address is assigned to'),
    virtualmachinedisplayname: f('string', 'virtual machine display name the ip address is assigned to (not null only for static nat Ip)'),
    vmipaddress: f('string', 'virtual machine (dnat) ip address (not null only for static nat Ip)'),
    associatednetworkid: f('string', 'the ID of the Network associated with the IP address'), associatednetworkname: f('string', 'the name of the Network associated with the IP address'),
    networkid: f('string', 'the ID of the Network where ip belongs to'), state: f('string', 'State of the ip address. Can be: Allocating, Allocated, Releasing, Reserved and Free'),
    physicalnetworkid: f('string', 'the physical network this belongs to'), fordisplay: f('boolean', 'is public ip for display to the regular user'),
  },
};
export interface IpViewRow {
  project_id?: string | null; project_name?: string | null;
  id: string; address: string; allocated: Date; zone_id: string; zone_name: string; is_source_nat: boolean; account_id: string | null; account_name: string | null;
  domain_id: string | null; domain_name: string | null; domain_path: string | null; vlan_range_id: string; vlan: string; static_nat_vm_id: string | null; static_nat_ip: string | null;
  vm_name: string | null; vm_display_name: string | null; network_id: string | null; network_name: string | null; physical_network_id: string | null; state: string;
}
export const IP_SELECT = `SELECT p.id, p.address, p.allocated, p.zone_id, z.name AS zone_name, p.is_source_nat, p.account_id, a.name AS account_name, p.domain_id,
  d.name AS domain_name, d.path AS domain_path, p.vlan_range_id, r.vlan, p.static_nat_vm_id, p.static_nat_ip, v.name AS vm_name, v.display_name AS vm_display_name,
  p.network_id, n.name AS network_name, r.physical_network_id, p.state, ${projectColumns('p')}
  FROM public_ip_addresses p JOIN zones z ON z.id = p.zone_id JOIN vlan_ip_ranges r ON r.id = p.vlan_range_id LEFT JOIN accounts a ON a.id = p.account_id
  LEFT JOIN domains d ON d.id = p.domain_id LEFT JOIN vm_instances v ON v.id = p.static_nat_vm_id LEFT JOIN networks n ON n.id = p.network_id`;
export function ipView(r: IpViewRow, admin: boolean): Record<string, unknown> {
  return compact({
    id: r.id, ipaddress: r.address, allocated: csDate(r.allocated), zoneid: r.zone_id, zonename: r.zone_name, issourcenat: r.is_source_nat,
    ...ownerFields(r, r.account_name), domainid: r.domain_id ?? undefined, domain: r.domain_name ?? undefined, forvirtualnetwork: true,
    vlanid: admin ? r.vlan_range_id : undefined, vlanname: admin ? r.vlan : undefined, isstaticnat: r.static_nat_vm_id !== null, issystem: false,
    virtualmachineid: r.static_nat_vm_id ?? undefined, virtualmachinename: r.vm_name ?? undefined, virtualmachinedisplayname: r.vm_display_name ?? undefined,
    vmipaddress: r.static_nat_ip ?? undefined, associatednetworkid: r.network_id ?? undefined, associatednetworkname: r.network_name ?? undefined,
    networkid: r.physical_network_id ?? undefined, state: r.state, physicalnetworkid: r.physical_network_id ?? undefined, fordisplay: true,
  });
}

// ---- rules ----

export interface RuleViewRow {
  id: string; purpose: string; network_id: string; ip_address_id: string | null; address: string | null; protocol: string; start_port: number | null; end_port: number | null;
  icmp_type: number | null; icmp_code: number | null; source_cidrs: string[]; dest_cidrs: string[]; vm_id: string | null; vm_name: string | null; vm_display_name: string | null;
  private_ip: string | null; private_start_port: number | null; private_end_port: number | null; state: string; account_id: string; domain_id: string; created: Date;
}
export const RULE_SELECT = `SELECT r.*, p.address, v.name AS vm_name, v.display_name AS vm_display_name
  FROM network_rules r LEFT JOIN public_ip_addresses p ON p.id = r.ip_address_id LEFT JOIN vm_instances v ON v.id = r.vm_id`;

export const FIREWALL_RULE: ResponseDef = {
  name: 'firewallrule', tagged: 'FirewallRule',
  fields: {
    id: f('string', 'the ID of the firewall rule'), protocol: f('string', 'the protocol of the firewall rule'), startport: f('integer', 'the starting port of firewall rule\'s port range'),
    endport: f('integer', 'the ending port of firewall rule\'s port range'), ipaddressid: f('string', 'the public ip address id for the firewall rule'),
    ipaddress: f('string', 'the public ip address for the firewall rule'), networkid: f('string', 'the network id of the firewall rule'), state: f('string', 'the state of the rule'),
    cidrlist: f('string', 'the cidr list to forward traffic from. Multiple entries are separated by a single comma character (,).'),
    destcidrlist: f('string', 'the cidr list to forward traffic to. Multiple entries are separated by a single comma character (,).'),
    icmptype: f('integer', 'type of the icmp message being sent'), icmpcode: f('integer', 'error code for this icmp message'),
    fordisplay: f('boolean', 'is rule for display to the regular user'), ...COUNTER_FIELDS,
  },
};
export function firewallRuleView(r: RuleViewRow, c?: Counters): Record<string, unknown> {
  return compact({
    id: r.id, protocol: r.protocol, startport: r.start_port ?? undefined, endport: r.end_port ?? undefined, ipaddressid: r.ip_address_id ?? undefined, ipaddress: r.address ?? undefined,
    networkid: r.network_id, state: r.state, cidrlist: (r.source_cidrs.length ? r.source_cidrs : r.purpose === 'Egress' ? [] : ['0.0.0.0/0']).join(',') || undefined,
    destcidrlist: r.purpose === 'Egress' ? r.dest_cidrs.join(',') : undefined,
    icmptype: r.icmp_type ?? undefined, icmpcode: r.icmp_code ?? undefined, fordisplay: true, ...counted(c, r.id),
  });
}

export const PORT_FORWARDING_RULE: ResponseDef = {
  name: 'portforwardingrule', tagged: 'PortForwardingRule',
  fields: {
    id: f('string', 'the ID of the port forwarding rule'), privateport: f('string', 'the starting port of port forwarding rule\'s private port range'),
    privateendport: f('string', 'the ending port of port forwarding rule\'s private port range'), protocol: f('string', 'the protocol of the port forwarding rule'),
    publicport: f('string', 'the starting port of port forwarding rule\'s public port range'), publicendport: f('string', 'the ending port of port forwarding rule\'s private port range'),
    virtualmachineid: f('string', 'the VM ID for the port forwarding rule'), virtualmachinename: f('string', 'the VM name for the port forwarding rule'),
    virtualmachinedisplayname: f('string', 'the VM display name for the port forwarding rule'), ipaddressid: f('string', 'the public ip address id for the port forwarding rule'),
    ipaddress: f('string', 'the public ip address for the port forwarding rule'), state: f('string', 'the state of the rule'),
    cidrlist: f('string', 'the cidr list to forward traffic from. Multiple entries are separated by a single comma character (,).'),
    vmguestip: f('string', 'the vm ip address for the port forwarding rule'), networkid: f('string', 'the id of the guest network the port forwarding rule belongs to'),
    fordisplay: f('boolean', 'is firewall for display to the regular user'), ...COUNTER_FIELDS,
  },
};
export function portForwardingView(r: RuleViewRow, c?: Counters): Record<string, unknown> {
  return compact({
    id: r.id, privateport: String(r.private_start_port), privateendport: String(r.private_end_port), protocol: r.protocol, publicport: String(r.start_port),
    publicendport: String(r.end_port), virtualmachineid: r.vm_id ?? undefined, virtualmachinename: r.vm_name ?? undefined, virtualmachinedisplayname: r.vm_display_name ?? r.vm_name ?? undefined,
    ipaddressid: r.ip_address_id ?? undefined, ipaddress: r.address ?? undefined, state: r.state, cidrlist: (r.source_cidrs.length ? r.source_cidrs : ['0.0.0.0/0']).join(','),
    vmguestip: r.private_ip ?? undefined, networkid: r.network_id, fordisplay: true, ...counted(c, r.id),
  });
}

export const IP_FORWARDING_RULE: ResponseDef = {
  name: 'ipforwardingrule',
  fields: {
    id: f('string', 'the ID of the port forwarding rule'), protocol: f('string', 'the protocol of the port forwarding rule'),
    virtualmachineid: f('string', 'the VM ID for the port forwarding rule'), virtualmachinename: f('string', 'the VM name for the port forwarding rule'),
    virtualmachinedisplayname: f('string', 'the VM display name for the port forwarding rule'), ipaddressid: f('string', 'the public ip address id for the port forwarding rule'),
    ipaddress: f('string', 'the public ip address for the port forwarding rule'), startport: f('integer', 'the start port of the rule'), endport: f('integer', 'the end port of the rule'),
    state: f('string', 'the state of the rule'), cidrlist: f('string', 'the cidr list to forward traffic from. Multiple entries are separated by a single comma character (,).'),
    vmguestip: f('string', 'the vm ip address for the port forwarding rule'), networkid: f('string', 'the id of the guest network the port forwarding rule belongs to'),
    fordisplay: f('boolean', 'is firewall for display to the regular user'),
  },
};
/** A static NAT rule (createIpForwardingRule) of a public IP with static NAT: its VM is the IP's. */
export function ipForwardingView(r: RuleViewRow & { nat_vm_id?: string | null; nat_vm_name?: string | null; nat_vm_display_name?: string | null; nat_ip?: string | null }): Record<string, unknown> {
  return compact({
    id: r.id, protocol: r.protocol, virtualmachineid: r.nat_vm_id ?? undefined, virtualmachinename: r.nat_vm_name ?? undefined,
    virtualmachinedisplayname: r.nat_vm_display_name ?? r.nat_vm_name ?? undefined, ipaddressid: r.ip_address_id ?? undefined, ipaddress: r.address ?? undefined,
    startport: r.start_port ?? undefined, endport: r.end_port ?? undefined, state: r.state, cidrlist: (r.source_cidrs.length ? r.source_cidrs : ['0.0.0.0/0']).join(','),
    vmguestip: r.nat_ip ?? undefined, networkid: r.network_id, fordisplay: true,
  });
}
