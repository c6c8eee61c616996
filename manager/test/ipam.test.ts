// Unit tests of the pure IPAM functions (no database): parsing, range consistency, conflicts,
// VLAN/VNI sets. The API tests (infra*.test.ts) check the same rules end to end.
import test from 'ava';
import {
  IpamError, checkGuestCidr, checkPodConflicts, checkRangeConflicts, firstFree, formatVnetRanges, parseCidr, parseGuestCidr, parseIPv4, parseIPv6,
  parseNetmask, parseVlanTag, parseVnetRanges, subnetOf, validateV4Range, validateV6Range, vnetContains, vnetOverlap, vnetRemoved,
  type ExistingRange, type ZoneFacts,
} from '../src/orchestrator/ipam.ts';

function refuses(t: import('ava').ExecutionContext, fn: () => unknown, param: string, text: RegExp): void {
  const e = t.throws(fn, { instanceOf: IpamError });
  t.is(e?.param, param, e?.message);
  t.regex(e?.message ?? '', text);
}

test('IPv4 parsing is strict dotted decimal', (t) => {
  t.is(parseIPv4('x', '203.0.113.7').value, 0xcb007107n);
  t.is(parseIPv4('x', ' 10.0.0.1 ').text, '10.0.0.1');
  for (const bad of ['10.1', '010.0.0.1x', '0x0a.0.0.1', '1.2.3.256', '1.2.3.4.5', '', 'a.b.c.d', '1.2.3', '::1', '1.2.3.4/24']) {
    refuses(t, () => parseIPv4('gateway', bad), 'gateway', /Invalid parameter gateway value=.* due to it is not an IPv4 address/);
  }
});

test('IPv6 parsing canonicalises (RFC 5952) and refuses zone ids', (t) => {
  t.is(parseIPv6('x', '2001:DB8:0:0:0:0:0:1').text, '2001:db8::1');
  t.is(parseIPv6('x', '2001:db8::1').value, (0x20010db8n << 96n) + 1n);
  refuses(t, () => parseIPv6('ip6gateway', 'fe80::1%eth0'), 'ip6gateway', /not an IPv6 address/);
  refuses(t, () => parseIPv6('ip6gateway', '2001:db8:::1'), 'ip6gateway', /not an IPv6 address/);
  refuses(t, () => parseIPv6('ip6gateway', '10.0.0.1'), 'ip6gateway', /not an IPv6 address/);
});

test('netmasks must be contiguous; CIDRs must be network addresses', (t) => {
  t.is(parseNetmask('netmask', '255.255.255.0'), 24);
  t.is(parseNetmask('netmask', '255.255.255.255'), 32);
  t.is(parseNetmask('netmask', '255.128.0.0'), 9);
  refuses(t, () => parseNetmask('netmask', '255.0.255.0'), 'netmask', /not a contiguous netmask/);
  refuses(t, () => parseNetmask('netmask', '0.0.0.0'), 'netmask', /covers every address/);
  t.is(parseCidr('c', '10.1.0.0/16').text, '10.1.0.0/16');
  t.is(parseCidr('c', '2001:db8::/64').text, '2001:db8::/64');
  refuses(t, () => parseCidr('guestcidraddress', '10.1.1.5/24'), 'guestcidraddress', /not a network address; did you mean 10\.1\.1\.0\/24\?/);
  refuses(t, () => parseCidr('c', '10.0.0.0/33'), 'c', /prefix length is greater than 32/);
  refuses(t, () => parseCidr('c', '10.0.0.0'), 'c', /not a CIDR/);
  t.is(subnetOf(parseIPv4('g', '192.0.2.77'), 26).text, '192.0.2.64/26');
});

test('guest CIDR must be RFC 1918', (t) => {
  t.is(parseGuestCidr('guestcidraddress', '10.1.1.0/24').text, '10.1.1.0/24');
  t.is(parseGuestCidr('guestcidraddress', '172.16.0.0/12').text, '172.16.0.0/12');
  refuses(t, () => parseGuestCidr('guestcidraddress', '203.0.113.0/24'), 'guestcidraddress', /RFC 1918/);
  refuses(t, () => parseGuestCidr('guestcidraddress', '10.0.0.0/7'), 'guestcidraddress', /not a network address|RFC 1918/);
  refuses(t, () => parseGuestCidr('guestcidraddress', '172.15.0.0/16'), 'guestcidraddress', /RFC 1918/);
});

