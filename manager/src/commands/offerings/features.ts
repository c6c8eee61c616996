// What Flotilla's appliances can provide, as data. createNetworkOffering validates a request
// against these tables and nothing else: teaching Flotilla a new service, provider or capability
// value is a change here (and in the appliance), never a new branch in a command.

/** Every service name CloudStack knows (Network.Service), so that a known-but-unsupported one
 * gets a different answer from a typo. */
export const CLOUDSTACK_SERVICES = [
  'Vpn', 'Dhcp', 'Dns', 'Gateway', 'Firewall', 'Lb', 'UserData', 'SourceNat', 'StaticNat', 'PortForwarding',
  'SecurityGroup', 'NetworkACL', 'Connectivity', 'BaremetalPxeService',
] as const;

/** Every provider name CloudStack knows (Network.Provider), for the same reason. */
export const CLOUDSTACK_PROVIDERS = [
  'VirtualRouter', 'VPCVirtualRouter', 'InternalLbVm', 'ConfigDrive', 'SecurityGroupProvider', 'Netscaler', 'F5BigIp',
  'JuniperSRX', 'PaloAlto', 'BigSwitchBcf', 'NiciraNvp', 'Ovs', 'Opendaylight', 'BrocadeVcs', 'CiscoVnmc', 'GloboDns',
  'Tungsten', 'Nsx', 'Netris', 'ElasticLoadBalancerVm', 'BaremetalDhcpProvider', 'BaremetalPxeProvider', 'BaremetalUserdataProvider',
] as const;

/** The services Flotilla's virtual router appliance implements. Gateway is implicit (added with SourceNat). */
export const FLOTILLA_SERVICES = ['Dhcp', 'Dns', 'UserData', 'SourceNat', 'StaticNat', 'PortForwarding', 'Firewall', 'Lb', 'Vpn', 'NetworkACL'] as const;
export type FlotillaService = typeof FLOTILLA_SERVICES[number] | 'Gateway';

/** Providers Flotilla implements and the services each provides. */
export const FLOTILLA_PROVIDERS: Readonly<Record<string, { readonly services: readonly FlotillaService[]; readonly vpcOnly: boolean }>> = {
  VirtualRouter: { vpcOnly: false, services: ['Dhcp', 'Dns', 'UserData', 'SourceNat', 'StaticNat', 'PortForwarding', 'Firewall', 'Lb', 'Vpn', 'Gateway'] },
  VPCVirtualRouter: { vpcOnly: true, services: ['Dhcp', 'Dns', 'UserData', 'SourceNat', 'StaticNat', 'PortForwarding', 'NetworkACL', 'Lb', 'Vpn', 'Gateway'] },
};

/** The provider a service gets when the request names none: the router of the offering's kind. */
export const defaultProvider = (forVpc: boolean): string => (forVpc ? 'VPCVirtualRouter' : 'VirtualRouter');

/**
 * Capabilities a request may set (servicecapabilitylist), per service, with the values Flotilla's
 * router supports, and the value an offering gets when the request sets none. The response shows
 * exactly CloudStack's per-service capability list (`shown`).
 */
export const CAPABILITIES: Readonly<Record<string, Readonly<Record<string, { readonly values: readonly string[]; readonly fallback: string }>>>> = {
  SourceNat: {
    SupportedSourceNatTypes: { values: ['peraccount'], fallback: 'peraccount' },   // perzone (shared SNAT) is not implemented
    RedundantRouter: { values: ['true', 'false'], fallback: 'false' },
  },
  Lb: {
    SupportedLBIsolation: { values: ['dedicated'], fallback: 'dedicated' },
    ElasticLb: { values: ['false'], fallback: 'false' },
    InlineMode: { values: ['false'], fallback: 'false' },
    LbSchemes: { values: ['public'], fallback: 'public' },
  },
  StaticNat: {
    ElasticIp: { values: ['false'], fallback: 'false' },
    AssociatePublicIP: { values: ['true', 'false'], fallback: 'true' },
  },
};

/** The capabilities CloudStack lists for each service in a network offering response. */
export const SHOWN_CAPABILITIES: Readonly<Record<string, readonly string[]>> = {
  Lb: ['SupportedLBIsolation', 'ElasticLb', 'InlineMode'],
  SourceNat: ['SupportedSourceNatTypes', 'RedundantRouter'],
  StaticNat: ['ElasticIp', 'AssociatePublicIP'],
};

/** CloudStack's name for `x`, matched case-insensitively, or undefined. */
export function canonical<T extends string>(list: readonly T[], x: string): T | undefined {
  return list.find((s) => s.toLowerCase() === x.toLowerCase());
}
