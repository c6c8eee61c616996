// Packet-tracer tests: every rule kind's allow and deny side, NAT results and hit ids, asserted
// on the compiled document (no root needed). Each case also names the rule id that must count it.
import test from 'ava';
import { compile } from '../src/compile.ts';
import { Tracer, type Packet } from '../src/trace.ts';
import { isolated, securityGroups, uid, vpc } from './fixtures/specs.ts';

const isoNet = {
  local: ['203.0.113.10', '203.0.113.11', '2001:db8:ff::10', '10.1.1.1'],
  routes: [{ cidr: '10.1.1.0/24', oif: 'gst0' }, { cidr: 'fd00:1::/64', oif: 'gst0' }, { cidr: '0.0.0.0/0', oif: 'pub0' }, { cidr: '::/0', oif: 'pub0' }],
};
const iso = new Tracer(compile(isolated()), isoNet);
const out = (p: Partial<Packet>): Packet => ({ iif: 'pub0', saddr: '198.51.100.7', daddr: '203.0.113.10', protocol: 'tcp', sport: 40000, dport: 22, ...p });
const gst = (p: Partial<Packet>): Packet => ({ iif: 'gst0', saddr: '10.1.1.5', daddr: '192.0.2.99', protocol: 'tcp', sport: 40000, dport: 443, ...p });

test('ingress firewall: allowed source and port reach the router, with the rule counted', (t) => {
  const r = iso.trace(out({}));
  t.is(r.verdict, 'accept');
  t.is(r.path, 'input');
  t.deepEqual(r.hits, [uid(1)]);
});

test('ingress firewall: wrong source, wrong port, wrong protocol are dropped (default deny)', (t) => {
  t.is(iso.trace(out({ saddr: '198.51.99.7' })).verdict, 'drop');
  t.is(iso.trace(out({ dport: 23 })).verdict, 'drop');
  t.is(iso.trace(out({ protocol: 'udp' })).verdict, 'drop');
  t.is(iso.trace(out({ daddr: '203.0.113.11', dport: 444 })).verdict, 'drop');
});

test('ingress firewall: ICMP type/code', (t) => {
  const ok = iso.trace(out({ protocol: 'icmp', sport: undefined, dport: undefined, icmpType: 8, icmpCode: 0, saddr: '8.8.8.8' }));
  t.is(ok.verdict, 'accept');
  t.deepEqual(ok.hits, [uid(2)]);
  t.is(iso.trace(out({ protocol: 'icmp', sport: undefined, dport: undefined, icmpType: 13, icmpCode: 0 })).verdict, 'drop');
});

test('ingress firewall: "all" protocol rule on a CIDR, any port', (t) => {
  const r = iso.trace(out({ daddr: '203.0.113.11', saddr: '192.0.2.3', protocol: 'udp', dport: 9999 }));
  t.is(r.verdict, 'accept');
  t.true(r.hits.includes(uid(4)));
  t.is(iso.trace(out({ daddr: '203.0.113.11', saddr: '192.0.2.30', protocol: 'udp', dport: 9999 })).verdict, 'drop');
});

test('ingress firewall on IPv6', (t) => {
  const r = iso.trace(out({ saddr: '2001:db8:1::1', daddr: '2001:db8:ff::10', dport: 81 }));
  t.is(r.verdict, 'accept');
  t.deepEqual(r.hits, [uid(5)]);
  t.is(iso.trace(out({ saddr: '2001:db8:1::1', daddr: '2001:db8:ff::10', dport: 82 })).verdict, 'drop');
  t.is(iso.trace(out({ saddr: '2001:db8:1::1', daddr: '2001:db8:ff::10', protocol: 'icmp', sport: undefined, dport: undefined, icmpType: 128, icmpCode: 0 })).verdict, 'accept');
  // Neighbour discovery always passes.
  t.is(iso.trace(out({ saddr: 'fe80::1', daddr: '2001:db8:ff::10', protocol: 'icmp', sport: undefined, dport: undefined, icmpType: 135, icmpCode: 0 })).verdict, 'accept');
});

test('established and related traffic passes whatever the rules', (t) => {
  t.is(iso.trace(out({ dport: 23, ctState: 'established' })).verdict, 'accept');
  t.is(iso.trace(out({ daddr: '10.1.1.9', ctState: 'related' })).verdict, 'accept');
});

test('port forwarding: DNAT with port translation, opens the firewall (openfirewall)', (t) => {
  const r = iso.trace(out({ saddr: '8.8.8.8', dport: 8080 }));
  t.is(r.verdict, 'accept');
  t.is(r.path, 'forward');
  t.is(r.oif, 'gst0');
  t.deepEqual(r.dnat, { addr: '10.1.1.5', port: 80 });
  t.deepEqual(r.hits, [uid(10)]);
});

