// Probe (not part of bench:lb; run by hand: node --import tsx bench/probe-bhits.ts, root): CPU of compiling + applying 1,000 kernel rules × 10 backends
// with and without the per-backend counted set lb_bhits, alternated, in a fresh namespace.
import { Lab } from '@flotilla/tests/lab';
import { compile } from '@flotilla/firewall/compile';
import { NftApplier } from '@flotilla/firewall/apply';
import { emptyFirewallSpec, type FirewallSpec } from '@flotilla/protocol/firewall';
import type { LbSpec } from '@flotilla/protocol/lb';
import { compileLbNft } from '../src/nft.ts';

const PUB = '203.0.113.10';
const uid = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const lab = Lab.create(undefined, 'lbp');
try {
  const ns = await lab.netns('big');
  const big = new NftApplier({ netns: ns });
  const bigLb: LbSpec = { rules: Array.from({ length: 1000 }, (_, i) => ({
    id: uid(10_000 + i), publicIp: PUB, publicPort: 1000 + i, privatePort: 80, protocol: 'tcp' as const, algorithm: (i % 2 ? 'source' : 'roundrobin') as 'source' | 'roundrobin', sourceCidrs: [],
    backends: Array.from({ length: 10 }, (_, j) => ({ vmId: uid(50_000 + j), ip: `10.1.1.${20 + j}` })),
  })) };
  const fw: FirewallSpec = { ...emptyFirewallSpec(), publicInterfaces: ['pub0'], guestNetworks: [{ id: 'n1', interface: 'gst0', cidrs: ['10.1.1.0/24'], sourceNatIp: PUB, egress: { defaultPolicy: 'allow', rules: [] } }],
    publicIps: [{ address: PUB, filter: 'rules', portForwards: [], rules: [{ id: uid(899), protocol: 'tcp', ports: { start: 1000, end: 1999 }, sourceCidrs: [] }] }] };
  const res: Record<string, number[]> = { with: [], without: [] };
  for (let round = 0; round < 14; round++) {
    const v = round % 2 ? 'without' : 'with';
    big.reset();
    const c = process.cpuUsage();
    const d = compile(fw);
    let cmds = compileLbNft(bigLb);
    if (v === 'without') cmds = cmds.filter((x) => !JSON.stringify(x).includes('lb_bhits'));
    d.nftables.push(...cmds);
    await big.apply(d);
    const u = process.cpuUsage(c);
    if (round >= 2) res[v]!.push((u.user + u.system) / 1000);
  }
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  console.log(`apply_1k cpu ms: with lb_bhits ${res.with!.map(Math.round).join('/')} (median ${Math.round(med(res.with!))}), without ${res.without!.map(Math.round).join('/')} (median ${Math.round(med(res.without!))})`);
  await big.close();
} finally { await lab.cleanup(); }
