export { compileLbNft, kernelRules, healthyBackends, slotCount, LB_MARK, LB_NAT_PRIORITY, type LbHealth } from './nft.ts';
export { compileHaproxy, haproxyRules, serverName, frontendName, backendName, httpMode, pemOf, type HaproxyPaths } from './haproxy.ts';
