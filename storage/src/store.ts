// The image store of one secondary storage service (I/O): templates and ISOs as files under
// `<dir>/templates/<id>/` (`image` and `meta.json`), transfers written to `<dir>/tmp/` and moved
// into place only once complete and verified, so an interrupted or refused transfer leaves no
// file behind and nothing that looks registered.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, type Hash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, writeFile, type FileHandle } from 'node:fs/promises';
import { STATUS_CODES } from 'node:http';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { formatChecksum, hasherFor, parseChecksum, type Checksum } from './checksum.ts';
import { GUEST_TEMPLATE_ID, guestRecipeStamp, guestTemplateTar } from './guest-template.ts';
import { failure, statusText, type Progress, type TransferState } from './status.ts';
import { TarChecker } from './tar.ts';

export const ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export interface ImageRequest {
  id: string;
  kind: 'template' | 'iso';
  format: string;
  checksum?: string;
  maxBytes?: number;
  /** what the file was made from, kept with it (the built-in guest template's recipe stamp) */
  source?: string;
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
  source?: string;
}

class Fail extends Error {}

export class ImageStore {
  private images = new Map<string, ImageState>();
  private running = new Map<string, AbortController>();
  private guest?: Promise<ImageState>;
  /** this process's transfers' names in tmp/: the manager's fallback and a storage VM may serve
   *  one store's directory at the same moment (the handover), each with its own names */
  private readonly nonce = randomBytes(6).toString('hex');

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
  private tmp(id: string): string { return join(this.dir, 'tmp', `${id}.${this.nonce}`); }
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

  /**
   * The built-in guest template (guest-template.ts) under its fixed id: built from `busybox` at
   * the store's first start, and again when busybox or the recipe changed, then taken in as any
   * upload is (counted, hashed, TAR-checked) and served to hosts as any template is. A failed
   * build leaves an Error entry that says why.
   */
  ensureGuestTemplate(busybox: string): Promise<ImageState> {
    this.guest ??= (async () => {
      const id = GUEST_TEMPLATE_ID;
      const source = `busybox ${await guestRecipeStamp(busybox).catch(() => 'missing')}`;
      const cur = this.images.get(id);
      if (cur?.state === 'Ready' && cur.source === source) return { ...cur };
      await this.delete(id);
      const file = `${this.tmp(id)}.build.tar`;
      try {
        await guestTemplateTar(file, { busybox });
      } catch (e) {
        const s = this.begin({ id, kind: 'template', format: 'TAR', source }, 'Uploading');
        this.error(s, `Upload Failed: building the guest template from ${busybox}: ${(e as Error).message.split('\n')[0]}`);
        await rm(file, { force: true });
        return { ...s };
      }
      try { return await this.receive({ id, kind: 'template', format: 'TAR', source }, createReadStream(file)); } finally { await rm(file, { force: true }); }
    })().finally(() => { this.guest = undefined; });
    return this.guest;
  }

  async delete(id: string): Promise<boolean> {
    this.running.get(id)?.abort();
    const had = this.images.delete(id);
    await rm(join(this.dir, 'templates', id), { recursive: true, force: true });
    await rm(this.tmp(id), { force: true });
    return had;
  }

  private begin(req: ImageRequest, state: TransferState): ImageState {
    const cur = this.images.get(req.id);
    if (cur && (cur.state === 'Ready' || this.running.has(req.id))) throw new Fail(`image ${req.id} is already ${cur.state === 'Ready' ? 'stored' : 'being transferred'}`);
    const s: ImageState = { id: req.id, kind: req.kind, format: req.format, state, status: '', physicalSize: 0, ...(req.source ? { source: req.source } : {}) };
    s.status = statusText({ state, bytes: 0 });
    this.images.set(req.id, s);
    return s;
  }

