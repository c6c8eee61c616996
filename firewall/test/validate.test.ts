// validateFirewallSpec: every error collected with a precise path and kind, conflicts refused
// (CloudStack 537), and compile() refusing exactly the same specs.
import test from 'ava';
import { FirewallSpecError, parseAddress, parseCidr, validateFirewallSpec, type FirewallSpec } from '@flotilla/protocol/firewall';
import { compile } from '../src/compile.ts';
import { isolated, securityGroups, uid, vpc } from './fixtures/specs.ts';

test('the fixture specs are valid', (t) => {
  t.deepEqual(validateFirewallSpec(isolated()), []);
  t.deepEqual(validateFirewallSpec(vpc()), []);
  t.deepEqual(validateFirewallSpec(securityGroups()), []);
});

test('port forwarding and static NAT on one IP is a conflict', (t) => {
  const s = isolated();
  s.publicIps[0]!.staticNat = { privateIp: '10.1.1.8' };
  const d = validateFirewallSpec(s);
  t.true(d.some((x) => x.kind === 'conflict' && x.path === '/publicIps/0/staticNat' && /static NAT and 2 port forwarding/.test(x.message)), JSON.stringify(d));
  const err = t.throws(() => compile(s), { instanceOf: FirewallSpecError });
  t.true(err!.diagnostics.some((x) => x.kind === 'conflict'));
});

test('overlapping port forwarding ranges on one IP and protocol are a conflict; other protocol is not', (t) => {
  const s = isolated();
  s.publicIps[0]!.portForwards.push({ id: uid(12), protocol: 'udp', publicPorts: { start: 6010, end: 6020 }, privateIp: '10.1.1.9', privatePorts: { start: 6010, end: 6020 }, sourceCidrs: [] });
  s.publicIps[0]!.portForwards.push({ id: uid(13), protocol: 'tcp', publicPorts: { start: 6000, end: 6000 }, privateIp: '10.1.1.9', privatePorts: { start: 6000, end: 6000 }, sourceCidrs: [] });
  const d = validateFirewallSpec(s);
  t.is(d.length, 1, JSON.stringify(d));
  t.like(d[0], { kind: 'conflict', path: '/publicIps/0/portForwards/2/publicPorts', ruleId: uid(12) });
  t.regex(d[0]!.message, /The range specified, 6010-6020, conflicts with rule 0+-0000-4000-8000-00000000000b which has 6000-6010/);
});

test('overlapping firewall rules conflict only when ports AND source CIDRs overlap', (t) => {
  const s = isolated();
  const rules = s.publicIps[0]!.rules;
  rules.push({ id: uid(7), protocol: 'tcp', ports: { start: 20, end: 30 }, sourceCidrs: ['10.0.0.0/8'] }); // disjoint CIDR: fine
  rules.push({ id: uid(8), protocol: 'tcp', ports: { start: 21, end: 22 }, sourceCidrs: ['198.51.100.128/25'] }); // overlaps rule 1
  const d = validateFirewallSpec(s);
  t.is(d.length, 1, JSON.stringify(d));
  t.like(d[0], { kind: 'conflict', path: '/publicIps/0/rules/3', ruleId: uid(8) });
});

test('bad values are all reported, each with its path', (t) => {
  const s = isolated() as FirewallSpec;
  s.publicIps[0]!.rules[0]!.sourceCidrs = ['198.51.100.0/33', '2001:db8::/48', 'not-a-cidr/8'.replace('not-a-cidr', '1.2.3')];
  s.publicIps[0]!.rules.push({ id: uid(9), protocol: 'udp', icmpType: 8, sourceCidrs: [] });
  s.publicIps[0]!.rules.push({ id: uid(1), protocol: 'tcp', ports: { start: 90, end: 80 }, sourceCidrs: [] });
  s.publicIps[0]!.portForwards[0]!.privatePorts = { start: 80, end: 81 };
  s.guestNetworks[0]!.sourceNatIp = '203.0.113.99';
  const d = validateFirewallSpec(s);
  const paths = d.map((x) => x.path);
  t.true(paths.includes('/publicIps/0/rules/0/sourceCidrs/0'));
  t.true(paths.includes('/publicIps/0/rules/0/sourceCidrs/1'));
  t.true(paths.includes('/publicIps/0/rules/0/sourceCidrs/2'));
  t.true(paths.includes('/publicIps/0/rules/2/icmpType'));
  t.true(paths.includes('/publicIps/0/rules/3/id'), 'duplicate rule id');
  t.true(paths.includes('/publicIps/0/rules/3/ports'));
  t.true(paths.includes('/publicIps/0/portForwards/0/privatePorts'));
  t.true(paths.includes('/guestNetworks/0/sourceNatIp'));
  t.true(d.every((x) => x.kind === 'invalid'), JSON.stringify(d));
  t.regex(d.find((x) => x.path.endsWith('sourceCidrs/1'))!.message, /IPv6 but the rule applies to IPv4/);
});

test('schema errors: out-of-range ports, unknown protocol, hostile interface names', (t) => {
  const s = isolated() as unknown as { publicIps: Array<{ rules: Array<Record<string, unknown>> }>; publicInterfaces: string[] };
  s.publicIps[0]!.rules[0]!.ports = { start: 0, end: 70000 };
  s.publicIps[0]!.rules[1]!.protocol = 'sctp';
  s.publicInterfaces = ['eth0"; flush ruleset; "'];
  const d = validateFirewallSpec(s);
  t.true(d.length >= 3);
  t.true(d.some((x) => x.path === '/publicInterfaces/0'));
  t.true(d.some((x) => x.path === '/publicIps/0/rules/0/ports/start'));
  t.true(d.some((x) => x.path === '/publicIps/0/rules/0/ports/end'));
  t.throws(() => compile(s), { instanceOf: FirewallSpecError });
});