test('an IPv4 range is consistent with its gateway and netmask', (t) => {
  const r = validateV4Range({ gateway: '203.0.113.1', netmask: '255.255.255.0', startip: '203.0.113.10', endip: '203.0.113.20' });
  t.is(r.subnet.text, '203.0.113.0/24');
  t.is(r.netmask, '255.255.255.0');
  t.is(r.end.value - r.start.value, 10n);
  // endip defaults to startip
  const one = validateV4Range({ gateway: '203.0.113.1', netmask: '255.255.255.0', startip: '203.0.113.10' });
  t.is(one.end.text, '203.0.113.10');
  const base = { gateway: '203.0.113.1', netmask: '255.255.255.0', startip: '203.0.113.10', endip: '203.0.113.20' };
  refuses(t, () => validateV4Range({ ...base, startip: '203.0.113.30' }), 'endip', /start IP 203\.0\.113\.30 \(startip\) is greater than the end IP 203\.0\.113\.20/);
  refuses(t, () => validateV4Range({ ...base, endip: '203.0.114.5' }), 'endip', /endip 203\.0\.114\.5 is not in the subnet 203\.0\.113\.0\/24 of gateway 203\.0\.113\.1/);
  refuses(t, () => validateV4Range({ ...base, startip: '198.51.100.1' }), 'startip', /startip 198\.51\.100\.1 is not in the subnet/);
  refuses(t, () => validateV4Range({ ...base, gateway: '203.0.113.15' }), 'gateway', /gateway 203\.0\.113\.15 \(gateway\) is inside the IP range 203\.0\.113\.10-203\.0\.113\.20/);
  refuses(t, () => validateV4Range({ ...base, gateway: '203.0.113.0' }), 'gateway', /network address of its subnet/);
  refuses(t, () => validateV4Range({ ...base, endip: '203.0.113.255' }), 'endip', /broadcast address of the subnet 203\.0\.113\.0\/24/);
  refuses(t, () => validateV4Range({ ...base, netmask: '255.255.0.255' }), 'netmask', /contiguous/);
  // /31: both addresses usable (RFC 3021)
  t.notThrows(() => validateV4Range({ gateway: '192.0.2.0', netmask: '255.255.255.254', startip: '192.0.2.1' }));
  // custom names for pods
  refuses(t, () => validateV4Range({ ...base, startip: 'x' }), 'startip', /Invalid parameter startip value=x/);
});

test('an IPv6 range is consistent with its gateway and /64-or-larger CIDR', (t) => {
  const r = validateV6Range({ ip6gateway: '2001:db8:1::1', ip6cidr: '2001:db8:1::/64', startipv6: '2001:db8:1::100', endipv6: '2001:db8:1::1ff' });
  t.is(r.subnet.text, '2001:db8:1::/64');
  t.is(r.span!.end - r.span!.start, 0xffn);
  t.is(validateV6Range({ ip6gateway: '2001:db8:1::1', ip6cidr: '2001:db8:1::/64' }).span, undefined);
  refuses(t, () => validateV6Range({ ip6gateway: '2001:db8:1::1', ip6cidr: '2001:db8:1::/80' }), 'ip6cidr', /at least \/64/);
  refuses(t, () => validateV6Range({ ip6gateway: '2001:db8:2::1', ip6cidr: '2001:db8:1::/64' }), 'ip6gateway', /not in the ip6cidr 2001:db8:1::\/64/);
  refuses(t, () => validateV6Range({ ip6gateway: '2001:db8:1::1', ip6cidr: '2001:db8:1::/64', startipv6: '2001:db8:1::9', endipv6: '2001:db8:1::2' }), 'endipv6', /greater than/);
  refuses(t, () => validateV6Range({ ip6gateway: '2001:db8:1::1', ip6cidr: '2001:db8:1::/64', startipv6: '2001:db8:9::9' }), 'startipv6', /not in the ip6cidr/);
  refuses(t, () => validateV6Range({ ip6gateway: '2001:db8:1::5', ip6cidr: '2001:db8:1::/64', startipv6: '2001:db8:1::1', endipv6: '2001:db8:1::9' }), 'ip6gateway', /inside the IPv6 range/);
  refuses(t, () => validateV6Range({ ip6gateway: '2001:db8:1::1', ip6cidr: '2001:db8:1::/64', endipv6: '2001:db8:1::9' }), 'startipv6', /endipv6 was given without startipv6/);
});

