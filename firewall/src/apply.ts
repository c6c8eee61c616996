// The applier: loads a compiled NftDocument into a network namespace as ONE nft JSON batch (what
// `nft -j -f` reads). Either the whole batch commits or the kernel keeps the previous ruleset
// (nftables transactions are atomic), so a failing apply never leaves a half-applied table.
//
// Two backends with the same semantics: `lib` runs the batch through libnftables (native/nft.c)
// with one nft context per applier whose netlink socket lives in the namespace; `cli` runs
// `nsenter --net=… nft -j -f <file>`. `lib` is the default where the binding builds (~4 ms for a
// one-rule change against ~15 ms, see native/nft.c for why); `cli` is the fallback.
//
// Rule ids: compile() marks each element that stands for a tenant rule with the rule's id (element
// comment). The applier loads the bare values and keeps the ids itself: a comment costs the kernel
// and nft a per-element allocation (~20 ms of a 10k-rule apply, whatever its length), and the
// applier already holds every element for the fast path. counters() maps the listed elements
// back to ids through the same element keys; `unattributed` counts any it could not map.
//
// Fast path: when the new document has the same shape as the last applied one (same chains,
// rules and set declarations; only set/map elements differ) the batch only deletes and adds the
// elements that changed, which keeps the other elements' counters and costs O(change).
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RuleCounters } from '@flotilla/protocol/firewall';
import { TABLE } from './compile.ts';
import { libnftables, libnftablesError, type NftHandle } from './native.ts';
import type { Command, Element, Expr, NftDocument, NftListing, NftMap, Verdict } from './nft/types.ts';

export type NftBackend = 'lib' | 'cli';

export interface ApplierOptions {
  /** Network namespace name (as in /run/netns); undefined = the current namespace. */
  netns?: string;
  /** Default: $FLOTILLA_NFT if set, else `lib` where the libnftables binding builds, else `cli`. */
  backend?: NftBackend;
  /** nft binary for the cli backend (default: NFT_BIN). */
  nft?: string;
  /** cli backend only: nft's run time limit. */
  timeoutMs?: number;
}

export interface ApplyResult {
  mode: 'full' | 'elements' | 'noop';
  /** Elements deleted and added (fast path) or commands sent (full). */
  changes: number;
}

/** A failed apply: the kernel kept the previous ruleset. `stderr` is nft's own message. */
export class FirewallApplyError extends Error {
  constructor(message: string, readonly stderr: string, readonly mode: 'full' | 'elements') {
    super(message);
    this.name = 'FirewallApplyError';
  }
}

/** nft by absolute path: under npm/npx, node_modules/.bin comes first on PATH and holds an
 *  unrelated `nft` (@vercel/nft, a file tracer) that exits 0 on our arguments. */
export const NFT_BIN = ['/usr/sbin/nft', '/sbin/nft', '/usr/bin/nft'].find((p) => existsSync(p)) ?? 'nft';

const NETNS_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** The backend an applier gets by default (see ApplierOptions.backend). */
export function defaultBackend(): NftBackend {
  const env = process.env.FLOTILLA_NFT;
  if (env === 'lib' || env === 'cli') return env;
  return libnftables() ? 'lib' : 'cli';
}

type El = Expr | [Expr, Expr | Verdict];
/** A set's elements as applied; the keyed index is built only when a diff needs it. */
interface SetState { kind: 'set' | 'map'; elems: El[]; index?: Map<string, El> }
interface Applied {
  shape: string;
  sets: Map<string, SetState>;
  /** Per set: element value key → rule id (built when counters are first read). */
  ids?: Map<string, Map<string, string>>;
}

/** The document minus set/map elements: equal shapes can be updated element by element. */
export function shapeOf(doc: NftDocument): string {
  return JSON.stringify(doc.nftables.map((c) => {
    if ('add' in c && ('set' in c.add || 'map' in c.add)) {
      const o = 'set' in c.add ? c.add.set : (c.add as { map: NftMap }).map;
      const { elem: _e, ...rest } = o;
      return { add: { ['set' in c.add ? 'set' : 'map']: rest } };
    }
    return c;
  }));
}

function setsOf(doc: NftDocument): Map<string, SetState> {
  const out = new Map<string, SetState>();
  for (const c of doc.nftables) {
    if (!('add' in c)) continue;
    if ('set' in c.add) out.set(c.add.set.name, { kind: 'set', elems: (c.add.set.elem ?? []) as El[] });
    else if ('map' in c.add) out.set(c.add.map.name, { kind: 'map', elems: c.add.map.elem ?? [] });
  }
  return out;
}

