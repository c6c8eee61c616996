// The applier's two backends (libnftables in-process, the nft CLI) against the same router
// namespace: same tables, same fast path, fresh counters, same errors, and the lib backend's
// context stays bound to its namespace. Needs root (skipped with a reason otherwise, a failure in CI).
import test from 'ava';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Lab, kernelTestsUnavailable } from '@flotilla/tests/lab';
import { emptyFirewallSpec, type FirewallSpec } from '@flotilla/protocol/firewall';
import { compile, TABLE } from '../src/compile.ts';
import { FirewallApplyError, NFT_BIN, NftApplier, type NftBackend } from '../src/apply.ts';
import { libnftables } from '../src/native.ts';
import { buildTopology, tcpPeerServer, tcpProbe, type Topology } from './helpers/topology.ts';
import { isolated, securityGroups, uid, vpc } from './fixtures/specs.ts';

const skip = kernelTestsUnavailable();
const ktest = skip ? test.skip : test.serial;

let lab: Lab;
let topo: Topology;

function spec(port = 2222): FirewallSpec {
  return {
    ...emptyFirewallSpec(),
    publicInterfaces: ['pub0'],
    guestNetworks: [{ id: 'n', interface: 'gst0', cidrs: ['10.1.1.0/24'], sourceNatIp: '203.0.113.10', egress: { defaultPolicy: 'allow', rules: [] } }],
    publicIps: [{ address: '203.0.113.10', filter: 'rules', portForwards: [], rules: [
      { id: uid(1), protocol: 'tcp', ports: { start: port, end: port }, sourceCidrs: [] },
    ] }],
  };
}

/** The table as the nft CLI lists it, minus handles and counters (which differ run to run). */
async function listing(ns: string): Promise<string> {
  const r = await lab.exec(ns, [NFT_BIN, '-j', 'list', 'table', TABLE.family, TABLE.name]);
  return JSON.stringify(JSON.parse(r.stdout), (k, v) => (k === 'handle' || k === 'counter' || k === 'metainfo' ? undefined : v));
}

test.before(async () => {
  if (skip) return;
  lab = Lab.create(undefined, 'fwbk');
  topo = await buildTopology(lab);
  await Promise.all([tcpPeerServer(lab, topo.router, 2222), tcpPeerServer(lab, topo.router, 2223)]);
});
test.after.always(async () => { if (lab) await lab.cleanup(); });

ktest('the libnftables binding builds on this machine (CI installs libnftables-dev)', (t) => {
  t.truthy(libnftables(), 'without it every applier silently falls back to the slower CLI');
});

for (const backend of ['lib', 'cli'] as NftBackend[]) {
  ktest(`${backend}: full apply, fast path, fresh counters, precise error, remove`, async (t) => {
    const fw = new NftApplier({ netns: topo.router, backend });
    t.teardown(() => fw.close());
    t.is((await fw.apply(compile(spec()))).mode, 'full');
    const full = await listing(topo.router);
    t.truthy(await tcpProbe(lab, topo.outside, '203.0.113.10', 2222));
    t.is(await tcpProbe(lab, topo.outside, '203.0.113.10', 2223), null);

    // Counters are read from the kernel each time, never from a cached listing.
    const c1 = (await fw.counters())[uid(1)]?.packets ?? 0;
    t.true(c1 >= 1);
    await tcpProbe(lab, topo.outside, '203.0.113.10', 2222);
    t.true(((await fw.counters())[uid(1)]?.packets ?? 0) > c1);

    t.deepEqual(await fw.apply(compile(spec(2223))), { mode: 'elements', changes: 2 });
    t.truthy(await tcpProbe(lab, topo.outside, '203.0.113.10', 2223));
    t.is(await tcpProbe(lab, topo.outside, '203.0.113.10', 2222), null);

    const bad = compile(spec());
    bad.nftables.push({ add: { rule: { family: 'inet', table: 'flotilla', chain: 'forward', expr: [{ jump: { target: 'no_such_chain' } }] } } });
    const err = await t.throwsAsync(fw.apply(bad), { instanceOf: FirewallApplyError });
    t.regex(err!.message, /previous ruleset is unchanged: Error: Could not process rule: No such file or directory/);
    t.truthy(await tcpProbe(lab, topo.outside, '203.0.113.10', 2223), 'the failed batch changed nothing');

    // Back to the first spec: both backends leave the same table.
    await fw.apply(compile(spec()));
    t.is(await listing(topo.router), full);
    await fw.remove();
    t.not((await lab.tryExec(topo.router, [NFT_BIN, 'list', 'table', 'inet', 'flotilla'])).code, 0);
  });
}

