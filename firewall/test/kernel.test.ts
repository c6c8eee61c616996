// Kernel tests: the compiled table loaded into a real router namespace between an "outside" and a
// "guest" namespace, with real TCP/UDP/ICMP traffic. Needs root (skipped with a reason otherwise,
// a failure in CI). Everything lives in flt- namespaces of one Lab, removed even on failure.
import test from 'ava';
import { Lab, kernelTestsUnavailable } from '@flotilla/tests/lab';
import type { FirewallSpec } from '@flotilla/protocol/firewall';
import { emptyFirewallSpec } from '@flotilla/protocol/firewall';
import { compile } from '../src/compile.ts';
import { FirewallApplyError, NFT_BIN, NftApplier } from '../src/apply.ts';
import { buildTopology, ping, tcpPeerServer, tcpProbe, udpPeerServer, udpProbe, type Topology } from './helpers/topology.ts';
import { uid } from './fixtures/specs.ts';

const skip = kernelTestsUnavailable();
const ktest = skip ? test.skip : test.serial;

let lab: Lab;
let topo: Topology;
let fw: NftApplier;

function spec(): FirewallSpec {
  return {
    ...emptyFirewallSpec(),
    publicInterfaces: ['pub0'],
    guestNetworks: [{
      id: 'net-1', interface: 'gst0', cidrs: ['10.1.1.0/24', 'fd00:1::/64'], sourceNatIp: '203.0.113.10',
      egress: { defaultPolicy: 'allow', rules: [{ id: uid(20), protocol: 'tcp', ports: { start: 9001, end: 9001 }, sourceCidrs: [], destinationCidrs: [] }] },
    }],
    publicIps: [
      { address: '203.0.113.10', filter: 'rules', rules: [
        { id: uid(1), protocol: 'tcp', ports: { start: 2222, end: 2222 }, sourceCidrs: ['203.0.113.1/32'] },
        { id: uid(2), protocol: 'icmp', icmpType: 8, sourceCidrs: [] },
      ], portForwards: [
        { id: uid(10), protocol: 'tcp', publicPorts: { start: 8080, end: 8080 }, privateIp: '10.1.1.5', privatePorts: { start: 80, end: 80 }, sourceCidrs: [] },
        { id: uid(11), protocol: 'udp', publicPorts: { start: 6005, end: 6005 }, privateIp: '10.1.1.5', privatePorts: { start: 6005, end: 6005 }, sourceCidrs: ['203.0.113.1/32'] },
      ] },
      { address: '203.0.113.11', filter: 'rules', staticNat: { privateIp: '10.1.1.7' }, rules: [
        { id: uid(3), protocol: 'tcp', ports: { start: 443, end: 443 }, sourceCidrs: [] },
      ], portForwards: [] },
      { address: '2001:db8:ff::10', filter: 'rules', rules: [
        { id: uid(5), protocol: 'tcp', ports: { start: 80, end: 80 }, sourceCidrs: [] },
      ], portForwards: [] },
    ],
  };
}

test.before(async () => {
  if (skip) return;
  lab = Lab.create(undefined, 'fwk');
  topo = await buildTopology(lab);
  fw = new NftApplier({ netns: topo.router });
  // Servers that answer with the peer address they see (so SNAT is visible).
  await Promise.all([
    tcpPeerServer(lab, topo.guest, 80), tcpPeerServer(lab, topo.guest, 81), tcpPeerServer(lab, topo.guest, 443), tcpPeerServer(lab, topo.guest, 444),
    udpPeerServer(lab, topo.guest, 6005),
    tcpPeerServer(lab, topo.router, 2222), tcpPeerServer(lab, topo.router, 2223),
    tcpPeerServer(lab, topo.router, 80, 6), tcpPeerServer(lab, topo.router, 81, 6),
    tcpPeerServer(lab, topo.outside, 9000), tcpPeerServer(lab, topo.outside, 9001),
  ]);
  await fw.apply(compile(spec()));
});
test.after.always(async () => { if (lab) await lab.cleanup(); });

ktest('ingress firewall: allowed port from the allowed source only, default deny otherwise', async (t) => {
  t.truthy(await tcpProbe(lab, topo.outside, '203.0.113.10', 2222, '203.0.113.1'));
  t.is(await tcpProbe(lab, topo.outside, '203.0.113.10', 2222, '203.0.113.2'), null, 'source not in the rule');
  t.is(await tcpProbe(lab, topo.outside, '203.0.113.10', 2223, '203.0.113.1'), null, 'port not in any rule');
});

ktest('ingress firewall: ICMP echo allowed on one IP, not on the other', async (t) => {
  t.true(await ping(lab, topo.outside, '203.0.113.10'));
  t.false(await ping(lab, topo.outside, '203.0.113.11'));
});