test('static NAT on the source NAT IP and a guest static-NATed twice are conflicts', (t) => {
  const s = isolated();
  s.publicIps[0]!.portForwards = [];
  s.publicIps[0]!.staticNat = { privateIp: '10.1.1.7' };
  const d = validateFirewallSpec(s);
  t.true(d.some((x) => x.kind === 'conflict' && /already has static NAT/.test(x.message)), JSON.stringify(d));
  t.true(d.some((x) => x.kind === 'conflict' && /also has static NAT/.test(x.message)));
});

test('ACL: duplicate rule numbers per direction conflict; unknown list refused', (t) => {
  const s = vpc();
  s.aclLists[0]!.rules.push({ id: uid(45), number: 20, action: 'deny', direction: 'ingress', protocol: 'all', cidrs: [] });
  s.guestNetworks[1]!.aclListId = 'nope';
  const d = validateFirewallSpec(s);
  t.true(d.some((x) => x.kind === 'conflict' && x.path === '/aclLists/0/rules/5/number'), JSON.stringify(d));
  t.true(d.some((x) => x.path === '/guestNetworks/1/aclListId'));
});

test('CIDRs are normalised (host bits cleared) and nested CIDRs in one rule collapse', (t) => {
  const s = isolated();
  s.publicIps[0]!.rules[0]!.sourceCidrs = ['198.51.100.77/24', '198.51.100.128/25'];
  const doc = compile(s);
  const fw = doc.nftables.flatMap((c) => ('add' in c && 'set' in c.add && /^fw4_s\d_tcp$/.test(c.add.set.name) ? c.add.set.elem ?? [] : []));
  const vals = JSON.parse(JSON.stringify(fw)).map((e: { elem: { val: { concat: unknown[] } } }) => e.elem.val.concat);
  t.deepEqual(vals.filter((v: unknown[]) => v[0] === '203.0.113.10'), [['203.0.113.10', 22, { prefix: { addr: '198.51.100.0', len: 24 } }]]);
});

test('port forward to an address outside every guest network is refused', (t) => {
  const s = isolated();
  s.publicIps[0]!.portForwards[0]!.privateIp = '10.9.9.9';
  t.like(validateFirewallSpec(s)[0], { kind: 'invalid', path: '/publicIps/0/portForwards/0/privateIp' });
});

test('overlapping guest network prefixes are refused', (t) => {
  const s = vpc();
  s.guestNetworks[1]!.cidrs = ['10.2.0.0/16'];
  const d = validateFirewallSpec(s);
  t.is(d.length, 1, JSON.stringify(d));
  t.like(d[0], { kind: 'invalid', path: '/guestNetworks/1/cidrs' });
  t.regex(d[0]!.message, /10\.2\.0\.0\/16 overlaps 10\.2\.1\.0\/24 of guest network tier-web/);
});

test('shifted port-forward ranges are bounded (one map element per port)', (t) => {
  const s = isolated();
  s.publicIps[0]!.portForwards.push({ id: uid(14), protocol: 'tcp', publicPorts: { start: 10000, end: 65535 }, privateIp: '10.1.1.9', privatePorts: { start: 1, end: 55536 }, sourceCidrs: [] });
  s.publicIps[1]!.staticNat = undefined;
  s.publicIps[1]!.portForwards.push({ id: uid(15), protocol: 'tcp', publicPorts: { start: 1, end: 20000 }, privateIp: '10.1.1.9', privatePorts: { start: 2, end: 20001 }, sourceCidrs: [] });
  const d = validateFirewallSpec(s);
  t.is(d.length, 1, JSON.stringify(d));
  t.like(d[0], { kind: 'invalid', path: '/publicIps/1/portForwards/0/privatePorts', ruleId: uid(15) });
});

test('addresses: the arithmetic fast path for canonical IPv4 agrees with ipaddr.js; other forms keep its verdicts', (t) => {
  for (const a of ['0.0.0.0', '10.1.2.3', '255.255.255.255', '198.18.0.99', '1.0.0.1']) {
    const [x, y, z, w] = a.split('.').map(Number) as [number, number, number, number];
    t.deepEqual(parseAddress(a), { family: 4, addr: a, value: BigInt(((x << 24) | (y << 16) | (z << 8) | w) >>> 0) });
  }
  t.is(typeof parseAddress('1.2.3.256'), 'string');
  t.is(typeof parseAddress('1.2.3'), 'string');
  t.is(typeof parseAddress('1.2.3.4.5'), 'string');
  t.is(typeof parseAddress(' 1.2.3.4'), 'string');
  // Leading zeros are not the fast path's: ipaddr.js decides (and names the canonical form).
  const z = parseAddress('010.001.002.003');
  t.true(typeof z === 'string' || z.addr !== '010.001.002.003');
  // A remembered CIDR is the same answer every time, errors included.
  t.deepEqual(parseCidr('10.1.2.3/8'), parseCidr('10.1.2.3/8'));
  t.like(parseCidr('10.1.2.3/8') as object, { addr: '10.0.0.0', len: 8 });
  t.is(parseCidr('10.0.0.0/8/8'), parseCidr('10.0.0.0/8/8'));
  t.is(typeof parseCidr('10.0.0.0/8/8'), 'string');
});
