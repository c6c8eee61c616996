// The manager's pure router-spec builders (no root, no I/O): what a network's rows become in
// the RouterSpec the appliance receives, and that the result passes the very validators the
// appliance and its firewall compiler enforce (RouterSpec schema, validateFirewallSpec).
import test from 'ava';
import { Value } from '@sinclair/typebox/value';
import { RouterSpec } from '@flotilla/protocol/router';
import { validateFirewallSpec } from '@flotilla/protocol/firewall';
import { firewallOf, routerSpecOf, type RouterInput, type RuleRow } from '@flotilla/manager/orchestrator/router';

const NET = '7a1e0000-0000-4000-8000-000000000001';
const VM1 = '7a1e0000-0000-4000-8000-0000000000a1';
const VM2 = '7a1e0000-0000-4000-8000-0000000000a2';
const IP1 = '7a1e0000-0000-4000-8000-0000000000c1';
const IP2 = '7a1e0000-0000-4000-8000-0000000000c2';
const rule = (over: Partial<RuleRow>): RuleRow => ({
  id: '7a1e0000-0000-4000-8000-0000000000f1', purpose: 'Firewall', network_id: NET, ip_address_id: IP2, protocol: 'tcp', start_port: 80, end_port: 80,
  icmp_type: null, icmp_code: null, source_cidrs: [], dest_cidrs: [], vm_id: null, private_ip: null, private_start_port: null, private_end_port: null, ...over,
});

function input(rules: RuleRow[] = [], staticNat = true): RouterInput {
  return {
    net: { id: NET, name: 'n', zone_id: 'z1', zone_name: 'zone1', cidr: '10.1.0.0/16', gateway: '10.1.0.1', vni: 6000, physical_network_id: 'p', network_domain: 'cs1.cloud.internal',
      dns1: null, dns2: null, zone_dns1: '192.0.2.53', zone_dns2: null, egress_allow: false, account_id: 'acc', domain_id: 'd', state: 'Implemented', guest_type: 'Isolated' },
    router: { vm_id: 'r', network_id: NET, public_mac: '02:00:00:00:00:03', control_mac: '02:00:00:00:00:02', link_local_ip: '169.254.1.5', generation: 1, spec_hash: null,
      applied_generation: null, health: null, counters: null, firewall_counters: null, last_report: null, instance_name: 'r-5-VM', state: 'Running', host_id: 'h', zone_id: 'z1',
      guest_mac: '02:00:00:00:00:01', guest_ip: '10.1.0.1' },
    ips: [
      { id: IP1, address: '203.0.113.10', network_id: NET, is_source_nat: true, static_nat_ip: null, static_nat_vm_id: null, netmask: '255.255.255.0', range_gateway: '203.0.113.1' },
      { id: IP2, address: '203.0.113.11', network_id: NET, is_source_nat: false, static_nat_ip: staticNat ? '10.1.0.3' : null, static_nat_vm_id: staticNat ? VM2 : null, netmask: '255.255.255.0', range_gateway: '203.0.113.1' },
    ],
    rules,
    vms: [
      { vm_id: VM1, vm_uuid: VM1, name: 'web', instance_name: 'i-3-VM', mac: '02:aa:00:00:00:01', ip4: '10.1.0.2', user_data: 'aGk=', password_enc: 'x', offering_name: 'Small Instance', state: 'Running' },
      { vm_id: VM2, vm_uuid: VM2, name: 'db', instance_name: 'i-4-VM', mac: '02:aa:00:00:00:02', ip4: '10.1.0.3', user_data: null, password_enc: null, offering_name: 'Small Instance', state: 'Stopped' },
    ],
    passwords: new Map([[VM1, 'S3cret']]),
  };
}