  /**
   * A download: curl fetches the URL into tmp (HTTP(S) only, at most 5 redirects, no URL
   * globbing, the size limit) while this process follows the file as it grows, hashing, counting
   * and validating each new part. The receiving then runs in curl's own process, beside the
   * hashing here: on two cores the service reached 0.30 of curl when Node received the bytes
   * too (decision 0420).
   */
  private async fetchInto(s: ImageState, req: ImageRequest, url: string, signal: AbortSignal): Promise<void> {
    const tmp = this.tmp(req.id);
    const headers = `${tmp}.headers`;
    const limit = req.maxBytes ?? this.defaultMaxBytes;
    let curl: ChildProcess | undefined;
    try {
      const intake = new Intake(s, req, limit);
      // `-q`: no ~/.curlrc; `--` ends curl's options: the URL is an argument, never a shell word
      // nor an option; `--globoff`: its brackets and braces are not curl's URL patterns.
      curl = spawn('curl', ['-q', '-sS', '--fail', '--globoff', '--proto', '=http,https', '--proto-redir', '=http,https', '--location', '--max-redirs', '5',
        '--max-filesize', String(limit), '--connect-timeout', '30', '--speed-time', '30', '--speed-limit', '1', '--user-agent', 'flotilla-ssvm',
        '--dump-header', headers, '--write-out', '%{http_code}', '--output', tmp, '--', url], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = ''; let err = '';
      curl.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
      curl.stderr!.on('data', (d: Buffer) => { if (err.length < 4096) err += d.toString(); });
      const ended = new Promise<number>((resolve) => { curl!.once('close', (code) => resolve(code ?? -1)); curl!.once('error', (e) => { err = `curl: (0) cannot run curl: ${e.message}`; resolve(-2); }); });
      let code: number | undefined;
      void ended.then((c) => { code = c; });
      const onAbort = () => curl?.kill('SIGKILL');
      signal.addEventListener('abort', onAbort, { once: true });
      let fh: FileHandle | undefined;
      try {
        const buf = Buffer.allocUnsafe(1 << 20);
        let at = 0; let headerReads = 0;
        for (;;) {
          const done = code !== undefined;
          // The length, once curl has the headers (they are all written before the body is).
          if (s.total === undefined && (at === 0 || headerReads++ < 2)) s.total = await contentLength(headers);
          fh ??= await open(tmp, 'r').catch(() => undefined);
          let n = 0;
          if (fh) {
            while ((n = (await fh.read(buf, 0, buf.length, at)).bytesRead) > 0) {
              at += n;
              intake.push(buf.subarray(0, n));
            }
          }
          if (done) break;
          await Promise.race([ended, new Promise((r) => setTimeout(r, 5))]);
        }
      } finally {
        signal.removeEventListener('abort', onAbort);
        await fh?.close().catch(() => undefined);
      }
      // The transfer is over: nothing of it but the file may stay in tmp/ once its state shows.
      await rm(headers, { force: true });
      if (signal.aborted) throw new Fail(failure.cancelled());
      if (code !== 0) {
        const status = Number(out.trim()) || 0;
        throw new Fail(curlFailure(code!, status, err, s, limit));
      }
      await this.finish(s, req, intake, tmp, signal);
    } catch (e) {
      curl?.kill('SIGKILL');
      await rm(tmp, { force: true });
      await rm(headers, { force: true });
      this.error(s, e instanceof Fail ? e.message : failure.network(String((e as Error).message)));
    }
  }

  /** Streams `body` (an upload, or a file adopted) to tmp while hashing, counting and (for TAR)
   *  validating; on success moves it into place with its meta.json, else removes it and records
   *  the error. */
  private async land(s: ImageState, req: ImageRequest, body: Readable, signal: AbortSignal): Promise<void> {
    const verb = s.state === 'Uploading' ? 'Upload' : 'Download';
    const tmp = this.tmp(req.id);
    try {
      const intake = new Intake(s, req, req.maxBytes ?? this.defaultMaxBytes);
      const meter = new Transform({
        transform: (chunk: Buffer, _enc, done) => {
          try { intake.push(chunk); } catch (e) { return done(e as Error); }
          done(null, chunk);
        },
      });
      await pipeline(body, meter, createWriteStream(tmp, { highWaterMark: 1 << 20 }), { signal });
      await this.finish(s, req, intake, tmp, signal);
    } catch (e) {
      await rm(tmp, { force: true });
      let msg = e instanceof Fail ? e.message : (e as Error).name === 'AbortError' ? failure.cancelled()
        : s.total !== undefined && s.physicalSize < s.total ? failure.truncated(s.physicalSize, s.total) : failure.network((e as Error).message);
      if (verb === 'Upload') msg = msg.replace(/^Download Failed/, 'Upload Failed');
      this.error(s, msg);
    }
  }

  /** The received file is complete: its checks, then into place with its meta.json. */
  private async finish(s: ImageState, req: ImageRequest, intake: Intake, tmp: string, signal: AbortSignal): Promise<void> {
    if (s.total !== undefined && s.physicalSize < s.total) throw new Fail(failure.truncated(s.physicalSize, s.total));
    await intake.end();
    if (signal.aborted) throw new Fail(failure.cancelled());
    // The file and its meta.json go into place together (one directory renamed), so another
    // process serving this store never sees one without the other; when one got there first
    // with the same image (the built-in template, built by both at a handover), its copy stays.
    const ready = `${tmp}.d`;
    try {
      await mkdir(ready, { recursive: true });
      await rename(tmp, join(ready, 'image'));
      const size = (await stat(join(ready, 'image'))).size;
      const done: ImageState = { ...s, physicalSize: size, state: 'Ready', status: statusText({ state: 'Ready', bytes: size }) };
      await writeFile(join(ready, 'meta.json'), JSON.stringify(done));
      await rename(ready, join(this.dir, 'templates', req.id));
      // Ready shows only once the file is where hosts are served from.
      Object.assign(s, done);
    } catch (e) {
      await rm(ready, { recursive: true, force: true });
      const code = (e as NodeJS.ErrnoException).code;
      const there = code === 'ENOTEMPTY' || code === 'EEXIST'
        ? await readFile(join(this.dir, 'templates', req.id, 'meta.json'), 'utf8').then((t) => JSON.parse(t) as ImageState, () => undefined) : undefined;
      if (!there || there.state !== 'Ready' || !req.source || there.source !== req.source) throw e;
      Object.assign(s, there);
    }
  }

  private error(s: ImageState, msg: string): void {
    s.state = 'Error';
    s.status = statusText({ state: 'Error', bytes: s.physicalSize, error: msg });
    // The entry stays (the manager reads the error); deleting it removes it.
  }
}

/**
 * What every received byte goes through, in order, whoever received it (pure but for the
 * state it fills): counted against the limit, hashed (the checksum asked for, and the SHA-256 the
 * hosts check), and for TAR validated (gzip unpacked for the check).
 */
class Intake {
  private readonly want?: Checksum;
  private readonly hash?: Hash;
  private readonly sha?: Hash;
  private readonly tar?: TarChecker;
  private gunzip?: ReturnType<typeof createGunzip>;
  private first = true;

