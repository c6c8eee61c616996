// compile(spec) → NftDocument: pure. One `inet flotilla` table per appliance, fixed base chains,
// tenant data in named sets and maps (the kube-proxy nftables backend's layout), so the per-packet
// cost is a handful of set lookups whatever the number of rules. The contract (chains, hooks,
// priorities, set names) is in ../README.md; the tracer (trace.ts) and the kernel tests check it.
import {
  FirewallSpecError, normalizeFirewallSpec, hostCidr,
  type FirewallSpec, type NormalizedBefore, type NAddress, type NPublicIp, type NCidr, type NFirewallSpec, type NMatch, type Range, type Family as IpFamily,
} from '@flotilla/protocol/firewall';
import {
  accept, anonSet, baseChain, chain, concat, ct, dnat, drop, elem, goto, jump, key, map, match, meta, namedMap, payload, prefix, ref,
  replaceTableDocument, ret, rule, set, snat, span, vmap,
} from './nft/build.ts';
import type { Chain, Command, Expr, NftDocument, NftMap, NftSet, Rule, Stmt, Table, Verdict } from './nft/types.ts';

/** The one table Flotilla owns in an appliance's network namespace. */
export const TABLE: Table = { family: 'inet', name: 'flotilla' };

/** Hook priorities (see README): filter before DNAT so rules see the public address. */
export const PRIORITY = { preFilter: -150, preNat: -100, forward: 0, postNat: 100 } as const;

export interface CompileOptions {
  /** Per-rule counters on set elements (default true). They cost ~2 µs per element at apply. */
  counters?: boolean;
}

type Cls = 'tcp' | 'udp' | 'all' | 'icmp';
const CLASSES: Cls[] = ['tcp', 'udp', 'all', 'icmp'];
/** Parts a lookup key is made of, in key order. */
type Part = 'iif' | 'saddr' | 'daddr' | 'port' | 'icmp';

/** One element to be: the values for each part, and the rule id it counts for. */
interface Entry { id?: string; iif?: string; saddr?: NCidr; daddr?: NCidr; port?: Range; icmpType?: Range; icmpCode?: Range }

const fam = (f: IpFamily) => (f === 4 ? { ip: 'ip', addr: 'ipv4_addr', icmp: 'icmp', icmpType: 'icmp_type', icmpCode: 'icmp_code' }
  : { ip: 'ip6', addr: 'ipv6_addr', icmp: 'icmpv6', icmpType: 'icmpv6_type', icmpCode: 'icmpv6_code' });

function keyExprs(parts: Part[], f: IpFamily, cls: Cls): Expr[] {
  const F = fam(f);
  return parts.flatMap((p): Expr[] => {
    switch (p) {
      case 'iif': return [meta('iifname')];
      case 'saddr': return [payload(F.ip, 'saddr')];
      case 'daddr': return [payload(F.ip, 'daddr')];
      case 'port': return [payload(cls, 'dport')];
      case 'icmp': return [payload(F.icmp, 'type'), payload(F.icmp, 'code')];
    }
  });
}
function keyTypes(parts: Part[], f: IpFamily): string[] {
  const F = fam(f);
  return parts.flatMap((p) => (p === 'iif' ? ['ifname'] : p === 'port' ? ['inet_service'] : p === 'icmp' ? [F.icmpType, F.icmpCode] : [F.addr]));
}
const cidrExpr = (c: NCidr): Expr => (c.len === (c.family === 4 ? 32 : 128) ? c.addr : prefix(c.addr, c.len));
function keyValue(parts: Part[], e: Entry): Expr {
  return key(parts.flatMap((p): Expr[] => {
    switch (p) {
      case 'iif': return [e.iif!];
      case 'saddr': return [cidrExpr(e.saddr!)];
      case 'daddr': return [cidrExpr(e.daddr!)];
      case 'port': return [span(e.port![0], e.port![1])];
      case 'icmp': return [span(e.icmpType![0], e.icmpType![1]), span(e.icmpCode![0], e.icmpCode![1])];
    }
  }));
}
/** Parts of a lookup for a class: tcp/udp add the port, icmp type and code, 'all' nothing. */
function partsFor(cls: Cls, before: Part[], after: Part[]): Part[] {
  return [...before, ...(cls === 'tcp' || cls === 'udp' ? ['port' as const] : cls === 'icmp' ? ['icmp' as const] : []), ...after];
}
function withMatch(e: Entry, m: NMatch): Entry {
  // Assigned, not spread (every caller passes a fresh object): this runs per rule and source.
  e.port = m.ports;
  e.icmpType = m.icmpType;
  e.icmpCode = m.icmpCode;
  return e;
}

