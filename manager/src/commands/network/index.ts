// The network area: isolated networks' virtual routers, public IP addresses, firewall, egress
// and port-forwarding rules, static NAT. (Networks themselves live in compute/networks.ts.)
import type { Seeder } from '../../seed.ts';

export { listRouters, startRouterCmd, stopRouter, rebootRouter, destroyRouter } from './routers.ts';
export { associateIpAddress, disassociateIpAddress, listPublicIpAddresses, enableStaticNat, disableStaticNat } from './addresses.ts';
export {
  createFirewallRule, deleteFirewallRule, listFirewallRules, createEgressFirewallRule, deleteEgressFirewallRule, listEgressFirewallRules,
  createPortForwardingRule, deletePortForwardingRule, listPortForwardingRules,
  createIpForwardingRule, deleteIpForwardingRule, listIpForwardingRules,
} from './rules.ts';

export const seed: Seeder = async () => { /* nothing to seed: free public IPs have no rows */ };
