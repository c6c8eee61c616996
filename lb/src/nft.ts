// compileLbNft(spec, health) → nft commands: pure. The kernel half of the load balancer: what
// lbEngine() gives to the kernel (tcp/udp with roundrobin or source). The commands go into the
// firewall's own table (`inet flotilla`) and are appended to the firewall document, so the
// firewall applier loads both in ONE atomic transaction, and its fast path turns a membership
// or health change into element updates (decision 0710).
//
// Layout (names stable for a given shape; the shape depends only on the largest backend count
// rounded up, never on which backends are healthy):
//   chain lb_nat  (nat, prerouting, priority -99: after port forwarding's -100; nat chains see
//   only the first packet of a connection, conntrack carries the rest)
//     iifname @public_ifs  meta mark set (ip daddr . l4proto . dport) map @lb_basex4          (listener → rule base mark)
//     iifname @public_ifs  meta mark set (ip daddr . l4proto . dport . saddr) map @lb_base4  (same, listeners with a cidrlist)
//     marked  meta mark @lb_hits                                  (counted per rule: element comment = rule id)
//     marked  meta mark vmap @lb_disp                             (→ jump lb_rr<N> | lb_sh<N>)
//     marked  meta mark @lb_bhits                                 (counted per slot: element comment = <rule id>/<backend ip>)
//     marked  dnat ip to meta mark map @lb_addr4 : (meta mark & ~slots) map @lb_port4
//     marked  meta mark set 0                                     (a listener without a live backend: no DNAT)
//   chain lb_rr<N>: numgen inc mod N vmap { j : goto lb_slot<j> }          (roundrobin over N healthy backends)
//   chain lb_sh<N>: jhash ip saddr mod N vmap { j : goto lb_slot<j> }      (source: a client keeps its backend)
//   chain lb_slot<j>: meta mark set meta mark | j
// Everything after the listener lookup is keyed by the rule's base mark (one 32-bit part): a
// new connection makes one multi-part lookup, and a 1,000-rule load parses 3,000 one-part
// elements where the listener-keyed layout parsed 3,000 three-part ones (decision 0710).
// Slot j of a rule maps to its j-th healthy backend. A backend leaving or returning rewrites the
// rule's dispatch element (N) and its slot elements: no rule, chain or set declaration changes.
// The mark is scratch: a DNATed first packet leaves lb_nat with it (dnat ends the chain), which
// nothing reads (the firewall matches no marks); conntrack does not keep it.
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

/**
 * The counter id of a backend of a rule (the comment of its lb_bhits element). A slot element's
 * comment names the backend it sends to, so a slot that changes backend (health, membership) is
 * a new element: the applier replaces it, and the router hands the old one's counter, read just
 * before, to LbService.keep().
 */
export const memberKey = (ruleId: string, ip: string): string => `${ruleId}/${ip}`;

/** Slot mark → member key of the lb_bhits elements in compiled commands. */
export function slotMembers(cmds: Command[]): Map<number, string> {
  const out = new Map<number, string>();
  for (const c of cmds) {
    const s = 'add' in c ? (c.add as { set?: { name: string; elem?: unknown[] } }).set : undefined;
    if (s?.name !== 'lb_bhits') continue;
    for (const e of s.elem ?? []) {
      const el = (e as { elem?: { val: number; comment?: string } }).elem;
      if (el?.comment) out.set(el.val, el.comment);
    }
  }
  return out;
}

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

