// Specs shared by the tests and the benchmark.
import type { GuestNetwork, RouterSpec } from '@flotilla/protocol/router';

export function guestNet(over: Partial<GuestNetwork> = {}): GuestNetwork {
  return {
    interface: 'gst0', cidr: '10.1.0.0/24', gateway: '10.1.0.1', domain: 'tenant.internal',
    dnsForwarders: ['192.0.2.53'], leaseSeconds: 3600,
    reservations: [
      { mac: '02:00:00:00:01:0a', ip: '10.1.0.10', hostname: 'web1' },
      { mac: '02:00:00:00:01:0b', ip: '10.1.0.11', hostname: 'db1' },
    ],
    vms: [
      { ip: '10.1.0.10', userData: Buffer.from('#cloud-config\nhostname: web1\n').toString('base64'), metadata: { 'instance-id': 'i-web1', 'local-hostname': 'web1', 'local-ipv4': '10.1.0.10', 'availability-zone': 'zone1', 'service-offering': 'Small', 'public-keys': 'ssh-ed25519 AAAA web1@test', 'vm-id': 'uuid-web1', 'cloud-identifier': 'CloudStack-{x}' }, password: 'S3cret-web1' },
      { ip: '10.1.0.11', metadata: { 'instance-id': 'i-db1', 'local-hostname': 'db1', 'local-ipv4': '10.1.0.11' } },
    ],
    ...over,
  };
}

export function routerSpec(generation: number, over: Partial<RouterSpec> = {}): RouterSpec {
  return {
    version: '1.0', routerId: 'r-1', generation,
    interfaces: [{ name: 'gst0', mac: '02:00:00:aa:00:01', role: 'guest', addresses: ['10.1.0.1/24'] }],
    routes: [],
    guestNetworks: [guestNet()],
    ...over,
  };
}