/** Per-IP sets of a previous compile, by set name: the IPs they were built from and the set. */
export type SetCache = Map<string, { readonly ips: readonly NPublicIp[]; readonly set: NftSet }>;

/** Collects the table's objects in the order nft needs them (sets and chains before rules). */
class Builder {
  readonly sets: NftSet[] = [];
  readonly maps: NftMap[] = [];
  readonly chains: Chain[] = [];
  readonly rules: Rule[] = [];
  /** What this compile built from public IPs, to be reused by the next one. */
  readonly built: SetCache = new Map();
  constructor(readonly counters: boolean, private readonly cache?: SetCache) {}
  /**
   * A lookup set made from the rules of `ips` only: when the previous compile built it from the
   * very same normalised IP objects (the normaliser hands unchanged IPs over as they were), the
   * set is taken over as it was — a one-rule change rebuilds one shard's sets, not 10,000 rules.
   */
  ipLookup(name: string, parts: Part[], f: IpFamily, ips: readonly NPublicIp[], entries: () => Entry[]): string {
    const prev = this.cache?.get(name);
    if (prev && prev.ips.length === ips.length && prev.ips.every((p, i) => p === ips[i])) {
      this.sets.push(prev.set);
      this.built.set(name, prev);
      return name;
    }
    this.lookup(name, parts, f, entries(), true);
    this.built.set(name, { ips, set: this.sets[this.sets.length - 1]! });
    return name;
  }
  chain(c: Chain): string { this.chains.push(c); return c.name; }
  rule(chainName: string, ...expr: Stmt[]): void { this.rules.push(rule(TABLE, chainName, ...expr)); }
  /** A named lookup set with its elements; counted sets carry the rule id as element comment. */
  lookup(name: string, parts: Part[], f: IpFamily, entries: Entry[], counted: boolean): string {
    const types = keyTypes(parts, f);
    const interval = parts.some((p) => p !== 'iif');
    const withCounters = counted && this.counters;
    const elems = entries.map((e) => {
      const v = keyValue(parts, e);
      return e.id ? elem(v, { comment: e.id }) : v;
    });
    this.sets.push(set(TABLE, name, types.length === 1 ? types[0]! : types, { flags: interval ? ['interval'] : [], counters: withCounters, elem: elems }));
    return name;
  }
  output(): NftDocument {
    const cmds: Command[] = [
      ...this.sets.map((s): Command => ({ add: { set: s } })),
      ...this.chains.map((c): Command => ({ add: { chain: c } })),
      // Maps after chains: verdict maps refer to chains by name.
      ...this.maps.map((m): Command => ({ add: { map: m } })),
      ...this.rules.map((r): Command => ({ add: { rule: r } })),
    ];
    return replaceTableDocument(TABLE, cmds);
  }
}

/**
 * Splits entries into layers of pairwise disjoint boxes: an nft interval set refuses overlapping
 * elements, so overlapping entries of the same verdict go to a second set (and so on). Order
 * within one verdict does not matter, so this keeps the semantics exactly.
 */
function layers(entries: Entry[], parts: Part[]): Entry[][] {
  type Dim = readonly [bigint | string, bigint | string];
  const dims = (e: Entry): Dim[] => parts.flatMap((p): Dim[] => {
    switch (p) {
      case 'iif': return [[e.iif!, e.iif!] as const];
      case 'saddr': return [[e.saddr!.lo, e.saddr!.hi] as const];
      case 'daddr': return [[e.daddr!.lo, e.daddr!.hi] as const];
      case 'port': return [[BigInt(e.port![0]), BigInt(e.port![1])] as const];
      case 'icmp': return [[BigInt(e.icmpType![0]), BigInt(e.icmpType![1])] as const, [BigInt(e.icmpCode![0]), BigInt(e.icmpCode![1])] as const];
    }
  });
  const out: Array<{ boxes: Array<ReturnType<typeof dims>>; entries: Entry[] }> = [];
  for (const e of entries) {
    const b = dims(e);
    let placed = false;
    for (const l of out) {
      const clash = l.boxes.some((o) => o.every((r, i) => r[0] <= b[i]![1] && b[i]![0] <= r[1]));
      if (!clash) { l.boxes.push(b); l.entries.push(e); placed = true; break; }
    }
    if (!placed) out.push({ boxes: [b], entries: [e] });
  }
  return out.map((l) => l.entries);
}

