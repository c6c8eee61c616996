// Kernel tests of the L4 half: the firewall's table plus compileLbNft's commands loaded by the
// firewall applier into a real router namespace, real HTTP/UDP traffic from an outside
// namespace to three backends that answer their name.
import test from 'ava';
import { Lab, kernelTestsUnavailable } from '@flotilla/tests/lab';
import { compile } from '@flotilla/firewall/compile';
import { NftApplier } from '@flotilla/firewall/apply';
import { emptyFirewallSpec, type FirewallSpec } from '@flotilla/protocol/firewall';
import type { LbRule, LbSpec } from '@flotilla/protocol/lb';
import { compileLbNft, type LbHealth } from '../src/nft.ts';
import { httpNames, lbTopology, tally, type LbTopology } from './helpers/topology.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LbService } from '../../routers/src/lb/service.ts';

const skip = kernelTestsUnavailable();
const ktest = skip ? test.skip : test.serial;

const uid = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const PUB = '203.0.113.10';
let lab: Lab;
let topo: LbTopology;
let fw: NftApplier;

function firewall(): FirewallSpec {
  return {
    ...emptyFirewallSpec(), publicInterfaces: ['pub0'],
    guestNetworks: [{ id: 'n1', interface: 'gst0', cidrs: ['10.1.1.0/24'], sourceNatIp: PUB, egress: { defaultPolicy: 'allow', rules: [] } }],
    // openfirewall: the ports the LB rules listen on are opened by firewall rules.
    publicIps: [{ address: PUB, filter: 'rules', portForwards: [], rules: [
      { id: uid(100), protocol: 'tcp', ports: { start: 80, end: 82 }, sourceCidrs: [] },
      { id: uid(101), protocol: 'udp', ports: { start: 5353, end: 5353 }, sourceCidrs: [] },
    ] }],
  };
}
const backends = () => topo.backends.map((b, i) => ({ vmId: uid(10 + i), ip: b.ip }));
function rule(id: number, over: Partial<LbRule>): LbRule {
  return { id: uid(id), publicIp: PUB, publicPort: 80, privatePort: 80, protocol: 'tcp', algorithm: 'roundrobin', sourceCidrs: [], backends: backends(), ...over };
}
function lbSpec(): LbSpec {
  return { rules: [
    rule(1, {}),
    rule(2, { publicPort: 81, algorithm: 'source' }),
    rule(3, { publicPort: 82, sourceCidrs: ['203.0.113.1/32'] }),
    rule(4, { protocol: 'udp', publicPort: 5353, privatePort: 5353 }),
  ] };
}
async function load(down: LbHealth = new Map()) {
  const doc = compile(firewall());
  doc.nftables.push(...compileLbNft(lbSpec(), down));
  return fw.apply(doc);
}

test.before(async () => {
  if (skip) return;
  lab = Lab.create(undefined, 'lbk');
  topo = await lbTopology(lab, 3);
  fw = new NftApplier({ netns: topo.router });
  t0 = (await load()).mode;
});
test.after.always(async () => { await fw?.close(); await lab?.cleanup(); });
let t0 = '';

ktest('roundrobin spreads new connections evenly over the three backends (numgen)', async (t) => {
  t.is(t0, 'full');
  const names = await httpNames(lab, topo.outside, `http://${PUB}/`, 30);
  const c = tally(names);
  t.deepEqual(Object.keys(c).sort(), ['be1', 'be2', 'be3'], JSON.stringify(c));
  for (const n of ['be1', 'be2', 'be3']) t.true(c[n]! >= 8 && c[n]! <= 12, JSON.stringify(c));
});

ktest('source: each client address keeps one backend (jhash)', async (t) => {
  const a = tally(await httpNames(lab, topo.outside, `http://${PUB}:81/`, 12, '203.0.113.1'));
  const b = tally(await httpNames(lab, topo.outside, `http://${PUB}:81/`, 12, '203.0.113.2'));
  t.is(Object.keys(a).length, 1, JSON.stringify(a));
  t.is(Object.keys(b).length, 1, JSON.stringify(b));
  t.false('FAIL' in a || 'FAIL' in b);
});

ktest('cidrlist: only the rule\'s sources are balanced', async (t) => {
  const ok = await httpNames(lab, topo.outside, `http://${PUB}:82/`, 3, '203.0.113.1');
  t.true(ok.every((n) => /^be\d$/.test(n)), ok.join());
  const no = await httpNames(lab, topo.outside, `http://${PUB}:82/`, 2, '203.0.113.2');
  t.true(no.every((n) => n === 'FAIL'), no.join());
});

