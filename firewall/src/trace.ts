// A packet tracer over an NftDocument, for tests that need no root: it walks the base chains of
// the document's table the way netfilter does (prerouting by priority, routing, forward or input,
// postrouting), evaluating the expressions the compiler emits, and returns the verdict, the NAT
// applied and the rule ids whose set elements matched. It interprets the document, not the spec,
// so it checks what would really be loaded. Unsupported expressions throw: a silent "no match"
// would make tests pass for the wrong reason.
import { parseAddress, parseCidr } from '@flotilla/protocol/firewall';
import type { Chain, Command, Expr, NftDocument, NftMap, NftSet, Rule, Stmt, Verdict } from './nft/types.ts';

export interface Packet {
  iif: string;
  saddr: string;
  daddr: string;
  /** 'icmp' is ICMPv6 for IPv6 packets. */
  protocol: 'tcp' | 'udp' | 'icmp' | 'gre';
  sport?: number;
  dport?: number;
  icmpType?: number;
  icmpCode?: number;
  /** Conntrack state of the packet; NAT chains only see 'new' packets, as in the kernel. */
  ctState?: 'new' | 'established' | 'related' | 'invalid';
}

export interface Routes {
  /** Addresses of the appliance itself: packets to them go to input, not forward. */
  local: string[];
  /** Longest prefix wins. */
  routes: Array<{ cidr: string; oif: string }>;
}

export interface TraceResult {
  verdict: 'accept' | 'drop';
  /** Where the packet went after prerouting (undefined when dropped before routing). */
  path?: 'input' | 'forward';
  oif?: string;
  dnat?: { addr: string; port?: number };
  snat?: { addr: string };
  /** Rule ids (set element comments) whose elements matched, in order. */
  hits: string[];
  /** Chain/rule steps, for failure messages. */
  steps: string[];
}

type Val = bigint | string;
type Interval = readonly [Val, Val];
interface LoadedSet { name: string; types: string[]; isMap: boolean; elems: Array<{ key: Interval[]; data?: Expr | Verdict; comment?: string }> }

const PROTO: Record<string, number> = { icmp: 1, tcp: 6, udp: 17, gre: 47, icmpv6: 58 };

function addrVal(s: string): bigint {
  const a = parseAddress(s);
  if (typeof a === 'string') throw new Error(`tracer: bad address ${s}`);
  return a.value;
}

/** One field of a set element or a constant, as an interval of the field's type. */
function fieldInterval(e: Expr, type: string): Interval {
  if (typeof e === 'object' && e !== null && !Array.isArray(e)) {
    if ('prefix' in e) { const c = parseCidr(`${e.prefix.addr}/${e.prefix.len}`); if (typeof c === 'string') throw new Error(c); return [c.lo, c.hi]; }
    if ('range' in e) return [fieldInterval(e.range[0], type)[0], fieldInterval(e.range[1], type)[1]];
  }
  if (type === 'ifname') return [String(e), String(e)];
  if (type === 'ipv4_addr' || type === 'ipv6_addr') { const v = addrVal(String(e)); return [v, v]; }
  if (type === 'inet_proto' && typeof e === 'string') { const p = PROTO[e]; if (p === undefined) throw new Error(`tracer: protocol ${e}`); return [BigInt(p), BigInt(p)]; }
  if (typeof e === 'number') return [BigInt(e), BigInt(e)];
  throw new Error(`tracer: cannot read ${JSON.stringify(e)} as ${type}`);
}

function elemKey(e: Expr, types: string[]): { key: Interval[]; comment?: string } {
  let comment: string | undefined;
  if (typeof e === 'object' && e !== null && !Array.isArray(e) && 'elem' in e) { comment = e.elem.comment; e = e.elem.val; }
  const parts = typeof e === 'object' && e !== null && !Array.isArray(e) && 'concat' in e ? e.concat : [e];
  if (parts.length !== types.length) throw new Error(`tracer: element ${JSON.stringify(e)} does not fit ${types.join(' . ')}`);
  return { key: parts.map((p, i) => fieldInterval(p, types[i]!)), ...(comment ? { comment } : {}) };
}

const inside = (v: Val, r: Interval) => (typeof v === 'string' ? v === r[0] : typeof r[0] === 'bigint' && v >= r[0] && v <= (r[1] as bigint));

export class Tracer {
  private readonly chains = new Map<string, Chain>();
  private readonly rules = new Map<string, Rule[]>();
  private readonly sets = new Map<string, LoadedSet>();