ktest('ingress firewall on IPv6', async (t) => {
  t.truthy(await tcpProbe(lab, topo.outside, '2001:db8:ff::10', 80));
  t.is(await tcpProbe(lab, topo.outside, '2001:db8:ff::10', 81), null);
});

ktest('port forwarding reaches the guest (TCP with port translation, UDP with source CIDR)', async (t) => {
  t.is(await tcpProbe(lab, topo.outside, '203.0.113.10', 8080, '203.0.113.2'), '203.0.113.2');
  t.is(await udpProbe(lab, topo.outside, '203.0.113.10', 6005, '203.0.113.1'), '203.0.113.1');
  // The UDP forward only admits 203.0.113.1: from .2 nothing comes back.
  t.is(await udpProbe(lab, topo.outside, '203.0.113.10', 6005, '203.0.113.2'), null);
  t.is(await tcpProbe(lab, topo.outside, '10.1.1.5', 80), null, 'guest not reachable without NAT');
});

ktest('static NAT: inbound through the IP firewall to the guest, outbound leaves as the static IP', async (t) => {
  t.is(await tcpProbe(lab, topo.outside, '203.0.113.11', 443, '203.0.113.1'), '203.0.113.1');
  t.is(await tcpProbe(lab, topo.outside, '203.0.113.11', 444), null, 'no firewall rule for 444');
  t.is(await tcpProbe(lab, topo.guest, '203.0.113.1', 9000, '10.1.1.7'), '203.0.113.11');
});

ktest('source NAT rewrites the guest source; egress deny rule blocks its port', async (t) => {
  t.is(await tcpProbe(lab, topo.guest, '203.0.113.1', 9000, '10.1.1.5'), '203.0.113.10');
  t.is(await tcpProbe(lab, topo.guest, '203.0.113.1', 9001, '10.1.1.5'), null);
});

ktest('per-rule counters are read back by rule id', async (t) => {
  await tcpProbe(lab, topo.outside, '203.0.113.10', 8080);
  const c = await fw.counters();
  t.true((c[uid(10)]?.packets ?? 0) >= 1, JSON.stringify(c));
  t.true((c[uid(1)]?.packets ?? 0) >= 1);
});

ktest('one-rule change goes through the element fast path and takes effect', async (t) => {
  const s = spec();
  s.publicIps[0]!.portForwards[0]!.publicPorts = { start: 8081, end: 8081 };
  const before = (await fw.counters())[uid(1)]?.packets ?? 0;
  const r = await fw.apply(compile(s));
  t.is(r.mode, 'elements');
  t.is(await tcpProbe(lab, topo.outside, '203.0.113.10', 8080), null);
  t.truthy(await tcpProbe(lab, topo.outside, '203.0.113.10', 8081));
  // Untouched elements keep their counters on the fast path.
  t.true(((await fw.counters())[uid(1)]?.packets ?? 0) >= before);
  t.is((await fw.apply(compile(s))).mode, 'noop');
  t.is((await fw.apply(compile(spec()))).mode, 'elements');
});

ktest('a failing apply returns a precise error and leaves the previous rules working', async (t) => {
  const doc = compile(spec());
  // Valid JSON, but it jumps to a chain that does not exist: nft refuses the whole batch, which
  // began by deleting the table, so this also proves the delete was never committed.
  doc.nftables.push({ add: { rule: { family: 'inet', table: 'flotilla', chain: 'forward', expr: [{ jump: { target: 'no_such_chain' } }] } } });
  const other = new NftApplier({ netns: topo.router });
  const err = await t.throwsAsync(other.apply(doc), { instanceOf: FirewallApplyError });
  t.regex(err!.message, /previous ruleset is unchanged/);
  t.regex(err!.stderr, /Error/);
  t.is(await tcpProbe(lab, topo.outside, '203.0.113.10', 8080, '203.0.113.2'), '203.0.113.2');
  t.is(await tcpProbe(lab, topo.outside, '203.0.113.10', 2223), null);
});

ktest('a shape change (new ACL-free spec) is a full replace; removing the table opens the path', async (t) => {
  const open = new NftApplier({ netns: topo.router });
  t.is((await open.apply(compile({ ...emptyFirewallSpec(), publicInterfaces: ['pub0'] }))).mode, 'full');
  // No public IPs any more: nothing is filtered or translated.
  t.truthy(await tcpProbe(lab, topo.outside, '203.0.113.10', 2223, '203.0.113.2'));
  t.is(await tcpProbe(lab, topo.outside, '203.0.113.10', 8080), null, 'no forward without its rule');
  await open.remove();
  t.is((await lab.tryExec(topo.router, [NFT_BIN, 'list', 'table', 'inet', 'flotilla'])).code !== 0, true);
  fw.reset();
  t.is((await fw.apply(compile(spec()))).mode, 'full');
  t.truthy(await tcpProbe(lab, topo.outside, '203.0.113.10', 8080));
});
