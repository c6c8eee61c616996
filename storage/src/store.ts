// The image store of one secondary storage service (I/O): templates and ISOs as files under
// `<dir>/templates/<id>/` (`image` and `meta.json`), transfers written to `<dir>/tmp/` and moved
// into place only once complete and verified, so an interrupted or refused transfer leaves no
// file behind and nothing that looks registered.
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { formatChecksum, hasherFor, parseChecksum, type Checksum } from './checksum.ts';
import { failure, statusText, type Progress, type TransferState } from './status.ts';
import { TarChecker } from './tar.ts';

export const ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export interface ImageRequest {
  id: string;
  kind: 'template' | 'iso';
  format: string;
  checksum?: string;
  maxBytes?: number;
}

/** What the control API answers for one image. */
export interface ImageState {
  id: string;
  kind: 'template' | 'iso';
  format: string;
  state: TransferState;
  status: string;
  /** bytes received so far, then the stored file's size (physicalsize) */
  physicalSize: number;
  /** the expanded size (an uncompressed tarball's bytes); ISOs: the file size */
  size?: number;
  total?: number;
  /** the sha256 of the stored file, and the checksum it was verified against */
  sha256?: string;
  checksum?: string;
  compression?: 'gzip' | 'none';
}

class Fail extends Error {}

export class ImageStore {
  private images = new Map<string, ImageState>();
  private running = new Map<string, AbortController>();

  constructor(readonly dir: string, readonly defaultMaxBytes = 20 * 2 ** 30) {}

  /** Loads what is stored (ready images); partial transfers of a previous run are removed. */
  async open(): Promise<void> {
    // Only an empty (or new) directory becomes a store, and only a store is reopened: the store
    // removes files under it, so it must never be pointed at a directory holding anything else.
    await mkdir(this.dir, { recursive: true });
    const marker = join(this.dir, '.flotilla-image-store');
    if (!existsSync(marker)) {
      const present = await readdir(this.dir);
      if (present.length) throw new Error(`${this.dir} is not empty and not an image store (no .flotilla-image-store): refusing to use it`);
      await writeFile(marker, 'flotilla image store\n');
    }
    await mkdir(join(this.dir, 'templates'), { recursive: true });
    await rm(join(this.dir, 'tmp'), { recursive: true, force: true });
    await mkdir(join(this.dir, 'tmp'), { recursive: true });
    for (const id of await readdir(join(this.dir, 'templates'))) {
      const meta = await readFile(join(this.dir, 'templates', id, 'meta.json'), 'utf8').then((t) => JSON.parse(t) as ImageState, () => undefined);
      if (meta && ID.test(id) && existsSync(this.file(id))) this.images.set(id, meta);
      else await rm(join(this.dir, 'templates', id), { recursive: true, force: true });
    }
  }

  file(id: string): string { return join(this.dir, 'templates', id, 'image'); }
  get(id: string): ImageState | undefined {
    const s = this.images.get(id);
    if (!s) return undefined;
    // The progress text is made when asked for, not per received chunk.
    if (s.state === 'Downloading' || s.state === 'Uploading') s.status = statusText({ state: s.state, bytes: s.physicalSize, total: s.total });
    return { ...s };
  }
  list(): ImageState[] { return [...this.images.values()].map((s) => ({ ...s })); }

  /** Starts downloading `url`; returns at once (progress through `get`). */
  download(req: ImageRequest, url: string): ImageState {
    const s = this.begin(req, 'Downloading');
    const ac = new AbortController();
    this.running.set(req.id, ac);
    void this.fetchInto(s, req, url, ac.signal).finally(() => this.running.delete(req.id));
    return { ...s };
  }

  /** Receives an upload's body (the file itself, already taken out of any form). */
  async receive(req: ImageRequest, body: Readable, total?: number): Promise<ImageState> {
    const s = this.begin(req, 'Uploading');
    s.total = total;
    const ac = new AbortController();
    this.running.set(req.id, ac);
    try { await this.land(s, req, body, ac.signal); } finally { this.running.delete(req.id); }
    return { ...s };
  }

  /** Adopts a file already on this machine (tests, the manager's first-start template). */
  async importFile(req: ImageRequest, body: Readable): Promise<ImageState> { return this.receive(req, body); }

  async delete(id: string): Promise<boolean> {
    this.running.get(id)?.abort();
    const had = this.images.delete(id);
    await rm(join(this.dir, 'templates', id), { recursive: true, force: true });
    await rm(join(this.dir, 'tmp', id), { force: true });
    return had;
  }

  private begin(req: ImageRequest, state: TransferState): ImageState {
    const cur = this.images.get(req.id);
    if (cur && (cur.state === 'Ready' || this.running.has(req.id))) throw new Fail(`image ${req.id} is already ${cur.state === 'Ready' ? 'stored' : 'being transferred'}`);
    const s: ImageState = { id: req.id, kind: req.kind, format: req.format, state, status: '', physicalSize: 0 };
    s.status = statusText({ state, bytes: 0 });
    this.images.set(req.id, s);
    return s;
  }

  private async fetchInto(s: ImageState, req: ImageRequest, url: string, signal: AbortSignal): Promise<void> {
    try {
      const res = await get(url, signal);
      const len = Number(res.headers['content-length']);
      if (Number.isFinite(len) && len > 0) s.total = len;
      await this.land(s, req, res, signal);
    } catch (e) {
      this.error(s, e instanceof Fail ? e.message : failure.network(String((e as Error).message)));
    }
  }