/** Shards of the public-IP firewall sets (see public_in). */
export const SHARDS = 8;
/** FNV-1a of the canonical address text: stable across runs and versions. */
export function shardOf(addr: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < addr.length; i++) { h ^= addr.charCodeAt(i); h = Math.imul(h, 0x01000193) >>> 0; }
  return h % SHARDS;
}

const ESTABLISHED = match(ct('state'), ['established', 'related'], 'in');
const INVALID = match(ct('state'), 'invalid', 'in');
const FAMILIES: IpFamily[] = [4, 6];

export function compile(raw: FirewallSpec | unknown, opts: CompileOptions = {}): NftDocument {
  const { spec, diagnostics } = normalizeFirewallSpec(raw);
  if (!spec) throw new FirewallSpecError(diagnostics);
  return compileNormalized(spec, opts);
}

/**
 * compile() for an appliance that recompiles its spec on every change: the same document as
 * compile() (a test checks it), but public IPs whose part of the spec did not change since the
 * last successful compile are neither parsed nor turned into set elements again (see
 * NormalizedBefore and Builder.ipLookup). A spec handed to it must not be mutated afterwards.
 */
export class FirewallCompiler {
  private before: NormalizedBefore | undefined;
  private sets: SetCache | undefined;
  constructor(private readonly opts: CompileOptions = {}) {}

  compile(raw: FirewallSpec | unknown): NftDocument {
    const { spec, diagnostics } = normalizeFirewallSpec(raw, this.before);
    if (!spec) throw new FirewallSpecError(diagnostics);
    const { doc, built } = compileWith(spec, this.opts, this.sets);
    this.before = { raw: raw as FirewallSpec, spec };
    this.sets = built;
    return doc;
  }
}

export function compileNormalized(s: NFirewallSpec, opts: CompileOptions = {}): NftDocument {
  return compileWith(s, opts).doc;
}

