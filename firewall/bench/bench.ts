// Firewall benchmark (`npm run bench` in firewall/, `npm run bench:firewall` at the root).
//  1. For 100 / 1,000 / 10,000 / 50,000 rules: compile time, full apply time (one nft
//     transaction into a router namespace) and one-rule change time (element fast path). The
//     10,000 figures of the summary are what a router does — compile the spec AND apply it — as
//     medians over rounds spread through the whole run (this machine's speed comes and goes),
//     each round also measuring the nft CLI as a baseline of the same moment:
//       apply_10k_ms    compile + apply into an empty table (a new router);
//       replace_10k_ms  compile + apply by a fresh applier over an existing 10k table (a router
//                       appliance restarted: the kernel keeps the table, the applier knows nothing);
//       change_ms       compile + apply of a one-rule change (the element fast path).
//  2. Traffic through outside → router → guest namespaces, three routers loaded at once:
//     `none` (100 public IPs static-NATed to 100 guest addresses, no rules), `sets` (the same
//     with 100 firewall rules on each IP: Flotilla's 10,000-rule layout) and `cs_layout` (the same
//     10,000 rules as CloudStack's virtual router lays them out: a FIREWALL_<ip> chain per public
//     IP reached by a linear list of per-address jumps, RETURN per rule, DROP at the end; DNAT/SNAT
//     one rule per IP; its nft equivalent). Every flow comes from a source inside one rule's
//     source CIDR to that rule's IP and port, so each new connection is classified against the
//     rules and accepted by exactly one of them (the matched rules' counters are checked).
//     New-connection rate (TCP, closed with RST) as a ratio to `none`, for `sets` and for
//     `cs_layout`, and one iperf3 flow's throughput ratio `sets`/`none` (also through a rule).
//     Configurations alternate within each round (order rotated); medians of paired ratios.
// Ends with: firewall: apply_10k_ms=… replace_10k_ms=… change_ms=… connrate_ratio_10k=… cs_layout_connrate_ratio_10k=… throughput_ratio_10k=…
import { fileURLToPath } from 'node:url';
import { Lab } from '@flotilla/tests/lab';
import { benchSpec, guestIp, trafficFlows, trafficIp, trafficSpec, benchRule, SOURCE_NAT, TRAFFIC_IPS, type Flow } from './spec.ts';
import { compile, FirewallCompiler } from '../src/compile.ts';
import { NFT_BIN, NftApplier } from '../src/apply.ts';
import { libnftablesError } from '../src/native.ts';
import * as n from '../src/nft/build.ts';
import type { Command, NftDocument, Stmt } from '../src/nft/types.ts';
import { forgetParsedCidrs, type FirewallSpec } from '@flotilla/protocol/firewall';
import { waitListening } from '../test/helpers/topology.ts';

const SIZES = (process.env.FW_BENCH_SIZES ?? '100,1000,10000,50000').split(',').map(Number);
const ROUNDS = Number(process.env.FW_BENCH_ROUNDS ?? 31);
const IPERF_ROUNDS = Number(process.env.FW_BENCH_IPERF_ROUNDS ?? 9);
const CONN_MS = Number(process.env.FW_BENCH_CONN_MS ?? 300);
const FLOWS = 64;
const CONC = 8;
const IPERF_SECONDS = 2;

const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2; };
const ms = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;
const r2 = (x: number) => x.toFixed(2);
const r1 = (x: number) => Math.round(x * 10) / 10;

/**
 * The same 10,000 rules and static NATs as CloudStack's virtual router lays them out with
 * iptables (its configure.py: mangle PREROUTING `-d <ip>/32 -j FIREWALL_<ip>`, the rules as
 * `-s <cidr> -p <proto> --dport <a:b> -j RETURN`, then `-j DROP`; nat PREROUTING/POSTROUTING one
 * DNAT and one SNAT rule per static-NAT IP), written as its nft equivalent (what iptables-nft
 * loads). Established connections are accepted first, as in Flotilla's table.
 */
