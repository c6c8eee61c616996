// Firewall benchmark (`npm run bench` in firewall/, `npm run bench:firewall` at the root).
//  1. For 100 / 1,000 / 10,000 / 50,000 rules: compile time, full apply time (one nft
//     transaction into a router namespace) and one-rule change time (element fast path).
//  2. Through outside → router → guest namespaces with 10,000 rules installed: new-connection
//     rate (TCP, closed with RST) as a ratio to the same path with no rules, the same ratio for
//     an iptables-style linear chain of the same 10,000 rules behind `ct state
//     established,related accept`, and one iperf3 flow's throughput ratio. Configurations
//     alternate within each round (order rotated) and medians of the rounds are reported.
// Ends with: firewall: apply_10k_ms=… change_ms=… connrate_ratio_10k=… linear_connrate_ratio_10k=… throughput_ratio_10k=…
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { Lab } from '@flotilla/tests/lab';
import { emptyFirewallSpec, type FirewallSpec, type FirewallRule } from '@flotilla/protocol/firewall';
import { compile } from '../src/compile.ts';
import { NftApplier } from '../src/apply.ts';
import * as n from '../src/nft/build.ts';
import type { Command, NftDocument, Stmt } from '../src/nft/types.ts';
import { buildTopology, waitListening } from '../test/helpers/topology.ts';

const SIZES = [100, 1_000, 10_000, 50_000];
const ROUNDS = Number(process.env.FW_BENCH_ROUNDS ?? 5);
const CONN_MS = Number(process.env.FW_BENCH_CONN_MS ?? 1500);
const CONC = 8;
const IPERF_SECONDS = 2;

const uuid = (i: number) => `00000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`;
const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2; };
const ms = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;
const r2 = (x: number) => Math.round(x * 100) / 100;
const r1 = (x: number) => Math.round(x * 10) / 10;

/** Rule j of bench IP k: 100 rules per IP, alternating tcp/udp, single ports and ranges. */
function benchRule(k: number, j: number, shift = 0): FirewallRule {
  const start = 1000 + j * 10;
  return {
    id: uuid(k * 100 + j + 1), protocol: j % 2 ? 'udp' : 'tcp',
    ports: { start, end: start + (j % 3 === 0 ? 5 : 0) + shift },
    sourceCidrs: [`10.${100 + (j % 100)}.${k & 255}.0/24`],
  };
}

/** `rules` firewall rules on bench IPs 198.18.x.y, plus the measured path: port forwards on
 *  203.0.113.10 to the guest (8080 connection rate, 5201 iperf3). */
function benchSpec(rules: number, change = false): FirewallSpec {
  const publicIps: FirewallSpec['publicIps'] = [{
    address: '203.0.113.10', filter: 'rules', rules: [], portForwards: [
      { id: uuid(0xf0000001), protocol: 'tcp', publicPorts: { start: 8080, end: 8080 }, privateIp: '10.1.1.5', privatePorts: { start: 8080, end: 8080 }, sourceCidrs: [] },
      { id: uuid(0xf0000002), protocol: 'tcp', publicPorts: { start: 5201, end: 5201 }, privateIp: '10.1.1.5', privatePorts: { start: 5201, end: 5201 }, sourceCidrs: [] },
    ],
  }];
  for (let k = 0; k * 100 < rules; k++) {
    const count = Math.min(100, rules - k * 100);
    publicIps.push({
      address: `198.18.${k >> 8}.${k & 255}`, filter: 'rules', portForwards: [],
      rules: Array.from({ length: count }, (_, j) => benchRule(k, j, change && k === 0 && j === 1 ? 1 : 0)),
    });
  }
  return {
    ...emptyFirewallSpec(), publicInterfaces: ['pub0'], publicIps,
    guestNetworks: [{ id: 'net', interface: 'gst0', cidrs: ['10.1.1.0/24'], sourceNatIp: '203.0.113.10', egress: { defaultPolicy: 'allow', rules: [] } }],
  };
}

