// compileLbNft(spec, health) → nft commands: pure. The kernel half of the load balancer: what
// lbEngine() gives to the kernel (tcp/udp with roundrobin or source). The commands go into the
// firewall's own table (`inet flotilla`) and are appended to the firewall document, so the
// firewall applier loads both in ONE atomic transaction, and its fast path turns a membership
// or health change into element updates (decision 0710).
//
// Layout (names stable for a given shape; the shape depends only on the largest backend count
// rounded up, never on which backends are healthy):
//   chain lb_nat  (nat, prerouting, priority -99: after port forwarding's -100)
//     iifname @public_ifs  ip daddr . l4proto . dport . saddr @lb_hits4      (counted per rule)
//     iifname @public_ifs  ip daddr . l4proto . dport . saddr vmap @lb_disp4 (→ jump lb_rr<N> | lb_sh<N>)
//     meta mark & LB_MARK != 0  dnat ip to (daddr . l4proto . dport . mark) map @lb_addr4 : … @lb_port4
//   chain lb_rr<N>: meta mark set numgen inc mod N offset LB_MARK      (roundrobin over N healthy backends)
//   chain lb_sh<N>: meta mark set jhash ip saddr mod N offset LB_MARK  (source: a client keeps its backend)
// Slot k of a rule maps to its k-th healthy backend. A backend leaving or returning rewrites the
// rule's dispatch element (N) and its slot elements: no rule, chain or set declaration changes.
import type { LbRule, LbSpec } from '@flotilla/protocol/lb';
import { lbEngine } from '@flotilla/protocol/lb';
import { TABLE } from '@flotilla/firewall/compile';
import {
  baseChain, chain, concat, dnat, elem, jhash, jump, map, match, meta, namedMap, numgen, payload, prefix, ref, rule, set, vmap, mangle,
} from '@flotilla/firewall/nft/build';
import type { Command, Expr, Verdict } from '@flotilla/firewall/nft/types';

/** Priority of lb_nat: right after port forwarding's DNAT (-100), before filter-forward. */
export const LB_NAT_PRIORITY = -99;
/** Bit set in the packet mark while a slot is chosen (cleared before the packet leaves lb_nat). */
export const LB_MARK = 0x4c000000;
/** Chains lb_rr<N>/lb_sh<N> exist for N = 1…slots(max backends): at least this many. */
export const MIN_SLOTS = 8;
const JHASH_SEED = 0x1f10a7;

/** Health of backends by rule id and backend IP; absent = healthy (no check, or not yet run). */
export type LbHealth = ReadonlyMap<string, ReadonlySet<string>>;

/** Rules of the spec that run in the kernel. */
export const kernelRules = (s: LbSpec): LbRule[] => s.rules.filter((r) => lbEngine(r) === 'kernel');

/** Number of slot chains: the largest backend count rounded up to a power of two (≥ MIN_SLOTS). */
export function slotCount(rules: LbRule[]): number {
  let n = MIN_SLOTS;
  const max = Math.max(0, ...rules.map((r) => r.backends.length));
  while (n < max) n *= 2;
  return n;
}

const prefixOf = (c: string): Expr => {
  const [a, l] = c.split('/');
  return Number(l) === 32 ? a! : prefix(a!, Number(l));
};

/** The healthy backends of a rule, in spec order (unhealthy: listed in `down`). */
export function healthyBackends(r: LbRule, down: LbHealth): LbRule['backends'] {
  const d = down.get(r.id);
  return d ? r.backends.filter((b) => !d.has(b.ip)) : r.backends;
}