  /** Streams `body` to tmp while hashing, counting and (for TAR) validating; on success moves it
   *  into place with its meta.json, else removes it and records the error. */
  private async land(s: ImageState, req: ImageRequest, body: Readable, signal: AbortSignal): Promise<void> {
    const verb = s.state === 'Uploading' ? 'Upload' : 'Download';
    const tmp = join(this.dir, 'tmp', req.id);
    const limit = req.maxBytes ?? this.defaultMaxBytes;
    let want: Checksum | undefined;
    try {
      if (req.checksum) {
        const c = parseChecksum(req.checksum);
        if (typeof c === 'string') throw new Fail(`${verb} Failed: ${c}`);
        want = c;
      }
      if (s.total !== undefined && s.total > limit) throw new Fail(failure.tooLarge(limit));
      const hash = want ? hasherFor(want) : undefined;
      // The host's check needs the file's sha256: one hash when the checksum is SHA-256 already.
      const sha = want?.node === 'sha256' ? undefined : hasherFor({ algorithm: 'SHA-256', node: 'sha256', hex: '' });
      const isTar = req.format.toUpperCase() === 'TAR';
      const tar = isTar ? new TarChecker() : undefined;
      let gunzip: ReturnType<typeof createGunzip> | undefined;
      let first = true;
      const meter = new Transform({
        transform: (chunk: Buffer, _enc, done) => {
          s.physicalSize += chunk.length;
          if (s.physicalSize > limit) return done(new Fail(failure.tooLarge(limit)));
          hash?.update(chunk); sha?.update(chunk);
          if (tar) {
            if (first && chunk[0] === 0x1f && chunk[1] === 0x8b) {
              gunzip = createGunzip();
              gunzip.on('data', (d: Buffer) => { if (!tar.push(d)) gunzip!.pause(); });
              gunzip.on('error', (e) => { tar.error ??= `bad gzip data: ${e.message}`; });
            }
            if (gunzip) gunzip.write(chunk);
            else if (!tar.push(chunk)) return done(new Fail(failure.notTar(tar.error!)));
            if (tar.error) return done(new Fail(failure.notTar(tar.error)));
          }
          first = false;
          done(null, chunk);
        },
      });
      await pipeline(body, meter, createWriteStream(tmp, { highWaterMark: 1 << 20 }), { signal });
      if (s.total !== undefined && s.physicalSize < s.total) throw new Fail(failure.truncated(s.physicalSize, s.total));
      if (gunzip) await new Promise<void>((resolve) => { gunzip!.once('end', resolve); gunzip!.once('error', () => resolve()); gunzip!.end(); gunzip!.resume(); });
      if (tar) {
        const t = tar.end();
        if (typeof t === 'string') throw new Fail(failure.notTar(t));
        s.size = t.bytes;
      } else s.size = s.physicalSize;
      let digest: string | undefined;
      if (want && hash) {
        digest = hash.digest('hex');
        if (digest !== want.hex) throw new Fail(failure.checksum(want.algorithm, want.hex, digest));
        s.checksum = formatChecksum(want);
      }
      s.sha256 = sha ? sha.digest('hex') : digest;
      s.compression = gunzip ? 'gzip' : 'none';
      if (signal.aborted) throw new Fail(failure.cancelled());
      const dir = join(this.dir, 'templates', req.id);
      await mkdir(dir, { recursive: true });
      await rename(tmp, this.file(req.id));
      s.physicalSize = (await stat(this.file(req.id))).size;
      s.state = 'Ready';
      s.status = statusText({ state: 'Ready', bytes: s.physicalSize });
      await writeFile(join(dir, 'meta.json'), JSON.stringify(s));
    } catch (e) {
      await rm(tmp, { force: true });
      let msg = e instanceof Fail ? e.message : (e as Error).name === 'AbortError' ? failure.cancelled()
        : s.total !== undefined && s.physicalSize < s.total ? failure.truncated(s.physicalSize, s.total) : failure.network((e as Error).message);
      if (verb === 'Upload') msg = msg.replace(/^Download Failed/, 'Upload Failed');
      this.error(s, msg);
    }
  }

  private error(s: ImageState, msg: string): void {
    s.state = 'Error';
    s.status = statusText({ state: 'Error', bytes: s.physicalSize, error: msg });
    // The entry stays (the manager reads the error); deleting it removes it.
  }
}

/** GET with up to 5 redirects; rejects on non-2xx with the HTTP status. */
async function get(url: string, signal: AbortSignal, hops = 0): Promise<http.IncomingMessage> {
  if (hops > 5) throw new Fail(failure.tooManyRedirects());
  const u = new URL(url);
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Fail(failure.network(`unsupported URL scheme ${u.protocol}`));
  const mod = u.protocol === 'https:' ? https : http;
  const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
    const req = mod.get(u, { signal, headers: { 'user-agent': 'flotilla-ssvm' } }, resolve);
    req.on('error', reject);
    req.setTimeout(30_000, () => req.destroy(new Error('no data for 30 s')));
  });
  const code = res.statusCode ?? 0;
  if (code >= 300 && code < 400 && res.headers.location) {
    res.resume();
    return get(new URL(res.headers.location, u).toString(), signal, hops + 1);
  }
  if (code < 200 || code >= 300) { res.resume(); throw new Fail(failure.http(code, res.statusMessage ?? '')); }
  return res;
}

export { Fail as StoreError };