/**
 * Identity of an element: the whole element (a changed comment or map value is a change). A
 * hand-rolled key instead of JSON.stringify: the fast path indexes every element of a changed
 * set, and this is several times cheaper. Values cannot contain spaces (interface names and
 * comments are validated), so " . " and "|" cannot be forged by a value.
 */
export function elementKey(e: unknown): string {
  if (typeof e === 'string') return e;
  if (typeof e === 'number') return `#${e}`;
  if (Array.isArray(e)) return `[${e.map(elementKey).join('|')}]`;
  if (e && typeof e === 'object') {
    const o = e as Record<string, any>;
    if (o.concat) return (o.concat as unknown[]).map(elementKey).join(' . ');
    if (o.prefix) return `${o.prefix.addr}/${o.prefix.len}`;
    if (o.range) return `${elementKey(o.range[0])}-${elementKey(o.range[1])}`;
    if (o.elem) return `${elementKey(o.elem.val)} #${o.elem.comment ?? ''}`;
  }
  return JSON.stringify(e);
}

function indexOf(s: SetState): Map<string, El> {
  if (!s.index) {
    s.index = new Map();
    for (const e of s.elems) s.index.set(elementKey(e), e);
  }
  return s.index;
}

/** Structural equality of two JSON values (element expressions: plain objects, arrays, scalars).
 *  Not util.isDeepStrictEqual: it checks prototypes and symbols too and was ~5× slower over the
 *  10k elements of the bench (21 ms against 4 ms). */
