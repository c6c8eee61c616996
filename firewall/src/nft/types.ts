// nftables-ts: the subset of nftables' JSON API (libnftables-json(5)) that Flotilla emits and
// reads back, as TypeScript types. Shapes were checked against `nft -j list ruleset` of
// nftables 1.0.6 on Debian 12 and by feeding them back through `nft -j -f` (see
// test/nft-roundtrip.test.ts). Where nft's JSON parser has known gaps we stay clear of them
// (see README: no concatenated map *data* such as `ipv4_addr . inet_service`, which 1.0.6
// refuses with "set is not a map").

export type Family = 'ip' | 'ip6' | 'inet' | 'arp' | 'bridge' | 'netdev';
export type Hook = 'prerouting' | 'input' | 'forward' | 'output' | 'postrouting' | 'ingress';
export type ChainType = 'filter' | 'nat' | 'route';

// ---- expressions ----

export type Immediate = string | number | boolean;
export interface PayloadExpr { payload: { protocol: string; field: string } }
export interface MetaExpr { meta: { key: MetaKey } }
export type MetaKey = 'iifname' | 'oifname' | 'l4proto' | 'nfproto' | 'mark' | 'length' | 'protocol' | 'iif' | 'oif';
export interface CtExpr { ct: { key: string; family?: 'ip' | 'ip6'; dir?: 'original' | 'reply' } }
export interface ConcatExpr { concat: Expr[] }
export interface PrefixExpr { prefix: { addr: string; len: number } }
export interface RangeExpr { range: [Expr, Expr] }
/** Anonymous set; for maps, an array of [key, value] pairs. */
export interface SetExpr { set: Expr[] | Array<[Expr, Expr | Verdict]> }
export interface MapExpr { map: { key: Expr; data: Expr } }
export interface NumgenExpr { numgen: { mode: 'inc' | 'random'; mod: number; offset?: number } }
export interface JhashExpr { jhash: { mod: number; offset?: number; expr: Expr; seed?: number } }
export interface ElemExpr { elem: { val: Expr; timeout?: number; expires?: number; comment?: string; counter?: { packets: number; bytes: number } } }
export type Expr =
  | Immediate | PayloadExpr | MetaExpr | CtExpr | ConcatExpr | PrefixExpr | RangeExpr | SetExpr | MapExpr
  | NumgenExpr | JhashExpr | ElemExpr | Expr[];

// ---- verdicts and statements ----

export type Verdict =
  | { accept: null } | { drop: null } | { continue: null } | { return: null }
  | { jump: { target: string } } | { goto: { target: string } };
export type MatchOp = '==' | '!=' | '<' | '>' | '<=' | '>=' | 'in';
export interface MatchStmt { match: { op: MatchOp; left: Expr; right: Expr } }
export interface CounterStmt { counter: null | string | { packets: number; bytes: number } }
export interface VmapStmt { vmap: { key: Expr; data: Expr } }
export interface NatStmt { addr?: Expr; family?: 'ip' | 'ip6'; port?: Expr; flags?: string | string[] }
export interface SnatStmt { snat: NatStmt }
export interface DnatStmt { dnat: NatStmt }
export interface MasqueradeStmt { masquerade: null | { port?: Expr; flags?: string | string[] } }
export interface MangleStmt { mangle: { key: Expr; value: Expr } }
export interface RejectStmt { reject: null | { type?: 'tcp reset' | 'icmpx' | 'icmp' | 'icmpv6'; expr?: Expr } }
export interface NotrackStmt { notrack: null }
export type Stmt = Verdict | MatchStmt | CounterStmt | VmapStmt | SnatStmt | DnatStmt | MasqueradeStmt | MangleStmt | RejectStmt | NotrackStmt;

// ---- ruleset objects ----

export interface Table { family: Family; name: string; handle?: number }
export interface Chain {
  family: Family; table: string; name: string; handle?: number;
  type?: ChainType; hook?: Hook; prio?: number; policy?: 'accept' | 'drop'; dev?: string;
}
export interface Rule { family: Family; table: string; chain: string; expr: Stmt[]; handle?: number; index?: number; comment?: string }
export type SetFlag = 'constant' | 'interval' | 'timeout';
export interface NftSet {
  family: Family; table: string; name: string; handle?: number;
  /** A datatype name, or a list of them for a concatenation. */
  type: string | string[];
  flags?: SetFlag[];
  policy?: 'performance' | 'memory';
  timeout?: number; 'gc-interval'?: number; size?: number;
  /** Statements attached to every element; `[{ counter: null }]` gives per-element counters. */
  stmt?: Stmt[];
  elem?: Expr[];
}
/** A named map: like a set, plus the data type (`verdict` for a verdict map). */
export interface NftMap extends Omit<NftSet, 'elem'> { map: string; elem?: Array<[Expr, Expr | Verdict]> }
export interface Element { family: Family; table: string; name: string; elem: Expr[] | Array<[Expr, Expr | Verdict]> }
export interface NamedCounter { family: Family; table: string; name: string; packets?: number; bytes?: number }

export type RulesetObject =
  | { table: Table } | { chain: Chain } | { rule: Rule } | { set: NftSet } | { map: NftMap }
  | { element: Element } | { counter: NamedCounter };

export type Command =
  | { add: RulesetObject } | { create: RulesetObject } | { insert: { rule: Rule } } | { replace: { rule: Rule } }
  | { delete: RulesetObject } | { flush: RulesetObject | { ruleset: null } } | { list: RulesetObject | { ruleset: null } }
  | { reset: RulesetObject };

export interface Metainfo { metainfo: { version?: string; release_name?: string; json_schema_version: number } }

/** What `nft -j -f` reads: an ordered batch of commands, applied as one transaction. */
export interface NftDocument { nftables: Array<Command | Metainfo> }
/** What `nft -j list …` prints. */
export interface NftListing { nftables: Array<RulesetObject | Metainfo> }
