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

/** MAC and address of reservation i of the DHCP benchmark (10.9.1.0 upwards, skipping nothing a
 *  /16 forbids: the first is 10.9.1.0, the last of 4,000 is 10.9.16.159). */
export const reservedMac = (i: number) => `02:00:00:01:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`;
export const reservedIp = (i: number) => `10.9.${1 + (i >> 8)}.${i & 255}`;

/** The production path: a guest network whose VMs all have reservations (what the manager
 *  sends a router; it never sets a dynamic pool). */
export function reservationNet(count: number): GuestNetwork {
  return {
    interface: 'gst0', cidr: '10.9.0.0/16', gateway: '10.9.0.1', domain: 'bench.internal', dnsForwarders: [], leaseSeconds: 3600,
    reservations: Array.from({ length: count }, (_, i) => ({ mac: reservedMac(i), ip: reservedIp(i), hostname: `vm${i}` })),
    vms: [],
  };
}
