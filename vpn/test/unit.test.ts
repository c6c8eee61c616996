// The pure side: keys against wg(8), range parsing, the compiler's checks, the peer diff, the
// firewall additions as firewall/ validates them, client configurations.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { validateFirewallSpec, type FirewallSpec } from '@flotilla/protocol/firewall';
import type { RemoteAccessVpnSpec } from '@flotilla/protocol/vpn';
import { clientConfig, compileVpn, diffPeers, VpnCompiler, generateKeyPair, isWgKey, parseRange, publicKeyOf, uapi, VpnSpecError, wgKeyProblem, withVpnFirewall, wgSetconfOf } from '../src/index.ts';

const ID = '11111111-2222-4333-8444-555555555555';
const server = generateKeyPair();
const spec = (peers: RemoteAccessVpnSpec['peers'] = []): RemoteAccessVpnSpec => ({
  version: 1, id: ID, interface: 'wgtest', publicIp: '203.0.113.10', listenPort: 51820, privateKey: server.privateKey,
  range: { start: '10.8.0.1', end: '10.8.0.254' }, openFirewall: true, peers,
});

test('keys: generated pairs match wg pubkey; only 32-byte canonical base64 is a key', (t) => {
  const k = generateKeyPair();
  t.is(execFileSync('wg', ['pubkey'], { input: k.privateKey + '\n' }).toString().trim(), k.publicKey);
  t.is(publicKeyOf(k.privateKey), k.publicKey);
  t.true(isWgKey(k.publicKey));
  t.false(isWgKey(k.publicKey.slice(0, 43) + 'A'));
  t.false(isWgKey(Buffer.alloc(31).toString('base64')));
  t.false(isWgKey(Buffer.alloc(33).toString('base64')));
  t.regex(wgKeyProblem(Buffer.alloc(16).toString('base64'))!, /16 bytes/);
  t.regex(wgKeyProblem('not a key!')!, /not base64/);
});

test('range: CloudStack iprange text, first address is the server', (t) => {
  t.like(parseRange('10.1.2.1-10.1.2.8'), { start: '10.1.2.1', end: '10.1.2.8' });
  for (const bad of ['10.1.2.1', '10.1.2.8-10.1.2.1', '10.1.2.1-10.1.2.1', '10.1.2.1-x', '300.1.1.1-300.1.1.2', '10.0.0.1-10.2.0.0']) t.is(typeof parseRange(bad), 'string', bad);
});

test('compile: interface, port, covering prefix, peers; every problem at once', (t) => {
  const a = generateKeyPair().publicKey; const b = generateKeyPair().publicKey;
  const c = compileVpn(spec([{ publicKey: a, address: '10.8.0.2' }, { publicKey: b, address: '10.8.0.3' }]));
  t.like(c, { interface: 'wgtest', listenPort: 51820, address: '10.8.0.1/24', clientPrefix: '10.8.0.0/24', publicKey: server.publicKey });
  t.deepEqual([...c.peers], [[a, '10.8.0.2'], [b, '10.8.0.3']]);
  const e = t.throws(() => compileVpn(spec([
    { publicKey: a, address: '10.8.0.1' }, { publicKey: a, address: '10.8.0.4' }, { publicKey: b, address: '10.9.0.1' }, { publicKey: server.publicKey, address: '10.8.0.5' },
  ])), { instanceOf: VpnSpecError });
  t.is(e!.errors.length, 4, e!.errors.join('\n'));
});

test('diff: adds and removes exactly the changed peers (never a rewrite)', (t) => {
  const prev = new Map([['a', '10.8.0.2/32'], ['b', '10.8.0.3/32'], ['c', '10.8.0.4/32']]);
  const next = new Map([['a', '10.8.0.2/32'], ['c', '10.8.0.9/32'], ['d', '10.8.0.5/32']]);
  t.deepEqual(diffPeers(prev, next), { set: [['c', '10.8.0.9/32'], ['d', '10.8.0.5/32']], remove: ['b'] });
  t.deepEqual(diffPeers(next, next), { set: [], remove: [] });
  t.regex(uapi.setPeer(server.publicKey, '10.8.0.2'), /^public_key=[0-9a-f]{64}\nreplace_allowed_ips=true\nallowed_ip=10\.8\.0\.2\/32\n$/);
  t.regex(uapi.removePeer(server.publicKey), /^public_key=[0-9a-f]{64}\nremove=true\n$/);
});