function same(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!same(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  // for…in rather than Object.keys: no key arrays are allocated (this runs per element).
  let keys = 0;
  for (const k in a) {
    if (!same((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false;
    keys++;
  }
  for (const _ in b) keys--;
  return keys === 0;
}

type Commented = { elem: { val: Expr; comment?: string } };
const isCommented = (e: unknown): e is Commented => typeof e === 'object' && e !== null && !Array.isArray(e) && 'elem' in e;

/** The key an element is deleted by: its value without comment (sets) or without data (maps). */
function deleteKey(e: El, kind: 'set' | 'map'): Expr {
  const k = kind === 'map' ? (e as [Expr, unknown])[0] : (e as Expr);
  return isCommented(k) ? k.elem.val : k;
}

/** What the kernel is given: set elements without their rule-id comments (see the top). */
export function kernelForm(cmds: NftDocument['nftables']): NftDocument['nftables'] {
  return cmds.map((c) => {
    if (!('add' in c)) return c;
    if ('set' in c.add && c.add.set.elem?.some(isCommented)) {
      return { add: { set: { ...c.add.set, elem: c.add.set.elem.map((e) => (isCommented(e) ? e.elem.val : e)) } } };
    }
    if ('element' in c.add && (c.add.element.elem as unknown[]).some(isCommented)) {
      return { add: { element: { ...c.add.element, elem: (c.add.element.elem as Expr[]).map((e) => (isCommented(e) ? e.elem.val : e)) } } };
    }
    return c;
  });
}

function ruleIds(a: Applied): Map<string, Map<string, string>> {
  if (!a.ids) {
    a.ids = new Map();
    for (const [name, s] of a.sets) {
      let m: Map<string, string> | undefined;
      for (const e of s.elems) {
        if (!isCommented(e) || !e.elem.comment) continue;
        (m ??= new Map()).set(elementKey(e.elem.val), e.elem.comment);
      }
      if (m) a.ids.set(name, m);
    }
  }
  return a.ids;
}

export class NftApplier {
  readonly backend: NftBackend;
  private applied: Applied | undefined;
  private handle: NftHandle | undefined;
  /** Operations run one at a time: an nft context is not re-entrant, and `applied` must
   *  describe the kernel's table when the next diff is computed. */
  private tail: Promise<unknown> = Promise.resolve();

  constructor(private readonly opts: ApplierOptions = {}) {
    if (opts.netns !== undefined && !NETNS_NAME.test(opts.netns)) throw new Error(`invalid network namespace name ${JSON.stringify(opts.netns)}`);
    this.backend = opts.backend ?? defaultBackend();
    if (this.backend === 'lib' && !libnftables()) throw new Error(`the libnftables binding is unavailable: ${libnftablesError()}`);
  }

  /** Applies `doc` (from compile()); falls back to a full replace when the shape changed. */
  apply(doc: NftDocument): Promise<ApplyResult> {
    return this.serial(async () => {
      const shape = shapeOf(doc);
      const prev = this.applied;
      const next: Applied = { shape, sets: setsOf(doc) };
      if (prev && prev.shape === shape) {
        const batch = elementBatch(prev, next);
        if (batch.length === 0) { this.applied = next; return { mode: 'noop', changes: 0 }; }
        try {
          await this.run({ nftables: batch }, 'elements');
          this.applied = next;
          return { mode: 'elements', changes: batch.length };
        } catch (e) {
          // The kernel table may have been changed behind our back; a full replace repairs it.
          if (!(e instanceof FirewallApplyError)) throw e;
        }
      }
      // On failure the kernel keeps the previous table, so `applied` keeps describing it.
      await this.run(doc);
      this.applied = next;
      return { mode: 'full', changes: doc.nftables.length };
    });
  }

  /** Elements with a counter that the last counters() call could not map to a rule id: 0 unless
   *  nft's listing and compile()'s element forms diverged (tests assert it stays 0). */
  unattributed = 0;

  /**
   * Per-rule counters (packets, bytes), summed over the elements standing for each rule id, for
   * every rule of the applied document (zero when nothing matched yet). {} before any apply.
   */
  counters(): Promise<RuleCounters> {
    return this.serial(async () => {
      const applied = this.applied;
      if (!applied) return {};
      const ids = ruleIds(applied);
      const out: RuleCounters = {};
      for (const m of ids.values()) for (const id of m.values()) out[id] = { packets: 0, bytes: 0 };
      const listing = JSON.parse(await this.list()) as NftListing;
      let unattributed = 0;
      for (const o of listing.nftables) {
        const s = 'set' in o ? o.set : undefined;
        if (!s?.elem) continue;
        const m = ids.get(s.name);
        for (const e of s.elem as unknown[]) {
          if (!isCommented(e)) continue;
          const { counter } = (e as { elem: { counter?: { packets: number; bytes: number } } }).elem;
          if (!counter) continue;
          const id = m?.get(elementKey(e.elem.val));
          if (!id) { unattributed++; continue; }
          out[id]!.packets += counter.packets;
          out[id]!.bytes += counter.bytes;
        }
      }
      this.unattributed = unattributed;
      return out;
    });
  }

  /** Removes the table (appliance shutdown / role removed). Absent table is not an error. */
  remove(): Promise<void> {
    return this.serial(async () => {
      await this.run({ nftables: [{ add: { table: TABLE } }, { delete: { table: TABLE } }] });
      this.applied = undefined;
    });
  }

  /** Forgets what was applied, so the next apply is a full replace. */
  reset(): void { this.applied = undefined; }

  /** Releases the nft context (lib backend: its socket pins the namespace). The table stays;
   *  a later call opens a new context. */
  close(): Promise<void> {
    return this.serial(async () => {
      const h = this.handle;
      this.handle = undefined;
      if (h) await libnftables()!.close(h);
      // The CLI backend's document directory goes with the applier, not at process exit (an
      // appliance or a benchmark makes many appliers over its life).
      if (this.tmp) {
        rmSync(this.tmp, { recursive: true, force: true });
        process.off('exit', this.removeTmp!);
        this.tmp = undefined;
      }
    });
  }

  private serial<T>(op: () => Promise<T>): Promise<T> {
    const result = this.tail.then(op, op);
    this.tail = result.catch(() => undefined);
    return result;
  }

  private async run(doc: NftDocument, mode: 'full' | 'elements' = 'full'): Promise<void> {
    const json = JSON.stringify({ nftables: kernelForm(doc.nftables) });
    const fail = (stderr: string) => new FirewallApplyError(
      `nft rejected the ${doc.nftables.length}-command batch; the previous ruleset is unchanged: ${firstError(stderr)}`, stderr, mode);
    if (this.backend === 'lib') {
      const r = await libnftables()!.run(this.context(), json);
      if (r.rc !== 0) throw fail(r.err.trim());
      return;
    }
    // A file, not stdin: nft opens "-" as /dev/stdin, which fails (ENXIO) on the socket pairs
    // Node uses for child stdio, and nft 1.0.6 then exits 0 having applied nothing.
    const file = join(this.dir(), `batch-${randomBytes(6).toString('hex')}.json`);
    writeFileSync(file, json, { mode: 0o600 });
    try {
      await this.nft(['-j', '-f', file]);
    } catch (e) {
      throw fail(String((e as { stderr?: string }).stderr ?? e).trim());
    } finally {
      unlinkSync(file);
    }
  }

  /** The table as nft's JSON listing (with element counters), numeric (ICMP types as numbers,
   *  as compile() writes them: the element keys must match). */
  private async list(): Promise<string> {
    if (this.backend === 'cli') return this.nft(['-j', '-n', 'list', 'table', TABLE.family, TABLE.name]);
    const r = await libnftables()!.run(this.context(), JSON.stringify({ nftables: [{ list: { table: TABLE } }] }));
    if (r.rc !== 0) throw new Error(`nft list table: ${firstError(r.err)}`);
    return r.out;
  }

  private context(): NftHandle {
    this.handle ??= libnftables()!.open(this.opts.netns === undefined ? null : `/run/netns/${this.opts.netns}`);
    return this.handle;
  }

  private tmp: string | undefined;
  private removeTmp: (() => void) | undefined;
  private dir(): string {
    if (!this.tmp) {
      const dir = mkdtempSync(join(tmpdir(), 'flt-nft-'));
      this.tmp = dir;
      this.removeTmp = () => rmSync(dir, { recursive: true, force: true });
      process.once('exit', this.removeTmp);
    }
    return this.tmp;
  }

  private nft(args: string[]): Promise<string> {
    const nft = this.opts.nft ?? NFT_BIN;
    // nsenter (not `ip netns exec`): it only switches the network namespace, which is all nft
    // needs, and skips the /sys remount that makes `ip netns exec` slower.
    const [cmd, argv] = this.opts.netns === undefined ? [nft, args] : ['nsenter', [`--net=/run/netns/${this.opts.netns}`, '--', nft, ...args]];
    return new Promise((resolve, reject) => {
      execFile(cmd, argv, { timeout: this.opts.timeoutMs ?? 30_000, maxBuffer: 256 << 20 }, (err, stdout, stderr) => {
        if (err) reject(Object.assign(err, { stderr }));
        else resolve(stdout);
      });
    });
  }
}

/** nft's first "Error:" line, without the "internal:0:0-0:" location JSON input always has. */
function firstError(stderr: string): string {
  const line = stderr.split('\n').find((l) => l.includes('Error:')) ?? stderr.split('\n')[0] ?? '';
  return line.replace(/^internal:0:0-0:\s*/, '').trim();
}

/**
 * The element-only batch turning `prev` into `next` (pure), or null when their shapes differ
 * and only a full replace will do. An empty batch means nothing changed.
 */
export function elementUpdate(prev: NftDocument, next: NftDocument): NftDocument | null {
  if (shapeOf(prev) !== shapeOf(next)) return null;
  return { nftables: elementBatch({ shape: '', sets: setsOf(prev) }, { shape: '', sets: setsOf(next) }) };
}

function elementBatch(prev: Applied, next: Applied): Command[] {
  const dels: Command[] = [];
  const adds: Command[] = [];
  for (const [name, n] of next.sets) {
    const p = prev.sets.get(name)!;
    // compile() is deterministic: an unchanged set comes out element for element the same, and
    // comparing in order is far cheaper than keying every element of a 10k-rule table.
    if (p.elems.length === n.elems.length && p.elems.every((e, i) => same(e, n.elems[i]))) {
      n.index = p.index;
      continue;
    }
    const pi = indexOf(p);
    const ni = indexOf(n);
    const gone: Expr[] = [];
    const fresh: El[] = [];
    for (const [k, e] of pi) if (!ni.has(k)) gone.push(deleteKey(e, p.kind));
    for (const [k, e] of ni) if (!pi.has(k)) fresh.push(e);
    const el = (elem: Element['elem']): Element => ({ family: TABLE.family, table: TABLE.name, name, elem });
    if (gone.length) dels.push({ delete: { element: el(gone) } });
    if (fresh.length) adds.push({ add: { element: el(fresh as Element['elem']) } });
  }
  // Deletes first: an element that moves between rules must be gone before it is re-added.
  return [...dels, ...adds];
}
