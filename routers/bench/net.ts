// The benchmark's guest network: a /16 with a large pool (perfdhcp's random clients) and 200
// named VMs (dnsperf's queries).
import type { GuestNetwork } from '@flotilla/protocol/router';

export const NAMES = 200;
export function benchNet(): GuestNetwork {
  return {
    interface: 'gst0', cidr: '10.9.0.0/16', gateway: '10.9.0.1', domain: 'bench.internal', dnsForwarders: [], leaseSeconds: 3600,
    dynamicRange: { start: '10.9.1.0', end: '10.9.250.255' },
    reservations: Array.from({ length: NAMES }, (_, i) => ({ mac: `02:00:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`, ip: `10.9.0.${i + 10}`, hostname: `vm${i}` })),
    vms: [],
  };
}