/** The same rules as an iptables-style linear chain (what CloudStack's router loads). */
function linearDoc(rules: number): NftDocument {
  const t = n.table('inet', 'flt_linear');
  const cmds: Command[] = [];
  const add = (c: Command) => cmds.push(c);
  add({ add: { chain: n.baseChain(t, 'pre_filter', 'filter', 'prerouting', -150) } });
  add({ add: { chain: n.baseChain(t, 'pre_nat', 'nat', 'prerouting', -100) } });
  add({ add: { chain: n.baseChain(t, 'post_nat', 'nat', 'postrouting', 100) } });
  const rule = (chain: string, ...e: Stmt[]) => add({ add: { rule: n.rule(t, chain, ...e) } });
  const pub = n.match(n.meta('iifname'), 'pub0');
  rule('pre_filter', n.match(n.ct('state'), ['established', 'related'], 'in'), n.accept());
  for (let k = 0; k * 100 < rules; k++) {
    for (let j = 0; j < Math.min(100, rules - k * 100); j++) {
      const r = benchRule(k, j);
      const [addr, len] = r.sourceCidrs[0]!.split('/');
      rule('pre_filter', pub, n.match(n.payload('ip', 'daddr'), `198.18.${k >> 8}.${k & 255}`),
        n.match(n.payload(r.protocol, 'dport'), n.span(r.ports!.start, r.ports!.end)),
        n.match(n.payload('ip', 'saddr'), n.prefix(addr!, Number(len))), n.accept());
    }
  }
  for (const port of [8080, 5201]) {
    rule('pre_filter', pub, n.match(n.payload('ip', 'daddr'), '203.0.113.10'), n.match(n.payload('tcp', 'dport'), port), n.accept());
    rule('pre_nat', pub, n.match(n.payload('ip', 'daddr'), '203.0.113.10'), n.match(n.payload('tcp', 'dport'), port), n.dnat({ family: 'ip', addr: '10.1.1.5', port }));
  }
  rule('pre_filter', pub, n.match(n.payload('ip', 'daddr'), '203.0.113.10'), n.drop());
  rule('post_nat', n.match(n.meta('oifname'), 'pub0'), n.match(n.payload('ip', 'saddr'), n.prefix('10.1.1.0', 24)), n.snat({ family: 'ip', addr: '203.0.113.10' }));
  return n.replaceTableDocument(t, cmds);
}
const dropLinear: NftDocument = { nftables: [{ add: { table: n.table('inet', 'flt_linear') } }, { delete: { table: n.table('inet', 'flt_linear') } }] };