function csLayoutDoc(path: number): NftDocument {
  const t = n.table('ip', 'flt_cs_layout');
  const cmds: Command[] = [];
  const add = (c: Command) => cmds.push(c);
  add({ add: { chain: n.baseChain(t, 'mangle_pre', 'filter', 'prerouting', -150) } });
  add({ add: { chain: n.baseChain(t, 'nat_pre', 'nat', 'prerouting', -100) } });
  add({ add: { chain: n.baseChain(t, 'nat_post', 'nat', 'postrouting', 100) } });
  const rule = (chain: string, ...e: Stmt[]) => add({ add: { rule: n.rule(t, chain, ...e) } });
  rule('mangle_pre', n.match(n.ct('state'), ['established', 'related'], 'in'), n.accept());
  for (let k = 0; k < TRAFFIC_IPS; k++) {
    const ip = trafficIp(path, k);
    const chain = `FIREWALL_${ip}`;
    add({ add: { chain: n.chain(t, chain) } });
    rule('mangle_pre', n.match(n.payload('ip', 'daddr'), ip), n.jump(chain));
    for (let j = 0; j < 100; j++) {
      const r = benchRule(k, j);
      const [addr, len] = r.sourceCidrs[0]!.split('/');
      rule(chain, n.match(n.payload('ip', 'saddr'), n.prefix(addr!, Number(len))),
        n.match(n.payload(r.protocol as 'tcp' | 'udp', 'dport'), n.span(r.ports!.start, r.ports!.end)), n.ret());
    }
    rule(chain, n.drop());
    rule('nat_pre', n.match(n.payload('ip', 'daddr'), ip), n.dnat({ family: 'ip', addr: guestIp(k) }));
    rule('nat_post', n.match(n.meta('oifname'), 'pub0'), n.match(n.payload('ip', 'saddr'), guestIp(k)), n.snat({ family: 'ip', addr: ip }));
  }
  return n.replaceTableDocument(t, cmds);
}

type Cfg = 'none' | 'sets' | 'cs_layout';
const CFGS: Cfg[] = ['none', 'sets', 'cs_layout'];
interface Path { cfg: Cfg; index: number; router: string; guest: string }

/** One outside namespace and three independent router → guest paths, one per configuration,
 *  all loaded at once: samples can then alternate every second with no reconfiguration, so
 *  load from other work on the machine hits all configurations alike. Path i's public IPs are
 *  198.18.i.0/24 (routed by the outside to its router); the flows' source addresses sit on the
 *  outside's loopback and every router routes back to the outside by default. */