test('a network\'s rows become a whole RouterSpec the appliance accepts', (t) => {
  const spec = { ...routerSpecOf(input([rule({})])), generation: 7 };
  t.true(Value.Check(RouterSpec, spec), JSON.stringify([...Value.Errors(RouterSpec, spec)].slice(0, 3)));
  t.deepEqual(spec.interfaces.map((i) => [i.name, i.role, i.addresses]), [
    ['eth0', 'guest', ['10.1.0.1/16']], ['eth1', 'control', ['169.254.1.5/16']], ['eth2', 'public', ['203.0.113.10/24', '203.0.113.11/24']],
  ]);
  t.deepEqual(spec.routes, [{ destination: 'default', gateway: '203.0.113.1', interface: 'eth2' }]);
  const g = spec.guestNetworks[0]!;
  t.deepEqual(g.reservations, [{ mac: '02:aa:00:00:00:01', ip: '10.1.0.2', hostname: 'web' }, { mac: '02:aa:00:00:00:02', ip: '10.1.0.3', hostname: 'db' }], 'stopped VMs keep their reservation');
  t.deepEqual(g.dnsForwarders, ['192.0.2.53']);
  t.is(g.domain, 'cs1.cloud.internal');
  t.like(g.vms[0], { ip: '10.1.0.2', userData: 'aGk=', password: 'S3cret', metadata: { 'public-ipv4': '203.0.113.10', 'local-hostname': 'web', 'instance-id': 'i-3-VM', 'vm-id': VM1 } });
  t.is(g.vms[1]!.metadata['public-ipv4'], '203.0.113.11', 'a static NAT VM\'s public address is its own');
  t.is(g.vms[1]!.password, undefined);
  const fw = spec.firewall!;
  t.deepEqual(fw.guestNetworks[0], { id: NET, interface: 'eth0', cidrs: ['10.1.0.0/16'], sourceNatIp: '203.0.113.10', egress: { defaultPolicy: 'deny', rules: [] } });
  t.deepEqual(fw.publicIps[1]!.staticNat, { privateIp: '10.1.0.3' });
  t.deepEqual(validateFirewallSpec(fw), []);
});

test('the same rows give the same spec (so the generation stays), a new rule changes it', (t) => {
  t.deepEqual(routerSpecOf(input([rule({})])), routerSpecOf(input([rule({})])));
  t.notDeepEqual(routerSpecOf(input([rule({})])), routerSpecOf(input([rule({}), rule({ id: '7a1e0000-0000-4000-8000-0000000000f2', start_port: 443, end_port: 443 })])));
});

test('conflicts the manager must refuse with 537 are found in the built firewall', (t) => {
  const pf = rule({ id: '7a1e0000-0000-4000-8000-0000000000f3', purpose: 'PortForwarding', start_port: 2222, end_port: 2222, vm_id: VM2, private_ip: '10.1.0.3', private_start_port: 22, private_end_port: 22 });
  const onNat = validateFirewallSpec(firewallOf(input().net, input().ips, [pf]));
  t.true(onNat.some((d) => d.kind === 'conflict'), 'port forwarding on a static NAT IP');
  const a = rule({ start_port: 70, end_port: 90 });
  const b = rule({ id: '7a1e0000-0000-4000-8000-0000000000f4', start_port: 80, end_port: 80 });
  t.true(validateFirewallSpec(firewallOf(input().net, input().ips, [a, b])).some((d) => d.kind === 'conflict'), 'overlapping firewall rules');
  const egress = rule({ id: '7a1e0000-0000-4000-8000-0000000000f5', purpose: 'Egress', ip_address_id: null, dest_cidrs: ['203.0.113.1/32'], start_port: 9000, end_port: 9000 });
  const ok = firewallOf(input().net, input().ips, [egress]);
  t.deepEqual(validateFirewallSpec(ok), []);
  t.deepEqual(ok.guestNetworks[0]!.egress!.rules, [{ id: egress.id, protocol: 'tcp', ports: { start: 9000, end: 9000 }, sourceCidrs: [], destinationCidrs: ['203.0.113.1/32'] }]);
});
