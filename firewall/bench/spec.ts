// The benchmark's firewall specs, shared by bench.ts and profiling scripts.
import { emptyFirewallSpec, type FirewallSpec, type FirewallRule } from '@flotilla/protocol/firewall';

const uuid = (i: number) => `00000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`;

/** Rule j of bench IP k: 100 rules per IP, alternating tcp/udp, single ports and ranges. */
export function benchRule(k: number, j: number, shift = 0): FirewallRule {
  const start = 1000 + j * 10;
  return {
    id: uuid(k * 100 + j + 1), protocol: j % 2 ? 'udp' : 'tcp',
    ports: { start, end: start + (j % 3 === 0 ? 5 : 0) + shift },
    sourceCidrs: [`10.${100 + (j % 100)}.${k & 255}.0/24`],
  };
}

/** `rules` firewall rules on bench IPs 198.18.x.y, plus the measured path: port forwards on
 *  203.0.113.10 to the guest (8080 connection rate, 5201 iperf3). */
export function benchSpec(rules: number, change = false, pub = '203.0.113.10'): FirewallSpec {
  const publicIps: FirewallSpec['publicIps'] = [{
    address: pub, filter: 'rules', rules: [], portForwards: [
      { id: uuid(0xf0000001), protocol: 'tcp', publicPorts: { start: 8080, end: 8080 }, privateIp: '10.1.1.5', privatePorts: { start: 8080, end: 8080 }, sourceCidrs: [] },
      { id: uuid(0xf0000002), protocol: 'tcp', publicPorts: { start: 5201, end: 5201 }, privateIp: '10.1.1.5', privatePorts: { start: 5201, end: 5201 }, sourceCidrs: [] },
    ],
  }];
  for (let k = 0; k * 100 < rules; k++) {
    const count = Math.min(100, rules - k * 100);
    publicIps.push({
      address: `198.18.${k >> 8}.${k & 255}`, filter: 'rules', portForwards: [],
      rules: Array.from({ length: count }, (_, j) => benchRule(k, j, change && k === 0 && j === 1 ? 1 : 0)),
    });
  }
  return {
    ...emptyFirewallSpec(), publicInterfaces: ['pub0'], publicIps,
    guestNetworks: [{ id: 'net', interface: 'gst0', cidrs: ['10.1.1.0/24'], sourceNatIp: pub, egress: { defaultPolicy: 'allow', rules: [] } }],
  };
}


/** Public IPs of the traffic part: 100 per path, 198.18.<path>.k. */
export const TRAFFIC_IPS = 100;
export const trafficIp = (path: number, k: number) => `198.18.${path}.${k}`;
/** The guest address public IP k is static-NATed to (one VM per public IP, as CloudStack). */
export const guestIp = (k: number) => `10.1.1.${100 + k}`;

/**
 * The traffic part's spec for one path: 100 public IPs, each static-NATed to its own guest
 * address and carrying the 100 firewall rules benchRule(k, j) — 10,000 rules, the same as
 * benchSpec(10_000) but on addresses the measured flows really go to. `rules = false`: the same
 * IPs and static NATs, unfiltered (the no-rules baseline).
 */
export function trafficSpec(path: number, rules: boolean): FirewallSpec {
  const publicIps: FirewallSpec['publicIps'] = Array.from({ length: TRAFFIC_IPS }, (_, k) => ({
    address: trafficIp(path, k), filter: rules ? 'rules' as const : 'open' as const, portForwards: [], staticNat: { privateIp: guestIp(k) },
    rules: rules ? Array.from({ length: 100 }, (_, j) => benchRule(k, j)) : [],
  }));
  // The network's source NAT address: its own IP (CloudStack puts no static NAT on it).
  publicIps.push({ address: trafficIp(path, SOURCE_NAT), filter: 'rules', portForwards: [], rules: [] });
  return {
    ...emptyFirewallSpec(), publicInterfaces: ['pub0'], publicIps,
    guestNetworks: [{ id: 'net', interface: 'gst0', cidrs: ['10.1.1.0/24'], sourceNatIp: trafficIp(path, SOURCE_NAT), egress: { defaultPolicy: 'allow', rules: [] } }],
  };
}
export const SOURCE_NAT = 200;

/** One measured flow: from a source inside rule (k, j)'s source CIDR to public IP k on the rule's port. */
export interface Flow { k: number; j: number; src: string; port: number; ruleId: string }

/**
 * `count` flows spread over the public IPs and over the rules of each (tcp rules only: j even),
 * each matching exactly one of the 10,000 rules.
 */
export function trafficFlows(count: number): Flow[] {
  return Array.from({ length: count }, (_, f) => {
    const k = (f * 37) % TRAFFIC_IPS;
    const j = (f * 14 + 2 * Math.floor(f / 50)) % 100; // even: a tcp rule
    const r = benchRule(k, j);
    return { k, j, src: `10.${100 + j}.${k}.2`, port: r.ports!.start, ruleId: r.id };
  });
}