async function buildPaths(lab: Lab, flows: Flow[]): Promise<{ outside: string; paths: Path[] }> {
  const outside = await lab.netns('out');
  const paths: Path[] = [];
  for (const [i, cfg] of CFGS.entries()) {
    const router = await lab.netns(`r${i}`);
    const guest = await lab.netns(`g${i}`);
    await lab.veth(outside, `ext${i}`, router, 'pub0');
    await lab.veth(router, 'gst0', guest, 'vm0');
    await lab.exec(outside, ['ip', 'addr', 'add', `192.0.2.${1 + 4 * i}/30`, 'dev', `ext${i}`]);
    await lab.exec(outside, ['ip', 'route', 'add', `198.18.${i}.0/24`, 'via', `192.0.2.${2 + 4 * i}`]);
    await lab.exec(router, ['ip', 'addr', 'add', `192.0.2.${2 + 4 * i}/30`, 'dev', 'pub0']);
    await lab.exec(router, ['ip', 'route', 'add', 'default', 'via', `192.0.2.${1 + 4 * i}`]);
    await lab.exec(router, ['ip', 'addr', 'add', '10.1.1.1/24', 'dev', 'gst0']);
    await lab.exec(router, ['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    // The public IPs are answered by the router (as the VR holds them on its public NIC).
    for (const k of [...Array(TRAFFIC_IPS).keys(), SOURCE_NAT]) await lab.exec(router, ['ip', 'addr', 'add', `${trafficIp(i, k)}/32`, 'dev', 'pub0']);
    for (let k = 0; k < TRAFFIC_IPS; k++) await lab.exec(guest, ['ip', 'addr', 'add', `${guestIp(k)}/24`, 'dev', 'vm0']);
    await lab.exec(guest, ['ip', 'route', 'add', 'default', 'via', '10.1.1.1']);
    paths.push({ cfg, index: i, router, guest });
  }
  for (const src of new Set(flows.map((f) => f.src))) await lab.exec(outside, ['ip', 'addr', 'add', `${src}/32`, 'dev', 'lo']);
  return { outside, paths };
}

interface Measured { apply: number; applyCpu: number; change: number; applies: number[]; changes: number[] }

/**
 * Median full-apply time of `spec` into an empty table — compile + apply, as a new router does —
 * (wall and this process's CPU, which includes the lib backend's nft thread), and median one-rule
 * change time (spec ⇄ spec2, compiled by a router's long-lived FirewallCompiler + applied).
 * `precompiled`: apply only (the documents compiled once).
 */
async function measure(lab: Lab, fw: NftApplier, ns: string, spec: FirewallSpec, spec2: FirewallSpec | undefined, reps: number, precompiled = false): Promise<Measured> {
  const docs = precompiled ? [compile(spec), spec2 ? compile(spec2) : undefined] : undefined;
  const build = (which: 0 | 1) => docs ? docs[which]! : compile(which ? spec2! : spec);
  const router = new FirewallCompiler();
  // A router receives each spec as a fresh message: its compiler gets fresh objects every time.
  const texts = [JSON.stringify(spec), spec2 ? JSON.stringify(spec2) : ''];
  const applies: number[] = [];
  const cpus: number[] = [];
  for (let i = 0; i < reps; i++) {
    // The previous table's removal finishes in the kernel after the batch returns (deferred
    // destroy work). The exit of a short nft CLI run waits for it (closing an nfnetlink socket
    // flushes that work), so each apply starts from an idle kernel rather than racing the last
    // round's teardown for the same two cores.
    await fw.remove();
    await lab.exec(ns, [NFT_BIN, 'list', 'tables']);
    forgetParsedCidrs(); // a new router's first compile parses everything
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    const r = await fw.apply(build(0));
    applies.push(ms(t0));
    const c = process.cpuUsage(c0);
    cpus.push((c.user + c.system) / 1000);
    if (r.mode !== 'full') throw new Error('expected a full apply');
  }
  const changes: number[] = [];
  // The router's compiler has seen the spec now in the table (its previous change).
  if (spec2 && !docs) router.compile(JSON.parse(texts[0]!));
  for (let i = 0; spec2 && i < 7; i++) {
    const parsed = JSON.parse(texts[i % 2 ? 0 : 1]!);
    const t0 = process.hrtime.bigint();
    const r = await fw.apply(docs ? docs[i % 2 ? 0 : 1]! : router.compile(parsed));
    changes.push(ms(t0));
    if (r.mode !== 'elements') throw new Error(`expected the element fast path, got ${r.mode}`);
  }
  await fw.remove();
  if (process.env.FW_BENCH_VERBOSE) process.stdout.write(`  samples: apply ${applies.map((x) => x.toFixed(0)).join(' ')} change ${changes.map((x) => x.toFixed(1)).join(' ')}\n`);
  return { apply: median(applies), applyCpu: median(cpus), change: changes.length ? median(changes) : NaN, applies, changes };
}

/** compile + apply by a fresh applier over the 10k table a previous applier left in the kernel. */
async function replaceOnce(ns: string, backend: 'lib' | 'cli', spec: FirewallSpec): Promise<number> {
  const before = new NftApplier({ netns: ns, backend });
  await before.apply(compile(spec));
  await before.close();
  const fresh = new NftApplier({ netns: ns, backend });
  try {
    forgetParsedCidrs(); // a restarted appliance is a new process
    const t0 = process.hrtime.bigint();
    const r = await fresh.apply(compile(spec));
    const took = ms(t0);
    if (r.mode !== 'full') throw new Error(`expected a full replace, got ${r.mode}`);
    return took;
  } finally {
    await fresh.remove();
    await fresh.close();
  }
}

async function main(): Promise<void> {
  const lab = Lab.create(undefined, 'fwb');
  try {
    // Part 1 needs only a namespace to load tables into.
    const applyNs = await lab.netns('apply');
    const fw = new NftApplier({ netns: applyNs });

    // ---- 1. compile / apply / one-rule change ----
    process.stdout.write(`load average at start: ${(await import('node:os')).loadavg().map((x) => x.toFixed(2)).join(' ')} (2 cores; other work on the machine adds noise)\n`);
    process.stdout.write(`applier backend: ${fw.backend}${fw.backend === 'cli' ? ` (libnftables binding unavailable: ${libnftablesError()})` : ''}\n`);
    process.stdout.write('rules   compile_ms  apply_ms  change_ms  apply_cpu_ms  (apply and change = one nft JSON transaction of a precompiled document; change = element fast path; cpu = this process incl. nft, user+sys)\n');
    for (const size of SIZES) {
      const spec = benchSpec(size);
      const reps = size >= 50_000 ? 3 : 5;
      const compiles: number[] = [];
      for (let i = 0; i < reps; i++) { const t0 = process.hrtime.bigint(); compile(spec); compiles.push(ms(t0)); }
      const row = await measure(lab, fw, applyNs, spec, benchSpec(size, true), reps, true);
      process.stdout.write(`${String(size).padEnd(7)} ${r1(median(compiles)).toString().padStart(10)} ${r1(row.apply).toString().padStart(9)} ${r1(row.change).toString().padStart(10)} ${r1(row.applyCpu).toString().padStart(13)}\n`);
    }
    // The 10k figures of the summary line, as a router does it (compile + apply): measured in
    // rounds spread through the whole run (after the table, before and after the traffic part),
    // each round alternating with the nft CLI as a same-time baseline; the summary takes the
    // median of all samples.
    const ten = { applies: [] as number[], changes: [] as number[], replaces: [] as number[] };
    const cliTen = { applies: [] as number[], changes: [] as number[], replaces: [] as number[] };
    const cli = fw.backend === 'lib' ? new NftApplier({ netns: applyNs, backend: 'cli' }) : undefined;
    const specs10k = [benchSpec(10_000), benchSpec(10_000, true)] as const;
    const tenRound = async () => {
      const lib = await measure(lab, fw, applyNs, specs10k[0], specs10k[1], 5);
      ten.applies.push(...lib.applies);
      ten.changes.push(...lib.changes);
      for (let i = 0; i < 3; i++) ten.replaces.push(await replaceOnce(applyNs, fw.backend, specs10k[0]));
      if (cli) {
        const c = await measure(lab, cli, applyNs, specs10k[0], specs10k[1], 5);
        cliTen.applies.push(...c.applies);
        cliTen.changes.push(...c.changes);
        for (let i = 0; i < 3; i++) cliTen.replaces.push(await replaceOnce(applyNs, 'cli', specs10k[0]));
      }
    };
    await tenRound();
    {
      // For reference: the 10k apply alone (precompiled), and without per-rule counters (their
      // cost is per element).
      const only = await measure(lab, fw, applyNs, benchSpec(10_000), undefined, 3, true);
      const noCounters = compile(benchSpec(10_000), { counters: false });
      const xs: number[] = [];
      for (let i = 0; i < 3; i++) { await fw.remove(); const t0 = process.hrtime.bigint(); await fw.apply(noCounters); xs.push(ms(t0)); }
      await fw.remove();
      process.stdout.write(`10000 rules, apply only (precompiled): apply_ms=${r1(only.apply)}; without per-rule counters: apply_ms=${r1(median(xs))}\n`);
    }
    await tenRound();
    await fw.close();

    // ---- 2. traffic through three routers (no rules / 10k in sets / 10k in CloudStack's layout) ----
    const flows = trafficFlows(FLOWS);
    const { outside, paths } = await buildPaths(lab, flows);
    const here = fileURLToPath(new URL('.', import.meta.url));
    const ports = [...new Set(flows.map((f) => f.port))];
    const iperfFlow = flows[0]!;
    const appliers = new Map<Cfg, NftApplier>();
    for (const p of paths) {
      // Short conntrack CLOSE timeout: RST-closed connections leave the table quickly.
      await lab.exec(p.router, ['sysctl', '-qw', 'net.netfilter.nf_conntrack_tcp_timeout_close=1']).catch(() => undefined);
      const a = new NftApplier({ netns: p.router });
      appliers.set(p.cfg, a);
      await a.apply(p.cfg === 'cs_layout' ? csLayoutDoc(p.index) : compile(trafficSpec(p.index, p.cfg === 'sets')));
      lab.spawn(p.guest, ['node', `${here}sink-server.mjs`, ports.filter((x) => x !== iperfFlow.port).join(',')]);
      lab.spawn(p.guest, ['iperf3', '-s', '-p', String(iperfFlow.port)]);
      for (const port of ports) await waitListening(lab, p.guest, port);
    }
    const byCfg = (c: Cfg) => paths.find((p) => p.cfg === c)!;
    // Not the flows to iperf3's port: iperf3 (one test at a time) refuses connections it does not
    // expect; another flow shared that port (k=9, j=0 → port 1000) and was refused by it.
    const connFlows = flows.filter((f) => f.port !== iperfFlow.port);
    const targetsOf = (p: Path) => connFlows.map((f) => `${f.src}>${trafficIp(p.index, f.k)}:${f.port}`).join('|');
    async function connrates(): Promise<Record<Cfg, number[]>> {
      for (const p of paths) await lab.tryExec(p.router, ['conntrack', '-F']);
      const r = await lab.exec(outside, ['node', `${here}connrate-client.mjs`, paths.map(targetsOf).join(','), String(CONN_MS), String(ROUNDS), String(CONC)], { timeoutMs: ROUNDS * 3 * (CONN_MS + 2000) + 20_000 });
      const { rates } = JSON.parse(r.stdout) as { rates: number[][] };
      return Object.fromEntries(paths.map((p, i) => [p.cfg, rates.map((row) => row[i]!)])) as Record<Cfg, number[]>;
    }
    async function iperf(p: Path): Promise<number> {
      // iperf3's server refuses a test while it still winds down the previous one ("busy"): retry.
      for (let attempt = 1; ; attempt++) {
        const r = await lab.tryExec(outside, ['iperf3', '-c', trafficIp(p.index, iperfFlow.k), '-B', iperfFlow.src, '-p', String(iperfFlow.port), '-t', String(IPERF_SECONDS), '-J', '--connect-timeout', '2000'], { timeoutMs: 30_000 });
        const out = JSON.parse(r.stdout || '{}') as { end?: { sum_received?: { bits_per_second: number } }; error?: string };
        if (out.end?.sum_received) return out.end.sum_received.bits_per_second;
        if (attempt >= 5) throw new Error(`iperf3 through ${p.cfg}: ${out.error ?? r.stderr}`);
        await new Promise((res) => setTimeout(res, 500));
      }
    }
    const rates = await connrates();
    // Proof that the flows were classified against the rules: every flow's rule counted.
    const counters = await appliers.get('sets')!.counters();
    const unmatched = connFlows.filter((f) => !((counters[f.ruleId]?.packets ?? 0) > 0));
    if (unmatched.length) throw new Error(`flows whose rule did not count: ${unmatched.map((f) => `${f.src}→${f.k}:${f.port}`).join(', ')}`);
    const counted = Object.values(counters).filter((c) => c.packets > 0).length;
    for (let round = 0; round < ROUNDS; round++) {
      process.stdout.write(`round ${round + 1}: conn/s none=${Math.round(rates.none[round]!)} sets=${Math.round(rates.sets[round]!)} cs_layout=${Math.round(rates.cs_layout[round]!)}\n`);
    }
    const tput: Record<'none' | 'sets', number[]> = { none: [], sets: [] };
    for (let round = 0; round < IPERF_ROUNDS; round++) {
      for (const cfg of (round % 2 ? ['sets', 'none'] : ['none', 'sets']) as Array<'none' | 'sets'>) tput[cfg].push(await iperf(byCfg(cfg)));
    }
    for (const a of appliers.values()) await a.close();
    // Ratios: median over rounds of the paired ratio (samples of one round are back to back, so
    // slow drifts in machine load cancel); the medians of the raw rates are printed too.
    const paired = (a: number[], b: number[]) => median(a.map((x, i) => x / b[i]!));
    const connRatio = paired(rates.sets, rates.none);
    const csRatio = paired(rates.cs_layout, rates.none);
    const tputRatio = paired(tput.sets, tput.none);
    process.stdout.write(`${connFlows.length} flows over ${new Set(connFlows.map((f) => f.k)).size} public IPs, each matching one of the 10,000 rules (${counted} rules counted packets)\n`);
    process.stdout.write(`connections/s (median of ${ROUNDS}): none=${Math.round(median(rates.none))} sets_10k=${Math.round(median(rates.sets))} cs_layout_10k=${Math.round(median(rates.cs_layout))}\n`);
    process.stdout.write(`iperf3 Gbit/s through a rule (median of ${IPERF_ROUNDS}): none=${r2(median(tput.none) / 1e9)} sets_10k=${r2(median(tput.sets) / 1e9)}\n`);
    await tenRound();
    const apply10k = median(ten.applies);
    const replace10k = median(ten.replaces);
    const change10k = median(ten.changes);
    process.stdout.write(`10000 rules, compile + apply, ${ten.applies.length} applies, ${ten.replaces.length} replaces and ${ten.changes.length} changes over 3 rounds: apply_ms=${r1(apply10k)} replace_ms=${r1(replace10k)} change_ms=${r1(change10k)}`
      + (cli ? `; nft CLI (compile + apply) in the same rounds: apply_ms=${r1(median(cliTen.applies))} replace_ms=${r1(median(cliTen.replaces))} change_ms=${r1(median(cliTen.changes))}` : '') + '\n');
    process.stdout.write(`firewall: apply_10k_ms=${Math.round(apply10k)} replace_10k_ms=${Math.round(replace10k)} change_ms=${Math.round(change10k)} connrate_ratio_10k=${r2(connRatio)} cs_layout_connrate_ratio_10k=${r2(csRatio)} throughput_ratio_10k=${r2(tputRatio)}\n`);
  } finally {
    await lab.cleanup();
  }
}

await main();