  constructor(doc: NftDocument, readonly net: Routes) {
    for (const c of doc.nftables) {
      if (!('add' in c)) continue;
      const o = (c as Extract<Command, { add: unknown }>).add;
      if ('chain' in o) { this.chains.set(o.chain.name, o.chain); this.rules.set(o.chain.name, []); }
      else if ('rule' in o) this.rules.get(o.rule.chain)!.push(o.rule);
      else if ('set' in o) this.sets.set(o.set.name, this.load(o.set, false));
      else if ('map' in o) this.sets.set(o.map.name, this.load(o.map, true));
    }
  }

  private load(s: NftSet | NftMap, isMap: boolean): LoadedSet {
    const types = Array.isArray(s.type) ? s.type : [s.type];
    const elems = (s.elem ?? []).map((e) => {
      if (isMap) { const [k, data] = e as [Expr, Expr | Verdict]; return { ...elemKey(k, types), data }; }
      return elemKey(e as Expr, types);
    });
    return { name: s.name, types, isMap, elems };
  }

  trace(p: Packet): TraceResult {
    const fam = parseAddress(p.saddr);
    if (typeof fam === 'string') throw new Error(fam);
    const st: State = { p: { ...p, ctState: p.ctState ?? 'new' }, family: fam.family, daddr: p.daddr, dport: p.dport, hits: [], steps: [] };
    const res = (verdict: 'accept' | 'drop'): TraceResult => ({
      verdict, ...(st.path ? { path: st.path } : {}), ...(st.oif ? { oif: st.oif } : {}),
      ...(st.dnat ? { dnat: st.dnat } : {}), ...(st.snat ? { snat: st.snat } : {}), hits: st.hits, steps: st.steps,
    });
    if (this.hook('prerouting', st) === 'drop') return res('drop');
    const local = this.net.local.some((a) => addrVal(a) === addrVal(st.daddr));
    if (local) {
      st.path = 'input';
      return res(this.hook('input', st));
    }
    st.path = 'forward';
    st.oif = this.route(st.daddr);
    if (!st.oif) { st.steps.push('no route'); return res('drop'); }
    if (this.hook('forward', st) === 'drop') return res('drop');
    return res(this.hook('postrouting', st));
  }

  private route(daddr: string): string | undefined {
    const v = addrVal(daddr);
    let best: { len: number; oif: string } | undefined;
    for (const r of this.net.routes) {
      const c = parseCidr(r.cidr);
      if (typeof c === 'string') throw new Error(c);
      if (v >= c.lo && v <= c.hi && (!best || c.len > best.len)) best = { len: c.len, oif: r.oif };
    }
    return best?.oif;
  }

  private hook(hook: string, st: State): 'accept' | 'drop' {
    const chains = [...this.chains.values()].filter((c) => c.hook === hook).sort((a, b) => (a.prio ?? 0) - (b.prio ?? 0));
    for (const c of chains) {
      // Conntrack runs NAT chains for the first packet of a connection only.
      if (c.type === 'nat' && st.p.ctState !== 'new') continue;
      st.natDone = false;
      const v = this.run(c.name, st, 0);
      const verdict = v === 'drop' ? 'drop' : v === 'accept' || v === 'continue' ? 'accept' : (c.policy ?? 'accept');
      st.steps.push(`${c.name}: ${verdict}`);
      if (verdict === 'drop') return 'drop';
    }
    return 'accept';
  }

  /** Runs a chain; returns a terminal verdict, or 'continue' when it falls off the end / returns. */
  private run(chainName: string, st: State, depth: number): 'accept' | 'drop' | 'continue' | 'end' {
    if (depth > 16) throw new Error('tracer: jump depth');
    for (const r of this.rules.get(chainName) ?? []) {
      const v = this.rule(r, st, depth);
      if (v === 'next') continue;
      if (v === 'return') return 'continue';
      return v;
    }
    return depth === 0 ? 'end' : 'continue';
  }

  private rule(r: Rule, st: State, depth: number): 'next' | 'accept' | 'drop' | 'return' {
    for (const s of r.expr) {
      const out = this.stmt(s, st, depth);
      if (out === 'ok') continue;
      if (out === 'nomatch') return 'next';
      st.steps.push(`${r.chain}: ${JSON.stringify(r.expr).slice(0, 160)} → ${out}`);
      return out;
    }
    return 'next';
  }