  constructor(private readonly s: ImageState, req: ImageRequest, private readonly limit: number) {
    const verb = s.state === 'Uploading' ? 'Upload' : 'Download';
    if (req.checksum) {
      const c = parseChecksum(req.checksum);
      if (typeof c === 'string') throw new Fail(`${verb} Failed: ${c}`);
      this.want = c;
    }
    if (s.total !== undefined && s.total > limit) throw new Fail(failure.tooLarge(limit));
    this.hash = this.want ? hasherFor(this.want) : undefined;
    // The host's check needs the file's sha256: one hash when the checksum is SHA-256 already.
    this.sha = this.want?.node === 'sha256' ? undefined : hasherFor({ algorithm: 'SHA-256', node: 'sha256', hex: '' });
    if (req.format.toUpperCase() === 'TAR') this.tar = new TarChecker();
  }

  /** One more part of the file; throws (a Fail) once the file is known bad. */
  push(chunk: Buffer): void {
    const s = this.s;
    s.physicalSize += chunk.length;
    if (s.physicalSize > this.limit) throw new Fail(failure.tooLarge(this.limit));
    this.hash?.update(chunk); this.sha?.update(chunk);
    const tar = this.tar;
    if (tar) {
      if (this.first && chunk[0] === 0x1f && chunk[1] === 0x8b) {
        const g = this.gunzip = createGunzip();
        g.on('data', (d: Buffer) => { if (!tar.push(d)) g.pause(); });
        g.on('error', (e) => { tar.error ??= `bad gzip data: ${e.message}`; });
      }
      if (this.gunzip) this.gunzip.write(chunk);
      else if (!tar.push(chunk)) throw new Fail(failure.notTar(tar.error!));
      if (tar.error) throw new Fail(failure.notTar(tar.error));
    }
    this.first = false;
  }

  /** The whole file was pushed: the TAR's end, the checksum; fills size, sha256, checksum. */
  async end(): Promise<void> {
    const s = this.s;
    const g = this.gunzip;
    if (g) await new Promise<void>((resolve) => { g.once('end', resolve); g.once('error', () => resolve()); g.end(); g.resume(); });
    if (this.tar) {
      const t = this.tar.end();
      if (typeof t === 'string') throw new Fail(failure.notTar(t));
      s.size = t.bytes;
    } else s.size = s.physicalSize;
    let digest: string | undefined;
    if (this.want && this.hash) {
      digest = this.hash.digest('hex');
      if (digest !== this.want.hex) throw new Fail(failure.checksum(this.want.algorithm, this.want.hex, digest));
      s.checksum = formatChecksum(this.want);
    }
    s.sha256 = this.sha ? this.sha.digest('hex') : digest;
    s.compression = g ? 'gzip' : 'none';
  }
}

/** The Content-Length of the last response curl wrote its headers of (after redirects), if any. */
async function contentLength(headersFile: string): Promise<number | undefined> {
  const text = await readFile(headersFile, 'latin1').catch(() => '');
  const last = text.split(/\r?\n\r?\n/).filter((b) => /^HTTP\//.test(b)).pop();
  const m = last && /^HTTP\/\S+\s+2\d\d[\s\S]*?^content-length:\s*(\d+)\s*$/im.exec(last);
  const n = m ? Number(m[1]) : NaN;
  return Number.isFinite(n) && n > 0 ? n : undefined;
}

/** A failed curl run as the status text (its exit codes: curl(1) "EXIT CODES"). */
function curlFailure(code: number, status: number, stderr: string, s: ImageState, limit: number): string {
  if (code === 22 && status >= 400) return failure.http(status, STATUS_CODES[status] ?? '');
  if (code === 63) return failure.tooLarge(limit);
  if (code === 47) return failure.tooManyRedirects();
  if (code === 18 || (s.total !== undefined && s.physicalSize < s.total)) return failure.truncated(s.physicalSize, s.total ?? s.physicalSize);
  if (code === 1) return failure.network('unsupported URL scheme');
  // curl's own one-line message ("curl: (7) Failed to connect to … port 80 …"): what failed, in
  // curl's words; the URL itself is not repeated.
  const why = stderr.split('\n').find((l) => l.startsWith('curl:'))?.replace(/^curl: \(\d+\)\s*/, '') ?? `curl exited ${code}`;
  return failure.network(why.slice(0, 300));
}

export { Fail as StoreError };