ktest('lib: concurrent calls are serialised; the context stays in its namespace', async (t) => {
  const fw = new NftApplier({ netns: topo.router, backend: 'lib' });
  t.teardown(() => fw.close());
  // Read-only look at this process's own (root) namespace.
  const rootTables = async () => (await promisify(execFile)(NFT_BIN, ['list', 'tables'])).stdout;
  const rootBefore = await rootTables();
  // Fired without awaiting: each is diffed against the state the previous one left.
  const results = await Promise.all([fw.apply(compile(spec())), fw.apply(compile(spec(2223))), fw.apply(compile(spec(2223))), fw.counters()]);
  t.deepEqual(results.slice(0, 3).map((r) => (r as { mode: string }).mode), ['full', 'elements', 'noop']);
  t.truthy(await tcpProbe(lab, topo.outside, '203.0.113.10', 2223));
  t.is(await rootTables(), rootBefore, 'nothing was loaded into the root namespace');
  // A closed applier opens a new context on its next call; closing twice is harmless.
  await fw.close();
  await fw.close();
  t.is((await fw.apply(compile(spec()))).mode, 'elements');
  await fw.remove();
});

/** Every rule id compile() put on an element of `spec`'s document. */
function idsOf(spec: FirewallSpec): string[] {
  const ids = new Set<string>();
  JSON.stringify(compile(spec), (k, v) => { if (k === 'comment') ids.add(v as string); return v; });
  return [...ids].sort();
}

/** Elements whose listed form could differ from the compiled one: ICMP types (listed by name
 *  unless numeric), IPv6 with zero runs, single ports, a range that is a prefix. */
function tricky(): FirewallSpec {
  return {
    ...emptyFirewallSpec(),
    publicInterfaces: ['pub0'],
    publicIps: [
      { address: '2001:db8:0:0:1:0:0:1', filter: 'rules', portForwards: [], rules: [
        { id: uid(70), protocol: 'icmp', icmpType: 128, icmpCode: 0, sourceCidrs: ['2001:db8:0:1::/64'] },
        { id: uid(71), protocol: 'tcp', ports: { start: 1024, end: 2047 }, sourceCidrs: ['2001:db8:0:0:0:0:2:0/112'] },
        { id: uid(72), protocol: 'udp', ports: { start: 53, end: 53 }, sourceCidrs: ['2001:db8::1/128'] },
      ] },
      { address: '198.51.100.7', filter: 'rules', portForwards: [], rules: [
        { id: uid(73), protocol: 'icmp', icmpType: 8, sourceCidrs: [] },
        { id: uid(74), protocol: 'all', sourceCidrs: ['192.0.2.128/25', '198.51.100.1/32'] },
      ] },
    ],
  };
}

for (const backend of ['lib', 'cli'] as NftBackend[]) {
  ktest(`${backend}: counters are attributed to every rule of every scenario`, async (t) => {
    const ns = await lab.netns(`cnt${backend}`);
    const fw = new NftApplier({ netns: ns, backend });
    t.teardown(() => fw.close());
    for (const [name, s] of Object.entries({ isolated: isolated(), vpc: vpc(), securityGroups: securityGroups(), tricky: tricky() })) {
      await fw.apply(compile(s));
      const counters = await fw.counters();
      t.is(fw.unattributed, 0, `${name}: listed elements that map to no rule`);
      t.deepEqual(Object.keys(counters).sort(), idsOf(s), name);
    }
  });
}

ktest('lib binding: a closed handle refuses work; closing twice is harmless', async (t) => {
  const lib = libnftables()!;
  const h = lib.open(`/run/netns/${topo.router}`);
  const r = await lib.run(h, JSON.stringify({ nftables: [{ list: { tables: {} } }] }));
  t.is(r.rc, 0);
  await lib.close(h);
  await lib.close(h);
  t.throws(() => lib.run(h, '{"nftables":[]}'), { message: /closed/ });
  t.throws(() => lib.open('/run/netns/flt-no-such-namespace'), { message: /No such file/ });
});