  private verdict(v: Verdict, st: State, depth: number): 'accept' | 'drop' | 'return' | 'ok' {
    if ('accept' in v) return 'accept';
    if ('drop' in v) return 'drop';
    if ('return' in v) return 'return';
    if ('continue' in v) return 'ok';
    const target = 'jump' in v ? v.jump.target : v.goto.target;
    const res = this.run(target, st, depth + 1);
    if (res === 'accept' || res === 'drop') return res;
    return 'goto' in v ? 'return' : 'ok';
  }

  private stmt(s: Stmt, st: State, depth: number): 'ok' | 'nomatch' | 'accept' | 'drop' | 'return' {
    if ('match' in s) return this.matches(s.match.left, s.match.right, s.match.op, st) ? 'ok' : 'nomatch';
    if ('counter' in s) return 'ok';
    if ('vmap' in s) {
      const hit = this.lookup(s.vmap.key, s.vmap.data, st);
      if (!hit) return 'nomatch';
      return this.verdict(hit.data as Verdict, st, depth);
    }
    if ('dnat' in s || 'snat' in s) {
      const n = 'dnat' in s ? s.dnat : s.snat;
      if (st.natDone) return 'accept';
      const addr = n.addr === undefined ? undefined : this.value(n.addr, st, 'addr');
      if (addr === null) return 'nomatch';
      const port = n.port === undefined ? undefined : this.value(n.port, st, 'port');
      if (port === null) return 'nomatch';
      if ('dnat' in s) {
        st.dnat = { addr: String(addr), ...(port !== undefined ? { port: Number(port) } : {}) };
        st.daddr = String(addr);
        if (port !== undefined) st.dport = Number(port);
      } else st.snat = { addr: String(addr) };
      st.natDone = true;
      return 'accept';
    }
    if ('accept' in s || 'drop' in s || 'return' in s || 'jump' in s || 'goto' in s || 'continue' in s) return this.verdict(s as Verdict, st, depth);
    throw new Error(`tracer: unsupported statement ${JSON.stringify(s)}`);
  }

  /** A NAT address or port: a constant or a map lookup; null when the lookup misses. */
  private value(e: Expr, st: State, what: 'addr' | 'port'): string | number | null {
    if (typeof e === 'string' || typeof e === 'number') return e;
    if (typeof e === 'object' && e !== null && !Array.isArray(e) && 'map' in e) {
      const hit = this.lookup(e.map.key, e.map.data, st);
      if (!hit) return null;
      return hit.data as string | number;
    }
    throw new Error(`tracer: unsupported NAT ${what} ${JSON.stringify(e)}`);
  }

  /** Evaluates a key expression to field values; undefined when the packet has no such field. */
  private fields(e: Expr, st: State): Array<Val | string[]> | undefined {
    const parts = typeof e === 'object' && e !== null && !Array.isArray(e) && 'concat' in e ? e.concat : [e];
    const out: Array<Val | string[]> = [];
    for (const part of parts) {
      const v = this.field(part, st);
      if (v === undefined) return undefined;
      out.push(v);
    }
    return out;
  }

  private field(e: Expr, st: State): Val | string[] | undefined {
    const p = st.p;
    if (typeof e !== 'object' || e === null || Array.isArray(e)) throw new Error(`tracer: not a packet field ${JSON.stringify(e)}`);
    if ('meta' in e) {
      switch (e.meta.key) {
        case 'iifname': return p.iif;
        case 'oifname': return st.oif;
        case 'l4proto': return BigInt(p.protocol === 'icmp' && st.family === 6 ? PROTO.icmpv6! : PROTO[p.protocol]!);
        default: throw new Error(`tracer: meta ${e.meta.key}`);
      }
    }
    if ('payload' in e) {
      const { protocol, field } = e.payload;
      if (protocol === 'ip' || protocol === 'ip6') {
        if ((protocol === 'ip') !== (st.family === 4)) return undefined;
        if (field === 'saddr') return addrVal(p.saddr);
        if (field === 'daddr') return addrVal(st.daddr);
      }
      if (protocol === 'tcp' || protocol === 'udp' || protocol === 'th') {
        if (protocol !== 'th' && p.protocol !== protocol) return undefined;
        if (protocol === 'th' && p.protocol !== 'tcp' && p.protocol !== 'udp') return undefined;
        if (field === 'dport') return p.dport === undefined ? undefined : BigInt(st.dport!);
        if (field === 'sport') return p.sport === undefined ? undefined : BigInt(p.sport);
      }
      if (protocol === 'icmp' || protocol === 'icmpv6') {
        if (p.protocol !== 'icmp' || (protocol === 'icmp') !== (st.family === 4)) return undefined;
        if (field === 'type') return BigInt(p.icmpType ?? 0);
        if (field === 'code') return BigInt(p.icmpCode ?? 0);
      }
      throw new Error(`tracer: payload ${protocol} ${field}`);
    }
    if ('ct' in e) {
      if (e.ct.key === 'state') return [p.ctState ?? 'new'];
      if (e.ct.key === 'status') return st.dnat ? ['dnat'] : st.snat ? ['snat'] : [];
      throw new Error(`tracer: ct ${e.ct.key}`);
    }
    throw new Error(`tracer: unsupported expression ${JSON.stringify(e)}`);
  }

