// compileLbNft(spec, health) → nft commands: pure. The kernel half of the load balancer: what
// lbEngine() gives to the kernel (tcp/udp with roundrobin or source). The commands go into the
// firewall's own table (`inet flotilla`) and are appended to the firewall document, so the
// firewall applier loads both in ONE atomic transaction, and its fast path turns a membership
// or health change into element updates (decision 0710).
//
// Layout (names stable for a given shape; the shape depends only on the largest backend count
// rounded up, never on which backends are healthy):
//   chain lb_nat  (nat, prerouting, priority -99: after port forwarding's -100)
//     iifname @public_ifs  ip daddr . l4proto . dport . saddr @lb_hits4         (counted per rule)
//     iifname @public_ifs  meta mark set (ip daddr . l4proto . dport . saddr) map @lb_base4  (rule base mark)
//     … marked  ip daddr . l4proto . dport . saddr vmap @lb_disp4               (→ jump lb_rr<N> | lb_sh<N>)
//     marked  dnat ip to meta mark map @lb_addr4 : (meta mark & ~slots) map @lb_port4
//   chain lb_rr<N>: numgen inc mod N vmap { j : goto lb_slot<j> }          (roundrobin over N healthy backends)
//   chain lb_sh<N>: jhash ip saddr mod N vmap { j : goto lb_slot<j> }      (source: a client keeps its backend)
//   chain lb_slot<j>: meta mark set meta mark | j
// Slot j of a rule maps to its j-th healthy backend. A backend leaving or returning rewrites the
// rule's dispatch element (N) and its slot elements: no rule, chain or set declaration changes.
import type { LbRule, LbSpec } from '@flotilla/protocol/lb';
import { lbEngine } from '@flotilla/protocol/lb';
import { TABLE } from '@flotilla/firewall/compile';
import {
  anonMap, anonSet, baseChain, chain, concat, dnat, elem, goto, jhash, jump, map, match, meta, namedMap, numgen, payload, prefix, ref, rule, set, vmap, mangle,
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
  const bits = Math.log2(slots);
  const slotMask = slots - 1;
  // Rules without a cidrlist are looked up by an exact 3-part key (hash: cheap to load and to
  // match); rules with one by the 4-part key with the source prefix (interval).
  const hits: Expr[] = [], hitsX: Expr[] = [];
  const disp: Array<[Expr, Verdict]> = [], dispX: Array<[Expr, Verdict]> = [];
  const base: Array<[Expr, Expr]> = [], baseX: Array<[Expr, Expr]> = [];
  const addr: Array<[Expr, Expr]> = [];
  const port: Array<[Expr, Expr]> = [];
  rules.forEach((r, k) => {
    // The rule's base mark: LB_MARK with the rule's index above the slot bits. The backend map is
    // keyed by the mark alone (one part): libnftables parses a 4-part key ~4× slower, which is
    // most of a 10k-backend load.
    const b = (LB_MARK | (k << bits)) >>> 0;
    // Numeric protocol: nft lists elements numerically, and counters are matched by element value.
    const proto = r.protocol === 'udp' ? 17 : 6;
    const live = healthyBackends(r, down);
    const sticky = r.algorithm === 'source' || r.stickiness?.method === 'SourceBased';
    const target = jump(`${sticky ? 'lb_sh' : 'lb_rr'}${live.length}`);
    const anywhere = !r.sourceCidrs.length || r.sourceCidrs.some((c) => c.endsWith('/0'));
    const srcs = anywhere ? [] : r.sourceCidrs;
    if (anywhere) {
      const key = concat(r.publicIp, proto, r.publicPort);
      hitsX.push(elem(key, { comment: r.id }));
      if (live.length) { dispX.push([key, target]); baseX.push([key, b]); }
    }
    for (const c of srcs) {
      const key = concat(r.publicIp, proto, r.publicPort, prefixOf(c));
      hits.push(elem(key, { comment: r.id }));
      if (live.length) { disp.push([key, target]); base.push([key, b]); }
    }
    live.forEach((be, i) => addr.push([(b | i) >>> 0, be.ip]));
    if (live.length) port.push([b, r.privatePort]);
  });
  const key4 = ['ipv4_addr', 'inet_proto', 'inet_service', 'ipv4_addr'];
  const key3 = ['ipv4_addr', 'inet_proto', 'inet_service'];
  const exactKey = concat(payload('ip', 'daddr'), meta('l4proto'), payload('th', 'dport'));
  const dispKey = concat(payload('ip', 'daddr'), meta('l4proto'), payload('th', 'dport'), payload('ip', 'saddr'));
  const onPublic = match(meta('iifname'), ref('public_ifs'));
  const marked = match({ '&': [meta('mark'), LB_MARK] } as unknown as Expr, LB_MARK);
  const cmds: Command[] = [
    { add: { set: set(t, 'lb_hits4', key4, { flags: ['interval'], counters: true, elem: hits }) } },
    { add: { set: set(t, 'lb_hitsx4', key3, { counters: true, elem: hitsX }) } },
    { add: { chain: baseChain(t, 'lb_nat', 'nat', 'prerouting', LB_NAT_PRIORITY) } },
  ];
  for (let j = 0; j < slots; j++) cmds.push({ add: { chain: chain(t, `lb_slot${j}`) } });
  for (let n = 1; n <= slots; n++) cmds.push({ add: { chain: chain(t, `lb_rr${n}`) } }, { add: { chain: chain(t, `lb_sh${n}`) } });
  cmds.push(
    { add: { map: namedMap(t, 'lb_disp4', key4, 'verdict', { flags: ['interval'], elem: disp }) } },
    { add: { map: namedMap(t, 'lb_base4', key4, 'mark', { flags: ['interval'], elem: base }) } },
    { add: { map: namedMap(t, 'lb_dispx4', key3, 'verdict', { elem: dispX }) } },
    { add: { map: namedMap(t, 'lb_basex4', key3, 'mark', { elem: baseX }) } },
    { add: { map: namedMap(t, 'lb_addr4', 'mark', 'ipv4_addr', { elem: addr }) } },
    { add: { map: namedMap(t, 'lb_port4', 'mark', 'inet_service', { elem: port }) } },
  );
  for (let j = 0; j < slots; j++) cmds.push({ add: { rule: rule(t, `lb_slot${j}`, mangle(meta('mark'), { '|': [meta('mark'), j] } as unknown as Expr)) } });
  for (let n = 1; n <= slots; n++) {
    const pick = (e: Expr) => vmap(e, anonMap(Array.from({ length: n }, (_, j): [Expr, Verdict] => [j, goto(`lb_slot${j}`)])));
    cmds.push({ add: { rule: rule(t, `lb_rr${n}`, pick(numgen('inc', n))) } });
    cmds.push({ add: { rule: rule(t, `lb_sh${n}`, pick(jhash(payload('ip', 'saddr'), n, JHASH_SEED))) } });
  }
  const slotMarkMask = (~slotMask) >>> 0;
  cmds.push(
    // A listener (address, protocol, port) belongs to one rule: at most one of the two key kinds matches.
    { add: { rule: rule(t, 'lb_nat', onPublic, match(exactKey, ref('lb_hitsx4'))) } },
    { add: { rule: rule(t, 'lb_nat', onPublic, match(dispKey, ref('lb_hits4'))) } },
    { add: { rule: rule(t, 'lb_nat', onPublic, mangle(meta('mark'), map(exactKey, ref('lb_basex4')))) } },
    { add: { rule: rule(t, 'lb_nat', onPublic, mangle(meta('mark'), map(dispKey, ref('lb_base4')))) } },
    { add: { rule: rule(t, 'lb_nat', onPublic, marked, vmap(exactKey, ref('lb_dispx4'))) } },
    { add: { rule: rule(t, 'lb_nat', onPublic, marked, vmap(dispKey, ref('lb_disp4'))) } },
    { add: { rule: rule(t, 'lb_nat', marked, match(meta('l4proto'), anonSet(['tcp', 'udp'])), dnat({ family: 'ip', addr: map(meta('mark'), ref('lb_addr4')), port: map({ '&': [meta('mark'), slotMarkMask] } as unknown as Expr, ref('lb_port4')) })) } },
    // The mark is scratch: nothing after lb_nat sees it.
    { add: { rule: rule(t, 'lb_nat', marked, mangle(meta('mark'), 0)) } },
  );
  return cmds;
}