function existing(id: string, vlan: string, gw: string, mask: string, start: string, end: string): ExistingRange {
  const r = validateV4Range({ gateway: gw, netmask: mask, startip: start, endip: end });
  return { id, vlan, v4: { subnet: r.subnet, span: r.span } };
}

test('public range conflicts name the colliding object', (t) => {
  const zone: ZoneFacts = {
    name: 'local', guestCidr: parseGuestCidr('g', '10.1.1.0/24'),
    ranges: [existing('r1', 'vlan://100', '203.0.113.1', '255.255.255.0', '203.0.113.2', '203.0.113.50')],
    pods: [{ id: 'p1', name: 'pod1', subnet: parseCidr('x', '192.168.50.0/24'), span: { family: 4, start: parseIPv4('x', '192.168.50.10').value, end: parseIPv4('x', '192.168.50.20').value } }],
  };
  const cand = (vlan: string, gw: string, mask: string, s: string, e: string) => ({ vlan, v4: validateV4Range({ gateway: gw, netmask: mask, startip: s, endip: e }) });
  refuses(t, () => checkRangeConflicts(cand('vlan://100', '203.0.113.1', '255.255.255.0', '203.0.113.10', '203.0.113.20'), zone), 'startip',
    /^The IP range 203\.0\.113\.10-203\.0\.113\.20 \(startip, endip\) overlaps with range 203\.0\.113\.2-203\.0\.113\.50 \(id r1\) of zone local$/);
  // same VLAN, adjacent addresses: fine
  t.notThrows(() => checkRangeConflicts(cand('vlan://100', '203.0.113.1', '255.255.255.0', '203.0.113.51', '203.0.113.60'), zone));
  // same VLAN, another subnet: a second public subnet on the VLAN, as CloudStack accepts it
  t.notThrows(() => checkRangeConflicts(cand('vlan://100', '198.51.100.1', '255.255.255.0', '198.51.100.2', '198.51.100.9'), zone));
  // same VLAN, an overlapping subnet of another size: CloudStack's "extend the range with its gateway/netmask"
  refuses(t, () => checkRangeConflicts(cand('vlan://100', '203.0.113.129', '255.255.255.128', '203.0.113.130', '203.0.113.140'), zone), 'gateway', /^The IP range has already been added with the subnet 203\.0\.113\.0\/24 on vlan:\/\/100 of zone local \(range id r1\), Please specify its gateway\/netmask if you want to extend ip range/);
  // another VLAN, overlapping subnet
  refuses(t, () => checkRangeConflicts(cand('vlan://200', '203.0.113.129', '255.255.255.128', '203.0.113.130', '203.0.113.140'), zone), 'gateway', /subnet 203\.0\.113\.128\/25 .* overlaps with the subnet 203\.0\.113\.0\/24 of range id r1 on vlan:\/\/100/);
  // guest CIDR
  refuses(t, () => checkRangeConflicts(cand('vlan://300', '10.1.0.1', '255.255.0.0', '10.1.200.1', '10.1.200.9'), zone), 'gateway', /overlaps with the guest CIDR 10\.1\.1\.0\/24 \(guestcidraddress\) of zone local/);
  // pod management range
  refuses(t, () => checkRangeConflicts(cand('vlan://300', '192.168.50.1', '255.255.255.0', '192.168.50.15', '192.168.50.30'), zone), 'startip', /management IP range 192\.168\.50\.10-192\.168\.50\.20 of pod pod1 \(id p1\)/);
  // a different VLAN and disjoint subnet is fine
  t.notThrows(() => checkRangeConflicts(cand('vlan://200', '198.51.100.1', '255.255.255.0', '198.51.100.2', '198.51.100.9'), zone));
});