ktest('udp: flows are balanced over the backends', async (t) => {
  const script = `for i in $(seq 12); do r=$(echo x | socat -T 3 - UDP:${PUB}:5353,sourceport=$((20000+i))); echo "\${r:-FAIL}"; done`;
  const names = (await lab.exec(topo.outside, ['sh', '-c', script], { timeoutMs: 60_000 })).stdout.trim().split('\n');
  const c = tally(names);
  t.deepEqual(Object.keys(c).sort(), ['be1', 'be2', 'be3'], JSON.stringify(c));
});

ktest('a backend marked down leaves the rotation by an element update (counters kept), and returns', async (t) => {
  const before = (await fw.counters())[uid(1)]!;
  t.true(before.packets >= 30, JSON.stringify(before));
  const r = await load(new Map([[uid(1), new Set([topo.backends[1]!.ip])]]));
  t.is(r.mode, 'elements');
  const c = tally(await httpNames(lab, topo.outside, `http://${PUB}/`, 12));
  t.deepEqual(Object.keys(c).sort(), ['be1', 'be3'], JSON.stringify(c));
  const after = (await fw.counters())[uid(1)]!;
  t.true(after.packets >= before.packets + 12, `${JSON.stringify(before)} → ${JSON.stringify(after)}`);
  t.is((await load()).mode, 'elements');
  t.deepEqual(Object.keys(tally(await httpNames(lab, topo.outside, `http://${PUB}/`, 9))).sort(), ['be1', 'be2', 'be3']);
  t.is(fw.unattributed, 0);
});

ktest('per-backend counters: kept when a membership change replaces slot elements, and across a full replace (LbService)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'flt-lbk-'));
  const svc = new LbService(dir, () => undefined);
  t.teardown(async () => { await svc.close(); rmSync(dir, { recursive: true, force: true }); });
  // What the router does on each load: counters just before, then keep() with the applier's mode.
  const loadSvc = async (s: LbSpec) => {
    await svc.apply(s);
    const before = await fw.counters();
    const d = compile(firewall());
    d.nftables.push(...svc.nftCommands());
    const r = await fw.apply(d);
    svc.keep(before, r.mode);
    return r.mode;
  };
  const members = async () => (await svc.status(await fw.counters()))[uid(1)]!.members!;
  const [be1, be2, be3] = topo.backends.map((b) => b.ip) as [string, string, string];
  await loadSvc(lbSpec());
  await httpNames(lab, topo.outside, `http://${PUB}/`, 12);
  const m0 = await members();
  for (const ip of [be1, be2, be3]) t.true(m0[ip]!.packets >= 4, JSON.stringify(m0));
  // be2 leaves rule 1: slot 1 now sends to be3 (a new element), slot 2 goes.
  const without2: LbSpec = { rules: lbSpec().rules.map((r) => (r.id === uid(1) ? { ...r, backends: r.backends.filter((b) => b.ip !== be2) } : r)) };
  t.is(await loadSvc(without2), 'elements');
  t.deepEqual(Object.keys(tally(await httpNames(lab, topo.outside, `http://${PUB}/`, 10))).sort(), ['be1', 'be3']);
  const m1 = await members();
  t.is(m1[be2]!.packets, m0[be2]!.packets, 'a removed backend keeps its count (no reset, no growth)');
  t.true(m1[be1]!.packets >= m0[be1]!.packets + 5, `${JSON.stringify(m0)} → ${JSON.stringify(m1)}`);
  t.true(m1[be3]!.packets >= m0[be3]!.packets + 5, `be3 moved to another slot and kept its count: ${JSON.stringify(m0)} → ${JSON.stringify(m1)}`);
  t.true(m1[be1]!.bytes > m0[be1]!.bytes);
  // A full replace (here: a rule with 9 backends grows the slot chains) resets the kernel's
  // counters: the service has kept them.
  const nine = Array.from({ length: 9 }, (_, i) => ({ vmId: uid(200 + i), ip: `10.1.1.${50 + i}` }));
  t.is(await loadSvc({ rules: [...without2.rules, rule(9, { publicPort: 90, backends: nine })] }), 'full');
  const m2 = await members();
  for (const ip of [be1, be2, be3]) t.true(m2[ip]!.packets >= m1[ip]!.packets, `${JSON.stringify(m1)} → ${JSON.stringify(m2)}`);
  t.is(fw.unattributed, 0);
  await loadSvc(lbSpec());
});