/** Capacity of the LB's hash maps: twice `n`, a power of two, at least 1,024. */
export function hashSize(n: number): number {
  let s = 1024;
  while (s < 2 * n) s *= 2;
  return s;
}

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
  const hits: Expr[] = [];
  const bhits: Expr[] = [];
  const disp: Array<[Expr, Verdict]> = [];
  const base: Array<[Expr, Expr]> = [], baseX: Array<[Expr, Expr]> = [];
  const addr: Array<[Expr, Expr]> = [];
  const port: Array<[Expr, Expr]> = [];
  rules.forEach((r, k) => {
    // The rule's base mark: LB_MARK with the rule's index above the slot bits. Counters,
    // dispatch and backends are keyed by it alone (one part): libnftables parses a multi-part
    // key several times slower, which was most of a 10k-backend load.
    const b = (LB_MARK | (k << bits)) >>> 0;
    // Numeric protocol: nft lists elements numerically, and counters are matched by element value.
    const proto = r.protocol === 'udp' ? 17 : 6;
    const live = healthyBackends(r, down);
    const sticky = r.algorithm === 'source' || r.stickiness?.method === 'SourceBased';
    const anywhere = !r.sourceCidrs.length || r.sourceCidrs.some((c) => c.endsWith('/0'));
    if (anywhere) baseX.push([concat(r.publicIp, proto, r.publicPort), b]);
    else for (const c of r.sourceCidrs) base.push([concat(r.publicIp, proto, r.publicPort, prefixOf(c)), b]);
    hits.push(elem(b, { comment: r.id }));
    if (live.length) {
      disp.push([b, jump(`${sticky ? 'lb_sh' : 'lb_rr'}${live.length}`)]);
      port.push([b, r.privatePort]);
    }
    live.forEach((be, i) => {
      addr.push([(b | i) >>> 0, be.ip]);
      bhits.push(elem((b | i) >>> 0, { comment: memberKey(r.id, be.ip) }));
    });
  });
  const key4 = ['ipv4_addr', 'inet_proto', 'inet_service', 'ipv4_addr'];
  const key3 = ['ipv4_addr', 'inet_proto', 'inet_service'];
  const exactKey = concat(payload('ip', 'daddr'), meta('l4proto'), payload('th', 'dport'));
  const dispKey = concat(payload('ip', 'daddr'), meta('l4proto'), payload('th', 'dport'), payload('ip', 'saddr'));
  const onPublic = match(meta('iifname'), ref('public_ifs'));
  const marked = match({ '&': [meta('mark'), LB_MARK] } as unknown as Expr, LB_MARK);
  // A size hint makes the kernel pick its fixed-size hash (nft_hash, nft_hash_fast for the 4-byte
  // marks) instead of the resizable rhashtable: ~12 % less CPU to load 10k backends (0710), and a
  // cheaper per-connection lookup. The hint is a capacity (more elements fail), so it is twice
  // the largest element count rounded up to a power of two: it belongs to the shape, and only a
  // doubling changes it (a full replace); element updates within it stay element updates.
  const size = hashSize(Math.max(addr.length, baseX.length));
  const cmds: Command[] = [
    { add: { set: { ...set(t, 'lb_hits', 'mark', { counters: true, elem: hits }), size } } },
    { add: { set: { ...set(t, 'lb_bhits', 'mark', { counters: true, elem: bhits }), size } } },
    { add: { chain: baseChain(t, 'lb_nat', 'nat', 'prerouting', LB_NAT_PRIORITY) } },
  ];
  for (let j = 0; j < slots; j++) cmds.push({ add: { chain: chain(t, `lb_slot${j}`) } });
  for (let n = 1; n <= slots; n++) cmds.push({ add: { chain: chain(t, `lb_rr${n}`) } }, { add: { chain: chain(t, `lb_sh${n}`) } });
  cmds.push(
    { add: { map: namedMap(t, 'lb_base4', key4, 'mark', { flags: ['interval'], elem: base }) } },
    { add: { map: { ...namedMap(t, 'lb_basex4', key3, 'mark', { elem: baseX }), size } } },
    { add: { map: { ...namedMap(t, 'lb_disp', 'mark', 'verdict', { elem: disp }), size } } },
    { add: { map: { ...namedMap(t, 'lb_addr4', 'mark', 'ipv4_addr', { elem: addr }), size } } },
    { add: { map: { ...namedMap(t, 'lb_port4', 'mark', 'inet_service', { elem: port }), size } } },
  );
  for (let j = 0; j < slots; j++) cmds.push({ add: { rule: rule(t, `lb_slot${j}`, mangle(meta('mark'), { '|': [meta('mark'), j] } as unknown as Expr)) } });
  for (let n = 1; n <= slots; n++) {
    const pick = (e: Expr) => vmap(e, anonMap(Array.from({ length: n }, (_, j): [Expr, Verdict] => [j, goto(`lb_slot${j}`)])));
    cmds.push({ add: { rule: rule(t, `lb_rr${n}`, pick(numgen('inc', n))) } });
    cmds.push({ add: { rule: rule(t, `lb_sh${n}`, pick(jhash(payload('ip', 'saddr'), n, JHASH_SEED))) } });
  }
  const slotMarkMask = (~slotMask) >>> 0;
  cmds.push(
    // A listener (address, protocol, port) belongs to one rule: at most one of the two key kinds
    // matches (a failed map lookup ends its rule, leaving the mark as it was).
    { add: { rule: rule(t, 'lb_nat', onPublic, mangle(meta('mark'), map(exactKey, ref('lb_basex4')))) } },
    { add: { rule: rule(t, 'lb_nat', onPublic, mangle(meta('mark'), map(dispKey, ref('lb_base4')))) } },
    { add: { rule: rule(t, 'lb_nat', marked, match(meta('mark'), ref('lb_hits'))) } },
    { add: { rule: rule(t, 'lb_nat', marked, vmap(meta('mark'), ref('lb_disp'))) } },
    // Per backend: the mark now carries the slot (a failed lookup, no live backend, counts nothing).
    { add: { rule: rule(t, 'lb_nat', marked, match(meta('mark'), ref('lb_bhits'))) } },
    { add: { rule: rule(t, 'lb_nat', marked, match(meta('l4proto'), anonSet(['tcp', 'udp'])), dnat({ family: 'ip', addr: map(meta('mark'), ref('lb_addr4')), port: map({ '&': [meta('mark'), slotMarkMask] } as unknown as Expr, ref('lb_port4')) })) } },
    { add: { rule: rule(t, 'lb_nat', marked, mangle(meta('mark'), 0)) } },
  );
  return cmds;
}