test('IPv6 range conflicts', (t) => {
  const v6 = validateV6Range({ ip6gateway: '2001:db8:1::1', ip6cidr: '2001:db8:1::/64', startipv6: '2001:db8:1::10', endipv6: '2001:db8:1::20' });
  const zone: ZoneFacts = { name: 'z6', ranges: [{ id: 'r6', vlan: 'vlan://100', v6: { subnet: v6.subnet, span: v6.span } }], pods: [] };
  const c = (vlan: string, i: Parameters<typeof validateV6Range>[0]) => ({ vlan, v6: validateV6Range(i) });
  refuses(t, () => checkRangeConflicts(c('vlan://100', { ip6gateway: '2001:db8:1::1', ip6cidr: '2001:db8:1::/64', startipv6: '2001:db8:1::15', endipv6: '2001:db8:1::30' }), zone), 'startipv6', /IPv6 range 2001:db8:1::15-2001:db8:1::30 .* overlaps with range 2001:db8:1::10-2001:db8:1::20 \(id r6\) of zone z6/);
  refuses(t, () => checkRangeConflicts(c('vlan://200', { ip6gateway: '2001:db8:1::1', ip6cidr: '2001:db8:1::/64' }), zone), 'ip6cidr', /overlaps with the IPv6 subnet 2001:db8:1::\/64 of range id r6/);
  refuses(t, () => checkRangeConflicts(c('vlan://100', { ip6gateway: '2001:db8:2::1', ip6cidr: '2001:db8:2::/64' }), zone), 'ip6cidr', /already carries the IPv6 subnet/);
  t.notThrows(() => checkRangeConflicts(c('vlan://100', { ip6gateway: '2001:db8:1::1', ip6cidr: '2001:db8:1::/64', startipv6: '2001:db8:1::21', endipv6: '2001:db8:1::40' }), zone));
  // IPv4 and IPv6 never collide with each other
  t.notThrows(() => checkRangeConflicts({ vlan: 'vlan://100', v4: validateV4Range({ gateway: '203.0.113.1', netmask: '255.255.255.0', startip: '203.0.113.5' }) }, { ...zone, ranges: [{ id: 'r6', vlan: 'vlan://100', v6: { subnet: v6.subnet } }] }));
});

test('guest CIDR and pod conflicts', (t) => {
  const zone: ZoneFacts = {
    name: 'local', guestCidr: parseGuestCidr('g', '10.1.1.0/24'),
    ranges: [existing('r1', 'vlan://100', '192.168.1.1', '255.255.255.0', '192.168.1.10', '192.168.1.20')],
    pods: [{ id: 'p1', name: 'pod1', subnet: parseCidr('x', '10.2.0.0/24'), span: { family: 4, start: parseIPv4('x', '10.2.0.10').value, end: parseIPv4('x', '10.2.0.20').value } }],
  };
  refuses(t, () => checkGuestCidr('guestcidraddress', parseGuestCidr('g', '192.168.0.0/16'), zone), 'guestcidraddress', /overlaps with the subnet 192\.168\.1\.0\/24 of public IP range 192\.168\.1\.10-192\.168\.1\.20 \(id r1\)/);
  refuses(t, () => checkGuestCidr('guestcidraddress', parseGuestCidr('g', '10.2.0.0/16'), zone), 'guestcidraddress', /subnet 10\.2\.0\.0\/24 of pod pod1/);
  t.notThrows(() => checkGuestCidr('guestcidraddress', parseGuestCidr('g', '10.9.0.0/16'), zone));
  const pod = (gw: string, s: string, e: string) => validateV4Range({ gateway: gw, netmask: '255.255.255.0', startip: s, endip: e });
  refuses(t, () => checkPodConflicts(pod('10.2.0.1', '10.2.0.100', '10.2.0.110'), zone), 'gateway', /pod subnet 10\.2\.0\.0\/24 .* overlaps with the subnet 10\.2\.0\.0\/24 of pod pod1/);
  refuses(t, () => checkPodConflicts(pod('10.1.1.1', '10.1.1.100', '10.1.1.110'), zone), 'gateway', /guest CIDR 10\.1\.1\.0\/24/);
  refuses(t, () => checkPodConflicts(pod('192.168.1.1', '192.168.1.15', '192.168.1.30'), { ...zone, ranges: zone.ranges }), 'startip', /public IP range 192\.168\.1\.10-192\.168\.1\.20 \(id r1\)/);
  t.notThrows(() => checkPodConflicts(pod('10.3.0.1', '10.3.0.10', '10.3.0.20'), zone));
});