function compileWith(s: NFirewallSpec, opts: CompileOptions, cache?: SetCache): { doc: NftDocument; built: SetCache } {
  const b = new Builder(opts.counters ?? true, cache);
  const t = TABLE;

  // ---- base chains (fixed) ----
  b.chain(baseChain(t, 'pre_filter', 'filter', 'prerouting', PRIORITY.preFilter));
  b.chain(baseChain(t, 'pre_nat', 'nat', 'prerouting', PRIORITY.preNat));
  b.chain(baseChain(t, 'forward', 'filter', 'forward', PRIORITY.forward));
  b.chain(baseChain(t, 'post_nat', 'nat', 'postrouting', PRIORITY.postNat));
  for (const c of ['public_in', 'from_public', 'egress', 'sg', 'sg_in', 'sg_eg']) b.chain(chain(t, c));

  b.sets.push(set(t, 'public_ifs', 'ifname', { elem: s.publicInterfaces }));
  const onPublic = match(meta('iifname'), ref('public_ifs'));
  const toPublic = match(meta('oifname'), ref('public_ifs'));

  // ---- public ingress: default deny on public IPs, opened by firewall rules and port forwards ----
  b.rule('pre_filter', ESTABLISHED, accept());
  b.rule('pre_filter', onPublic, jump('public_in'));
  b.rule('public_in', INVALID, drop());
  // Neighbour discovery must reach public IPv6 addresses or the IPv6 side stops working at all.
  b.rule('public_in', match(payload('icmpv6', 'type'), anonSet([133, 134, 135, 136]), '=='), accept());
  for (const f of FAMILIES) {
    const F = fam(f);
    const ips = s.publicIps.filter((p) => p.address.family === f);
    const open = b.lookup(`pub_open${f}`, ['daddr'], f, ips.filter((p) => p.filter === 'open').map((p) => ({ daddr: hostCidr(p.address) })), false);
    b.rule('public_in', match(payload(F.ip, 'daddr'), ref(open)), accept());
    // Filtered IPs are spread over SHARDS chains by a hash of the address (a vmap on the
    // destination, one hash lookup): each shard's sets hold ~1/SHARDS of the elements, which
    // makes a one-rule change cheaper (the kernel rebuilds a changed pipapo set's lookup tables
    // at commit and the applier diffs only the changed set: ~8 ms against ~20 ms with one shard
    // at 10k rules) and per-packet lookups too (bitmaps sized by element count); loading all
    // 10k costs about the same. The shard of an address never changes, so adding an IP is an
    // element change, not a shape change.
    const filtered = ips.filter((p) => p.filter === 'rules');
    const shardElems: Array<[Expr, Verdict]> = [];
    for (let sh = 0; sh < SHARDS; sh++) {
      const chainName = b.chain(chain(t, `public_in${f}_s${sh}`));
      const mine = filtered.filter((p) => shardOf(p.address.addr) === sh);
      for (const p of mine) shardElems.push([p.address.addr, goto(chainName)]);
      for (const cls of CLASSES) {
        const parts = partsFor(cls, ['daddr'], ['saddr']);
        const name = b.ipLookup(`fw${f}_s${sh}_${cls}`, parts, f, mine, () => mine.flatMap((p) => p.rules.filter((r) => r.match.protocol === cls)
          .flatMap((r) => r.sources.map((src) => withMatch({ id: r.id, daddr: hostCidr(p.address), saddr: src }, r.match)))));
        b.rule(chainName, match(key(keyExprs(parts, f, cls)), ref(name)), accept());
      }
      for (const cls of ['tcp', 'udp'] as const) {
        const parts = partsFor(cls, ['daddr'], ['saddr']);
        const name = b.ipLookup(`pf${f}_s${sh}_${cls}`, parts, f, mine, () => mine.flatMap((p) => p.portForwards.filter((r) => r.protocol === cls)
          .flatMap((r) => r.sources.map((src): Entry => ({ id: r.id, daddr: hostCidr(p.address), saddr: src, port: r.publicPorts })))));
        b.rule(chainName, match(key(keyExprs(parts, f, cls)), ref(name)), accept());
      }
      // Default deny on a filtered public IP.
      b.rule(chainName, drop());
    }
    b.maps.push(namedMap(t, `pub_filtered${f}`, F.addr, 'verdict', { elem: shardElems }));
    b.rule('public_in', vmap(payload(F.ip, 'daddr'), ref(`pub_filtered${f}`)));
  }

  // ---- DNAT: port forwarding (1:1 ranges) and static NAT ----
  for (const f of FAMILIES) {
    const F = fam(f);
    const ips = s.publicIps.filter((p) => p.address.family === f);
    const pfKey = concat(payload(F.ip, 'daddr'), meta('l4proto'), payload('th', 'dport'));
    const addrElems: Array<[Expr, Expr]> = [];
    const portElems: Array<[Expr, Expr]> = [];
    for (const p of ips) for (const r of p.portForwards) {
      addrElems.push([concat(p.address.addr, r.protocol, span(r.publicPorts[0], r.publicPorts[1])), r.privateIp.addr]);
      // A shifted range needs one element per port: nft has no "port + offset" for DNAT maps.
      const shift = r.privatePorts[0] - r.publicPorts[0];
      if (shift !== 0) for (let port = r.publicPorts[0]; port <= r.publicPorts[1]; port++) portElems.push([concat(p.address.addr, r.protocol, port), port + shift]);
    }
    b.maps.push(namedMap(t, `pf_addr${f}`, [F.addr, 'inet_proto', 'inet_service'], F.addr, { flags: ['interval'], elem: addrElems }));
    b.maps.push(namedMap(t, `pf_port${f}`, [F.addr, 'inet_proto', 'inet_service'], 'inet_service', { flags: ['interval'], elem: portElems }));
    b.maps.push(namedMap(t, `static_dnat${f}`, F.addr, F.addr, { elem: ips.filter((p) => p.staticNat).map((p): [Expr, Expr] => [p.address.addr, p.staticNat!.addr]) }));
    const l4 = match(meta('l4proto'), anonSet(['tcp', 'udp']));
    b.rule('pre_nat', onPublic, l4, dnat({ family: F.ip as 'ip' | 'ip6', addr: map(pfKey, ref(`pf_addr${f}`)), port: map(pfKey, ref(`pf_port${f}`)) }));
    b.rule('pre_nat', onPublic, l4, dnat({ family: F.ip as 'ip' | 'ip6', addr: map(pfKey, ref(`pf_addr${f}`)) }));
    b.rule('pre_nat', onPublic, dnat({ family: F.ip as 'ip' | 'ip6', addr: map(payload(F.ip, 'daddr'), ref(`static_dnat${f}`)) }));
  }

  // ---- SNAT: static NAT's outbound half first, then each network's source NAT IP ----
  for (const f of FAMILIES) {
    const F = fam(f);
    const statics = s.publicIps.filter((p) => p.address.family === f && p.staticNat);
    b.maps.push(namedMap(t, `static_snat${f}`, F.addr, F.addr, { elem: statics.map((p): [Expr, Expr] => [p.staticNat!.addr, p.address.addr]) }));
    const snatElems: Array<[Expr, Expr]> = [];
    for (const g of s.guestNetworks) {
      if (!g.sourceNatIp || g.sourceNatIp.family !== f) continue;
      for (const c of g.cidrs) if (c.family === f) snatElems.push([cidrExpr(c), g.sourceNatIp.addr]);
    }
    b.maps.push(namedMap(t, `snat${f}`, F.addr, F.addr, { flags: ['interval'], elem: snatElems }));
    b.rule('post_nat', toPublic, snat({ family: F.ip as 'ip' | 'ip6', addr: map(payload(F.ip, 'saddr'), ref(`static_snat${f}`)) }));
    b.rule('post_nat', toPublic, snat({ family: F.ip as 'ip' | 'ip6', addr: map(payload(F.ip, 'saddr'), ref(`snat${f}`)) }));
  }

  // ---- forward ----
  b.rule('forward', ESTABLISHED, accept());
  b.rule('forward', INVALID, drop());
  b.rule('forward', jump('sg'));
  // From the public side only translated (port forward / static NAT) connections pass; they were
  // filtered in public_in already. Everything else from outside is dropped.
  b.rule('forward', onPublic, match(ct('status'), 'dnat', 'in'), jump('from_public'));
  b.rule('forward', onPublic, drop());
  b.maps.push(namedMap(t, 'acl_in_dispatch', 'ifname', 'verdict'));
  b.maps.push(namedMap(t, 'acl_eg_dispatch', 'ifname', 'verdict'));
  b.rule('from_public', vmap(meta('oifname'), ref('acl_in_dispatch')));
  b.rule('from_public', accept());
  b.rule('forward', vmap(meta('iifname'), ref('acl_eg_dispatch')));
  b.rule('forward', vmap(meta('oifname'), ref('acl_in_dispatch')));
  b.sets.push(set(t, 'egress_ifs', 'ifname', { elem: s.guestNetworks.filter((g) => g.egress).map((g) => g.interface) }));
  b.rule('forward', toPublic, match(meta('iifname'), ref('egress_ifs')), jump('egress'));

  // ---- isolated networks' egress: rules carry the opposite verdict of the network's default ----
  for (const f of FAMILIES) for (const verdict of ['deny', 'allow'] as const) for (const cls of CLASSES) {
    const parts = partsFor(cls, ['iif', 'saddr', 'daddr'], []);
    const entries = s.guestNetworks.filter((g) => g.egress && (g.egress.defaultPolicy === 'allow') === (verdict === 'deny'))
      .flatMap((g) => g.egress!.rules.filter((r) => r.match.protocol === cls).flatMap((r) => r.sources.filter((c) => c.family === f)
        .flatMap((src) => r.destinations.filter((c) => c.family === f).map((dst) => withMatch({ id: r.id, iif: g.interface, saddr: src, daddr: dst }, r.match)))));
    const name = b.lookup(`eg${f}_${verdict}_${cls}`, parts, f, entries, true);
    b.rule('egress', match(key(keyExprs(parts, f, cls)), ref(name)), verdict === 'deny' ? drop() : accept());
  }
  b.sets.push(set(t, 'egress_default_deny', 'ifname', { elem: s.guestNetworks.filter((g) => g.egress?.defaultPolicy === 'deny').map((g) => g.interface) }));
  b.rule('egress', match(meta('iifname'), ref('egress_default_deny')), drop());
  b.rule('egress', accept());

  // ---- VPC network ACLs: ordered, first match wins ----
  // Consecutive rules with the same action form a run; a run becomes one lookup per layer and
  // class, in run order. Only action changes cost a rule in the chain, so a list of N allows then
  // a deny costs ~2 lookups, not N comparisons. Allow = return (the other direction's ACL may
  // still apply), deny = drop, end of chain = CloudStack's implicit deny.
  const dispatchIn: Array<[Expr, Verdict]> = [];
  const dispatchEg: Array<[Expr, Verdict]> = [];
  s.aclLists.forEach((l, n) => {
    for (const dir of ['ingress', 'egress'] as const) {
      const chainName = b.chain(chain(t, `acl${n}_${dir === 'ingress' ? 'in' : 'eg'}`));
      const rules = l.rules.filter((r) => r.direction === dir);
      const runs: Array<{ action: 'allow' | 'deny'; rules: typeof rules }> = [];
      for (const r of rules) {
        const last = runs[runs.length - 1];
        if (last && last.action === r.action) last.rules.push(r); else runs.push({ action: r.action, rules: [r] });
      }
      runs.forEach((run, ri) => {
        for (const f of FAMILIES) for (const cls of CLASSES) {
          const parts = partsFor(cls, [dir === 'ingress' ? 'saddr' : 'daddr'], []);
          const entries = run.rules.filter((r) => r.match.protocol === cls).flatMap((r) => r.cidrs.filter((c) => c.family === f)
            .map((c) => withMatch(dir === 'ingress' ? { id: r.id, saddr: c } : { id: r.id, daddr: c }, r.match)));
          if (!entries.length) continue;
          layers(entries, parts).forEach((layer, li) => {
            const name = b.lookup(`${chainName}_r${ri}_${cls}${f}_${li}`, parts, f, layer, true);
            b.rule(chainName, match(key(keyExprs(parts, f, cls)), ref(name)), run.action === 'allow' ? ret() : drop());
          });
        }
      });
      b.rule(chainName, drop());
    }
    for (const g of s.guestNetworks.filter((g) => g.aclListId === l.id)) {
      dispatchIn.push([g.interface, jump(`acl${n}_in`)]);
      dispatchEg.push([g.interface, jump(`acl${n}_eg`)]);
    }
  });
  if (dispatchIn.length) b.maps.find((m) => m.name === 'acl_in_dispatch')!.elem = dispatchIn;
  if (dispatchEg.length) b.maps.find((m) => m.name === 'acl_eg_dispatch')!.elem = dispatchEg;

  // ---- security groups (by member address) ----
  const groupRules = new Map(s.securityGroups.map((g) => [g.id, g.rules]));
  const groupAddrs = new Map<string, NAddress[]>();
  for (const m of s.securityGroupMembers) for (const gid of m.groupIds) groupAddrs.set(gid, [...(groupAddrs.get(gid) ?? []), ...m.addresses]);
  for (const f of FAMILIES) {
    const F = fam(f);
    const members = s.securityGroupMembers.map((m) => ({ ...m, addresses: m.addresses.filter((a) => a.family === f) })).filter((m) => m.addresses.length);
    const restricted = members.filter((m) => m.groupIds.some((g) => groupRules.get(g)?.some((r) => r.direction === 'egress')));
    b.lookup(`sg_members${f}`, ['daddr'], f, members.flatMap((m) => m.addresses.map((a) => ({ daddr: hostCidr(a) }))), false);
    b.lookup(`sg_eg_restricted${f}`, ['saddr'], f, restricted.flatMap((m) => m.addresses.map((a) => ({ saddr: hostCidr(a) }))), false);
    b.rule('sg', match(payload(F.ip, 'daddr'), ref(`sg_members${f}`)), jump('sg_in'));
    b.rule('sg', match(payload(F.ip, 'saddr'), ref(`sg_eg_restricted${f}`)), jump('sg_eg'));
    for (const dir of ['ingress', 'egress'] as const) for (const cls of CLASSES) {
      // Member address first, then the port, then the peer (source for ingress, destination for egress).
      const self: Part = dir === 'ingress' ? 'daddr' : 'saddr';
      const peer: Part = dir === 'ingress' ? 'saddr' : 'daddr';
      const parts = partsFor(cls, [self], [peer]);
      const entries: Entry[] = [];
      for (const m of members) for (const gid of m.groupIds) for (const r of groupRules.get(gid) ?? []) {
        if (r.direction !== dir || r.match.protocol !== cls) continue;
        const peers = [...r.cidrs.filter((c) => c.family === f), ...r.groupIds.flatMap((g) => (groupAddrs.get(g) ?? []).filter((a) => a.family === f).map(hostCidr))];
        for (const a of m.addresses) for (const p of peers) entries.push(withMatch({ id: r.id, [self]: hostCidr(a), [peer]: p }, r.match));
      }
      const ls = layers(entries, parts);
      (ls.length ? ls : [[]]).forEach((layer, li) => {
        const name = b.lookup(`sg${f}_${dir === 'ingress' ? 'in' : 'eg'}_${cls}_${li}`, parts, f, layer, true);
        b.rule(dir === 'ingress' ? 'sg_in' : 'sg_eg', match(key(keyExprs(parts, f, cls)), ref(name)), ret());
      });
    }
  }
  b.rule('sg_in', drop());
  b.rule('sg_eg', drop());

  return { doc: b.output(), built: b.built };
}