/** The LB's commands for the firewall document (no table add/delete: the firewall's batch does that). */
export function compileLbNft(spec: LbSpec, down: LbHealth = new Map()): Command[] {
  const t = TABLE;
  const rules = kernelRules(spec);
  const slots = slotCount(rules);
  const hits: Expr[] = [];
  const disp: Array<[Expr, Verdict]> = [];
  const addr: Array<[Expr, Expr]> = [];
  const port: Array<[Expr, Expr]> = [];
  for (const r of rules) {
    const live = healthyBackends(r, down);
    // Numeric protocol: nft lists elements numerically, and counters are matched by element value.
    const proto = r.protocol === 'udp' ? 17 : 6;
    const srcs = r.sourceCidrs.length ? r.sourceCidrs : ['0.0.0.0/0'];
    for (const c of srcs) {
      const k = concat(r.publicIp, proto, r.publicPort, prefixOf(c));
      hits.push(elem(k, { comment: r.id }));
      const sticky = r.algorithm === 'source' || r.stickiness?.method === 'SourceBased';
      if (live.length) disp.push([k, jump(`${sticky ? 'lb_sh' : 'lb_rr'}${live.length}`)]);
    }
    live.forEach((b, i) => {
      const k = concat(r.publicIp, proto, r.publicPort, LB_MARK + i);
      addr.push([k, b.ip]);
      port.push([k, r.privatePort]);
    });
  }
  const key4 = ['ipv4_addr', 'inet_proto', 'inet_service', 'ipv4_addr'];
  const slotKey = ['ipv4_addr', 'inet_proto', 'inet_service', 'mark'];
  const dispKey = concat(payload('ip', 'daddr'), meta('l4proto'), payload('th', 'dport'), payload('ip', 'saddr'));
  const markKey = concat(payload('ip', 'daddr'), meta('l4proto'), payload('th', 'dport'), meta('mark'));
  const onPublic = match(meta('iifname'), ref('public_ifs'));
  const cmds: Command[] = [
    { add: { set: set(t, 'lb_hits4', key4, { flags: ['interval'], counters: true, elem: hits }) } },
    { add: { chain: baseChain(t, 'lb_nat', 'nat', 'prerouting', LB_NAT_PRIORITY) } },
  ];
  for (let n = 1; n <= slots; n++) {
    cmds.push({ add: { chain: chain(t, `lb_rr${n}`) } }, { add: { chain: chain(t, `lb_sh${n}`) } });
  }
  cmds.push(
    { add: { map: namedMap(t, 'lb_disp4', key4, 'verdict', { flags: ['interval'], elem: disp }) } },
    { add: { map: namedMap(t, 'lb_addr4', slotKey, 'ipv4_addr', { elem: addr }) } },
    { add: { map: namedMap(t, 'lb_port4', slotKey, 'inet_service', { elem: port }) } },
  );
  for (let n = 1; n <= slots; n++) {
    cmds.push({ add: { rule: rule(t, `lb_rr${n}`, mangle(meta('mark'), numgen('inc', n, LB_MARK))) } });
    cmds.push({ add: { rule: rule(t, `lb_sh${n}`, mangle(meta('mark'), jhash(payload('ip', 'saddr'), n, JHASH_SEED, LB_MARK))) } });
  }
  cmds.push(
    { add: { rule: rule(t, 'lb_nat', onPublic, match(dispKey, ref('lb_hits4'))) } },
    { add: { rule: rule(t, 'lb_nat', onPublic, vmap(dispKey, ref('lb_disp4'))) } },
    { add: { rule: rule(t, 'lb_nat', match({ '&': [meta('mark'), LB_MARK] } as unknown as Expr, LB_MARK), dnat({ family: 'ip', addr: map(markKey, ref('lb_addr4')), port: map(markKey, ref('lb_port4')) })) } },
    // The slot mark is scratch: nothing after lb_nat sees it (a missing slot leaves it set only
    // on a packet that is then not translated; it is cleared all the same).
    { add: { rule: rule(t, 'lb_nat', match({ '&': [meta('mark'), LB_MARK] } as unknown as Expr, LB_MARK), mangle(meta('mark'), 0)) } },
  );
  return cmds;
}