async function main(): Promise<void> {
  const lab = Lab.create(undefined, 'fwb');
  try {
    const topo = await buildTopology(lab);
    const fw = new NftApplier({ netns: topo.router });
    const raw = new NftApplier({ netns: topo.router });
    // Short conntrack CLOSE timeout: RST-closed connections leave the table quickly.
    await lab.exec(topo.router, ['sysctl', '-qw', 'net.netfilter.nf_conntrack_tcp_timeout_close=1']).catch(() => undefined);

    // ---- 1. compile / apply / one-rule change ----
    process.stdout.write('rules   compile_ms  apply_ms  change_ms  (apply = one nft -j transaction incl. process start; change = element fast path)\n');
    const results = new Map<number, { compile: number; apply: number; change: number }>();
    for (const size of SIZES) {
      const reps = size >= 50_000 ? 2 : 3;
      const spec = benchSpec(size);
      const changed = benchSpec(size, true);
      const compiles: number[] = [];
      let doc!: NftDocument, doc2!: NftDocument;
      for (let i = 0; i < reps; i++) { const t0 = process.hrtime.bigint(); doc = compile(spec); compiles.push(ms(t0)); }
      doc2 = compile(changed);
      const applies: number[] = [];
      for (let i = 0; i < reps; i++) {
        await fw.remove();
        const t0 = process.hrtime.bigint();
        const r = await fw.apply(doc);
        applies.push(ms(t0));
        if (r.mode !== 'full') throw new Error('expected a full apply');
      }
      const changes: number[] = [];
      for (let i = 0; i < 5; i++) {
        const t0 = process.hrtime.bigint();
        const r = await fw.apply(i % 2 ? doc : doc2);
        changes.push(ms(t0));
        if (r.mode !== 'elements') throw new Error(`expected the element fast path, got ${r.mode}`);
      }
      const row = { compile: median(compiles), apply: median(applies), change: median(changes) };
      results.set(size, row);
      process.stdout.write(`${String(size).padEnd(7)} ${r1(row.compile).toString().padStart(10)} ${r1(row.apply).toString().padStart(9)} ${r1(row.change).toString().padStart(10)}\n`);
    }
    {
      // For reference: the same 10k apply without per-rule counters (their cost is per element).
      const doc = compile(benchSpec(10_000), { counters: false });
      const xs: number[] = [];
      for (let i = 0; i < 3; i++) { await fw.remove(); const t0 = process.hrtime.bigint(); await fw.apply(doc); xs.push(ms(t0)); }
      process.stdout.write(`10000 rules without per-rule counters: apply_ms=${r1(median(xs))}\n`);
      await fw.remove();
    }

    // ---- 2. traffic through the router ----
    const here = fileURLToPath(new URL('.', import.meta.url));
    lab.spawn(topo.guest, ['node', `${here}sink-server.mjs`, '8080']);
    lab.spawn(topo.guest, ['iperf3', '-s', '-p', '5201']);
    await waitListening(lab, topo.guest, 8080);
    await waitListening(lab, topo.guest, 5201);
    const docs = { none: compile(benchSpec(0)), sets: compile(benchSpec(10_000)), linear: linearDoc(10_000) };
    type Cfg = keyof typeof docs;
    async function use(cfg: Cfg): Promise<void> {
      if (cfg === 'linear') { await fw.remove(); await raw.apply(docs.linear); }
      else { await raw.apply(dropLinear); fw.reset(); await fw.apply(docs[cfg]); }
      await lab.tryExec(topo.router, ['conntrack', '-F']);
      await sleep(200);
    }
    async function connrate(): Promise<number> {
      const r = await lab.exec(topo.outside, ['node', `${here}connrate-client.mjs`, '203.0.113.10', '8080', String(CONN_MS), String(CONC), '1000000'], { timeoutMs: CONN_MS + 20_000 });
      const j = JSON.parse(r.stdout) as { ok: number; failed: number; rate: number };
      if (j.ok === 0) throw new Error(`no connection succeeded: ${r.stdout}`);
      return j.rate;
    }
    async function iperf(): Promise<number> {
      const r = await lab.exec(topo.outside, ['iperf3', '-c', '203.0.113.10', '-p', '5201', '-t', String(IPERF_SECONDS), '-J', '--connect-timeout', '2000'], { timeoutMs: 30_000 });
      return (JSON.parse(r.stdout) as { end: { sum_received: { bits_per_second: number } } }).end.sum_received.bits_per_second;
    }
    const rates: Record<Cfg, number[]> = { none: [], sets: [], linear: [] };
    const tput: Record<'none' | 'sets', number[]> = { none: [], sets: [] };
    const order: Cfg[] = ['none', 'sets', 'linear'];
    for (let round = 0; round < ROUNDS; round++) {
      const rot = [...order.slice(round % 3), ...order.slice(0, round % 3)];
      for (const cfg of rot) { await use(cfg); rates[cfg].push(await connrate()); }
      if (round < 3) for (const cfg of (round % 2 ? ['sets', 'none'] : ['none', 'sets']) as Array<'none' | 'sets'>) { await use(cfg); tput[cfg].push(await iperf()); }
      process.stdout.write(`round ${round + 1}: conn/s none=${Math.round(rates.none.at(-1)!)} sets=${Math.round(rates.sets.at(-1)!)} linear=${Math.round(rates.linear.at(-1)!)}\n`);
    }
    await fw.remove();
    await raw.apply(dropLinear);
    const connRatio = median(rates.sets) / median(rates.none);
    const linRatio = median(rates.linear) / median(rates.none);
    const tputRatio = median(tput.sets) / median(tput.none);
    process.stdout.write(`connections/s (median of ${ROUNDS}): none=${Math.round(median(rates.none))} sets_10k=${Math.round(median(rates.sets))} linear_10k=${Math.round(median(rates.linear))}\n`);
    process.stdout.write(`iperf3 Gbit/s (median of 3): none=${r2(median(tput.none) / 1e9)} sets_10k=${r2(median(tput.sets) / 1e9)}\n`);
    const ten = results.get(10_000)!;
    process.stdout.write(`firewall: apply_10k_ms=${Math.round(ten.apply)} change_ms=${Math.round(ten.change)} connrate_ratio_10k=${r2(connRatio)} linear_connrate_ratio_10k=${r2(linRatio)} throughput_ratio_10k=${r2(tputRatio)}\n`);
  } finally {
    await lab.cleanup();
  }
}

await main();
