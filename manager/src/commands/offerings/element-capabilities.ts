// What the network element (the virtual router) can do per service, as CloudStack's listNetworks
// answers it: NetworkModel.getNetworkCapabilities asks the element providing each service of the
// network's offering for `getCapabilities().get(service)` (VirtualRouterElement.setCapabilities),
// and ApiResponseHelper lists them as `service[].capability[] {name, value}`, Gateway skipped.
// The values are Flotilla's router's, written as CloudStack writes them (clients parse these
// strings: the UI splits SupportedLBAlgorithms/SupportedProtocols on ",", and
// SupportedStickinessMethods is a JSON string built by Gson from LbStickinessMethod).
// listNetworkOfferings shows the offering's own capability values instead (features.ts).
import { LB_ALGORITHMS, LB_PROTOCOLS } from '@flotilla/protocol/lb';

/** Stickiness parameters per method: CloudStack's getHAProxyStickinessCapability, [name, isflag]. */
export const STICKINESS_PARAMS: Readonly<Record<'LbCookie' | 'AppCookie' | 'SourceBased', ReadonlyArray<readonly [string, boolean]>>> = {
  LbCookie: [['cookie-name', false], ['mode', false], ['nocache', true], ['indirect', true], ['postonly', true], ['domain', false]],
  AppCookie: [['cookie-name', false], ['length', false], ['holdtime', false], ['request-learn', true], ['prefix', true], ['mode', false]],
  SourceBased: [['tablesize', false], ['expire', false]],
};
const STICKINESS_DESCRIPTIONS: Record<keyof typeof STICKINESS_PARAMS, string> = {
  LbCookie: 'This is loadbalancer cookie based stickiness method.',
  AppCookie: 'This is App session based sticky method. Define session stickiness on an existing application cookie. It can be used only for a specific http traffic',
  SourceBased: 'This is source based Stickiness method, it can be used for any type of protocol.',
};

/**
 * The SupportedStickinessMethods value: Gson's serialization of CloudStack's LbStickinessMethod
 * list (fields in declaration order: methodname, paramlist[{paramname, required, isflag,
 * description}], description; parameter descriptions are " " as CloudStack's addParam sets them).
 */
export const SUPPORTED_STICKINESS_METHODS = JSON.stringify((['LbCookie', 'AppCookie', 'SourceBased'] as const).map((m) => ({
  methodname: m,
  paramlist: STICKINESS_PARAMS[m].map(([paramname, isflag]) => ({ paramname, required: false, isflag, description: ' ' })),
  description: STICKINESS_DESCRIPTIONS[m],
})));

/**
 * The router's capabilities per service (VirtualRouter and VPCVirtualRouter). Differences from
 * CloudStack's VR, each because Flotilla's router does something else: SupportedProtocols of Lb
 * adds `ssl` (TLS termination through HAProxy, decision 0710); no AutoScaleCounters (no
 * autoscaling); RedundantRouter false (one router per network); no Vpn capabilities (the VPN is
 * WireGuard, none of CloudStack's pptp/l2tp/ipsec values would be true).
 */
export const ROUTER_CAPABILITIES: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  Lb: {
    SupportedLBAlgorithms: LB_ALGORITHMS.join(','),
    SupportedLBIsolation: 'dedicated',
    SupportedProtocols: LB_PROTOCOLS.join(', '),
    SupportedStickinessMethods: SUPPORTED_STICKINESS_METHODS,
    LbSchemes: 'Public',
  },
  Firewall: {
    TrafficStatistics: 'per public ip',
    SupportedProtocols: 'tcp,udp,icmp',
    SupportedEgressProtocols: 'tcp,udp,icmp, all',
    SupportedTrafficDirection: 'ingress, egress',
    MultipleIps: 'true',
  },
  SourceNat: { SupportedSourceNatTypes: 'peraccount', RedundantRouter: 'false' },
  PortForwarding: { SupportedProtocols: 'tcp,udp' },
};

const ROUTERS = new Set(['VirtualRouter', 'VPCVirtualRouter']);

/** listNetworks' `service` list: each service of the offering with its providers and, where a router provides it, the router's capabilities. */
export function networkServicesView(services: Record<string, string[]> | null | undefined): Array<Record<string, unknown>> {
  return Object.entries(services ?? {}).filter(([name]) => name !== 'Gateway').map(([name, providers]) => {
    const caps = providers.some((p) => ROUTERS.has(p)) ? ROUTER_CAPABILITIES[name] : undefined;
    return {
      name,
      ...(caps ? { capability: Object.entries(caps).map(([c, value]) => ({ name: c, value })) } : {}),
      provider: providers.map((p) => ({ name: p })),
    };
  });
}