test('incremental compiler: a whole spec checks and diffs only changed peers, with the result of compileVpn', (t) => {
  const ks = Array.from({ length: 5 }, () => generateKeyPair().publicKey);
  const c = new VpnCompiler();
  const first = c.compile(spec(ks.slice(0, 3).map((k, i) => ({ publicKey: k, address: `10.8.0.${2 + i}` }))));
  t.is(first.diff.set.length, 3);
  t.deepEqual(first.diff.remove, []);
  // ks[1] leaves, ks[3] takes its address in the same spec, ks[2] moves.
  const next = spec([{ publicKey: ks[0]!, address: '10.8.0.2' }, { publicKey: ks[3]!, address: '10.8.0.3' }, { publicKey: ks[2]!, address: '10.8.0.9' }]);
  const ch = c.compile(next);
  t.is(ch.base, first.rev);
  t.deepEqual(ch.diff, { set: [[ks[3]!, '10.8.0.3'], [ks[2]!, '10.8.0.9']], remove: [ks[1]!] });
  t.deepEqual([...ch.compiled.peers], [...compileVpn(next).peers]);
  t.like(ch.compiled, { ...compileVpn(next), peers: ch.compiled.peers });
  // An error in a changed peer refuses the spec and leaves the state as it was.
  const bad = spec([{ publicKey: ks[0]!, address: '10.8.0.2' }, { publicKey: ks[4]!, address: '10.8.0.2' }]);
  const e = t.throws(() => c.compile(bad), { instanceOf: VpnSpecError });
  t.regex(e!.errors.join('\n'), /10\.8\.0\.2 given to two peers/);
  t.deepEqual(c.compile(next).diff, { set: [], remove: [] });
  // Another range: every peer is checked again (an address outside it is refused).
  const narrow = { ...next, range: { start: '10.8.0.1', end: '10.8.0.5' } };
  t.regex(t.throws(() => c.compile(narrow), { instanceOf: VpnSpecError })!.errors.join(), /10\.8\.0\.9 is not a client address/);
});

test('incremental compiler: a delta (patch) is checked alone and yields the whole spec\'s compile', (t) => {
  const ks = Array.from({ length: 6 }, () => generateKeyPair().publicKey);
  const c = new VpnCompiler();
  const peers = ks.slice(0, 3).map((k, i) => ({ publicKey: k, address: `10.8.0.${2 + i}` }));
  const r0 = c.compile(spec(peers));
  // A removal frees an address that the same delta gives to a new peer; a peer moves.
  const ch = c.patch(ID, [{ publicKey: ks[3]!, address: '10.8.0.2' }, { publicKey: ks[1]!, address: '10.8.0.20' }], [ks[0]!]);
  t.deepEqual(ch.diff, { set: [[ks[3]!, '10.8.0.2'], [ks[1]!, '10.8.0.20']], remove: [ks[0]!] });
  t.is(ch.base, r0.rev);
  const whole = spec([{ publicKey: ks[1]!, address: '10.8.0.20' }, { publicKey: ks[2]!, address: '10.8.0.4' }, { publicKey: ks[3]!, address: '10.8.0.2' }]);
  t.deepEqual(new Map(ch.compiled.peers), compileVpn(whole).peers);
  // Refused, each with its path, and nothing changes: an address held by another peer, a key
  // that is no peer, the server's key, a bad address, a key both set and removed.
  const before = [...ch.compiled.peers];
  const e = t.throws(() => c.patch(ID, [
    { publicKey: ks[4]!, address: '10.8.0.20' }, { publicKey: server.publicKey, address: '10.8.0.30' }, { publicKey: ks[5]!, address: '10.9.0.1' }, { publicKey: ks[2]!, address: '10.8.0.31' },
  ], [ks[0]!, ks[2]!]), { instanceOf: VpnSpecError });
  t.deepEqual(e!.errors.map((x) => x.split(':')[0]).sort(), ['/remove/0', '/set/0/address', '/set/1/publicKey', '/set/2/address', '/set/3/publicKey']);
  t.deepEqual([...c.patch(ID, [], []).compiled.peers], before);
  t.throws(() => c.patch('22222222-2222-4333-8444-555555555555', [], []), { instanceOf: VpnSpecError });
  // The address a moved peer left is free again.
  t.deepEqual(c.patch(ID, [{ publicKey: ks[4]!, address: '10.8.0.3' }], []).diff.set, [[ks[4]!, '10.8.0.3']]);
});

