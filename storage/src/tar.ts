// Validation of a root filesystem tarball (pure, streaming): what CloudStack's LXC support takes
// as format=TAR. Fed the (decompressed) bytes as they arrive, so a download is checked while it
// is written and a non-tarball fails early. Checks: every header's checksum, a POSIX/GNU magic,
// entry types a root filesystem may hold (regular files, directories, hard and symbolic links,
// FIFOs; device nodes are refused — a guest gets its /dev from its container), names that stay
// inside the root (no absolute path after "./", no ".." component), a proper end, and an init
// or shell to boot (`sbin/init`, `bin/init`, `bin/sh` or `usr/sbin/init`, file or link).

const BLOCK = 512;
const ALLOWED = new Set(['0', '\0', '1', '2', '5', '6', '7']);
const BOOT = new Set(['sbin/init', 'bin/init', 'bin/sh', 'usr/sbin/init', 'usr/bin/sh']);

export interface TarSummary { entries: number; bytes: number; boot: string }

export class TarChecker {
  private buf = Buffer.alloc(0);
  /** bytes of entry data (plus padding) still to skip */
  private skip = 0;
  /** data of a GNU long name or pax header being collected */
  private collect?: { type: string; left: number; pad: number; parts: Buffer[] };
  private nextName?: string;
  private zeros = 0;
  private ended = false;
  entries = 0;
  bytes = 0;
  private boot?: string;
  error?: string;

  /** Feeds bytes; false once the stream is known bad (see `error`). */
  push(chunk: Buffer): boolean {
    if (this.error) return false;
    this.bytes += chunk.length;
    let data = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    let at = 0;
    while (!this.error) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, data.length - at);
        this.skip -= n; at += n;
        if (this.skip > 0) break;
        continue;
      }
      if (this.collect) {
        const c = this.collect;
        const n = Math.min(c.left + c.pad, data.length - at);
        const useful = Math.min(n, c.left);
        if (useful > 0) c.parts.push(Buffer.from(data.subarray(at, at + useful)));
        c.left -= useful; c.pad -= n - useful; at += n;
        if (c.left > 0 || c.pad > 0) break;
        this.collect = undefined;
        this.finishMeta(c.type, Buffer.concat(c.parts));
        continue;
      }
      if (data.length - at < BLOCK) break;
      this.header(data.subarray(at, at + BLOCK));
      at += BLOCK;
    }
    this.buf = Buffer.from(data.subarray(at));
    data = Buffer.alloc(0);
    return !this.error;
  }

  /** At the end of the stream: the summary, or why it is not a root filesystem tarball. */
  end(): TarSummary | string {
    if (this.error) return this.error;
    if (this.entries === 0) return this.bytes === 0 ? 'the file is empty' : 'no entries (not a tar archive)';
    if (this.skip > 0 || this.collect || (!this.ended && this.buf.length > 0)) return 'the archive is truncated';
    if (!this.ended && this.zeros === 0) return 'the archive is truncated (no end-of-archive marker)';
    if (!this.boot) return 'no sbin/init, bin/init or bin/sh: not a root filesystem';
    return { entries: this.entries, bytes: this.bytes, boot: this.boot };
  }

  private fail(why: string): void { this.error ??= why; }

  private header(h: Buffer): void {
    if (this.ended) return; // padding after the end marker
    if (h.every((b) => b === 0)) {
      if (++this.zeros >= 2) this.ended = true;
      return;
    }
    if (this.zeros > 0) return this.fail('data after an end-of-archive block');
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!;
    const stored = parseOctal(h.subarray(148, 156));
    if (stored === undefined || stored !== sum) return this.fail(this.entries === 0 ? 'not a tar archive (bad header checksum)' : `bad header checksum at entry ${this.entries + 1}`);
    const magic = h.subarray(257, 263).toString('latin1');
    if (magic !== 'ustar\0' && magic !== 'ustar ') return this.fail('not a POSIX or GNU tar archive (no ustar magic)');
    const type = String.fromCharCode(h[156]!);
    const size = parseSize(h.subarray(124, 136));
    if (size === undefined) return this.fail(`bad size field at entry ${this.entries + 1}`);
    if (type === 'L' || type === 'x' || type === 'g' || type === 'K') {
      if (size > 1 << 20) return this.fail('an extended header larger than 1 MiB');
      this.collect = { type, left: size, pad: pad(size), parts: [] };
      return;
    }
    let name = this.nextName;
    this.nextName = undefined;
    if (name === undefined) {
      const prefix = cstr(h.subarray(345, 500));
      const base = cstr(h.subarray(0, 100));
      name = prefix ? `${prefix}/${base}` : base;
    }
    this.entries++;
    if (!ALLOWED.has(type)) return this.fail(`entry ${JSON.stringify(name.slice(0, 200))} has type ${JSON.stringify(type)} (device nodes and unknown types are refused)`);
    const norm = normalize(name);
    if (norm === undefined) return this.fail(`entry ${JSON.stringify(name.slice(0, 200))} leaves the root filesystem`);
    if (BOOT.has(norm) && (type === '0' || type === '\0' || type === '1' || type === '2')) this.boot ??= norm;
    // Links: a hard link's target must stay inside too (a symlink's may point anywhere: it is
    // resolved inside the container's root).
    if (type === '1' && normalize(cstr(h.subarray(157, 257))) === undefined) return this.fail(`hard link ${JSON.stringify(name.slice(0, 200))} points outside the root filesystem`);
    if (type === '0' || type === '\0' || type === '7') this.skip = size + pad(size);
  }

  private finishMeta(type: string, data: Buffer): void {
    if (type === 'L') this.nextName = cstr(data);
    if (type === 'x') {
      // pax records: "<len> key=value\n"
      for (const m of data.toString('utf8').matchAll(/(\d+) ([^=]+)=([^\n]*)\n/g)) if (m[2] === 'path') this.nextName = m[3]!;
    }
  }
}

function pad(n: number): number { return (BLOCK - (n % BLOCK)) % BLOCK; }
function cstr(b: Buffer): string { const z = b.indexOf(0); return b.subarray(0, z < 0 ? b.length : z).toString('utf8'); }
function parseOctal(b: Buffer): number | undefined {
  const s = cstr(b).trim();
  return /^[0-7]+$/.test(s) ? parseInt(s, 8) : undefined;
}
function parseSize(b: Buffer): number | undefined {
  if (b[0]! & 0x80) { // GNU base-256 for sizes ≥ 8 GiB
    let n = 0;
    for (let i = 1; i < b.length; i++) n = n * 256 + b[i]!;
    return n;
  }
  return parseOctal(b) ?? (cstr(b).trim() === '' ? 0 : undefined);
}

/** "./a/b/" → "a/b"; undefined when the path is absolute or climbs out with "..". */
export function normalize(name: string): string | undefined {
  if (name.startsWith('/')) return undefined;
  const out: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') return undefined;
    out.push(part);
  }
  return out.join('/');
}
