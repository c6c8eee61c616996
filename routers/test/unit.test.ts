// Fast tests of the pure parts: DHCP codec and decisions, lease journal, DNS answers, metadata
// routing, spec validation and diff, links compiler. The kernel tests drive the same code
// with real clients in namespaces.
import test from 'ava';
import { appendFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bindingFor, compileDhcpNetwork, decide, allocate, type LeaseView } from '../src/dhcp/engine.ts';
import { LeaseStore, type Lease } from '../src/dhcp/leases.ts';
import { encodeRequest, ipBuf, msgType, MsgType, Opt, optIp, optString, parse } from '../src/dhcp/packet.ts';
import { buildResponse, parseQuery, respond } from '../src/dns/server.ts';
import { compileZone, encodeName, reverseName } from '../src/dns/zone.ts';
import { compileLinks } from '../src/links.ts';
import { diffServices } from '../src/router.ts';
import { validateSpec } from '../src/validate.ts';
import { compileVmData, metadataReply } from '../src/vmdata/compile.ts';
import { guestNet, routerSpec } from './fixtures.ts';

const noLeases: LeaseView = { get: () => undefined, byIp: () => undefined };
const view = (ls: Lease[]): LeaseView => ({ get: (m) => ls.find((l) => l.mac === m), byIp: (ip) => ls.find((l) => l.ip === ip) });
const NOW = 1_700_000_000;

test('DHCP packet round trip keeps fields and options', (t) => {
  const b = encodeRequest({ xid: 0x12345678, chaddr: '02:00:00:00:01:0a', type: MsgType.REQUEST, ciaddr: '10.1.0.10', options: [[Opt.REQUESTED_IP, ipBuf('10.1.0.10')], [Opt.HOSTNAME, Buffer.from('web1')]] });
  const p = parse(b);
  t.is(p.xid, 0x12345678);
  t.is(p.chaddr, '02:00:00:00:01:0a');
  t.is(p.ciaddr, '10.1.0.10');
  t.is(msgType(p), MsgType.REQUEST);
  t.is(optIp(p, Opt.REQUESTED_IP), '10.1.0.10');
  t.is(optString(p, Opt.HOSTNAME), 'web1');
});

test('DHCP parser rejects truncated and overrunning packets', (t) => {
  t.throws(() => parse(Buffer.alloc(100)), { message: /short packet/ });
  const b = encodeRequest({ xid: 1, chaddr: '02:00:00:00:00:01', type: MsgType.DISCOVER });
  const bad = Buffer.from(b); bad[240] = 53; bad[241] = 200; // option length past the end
  t.throws(() => parse(bad.subarray(0, 250)), { message: /overruns/ });
});

test('DISCOVER from a reserved MAC gets an OFFER with the reserved IP and all options', (t) => {
  const n = compileDhcpNetwork(guestNet());
  const req = parse(encodeRequest({ xid: 7, chaddr: '02:00:00:00:01:0a', type: MsgType.DISCOVER }));
  const d = decide(n, req, noLeases, NOW, undefined, () => undefined);
  t.deepEqual(d.events, ['discover', 'offer']);
  const r = parse(d.reply!.buf);
  t.is(r.op, 2);
  t.is(r.yiaddr, '10.1.0.10');
  t.is(msgType(r), MsgType.OFFER);
  t.is(optIp(r, Opt.SERVER_ID), '10.1.0.1');
  t.is(optIp(r, Opt.ROUTER), '10.1.0.1');
  t.is(optIp(r, Opt.DNS), '10.1.0.1');
  t.is(optIp(r, Opt.SUBNET_MASK), '255.255.255.0');
  t.is(optString(r, Opt.DOMAIN), 'tenant.internal');
  t.is(optString(r, Opt.HOSTNAME), 'web1');
  t.is(r.options.get(Opt.LEASE_TIME)!.readUInt32BE(0), 3600);
  t.is(r.options.get(Opt.RENEWAL_T1)!.readUInt32BE(0), 1800);
  t.is(r.options.get(Opt.REBINDING_T2)!.readUInt32BE(0), 3150);
  t.deepEqual({ address: d.reply!.address, port: d.reply!.port }, { address: '255.255.255.255', port: 68 });
});

