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