test('port forwarding: a port range maps 1:1 and respects source CIDRs', (t) => {
  const r = iso.trace(out({ saddr: '192.0.2.5', protocol: 'udp', dport: 6005 }));
  t.is(r.verdict, 'accept');
  t.deepEqual(r.dnat, { addr: '10.1.1.6' });
  t.is(iso.trace(out({ saddr: '192.0.3.5', protocol: 'udp', dport: 6005 })).verdict, 'drop');
  t.is(iso.trace(out({ saddr: '192.0.2.5', protocol: 'udp', dport: 6011 })).verdict, 'drop');
});

test('static NAT: inbound is translated but filtered by the IP firewall rules', (t) => {
  const r = iso.trace(out({ saddr: '8.8.8.8', daddr: '203.0.113.11', dport: 443 }));
  t.is(r.verdict, 'accept');
  t.deepEqual(r.dnat, { addr: '10.1.1.7' });
  t.is(r.oif, 'gst0');
  t.is(iso.trace(out({ saddr: '8.8.8.8', daddr: '203.0.113.11', dport: 80 })).verdict, 'drop');
});

test('static NAT: the guest leaves with its static public IP; others with the source NAT IP', (t) => {
  t.deepEqual(iso.trace(gst({ saddr: '10.1.1.7' })).snat, { addr: '203.0.113.11' });
  const r = iso.trace(gst({}));
  t.is(r.verdict, 'accept');
  t.deepEqual(r.snat, { addr: '203.0.113.10' });
});

test('unsolicited traffic from outside to a guest address is dropped', (t) => {
  t.is(iso.trace(out({ daddr: '10.1.1.5', dport: 80 })).verdict, 'drop');
});

test('egress (default allow): deny rules drop, the rest passes', (t) => {
  const smtp = iso.trace(gst({ dport: 25 }));
  t.is(smtp.verdict, 'drop');
  t.deepEqual(smtp.hits, [uid(20)]);
  t.is(iso.trace(gst({ dport: 587 })).verdict, 'accept');
  // Rule 21 covers only sources 10.1.1.128/25 and destination 198.51.100.0/24.
  t.is(iso.trace(gst({ saddr: '10.1.1.200', daddr: '198.51.100.1', protocol: 'udp', dport: 5050 })).verdict, 'drop');
  t.is(iso.trace(gst({ saddr: '10.1.1.20', daddr: '198.51.100.1', protocol: 'udp', dport: 5050 })).verdict, 'accept');
  t.is(iso.trace(gst({ saddr: 'fd00:1::5', daddr: '2001:db8:9::1', dport: 25 })).verdict, 'drop');
});

test('egress (default deny): only allowed destinations pass', (t) => {
  const spec = isolated();
  spec.guestNetworks[0]!.egress = { defaultPolicy: 'deny', rules: [{ id: uid(22), protocol: 'tcp', ports: { start: 443, end: 443 }, sourceCidrs: [], destinationCidrs: ['192.0.2.0/24'] }] };
  const tr = new Tracer(compile(spec), isoNet);
  const r = tr.trace(gst({}));
  t.is(r.verdict, 'accept');
  t.deepEqual(r.hits, [uid(22)]);
  t.is(tr.trace(gst({ daddr: '192.0.3.1' })).verdict, 'drop');
  t.is(tr.trace(gst({ dport: 80 })).verdict, 'drop');
  // The router itself (DNS, DHCP, metadata) is not egress.
  t.is(tr.trace(gst({ daddr: '10.1.1.1', protocol: 'udp', dport: 53 })).verdict, 'accept');
});

const vpcNet = {
  local: ['203.0.113.20', '10.2.1.1', '10.2.2.1'],
  routes: [{ cidr: '10.2.1.0/24', oif: 'tier1' }, { cidr: '10.2.2.0/24', oif: 'tier2' }, { cidr: '0.0.0.0/0', oif: 'pub0' }],
};
const vp = new Tracer(compile(vpc()), vpcNet);

test('ACL: rule number order, first match wins (deny 10 before allow 20)', (t) => {
  const denied = vp.trace(out({ saddr: '192.0.2.66', daddr: '203.0.113.20', dport: 80 }));
  t.is(denied.verdict, 'drop');
  t.deepEqual(denied.dnat, { addr: '10.2.1.5', port: 8080 });
  t.deepEqual(denied.hits.slice(-1), [uid(40)]);
  const allowed = vp.trace(out({ saddr: '192.0.2.67', daddr: '203.0.113.20', dport: 80 }));
  t.is(allowed.verdict, 'accept');
  t.true(allowed.hits.includes(uid(41)));
});

