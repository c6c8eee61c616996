// Durable DHCP lease table: an append-only journal of JSON lines, fdatasync'd before a lease is
// acknowledged, compacted by writing a fresh file, fsyncing it and renaming it over the old one
// (then fsyncing the directory), so a crash leaves either the old or the new file, never a mix.
// Writes are group-committed: every ACK waiting while a flush is in progress rides the next
// flush, so durability costs one fdatasync per batch, not per lease (this is what keeps
// thousands of leases/s possible with every lease on disk before its ACK leaves).
import { mkdir, open, readFile, rename, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';

export interface Lease {
  mac: string;
  ip: string;
  hostname?: string;
  /** Expiry, seconds since the epoch. */
  expires: number;
}

type Record = { op: 'put'; lease: Lease } | { op: 'del'; mac: string };

/** Dead journal records tolerated before a compaction (~100 bytes each: a few MB at most, a
 *  replay of well under a second at open). */
const COMPACT_SLACK = 32_768;

export class LeaseStore {
  private readonly byMac = new Map<string, Lease>();
  private readonly byIpMap = new Map<string, Lease>();
  private fh: FileHandle | undefined;
  private journalRecords = 0;
  private pending: string[] = [];
  private waiters: Array<{ resolve: () => void; reject: (e: unknown) => void }> = [];
  private flushing = false;
  /** Lines skipped at load (a torn tail after a crash, or garbage). */
  skippedAtLoad = 0;

  private constructor(readonly path: string) {}

  /** Opens (creating if needed) and replays the journal at `path`. */
  static async open(path: string): Promise<LeaseStore> {
    const s = new LeaseStore(path);
    await mkdir(dirname(path), { recursive: true });
    let text = '';
    try { text = await readFile(path, 'utf8'); } catch (e) { if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e; }
    for (const line of text.split('\n')) {
      if (!line) continue;
      try {
        const r = JSON.parse(line) as Record;
        if (r.op === 'put' && typeof r.lease?.mac === 'string' && typeof r.lease.ip === 'string') s.index(r.lease);
        else if (r.op === 'del' && typeof r.mac === 'string') s.unindex(r.mac);
        else { s.skippedAtLoad++; continue; }
        s.journalRecords++;
      } catch { s.skippedAtLoad++; }
    }
    // Start from a compacted file: drops dead records and any torn tail before appending.
    await s.compact();
    return s;
  }

  get(mac: string): Lease | undefined { return this.byMac.get(mac); }
  byIp(ip: string): Lease | undefined { return this.byIpMap.get(ip); }
  all(): Lease[] { return [...this.byMac.values()]; }
  get size(): number { return this.byMac.size; }

  /** Records a lease; resolves once it is on disk. */
  put(lease: Lease): Promise<void> {
    this.index(lease);
    return this.append({ op: 'put', lease });
  }

  /** Forgets a lease; resolves once that is on disk. */
  remove(mac: string): Promise<void> {
    if (!this.byMac.has(mac)) return Promise.resolve();
    this.unindex(mac);
    return this.append({ op: 'del', mac });
  }

  async close(): Promise<void> {
    while (this.flushing || this.pending.length) await new Promise((r) => setImmediate(r));
    await this.fh?.close();
    this.fh = undefined;
  }

  private index(l: Lease): void {
    const old = this.byMac.get(l.mac);
    if (old && this.byIpMap.get(old.ip) === old) this.byIpMap.delete(old.ip);
    const clash = this.byIpMap.get(l.ip);
    if (clash && clash.mac !== l.mac) this.byMac.delete(clash.mac); // an IP has one holder
    this.byMac.set(l.mac, l);
    this.byIpMap.set(l.ip, l);
  }
  private unindex(mac: string): void {
    const old = this.byMac.get(mac);
    if (!old) return;
    this.byMac.delete(mac);
    if (this.byIpMap.get(old.ip) === old) this.byIpMap.delete(old.ip);
  }

  private append(r: Record): Promise<void> {
    this.pending.push(JSON.stringify(r) + '\n');
    const p = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    if (!this.flushing) void this.flushLoop();
    return p;
  }

  private async flushLoop(): Promise<void> {
    this.flushing = true;
    try {
      while (this.pending.length) {
        const lines = this.pending; const waiters = this.waiters;
        this.pending = []; this.waiters = [];
        try {
          await this.fh!.write(lines.join(''));
          await this.fh!.datasync();
          this.journalRecords += lines.length;
          // Compaction costs two syncs and a rename while ACKs wait: at most once per
          // COMPACT_SLACK records beyond twice the live leases (a renewal storm on a small
          // network would otherwise compact several times a second).
          if (this.journalRecords > 2 * this.byMac.size + COMPACT_SLACK) await this.compact();
          for (const w of waiters) w.resolve();
        } catch (e) {
          for (const w of waiters) w.reject(e);
        }
      }
    } finally { this.flushing = false; }
  }

  private async compact(): Promise<void> {
    const tmp = `${this.path}.tmp`;
    const out = await open(tmp, 'w', 0o600);
    try {
      const body = this.all().map((lease) => JSON.stringify({ op: 'put', lease }) + '\n').join('');
      await out.write(body);
      await out.sync();
    } finally { await out.close(); }
    await rename(tmp, this.path);
    const dir = await open(dirname(this.path), 'r');
    try { await dir.sync(); } finally { await dir.close(); }
    await this.fh?.close();
    this.fh = await open(this.path, 'a', 0o600);
    this.journalRecords = this.byMac.size;
  }
}
