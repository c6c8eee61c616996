// Small constructors for nftables-ts values. They only shape data; nothing here formats text,
// so a value can never smuggle nft syntax: strings end up as JSON strings that nft reads as
// values of the declared type.
import type {
  Chain, ChainType, ConcatExpr, CtExpr, Expr, Family, Hook, JhashExpr, MapExpr, MatchOp, MatchStmt, MetaExpr, MetaKey,
  NftDocument, NftMap, NftSet, NumgenExpr, PayloadExpr, PrefixExpr, RangeExpr, Rule, SetExpr, SetFlag, Stmt, Table, Verdict,
  VmapStmt, Command, NatStmt, CounterStmt, ElemExpr,
} from './types.ts';

// expressions
export const payload = (protocol: string, field: string): PayloadExpr => ({ payload: { protocol, field } });
export const meta = (key: MetaKey): MetaExpr => ({ meta: { key } });
export const ct = (key: string, opts: { family?: 'ip' | 'ip6'; dir?: 'original' | 'reply' } = {}): CtExpr => ({ ct: { key, ...opts } });
export const concat = (...parts: Expr[]): ConcatExpr => ({ concat: parts });
/** A concatenation only when there is more than one part (nft refuses a 1-part concat type). */
export const key = (parts: Expr[]): Expr => (parts.length === 1 ? parts[0]! : concat(...parts));
export const prefix = (addr: string, len: number): PrefixExpr => ({ prefix: { addr, len } });
export const range = (lo: Expr, hi: Expr): RangeExpr => ({ range: [lo, hi] });
/** A numeric range, collapsed to the single value when lo == hi. */
export const span = (lo: number, hi: number): Expr => (lo === hi ? lo : range(lo, hi));
export const anonSet = (items: Expr[]): SetExpr => ({ set: items });
export const anonMap = (pairs: Array<[Expr, Expr | Verdict]>): SetExpr => ({ set: pairs });
/** Reference to a named set or map. */
export const ref = (name: string): string => `@${name}`;
export const map = (k: Expr, data: Expr): MapExpr => ({ map: { key: k, data } });
export const numgen = (mode: 'inc' | 'random', mod: number, offset = 0): NumgenExpr => ({ numgen: { mode, mod, offset } });
export const jhash = (expr: Expr, mod: number, seed = 0, offset = 0): JhashExpr => ({ jhash: { mod, expr, seed, offset } });
export const elem = (val: Expr, opts: { comment?: string; timeout?: number } = {}): ElemExpr => ({ elem: { val, ...opts } });

// statements
export const match = (left: Expr, right: Expr, op: MatchOp = '=='): MatchStmt => ({ match: { op, left, right } });
export const accept = (): Verdict => ({ accept: null });
export const drop = (): Verdict => ({ drop: null });
export const ret = (): Verdict => ({ return: null });
export const jump = (target: string): Verdict => ({ jump: { target } });
export const goto = (target: string): Verdict => ({ goto: { target } });
export const counter = (): CounterStmt => ({ counter: null });
export const vmap = (k: Expr, data: Expr): VmapStmt => ({ vmap: { key: k, data } });
export const snat = (n: NatStmt): Stmt => ({ snat: n });
export const dnat = (n: NatStmt): Stmt => ({ dnat: n });
export const masquerade = (): Stmt => ({ masquerade: null });
export const mangle = (k: Expr, value: Expr): Stmt => ({ mangle: { key: k, value } });

// objects
export function table(family: Family, name: string): Table { return { family, name }; }
export function baseChain(t: Table, name: string, type: ChainType, hook: Hook, prio: number, policy: 'accept' | 'drop' = 'accept'): Chain {
  return { family: t.family, table: t.name, name, type, hook, prio, policy };
}
export function chain(t: Table, name: string): Chain { return { family: t.family, table: t.name, name }; }
export function rule(t: Table, chainName: string, ...expr: Stmt[]): Rule { return { family: t.family, table: t.name, chain: chainName, expr }; }
export function set(t: Table, name: string, type: string | string[], opts: { flags?: SetFlag[]; counters?: boolean; elem?: Expr[] } = {}): NftSet {
  return {
    family: t.family, table: t.name, name, type,
    ...(opts.flags?.length ? { flags: opts.flags } : {}),
    ...(opts.counters ? { stmt: [{ counter: null }] } : {}),
    // nft refuses `"elem": []`; an empty set simply has no elem property.
    ...(opts.elem?.length ? { elem: opts.elem } : {}),
  };
}
export function namedMap(t: Table, name: string, type: string | string[], data: string, opts: { flags?: SetFlag[]; elem?: Array<[Expr, Expr | Verdict]> } = {}): NftMap {
  return { family: t.family, table: t.name, name, type, map: data, ...(opts.flags?.length ? { flags: opts.flags } : {}), ...(opts.elem?.length ? { elem: opts.elem } : {}) };
}

/** The batch that replaces table `t` atomically: add (so delete cannot fail when it is absent),
 *  delete (drops every chain, set and rule of the old one), then the new contents. */
export function replaceTableDocument(t: Table, contents: Command[]): NftDocument {
  return { nftables: [{ add: { table: t } }, { delete: { table: t } }, { add: { table: t } }, ...contents] };
}