test('firewall additions: UDP port opened on the public IP, clients egress like the guests, validated by firewall/', (t) => {
  const fw: FirewallSpec = {
    version: 1, publicInterfaces: ['eth2'], aclLists: [], securityGroups: [], securityGroupMembers: [],
    publicIps: [{ address: '203.0.113.10', filter: 'rules', rules: [], portForwards: [] }],
    guestNetworks: [{ id: 'n1', interface: 'eth0', cidrs: ['10.1.0.0/16'], sourceNatIp: '203.0.113.10', egress: { defaultPolicy: 'deny', rules: [
      { id: '11111111-2222-4333-8444-000000000001', protocol: 'tcp', ports: { start: 80, end: 80 }, sourceCidrs: [], destinationCidrs: [] },
      { id: '11111111-2222-4333-8444-000000000002', protocol: 'tcp', ports: { start: 22, end: 22 }, sourceCidrs: ['10.1.0.5/32'], destinationCidrs: [] },
    ] } }],
  };
  const c = compileVpn(spec());
  const out = withVpnFirewall(fw, c)!;
  t.deepEqual(out.publicIps[0]!.rules, [{ id: ID, protocol: 'udp', ports: { start: 51820, end: 51820 }, sourceCidrs: [] }]);
  t.like(out.guestNetworks[1], { interface: 'wgtest', cidrs: ['10.8.0.0/24'], sourceNatIp: '203.0.113.10' });
  t.deepEqual(out.guestNetworks[1]!.egress!.rules.map((r) => r.ports), [{ start: 80, end: 80 }]);
  t.deepEqual(validateFirewallSpec(out), []);
  t.is(withVpnFirewall(fw, compileVpn({ ...spec(), openFirewall: false }))!.publicIps[0]!.rules.length, 0);
  // A client range inside the guest network is refused by the firewall's own validation.
  const inside = withVpnFirewall(fw, compileVpn({ ...spec(), range: { start: '10.1.200.1', end: '10.1.200.9' } }))!;
  t.true(validateFirewallSpec(inside).some((d) => /overlaps/.test(d.message)));
});

test('client configuration: wg-quick format; its wg(8) part is accepted by wg', (t) => {
  const k = generateKeyPair();
  const conf = clientConfig({ privateKey: k.privateKey, addresses: ['10.8.0.2'], dns: '10.1.0.1', servers: [{ publicKey: server.publicKey, endpoint: '203.0.113.10', port: 51820, allowedIps: ['10.1.0.0/16', '10.8.0.0/24'] }] });
  t.regex(conf, /^\[Interface\]\nPrivateKey = .+\nAddress = 10\.8\.0\.2\/32\nDNS = 10\.1\.0\.1\n\n\[Peer\]\nPublicKey = .+\nEndpoint = 203\.0\.113\.10:51820\nAllowedIPs = 10\.1\.0\.0\/16, 10\.8\.0\.0\/24\n/);
  t.notRegex(wgSetconfOf(conf), /Address|DNS/);
});

test('journal: snapshot, then one line per peer change; a torn last line is ignored; compacts when it doubles', async (t) => {
  const { mkdtempSync, readFileSync, appendFileSync, rmSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const { VpnJournal } = await import('../src/apply.ts');
  const dir = mkdtempSync(join(tmpdir(), 'flt-vpnj-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const j = new VpnJournal(join(dir, 'vpn-journal.jsonl'));
  t.is(j.load(), undefined);
  const device = { interface: 'wgj', listenPort: 51820, privateKey: server.privateKey, address: '10.8.0.1/24' };
  const peers = new Map([['a', '10.8.0.2']]);
  j.snapshot({ device, peers });
  peers.set('b', '10.8.0.3'); j.record({ device, peers }, [['b', '10.8.0.3']], []);
  peers.delete('a'); j.record({ device, peers }, [], ['a']);
  appendFileSync(join(dir, 'vpn-journal.jsonl'), '{"set":["c","10.8');
  const back = new VpnJournal(join(dir, 'vpn-journal.jsonl')).load()!;
  t.deepEqual(back.device, device);
  t.deepEqual([...back.peers], [['b', '10.8.0.3']]);
  // Past twice the live set (+1000 lines of slack) the next change rewrites a snapshot.
  const k = new VpnJournal(join(dir, 'k.jsonl'));
  const live = new Map<string, string>();
  k.snapshot({ device, peers: live });
  for (let i = 0; i < 1100; i++) { live.set(`p${i}`, '10.8.0.9'); live.delete(`p${i}`); k.record({ device, peers: live }, [[`p${i}`, '10.8.0.9']], [`p${i}`]); }
  t.true(readFileSync(join(dir, 'k.jsonl'), 'utf8').split('\n').filter(Boolean).length < 1100);
  t.deepEqual([...new VpnJournal(join(dir, 'k.jsonl')).load()!.peers], []);
});