  private lookup(keyExpr: Expr, setExpr: Expr, st: State): { data?: Expr | Verdict } | undefined {
    const vals = this.fields(keyExpr, st);
    if (!vals) return undefined;
    let set: LoadedSet;
    if (typeof setExpr === 'string' && setExpr.startsWith('@')) {
      const s = this.sets.get(setExpr.slice(1));
      if (!s) throw new Error(`tracer: no set ${setExpr}`);
      set = s;
    } else if (typeof setExpr === 'object' && setExpr !== null && !Array.isArray(setExpr) && 'set' in setExpr) {
      set = this.anon(setExpr.set, keyExpr, vals);
    } else throw new Error(`tracer: not a set ${JSON.stringify(setExpr)}`);
    for (const el of set.elems) {
      if (el.key.every((r, i) => inside(vals[i] as Val, r))) {
        if (el.comment) st.hits.push(el.comment);
        return { ...(el.data !== undefined ? { data: el.data } : {}) };
      }
    }
    return undefined;
  }

  /** Anonymous sets: element types come from the values of the key. */
  private anon(items: Expr[] | Array<[Expr, Expr | Verdict]>, keyExpr: Expr, vals: Array<Val | string[]>): LoadedSet {
    const types = vals.map((v, i) => {
      if (typeof v === 'string') return 'ifname';
      const part = (typeof keyExpr === 'object' && keyExpr !== null && !Array.isArray(keyExpr) && 'concat' in keyExpr) ? keyExpr.concat[i] : keyExpr;
      const pe = part as { meta?: { key: string }; payload?: { protocol: string; field: string } };
      if (pe.meta?.key === 'l4proto') return 'inet_proto';
      if (pe.payload && (pe.payload.field === 'saddr' || pe.payload.field === 'daddr')) return pe.payload.protocol === 'ip' ? 'ipv4_addr' : 'ipv6_addr';
      return 'integer';
    });
    const isMap = items.length > 0 && Array.isArray(items[0]);
    return { name: '(anonymous)', types, isMap, elems: (items as unknown[]).map((e) => (isMap ? { ...elemKey((e as [Expr, Expr])[0], types), data: (e as [Expr, Expr])[1] } : elemKey(e as Expr, types))) };
  }

  private matches(left: Expr, right: Expr, op: string, st: State): boolean {
    if (typeof left === 'object' && left !== null && !Array.isArray(left) && 'ct' in left) {
      const have = this.field(left, st) as string[];
      const want = Array.isArray(right) ? right.map(String) : [String(right)];
      const hit = want.some((w) => have.includes(w));
      return op === '!=' ? !hit : hit;
    }
    if (typeof right === 'string' && right.startsWith('@') || (typeof right === 'object' && right !== null && !Array.isArray(right) && 'set' in right)) {
      const hit = this.lookup(left, right, st) !== undefined;
      return op === '!=' ? !hit : hit;
    }
    const vals = this.fields(left, st);
    if (!vals || vals.length !== 1) return false;
    const v = vals[0] as Val;
    const want = typeof v === 'string' ? String(right) : fieldInterval(right, 'integer')[0];
    return op === '!=' ? v !== want : v === want;
  }
}

interface State {
  p: Packet;
  family: 4 | 6;
  daddr: string;
  dport: number | undefined;
  oif?: string;
  path?: 'input' | 'forward';
  dnat?: { addr: string; port?: number };
  snat?: { addr: string };
  natDone?: boolean;
  hits: string[];
  steps: string[];
}

/** Convenience: trace one packet through a document. */
export function trace(doc: NftDocument, net: Routes, p: Packet): TraceResult {
  return new Tracer(doc, net).trace(p);
}