test('VLAN and VNI range strings', (t) => {
  t.deepEqual(parseVnetRanges('vlan', '100-199,300'), [[100, 199], [300, 300]]);
  t.deepEqual(parseVnetRanges('vlan', ' 300 , 100-199 , 150-250 '), [[100, 250], [300, 300]]);
  t.deepEqual(parseVnetRanges('vlan', '1-10,11-20'), [[1, 20]]);
  t.deepEqual(parseVnetRanges('vlan', ''), []);
  t.is(formatVnetRanges(parseVnetRanges('vlan', '300,100-199')), '100-199,300-300');
  t.deepEqual(parseVnetRanges('vlan', '5000-6000', 'VXLAN'), [[5000, 6000]]);
  t.deepEqual(parseVnetRanges('vlan', '16777215', 'vxlan'), [[16777215, 16777215]]);
  refuses(t, () => parseVnetRanges('vlan', '0-10'), 'vlan', /0-10 is outside 1-4094, the VLAN ids allowed for VLAN isolation/);
  refuses(t, () => parseVnetRanges('vlan', '4000-4095'), 'vlan', /outside 1-4094/);
  refuses(t, () => parseVnetRanges('vlan', '5000-6000', 'VLAN'), 'vlan', /outside 1-4094/);
  refuses(t, () => parseVnetRanges('vlan', '16777216', 'VXLAN'), 'vlan', /outside 1-16777215, the VNIs allowed for VXLAN/);
  refuses(t, () => parseVnetRanges('vlan', '200-100'), 'vlan', /start is greater than the end/);
  refuses(t, () => parseVnetRanges('vlan', '100-'), 'vlan', /"100-" is not a VLAN id/);
  refuses(t, () => parseVnetRanges('vlan', '100,,200'), 'vlan', /"" is not a VLAN id/);
  refuses(t, () => parseVnetRanges('vlan', 'abc'), 'vlan', /"abc" is not a VLAN id/);
  refuses(t, () => parseVnetRanges('vlan', '1-2-3'), 'vlan', /is not a VLAN id/);
});

test('VLAN set operations', (t) => {
  const a = parseVnetRanges('v', '100-199,300');
  t.deepEqual(vnetOverlap(a, parseVnetRanges('v', '150-160')), [150, 160]);
  t.deepEqual(vnetOverlap(a, parseVnetRanges('v', '250-400')), [300, 300]);
  t.is(vnetOverlap(a, parseVnetRanges('v', '200-299,301-4094')), undefined);
  t.true(vnetContains(a, 100));
  t.false(vnetContains(a, 200));
  t.deepEqual(vnetRemoved(a, parseVnetRanges('v', '120-130')), [[100, 119], [131, 199], [300, 300]]);
  t.deepEqual(vnetRemoved(a, a), []);
  t.deepEqual(vnetRemoved(a, []), [[100, 199], [300, 300]]);
});

test('VLAN tags of public ranges', (t) => {
  t.deepEqual(parseVlanTag('vlan', 'untagged'), { uri: 'vlan://untagged', scheme: 'vlan' });
  t.deepEqual(parseVlanTag('vlan', 'VLAN://untagged'), { uri: 'vlan://untagged', scheme: 'vlan' });
  t.deepEqual(parseVlanTag('vlan', '100'), { uri: 'vlan://100', id: 100, scheme: 'vlan' });
  t.deepEqual(parseVlanTag('vlan', 'vlan://4094'), { uri: 'vlan://4094', id: 4094, scheme: 'vlan' });
  t.deepEqual(parseVlanTag('vlan', 'vxlan://70000'), { uri: 'vxlan://70000', id: 70000, scheme: 'vxlan' });
  refuses(t, () => parseVlanTag('vlan', '4095'), 'vlan', /4095 is outside 1-4094/);
  refuses(t, () => parseVlanTag('vlan', '0'), 'vlan', /outside/);
  refuses(t, () => parseVlanTag('vlan', 'vlan://1;reboot'), 'vlan', /not a VLAN id/);
  refuses(t, () => parseVlanTag('vlan', 'gre://5'), 'vlan', /not a VLAN id/);
});

test('firstFree: the lowest unclaimed address of a span, or none', (t) => {
  const span = { family: 4 as const, start: parseIPv4('s', '10.0.0.254').value, end: parseIPv4('e', '10.0.1.1').value };
  t.is(firstFree(span, () => false), '10.0.0.254');
  t.is(firstFree(span, (a) => a === '10.0.0.254' || a === '10.0.0.255'), '10.0.1.0');
  t.is(firstFree(span, () => true), undefined);
  const v6 = { family: 6 as const, start: parseIPv6('s', '2001:db8::ffff').value, end: parseIPv6('e', '2001:db8::1:1').value };
  t.is(firstFree(v6, (a) => a === '2001:db8::ffff'), '2001:db8::1:0');
});