test('unknown MAC without a pool is ignored (CloudStack networks are reservation-only)', (t) => {
  const n = compileDhcpNetwork(guestNet());
  const d = decide(n, parse(encodeRequest({ xid: 1, chaddr: '02:99:00:00:00:01', type: MsgType.DISCOVER })), noLeases, NOW, undefined, () => undefined);
  t.is(d.reply, undefined);
  t.true(d.events.includes('ignored_unknown_client'));
});

test('REQUEST: ACK for the reserved address, NAK for another, silence for another server', (t) => {
  const n = compileDhcpNetwork(guestNet());
  const mk = (o: Partial<{ requested: string; server: string; ciaddr: string }>) => parse(encodeRequest({
    xid: 2, chaddr: '02:00:00:00:01:0a', type: MsgType.REQUEST, ...(o.ciaddr ? { ciaddr: o.ciaddr } : {}),
    options: [...(o.requested ? [[Opt.REQUESTED_IP, ipBuf(o.requested)] as [number, Buffer]] : []), ...(o.server ? [[Opt.SERVER_ID, ipBuf(o.server)] as [number, Buffer]] : [])],
  }));
  const ack = decide(n, mk({ requested: '10.1.0.10', server: '10.1.0.1' }), noLeases, NOW, undefined, () => undefined);
  t.is(msgType(parse(ack.reply!.buf)), MsgType.ACK);
  t.deepEqual(ack.put, { mac: '02:00:00:00:01:0a', ip: '10.1.0.10', hostname: 'web1', expires: NOW + 3600 });
  const nak = decide(n, mk({ requested: '10.1.0.99' }), noLeases, NOW, undefined, () => undefined);
  t.is(msgType(parse(nak.reply!.buf)), MsgType.NAK);
  t.is(nak.reply!.address, '255.255.255.255');
  t.is(nak.put, undefined);
  const other = decide(n, mk({ requested: '10.1.0.10', server: '10.1.0.254' }), noLeases, NOW, undefined, () => undefined);
  t.is(other.reply, undefined);
  // RENEWING: ciaddr set, no server id → unicast ACK to the client.
  const renew = decide(n, mk({ ciaddr: '10.1.0.10' }), noLeases, NOW, undefined, () => undefined);
  t.is(msgType(parse(renew.reply!.buf)), MsgType.ACK);
  t.deepEqual({ a: renew.reply!.address, p: renew.reply!.port }, { a: '10.1.0.10', p: 68 });
});

test('a renewal after a restart is ACKed from the persisted lease (pool address)', (t) => {
  const n = compileDhcpNetwork(guestNet({ dynamicRange: { start: '10.1.0.100', end: '10.1.0.110' } }));
  const req = parse(encodeRequest({ xid: 3, chaddr: '02:00:00:00:09:09', type: MsgType.REQUEST, ciaddr: '10.1.0.105' }));
  // Without the lease, the server does not know the client: it must not ACK.
  t.is(decide(n, req, noLeases, NOW, undefined, () => undefined).reply, undefined);
  const d = decide(n, req, view([{ mac: '02:00:00:00:09:09', ip: '10.1.0.105', expires: NOW + 100 }]), NOW, undefined, () => undefined);
  t.is(msgType(parse(d.reply!.buf)), MsgType.ACK);
});

