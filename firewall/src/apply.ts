// The applier: loads a compiled NftDocument into a network namespace as ONE `nft -j -f -`
// transaction. Either the whole batch commits or the kernel keeps the previous ruleset
// (nftables transactions are atomic), so a failing apply never leaves a half-applied table.
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
import type { Command, Element, Expr, NftDocument, NftListing, NftMap, NftSet, Verdict } from './nft/types.ts';

export interface ApplierOptions {
  /** Network namespace name (as in /run/netns); undefined = the current namespace. */
  netns?: string;
  /** nft binary (default: NFT_BIN). */
  nft?: string;
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

type SetLike = { kind: 'set'; obj: NftSet } | { kind: 'map'; obj: NftMap };
interface Applied { shape: string; sets: Map<string, { kind: 'set' | 'map'; elems: Map<string, Expr | [Expr, Expr | Verdict]> }> }

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

function setsOf(doc: NftDocument): Map<string, SetLike> {
  const out = new Map<string, SetLike>();
  for (const c of doc.nftables) {
    if (!('add' in c)) continue;
    if ('set' in c.add) out.set(c.add.set.name, { kind: 'set', obj: c.add.set });
    else if ('map' in c.add) out.set(c.add.map.name, { kind: 'map', obj: c.add.map });
  }
  return out;
}

/**
 * Identity of an element: the whole element (a changed comment or map value is a change). A
 * hand-rolled key instead of JSON.stringify: the fast path indexes every element of a 10k-rule
 * document, and this is several times cheaper. Values cannot contain spaces (interface names and
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

function indexElements(doc: NftDocument): Applied['sets'] {
  const out: Applied['sets'] = new Map();
  for (const [name, s] of setsOf(doc)) {
    const elems = new Map<string, Expr | [Expr, Expr | Verdict]>();
    for (const e of (s.obj.elem ?? []) as Array<Expr | [Expr, Expr | Verdict]>) elems.set(elementKey(e), e);
    out.set(name, { kind: s.kind, elems });
  }
  return out;
}

/** The key an element is deleted by: its value without comment (sets) or without data (maps). */
function deleteKey(e: Expr | [Expr, Expr | Verdict], kind: 'set' | 'map'): Expr {
  const k = kind === 'map' ? (e as [Expr, unknown])[0] : (e as Expr);
  return typeof k === 'object' && k !== null && !Array.isArray(k) && 'elem' in k ? k.elem.val : k;
}

export class NftApplier {
  private applied: Applied | undefined;

  constructor(private readonly opts: ApplierOptions = {}) {
    if (opts.netns !== undefined && !NETNS_NAME.test(opts.netns)) throw new Error(`invalid network namespace name ${JSON.stringify(opts.netns)}`);
  }

  /** Applies `doc` (from compile()); falls back to a full replace when the shape changed. */
  async apply(doc: NftDocument): Promise<ApplyResult> {
    const shape = shapeOf(doc);
    const prev = this.applied;
    let next: Applied | undefined;
    if (prev && prev.shape === shape) {
      next = { shape, sets: indexElements(doc) };
      const batch = elementBatch(prev, next);
      if (batch.length === 0) return { mode: 'noop', changes: 0 };
      try {
        await this.run({ nftables: batch }, 'elements');
        this.applied = next;
        return { mode: 'elements', changes: batch.length };
      } catch (e) {
        // The kernel table may have been changed behind our back; a full replace repairs it.
        if (!(e instanceof FirewallApplyError)) throw e;
      }
    }
    // run() has written the batch and started nft when it returns its promise; the element
    // index for the next fast path is built while nft works (the machine has more than one core).
    // On failure the kernel keeps the previous table, so `applied` keeps describing it.
    const running = this.run(doc);
    next ??= { shape, sets: indexElements(doc) };
    await running;
    this.applied = next;
    return { mode: 'full', changes: doc.nftables.length };
  }

  /** Per-rule counters (packets, bytes), summed over the set elements carrying each rule id. */
  async counters(): Promise<RuleCounters> {
    const listing = JSON.parse(await this.nft(['-j', 'list', 'table', TABLE.family, TABLE.name])) as NftListing;
    const out: RuleCounters = {};
    for (const o of listing.nftables) {
      const s = 'set' in o ? o.set : 'map' in o ? o.map : undefined;
      for (const e of (s?.elem ?? []) as unknown[]) {
        const el = Array.isArray(e) ? e[0] : e;
        if (typeof el !== 'object' || el === null || !('elem' in el)) continue;
        const { comment, counter } = (el as { elem: { comment?: string; counter?: { packets: number; bytes: number } } }).elem;
        if (!comment || !counter) continue;
        const c = (out[comment] ??= { packets: 0, bytes: 0 });
        c.packets += counter.packets;
        c.bytes += counter.bytes;
      }
    }
    return out;
  }

  /** Removes the table (appliance shutdown / role removed). Absent table is not an error. */
  async remove(): Promise<void> {
    await this.run({ nftables: [{ add: { table: TABLE } }, { delete: { table: TABLE } }] });
    this.applied = undefined;
  }

  /** Forgets what was applied, so the next apply is a full replace. */
  reset(): void { this.applied = undefined; }

  private async run(doc: NftDocument, mode: 'full' | 'elements' = 'full'): Promise<void> {
    // A file, not stdin: nft opens "-" as /dev/stdin, which fails (ENXIO) on the socket pairs
    // Node uses for child stdio, and nft 1.0.6 then exits 0 having applied nothing.
    const file = join(this.dir(), `batch-${randomBytes(6).toString('hex')}.json`);
    writeFileSync(file, JSON.stringify(doc), { mode: 0o600 });
    try {
      await this.nft(['-j', '-f', file]);
    } catch (e) {
      const stderr = String((e as { stderr?: string }).stderr ?? e).trim();
      throw new FirewallApplyError(`nft rejected the ${doc.nftables.length}-command batch; the previous ruleset is unchanged: ${firstError(stderr)}`, stderr, mode);
    } finally {
      unlinkSync(file);
    }
  }

  private tmp: string | undefined;
  private dir(): string {
    if (!this.tmp) {
      const dir = mkdtempSync(join(tmpdir(), 'flt-nft-'));
      this.tmp = dir;
      process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
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
  return { nftables: elementBatch({ shape: '', sets: indexElements(prev) }, { shape: '', sets: indexElements(next) }) };
}

function elementBatch(prev: Applied, next: Applied): Command[] {
  const dels: Command[] = [];
  const adds: Command[] = [];
  for (const [name, n] of next.sets) {
    const p = prev.sets.get(name)!;
    const gone = [...p.elems].filter(([k]) => !n.elems.has(k)).map(([, e]) => deleteKey(e, p.kind));
    const fresh = [...n.elems].filter(([k]) => !p.elems.has(k)).map(([, e]) => e);
    const el = (elem: Element['elem']): Element => ({ family: TABLE.family, table: TABLE.name, name, elem });
    if (gone.length) dels.push({ delete: { element: el(gone as Expr[]) } });
    if (fresh.length) adds.push({ add: { element: el(fresh as Element['elem']) } });
  }
  // Deletes first: an element that moves between rules must be gone before it is re-added.
  return [...dels, ...adds];
}