test('ACL: implicit deny at the end and explicit deny-all', (t) => {
  t.is(vp.trace(gst({ iif: 'tier2', saddr: '10.2.2.5', daddr: '10.2.1.5', dport: 22 })).verdict, 'drop');
  t.is(vp.trace(gst({ iif: 'tier1', saddr: '10.2.1.5', daddr: '10.2.2.5', dport: 5432 })).verdict, 'accept');
  t.is(vp.trace(gst({ iif: 'tier1', saddr: '10.2.1.5', daddr: '10.2.2.5', dport: 5433 })).verdict, 'drop');
});

test('ACL: egress of the tier (allow all on web, only DNS on db)', (t) => {
  const web = vp.trace(gst({ iif: 'tier1', saddr: '10.2.1.5', daddr: '192.0.2.1', dport: 443 }));
  t.is(web.verdict, 'accept');
  t.deepEqual(web.snat, { addr: '203.0.113.20' });
  t.is(vp.trace(gst({ iif: 'tier2', saddr: '10.2.2.5', daddr: '192.0.2.1', dport: 443 })).verdict, 'drop');
  t.is(vp.trace(gst({ iif: 'tier2', saddr: '10.2.2.5', daddr: '192.0.2.1', protocol: 'udp', dport: 53 })).verdict, 'accept');
});

test('ACL: overlapping allow rules in one run land in separate layers and both work', (t) => {
  // Rules 41 (8000-8100 from anywhere) and 42 (8080 from 192.0.2.0/24) overlap, same action.
  const doc = compile(vpc());
  const names = doc.nftables.flatMap((c) => ('add' in c && 'set' in c.add ? [c.add.set.name] : []));
  t.true(names.includes('acl0_in_r1_tcp4_0'));
  t.true(names.includes('acl0_in_r1_tcp4_1'));
  t.is(vp.trace(out({ saddr: '192.0.2.9', daddr: '203.0.113.20', dport: 80 })).verdict, 'accept');
});

const sgNet = { local: [], routes: [{ cidr: '10.3.0.0/24', oif: 'vms' }, { cidr: 'fd00:3::/64', oif: 'vms' }, { cidr: '0.0.0.0/0', oif: 'up' }, { cidr: '::/0', oif: 'up' }] };
const sg = new Tracer(compile(securityGroups()), sgNet);

test('security groups: ingress by CIDR, union of groups, default deny', (t) => {
  t.is(sg.trace(gst({ iif: 'up', saddr: '8.8.8.8', daddr: '10.3.0.11', dport: 80 })).verdict, 'accept');
  t.is(sg.trace(gst({ iif: 'up', saddr: '8.8.8.8', daddr: '10.3.0.11', dport: 22 })).verdict, 'accept'); // sg-ssh
  t.is(sg.trace(gst({ iif: 'up', saddr: '8.8.8.8', daddr: '10.3.0.11', dport: 23 })).verdict, 'drop');
  t.is(sg.trace(gst({ iif: 'up', saddr: '2001:db8::1', daddr: 'fd00:3::11', dport: 80 })).verdict, 'accept');
  t.is(sg.trace(gst({ iif: 'up', saddr: '2001:db8::1', daddr: 'fd00:3::11', dport: 81 })).verdict, 'drop');
});

test('security groups: ingress by group membership', (t) => {
  const r = sg.trace(gst({ iif: 'vms', saddr: '10.3.0.11', daddr: '10.3.0.21', dport: 5432 }));
  t.is(r.verdict, 'accept');
  t.true(r.hits.includes(uid(62)));
  t.is(sg.trace(gst({ iif: 'up', saddr: '10.9.0.11', daddr: '10.3.0.21', dport: 5432 })).verdict, 'drop');
});

test('security groups: egress rules make egress default deny for members of that group only', (t) => {
  t.is(sg.trace(gst({ iif: 'vms', saddr: '10.3.0.21', daddr: '8.8.8.8', protocol: 'udp', dport: 53 })).verdict, 'accept');
  t.is(sg.trace(gst({ iif: 'vms', saddr: '10.3.0.21', daddr: '8.8.8.8', dport: 443 })).verdict, 'drop');
  t.is(sg.trace(gst({ iif: 'vms', saddr: '10.3.0.11', daddr: '8.8.8.8', dport: 443 })).verdict, 'accept');
});