test('pool allocation skips reserved, leased, busy and the gateway', (t) => {
  const n = compileDhcpNetwork(guestNet({ dynamicRange: { start: '10.1.0.9', end: '10.1.0.13' } }));
  const leases = view([{ mac: 'aa:aa:aa:aa:aa:aa', ip: '10.1.0.9', expires: NOW + 10 }]);
  const cursor = { next: 0 };
  t.is(allocate(n, 'bb:bb:bb:bb:bb:bb', leases, (ip) => ip === '10.1.0.12', NOW, cursor), '10.1.0.13');
  t.is(allocate(n, 'bb:bb:bb:bb:bb:bb', leases, (ip) => ip === '10.1.0.12' || ip === '10.1.0.13', NOW, cursor), undefined);
  // An expired lease's address is free again.
  t.is(allocate(n, 'cc:cc:cc:cc:cc:cc', leases, () => false, NOW + 20, { next: 0 }), '10.1.0.9');
  t.deepEqual(bindingFor(n, '02:00:00:00:01:0a', noLeases), { ip: '10.1.0.10', hostname: 'web1', dynamic: false });
});

test('relayed requests: reply to giaddr:67, foreign relays ignored', (t) => {
  const n = compileDhcpNetwork(guestNet());
  const d = decide(n, parse(encodeRequest({ xid: 4, chaddr: '02:00:00:00:01:0a', type: MsgType.DISCOVER, giaddr: '10.1.0.2' })), noLeases, NOW, undefined, () => undefined);
  t.deepEqual({ a: d.reply!.address, p: d.reply!.port }, { a: '10.1.0.2', p: 67 });
  const f = decide(n, parse(encodeRequest({ xid: 4, chaddr: '02:00:00:00:01:0a', type: MsgType.DISCOVER, giaddr: '172.16.0.2' })), noLeases, NOW, undefined, () => undefined);
  t.is(f.reply, undefined);
});

test('INFORM gets an ACK without lease time; RELEASE removes the lease', (t) => {
  const n = compileDhcpNetwork(guestNet());
  const inf = decide(n, parse(encodeRequest({ xid: 5, chaddr: '02:00:00:00:01:0a', type: MsgType.INFORM, ciaddr: '10.1.0.10' })), noLeases, NOW, undefined, () => undefined);
  const r = parse(inf.reply!.buf);
  t.is(msgType(r), MsgType.ACK);
  t.is(r.yiaddr, '0.0.0.0');
  t.false(r.options.has(Opt.LEASE_TIME));
  const rel = decide(n, parse(encodeRequest({ xid: 6, chaddr: '02:00:00:00:01:0a', type: MsgType.RELEASE, ciaddr: '10.1.0.10' })), view([{ mac: '02:00:00:00:01:0a', ip: '10.1.0.10', expires: NOW }]), NOW, undefined, () => undefined);
  t.is(rel.remove, '02:00:00:00:01:0a');
  t.is(rel.reply, undefined);
});

test('lease journal survives reopen, ignores a torn tail, and compacts', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'flt-leases-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'leases.jsonl');
  const s = await LeaseStore.open(path);
  await Promise.all([s.put({ mac: 'aa:00:00:00:00:01', ip: '10.0.0.1', expires: 10 }), s.put({ mac: 'aa:00:00:00:00:02', ip: '10.0.0.2', expires: 20 })]);
  await s.put({ mac: 'aa:00:00:00:00:01', ip: '10.0.0.3', expires: 30 });
  await s.remove('aa:00:00:00:00:02');
  await s.close();
  await appendFile(path, '{"op":"put","lease":{"mac":"aa:00'); // a crash mid-write
  const r = await LeaseStore.open(path);
  t.is(r.skippedAtLoad, 1);
  t.deepEqual(r.all(), [{ mac: 'aa:00:00:00:00:01', ip: '10.0.0.3', expires: 30 }]);
  t.is(r.byIp('10.0.0.1'), undefined);
  t.is((await readFile(path, 'utf8')).trim().split('\n').length, 1); // compacted on open
  await r.close();
});

test('DNS: A, PTR, NXDOMAIN with SOA, NODATA, case-insensitive, forward outside the domain', (t) => {
  const z = compileZone(guestNet(), 7);
  const q = (name: string, type: number, id = 0x4242) => {
    const qn = encodeName(name);
    const b = Buffer.alloc(12 + qn.length + 4);
    b.writeUInt16BE(id, 0); b[2] = 0x01; b.writeUInt16BE(1, 4);
    qn.copy(b, 12); b.writeUInt16BE(type, 12 + qn.length); b.writeUInt16BE(1, 14 + qn.length);
    return b;
  };
  const a = respond(z, q('WEB1.Tenant.Internal', 1));
  t.is(a.kind, 'answer');
  const buf = (a as { buf: Buffer }).buf;
  t.is(buf.readUInt16BE(0), 0x4242);
  t.is(buf[3]! & 0x0f, 0);
  t.is(buf.readUInt16BE(6), 1);
  t.deepEqual([...buf.subarray(buf.length - 4)], [10, 1, 0, 10]);
  const ptr = respond(z, q(reverseName('10.1.0.11'), 12)) as { buf: Buffer };
  t.true(ptr.buf.includes(encodeName('db1.tenant.internal')));
  const nx = respond(z, q('nope.tenant.internal', 1)) as { buf: Buffer };
  t.is(nx.buf[3]! & 0x0f, 3);
  t.is(nx.buf.readUInt16BE(8), 1); // SOA in authority
  const nodata = respond(z, q('web1.tenant.internal', 28)) as { buf: Buffer };
  t.is(nodata.buf[3]! & 0x0f, 0);
  t.is(nodata.buf.readUInt16BE(6), 0);
  t.is(respond(z, q('example.org', 1)).kind, 'forward');
  // Reverse lookups inside the guest CIDR are ours even when unknown; outside, forwarded.
  t.is((respond(z, q(reverseName('10.1.0.200'), 12)) as { buf: Buffer }).buf[3]! & 0x0f, 3);
  t.is(respond(z, q(reverseName('8.8.8.8'), 12)).kind, 'forward');
  t.is(respond(z, q('data-server.tenant.internal', 1)).kind, 'answer');
  // AAAA and ip6.arpa PTR from a reservation's IPv6 address.
  const z6 = compileZone(guestNet({ reservations: [{ mac: '02:00:00:00:01:0a', ip: '10.1.0.10', hostname: 'web1', ip6: 'fd00:1::10' }] }), 1);
  const aaaa = respond(z6, q('web1.tenant.internal', 28)) as { buf: Buffer };
  t.is(aaaa.buf.readUInt16BE(6), 1);
  t.deepEqual([...aaaa.buf.subarray(aaaa.buf.length - 16)], [0xfd, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10]);
  const ptr6 = respond(z6, q(reverseName('fd00:1::10'), 12)) as { buf: Buffer };
  t.true(ptr6.buf.includes(encodeName('web1.tenant.internal')));
  t.is(reverseName('fd00:1::10'), '0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.0.0.0.0.d.f.ip6.arpa');
});

test('DNS: malformed queries get FORMERR or are dropped, responses are never answered', (t) => {
  const z = compileZone(guestNet(), 1);
  const bad = Buffer.alloc(14); bad.writeUInt16BE(9, 0); bad.writeUInt16BE(1, 4); bad[12] = 0xc0; // pointer in question
  const r = respond(z, bad) as { kind: string; buf: Buffer };
  t.is(r.kind, 'answer');
  t.is(r.buf[3]! & 0x0f, 1);
  const resp = Buffer.alloc(20); resp[2] = 0x80;
  t.is(respond(z, resp).kind, 'drop');
  t.is(parseQuery(Buffer.alloc(5)), undefined);
  t.truthy(buildResponse);
});

test('metadata: CloudStack paths, per source IP, 404 for strangers', (t) => {
  const tb = compileVmData([guestNet()]);
  t.is(metadataReply(tb, '10.1.0.10', '/latest/user-data').body.toString(), '#cloud-config\nhostname: web1\n');
  t.is(metadataReply(tb, '10.1.0.11', '/latest/user-data').status, 404);
  const listing = metadataReply(tb, '10.1.0.10', '/latest/meta-data/').body.toString();
  t.deepEqual(listing.trim().split('\n'), ['service-offering', 'availability-zone', 'local-ipv4', 'local-hostname', 'instance-id', 'vm-id', 'public-keys', 'cloud-identifier']);
  t.is(metadataReply(tb, '10.1.0.10', '/latest/meta-data/instance-id').body, 'i-web1');
  t.is(metadataReply(tb, '10.1.0.10', '/latest/instance-id').body, 'i-web1');
  t.is(metadataReply(tb, '10.1.0.11', '/latest/meta-data/instance-id').body, 'i-db1');
  t.is(metadataReply(tb, '10.1.0.11', '/latest/meta-data/public-keys').status, 404);
  t.is(metadataReply(tb, '10.1.0.99', '/latest/meta-data/instance-id').status, 404);
  t.is(metadataReply(tb, '10.1.0.10', '/latest/meta-data/../../etc/passwd').status, 404);
  t.is(tb.passwords.get('10.1.0.10'), 'S3cret-web1');
});

test('validation collects every semantic error and refuses the spec', (t) => {
  const bad = routerSpec(1, {
    guestNetworks: [guestNet({
      gateway: '10.2.0.1',
      reservations: [{ mac: '02:00:00:00:01:0a', ip: '10.9.9.9' }, { mac: '02:00:00:00:01:0a', ip: '10.1.0.10' }],
      vms: [{ ip: '10.1.0.10', userData: 'abc', metadata: {} }],
    })],
  });
  const r = validateSpec(bad);
  t.false(r.ok);
  const errs = (r as { errors: string[] }).errors.join('\n');
  t.regex(errs, /gateway: 10.2.0.1 is outside 10.1.0.0\/24/);
  t.regex(errs, /reservations\/0\/ip: 10.9.9.9 is outside/);
  t.regex(errs, /reservations\/1\/mac: duplicate MAC/);
  t.regex(errs, /userData: not valid base64/);
  t.true((r as { errors: string[] }).errors.length >= 5);
  const shape = validateSpec({ ...routerSpec(1), interfaces: [{ name: 'eth0; rm -rf /', mac: 'x', role: 'guest', addresses: [] }] });
  t.false(shape.ok);
  t.true(validateSpec(routerSpec(1)).ok);
});

test('diffServices touches only the services whose slice changed', (t) => {
  const a = routerSpec(1);
  t.deepEqual(diffServices(undefined, a), ['links', 'firewall', 'dhcp', 'dns', 'metadata', 'password']);
  t.deepEqual(diffServices(a, routerSpec(2)), []);
  const pw = routerSpec(2); pw.guestNetworks[0]!.vms[1]!.password = 'new';
  t.deepEqual(diffServices(a, pw), ['password']);
  const res = routerSpec(2); res.guestNetworks[0]!.reservations.push({ mac: '02:00:00:00:01:0c', ip: '10.1.0.12', hostname: 'app1' });
  t.deepEqual(diffServices(a, res), ['dhcp', 'dns']);
});

test('links compiler: sets MAC/up, adds and removes addresses, diffs routes against the previous spec', (t) => {
  const spec = routerSpec(2, { routes: [{ destination: 'default', gateway: '10.1.0.254' }] });
  const prev = routerSpec(1, { routes: [{ destination: '192.168.0.0/16', gateway: '10.1.0.254' }] });
  const { removals, batch } = compileLinks(spec, prev, [{ ifname: 'gst0', address: '02:00:00:00:00:99', flags: ['BROADCAST'], addr_info: [{ family: 'inet', local: '10.9.9.9', prefixlen: 24 }, { family: 'inet6', local: 'fe80::1', prefixlen: 64, scope: 'link' }] }]);
  t.deepEqual(removals, ['route del 192.168.0.0/16 via 10.1.0.254']);
  t.deepEqual(batch, [
    'link set dev gst0 address 02:00:00:aa:00:01',
    'link set dev gst0 up',
    'address del 10.9.9.9/24 dev gst0',
    'address add 10.1.0.1/24 dev gst0',
    'route replace 0.0.0.0/0 via 10.1.0.254',
  ]);
  t.throws(() => compileLinks(spec, undefined, []), { message: /gst0 is not present/ });
});
