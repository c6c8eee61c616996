// The manager's side of the secondary storage services (I/O): one storage service per image
// store, started with the manager (in its process for now; the SSVM role runs the same server
// as a process: storage/src/main.ts, storage/README.md), talked to only over its HTTP control
// API, so moving it into the per-zone system VM changes where it listens, not how it is used.
// Transfers are followed by polling (every second while any runs, and on every listTemplates):
// their state lands in the templates row (status, isready, sizes).
import { mkdir } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { signedUrl, startStorageServer, StorageClient, uploadParams, type ImageRequest, type ImageState, type StorageServer } from '@flotilla/storage';
import type { Services } from '../../services.ts';
import type { Sql } from '../../db/sql.ts';
import { apiError } from '../../api/errors.ts';

export interface StoreRow { id: string; name: string; zone_id: string | null; provider: string; protocol: string; url: string; path: string; secret: string; service_url: string | null; readonly: boolean; created: Date }

interface Running { server: StorageServer; client: StorageClient; key: Buffer }

export const newStoreSecret = (): string => randomBytes(32).toString('base64');

const IN_FLIGHT = `('Downloading', 'Uploading')`;

export class StorageRuntime {
  private running = new Map<string, Promise<Running>>();
  private timer?: NodeJS.Timeout;
  private polling?: Promise<void>;
  private closed = false;

  constructor(private s: Services, private env: NodeJS.ProcessEnv) {}

  /** Starts the service of every image store, then follows transfers. */
  async start(): Promise<void> {
    for (const st of await this.s.db.query<StoreRow>('SELECT * FROM image_stores ORDER BY created')) await this.service(st);
    // Transfers a previous run had going are gone with its services.
    await this.s.db.query(`UPDATE templates SET transfer_state = 'Error', status = 'Download Failed: interrupted by a manager restart; delete and register it again' WHERE transfer_state = 'Downloading'`);
    this.timer = setInterval(() => void this.poll(), 1000);
    this.timer.unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    await this.polling;
    for (const r of this.running.values()) await r.then((x) => x.server.close(), () => undefined);
    this.running.clear();
  }

  /** The running service of a store (started on first use). */
  service(st: StoreRow): Promise<Running> {
    let r = this.running.get(st.id);
    if (!r) {
      r = (async () => {
        await mkdir(st.path, { recursive: true });
        const key = Buffer.from(st.secret, 'base64');
        const first = this.running.size === 0;
        const server = await startStorageServer({
          dir: st.path, key, host: this.env.FLOTILLA_STORAGE_HOST ?? '127.0.0.1',
          port: first && this.env.FLOTILLA_STORAGE_PORT ? Number(this.env.FLOTILLA_STORAGE_PORT) : 0,
        });
        await this.s.db.query('UPDATE image_stores SET service_url = $2 WHERE id = $1', [st.id, server.url]);
        return { server, key, client: new StorageClient(server.url, key) };
      })();
      r.catch(() => this.running.delete(st.id));
      this.running.set(st.id, r);
    }
    return r;
  }

  async stop(storeId: string): Promise<void> {
    const r = this.running.get(storeId);
    this.running.delete(storeId);
    await r?.then((x) => x.server.close(), () => undefined);
  }

  /** The image store a zone's templates go to: the zone's first, else a zone-wide one. */
  async storeForZone(sql: Sql, zoneId: string): Promise<StoreRow | undefined> {
    return (await sql.query<StoreRow>(`SELECT * FROM image_stores WHERE (zone_id = $1 OR zone_id IS NULL) AND NOT readonly ORDER BY zone_id IS NULL, created LIMIT 1`, [zoneId]))[0];
  }

  async storeById(id: string): Promise<StoreRow | undefined> {
    return (await this.s.db.query<StoreRow>('SELECT * FROM image_stores WHERE id = $1', [id]))[0];
  }

  /** Hands a registered template (or ISO) to its store's service for download. */
  async download(st: StoreRow, req: ImageRequest, url: string): Promise<void> {
    const r = await this.service(st);
    await this.s.db.query(`UPDATE templates SET store_id = $2, transfer_state = 'Downloading', status = '0% Downloaded' WHERE id = $1`, [req.id, st.id]);
    try {
      this.apply(req.id, await r.client.download(req, url));
    } catch (e) {
      await this.s.db.query(`UPDATE templates SET transfer_state = 'Error', status = $2 WHERE id = $1`, [req.id, `Download Failed: the storage service refused it: ${(e as Error).message}`]);
    }
  }

  async uploadParams(st: StoreRow, meta: { id: string; kind: 'template' | 'iso'; format: string; checksum?: string }, ttlSeconds: number) {
    const r = await this.service(st);
    const base = this.env.FLOTILLA_STORAGE_PUBLIC_URL ?? r.server.url;
    return uploadParams(r.key, { ...meta, maxBytes: Number(this.env.FLOTILLA_STORAGE_MAX_UPLOAD_BYTES ?? 20 * 2 ** 30) }, base, new Date(Date.now() + ttlSeconds * 1000));
  }

  async extractUrl(st: StoreRow, id: string, ttlSeconds: number): Promise<string> {
    const r = await this.service(st);
    return signedUrl(r.key, this.env.FLOTILLA_STORAGE_PUBLIC_URL ?? r.server.url, 'extract', id, new Date(Date.now() + ttlSeconds * 1000));
  }

  async deleteFiles(storeId: string, id: string): Promise<void> {
    const st = await this.storeById(storeId);
    if (!st) return;
    const r = await this.service(st).catch(() => undefined);
    if (!r) throw apiError('RESOURCE_UNAVAILABLE', `the storage service of image store ${st.name} is not running`);
    await r.client.delete(id);
  }

  /** Brings every transferring template's row up to date (listTemplates calls it too). */
  poll(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.polling ??= (async () => {
      try {
        const rows = await this.s.db.query<{ id: string; store_id: string; transfer_state: string }>(
          `SELECT id, store_id, transfer_state FROM templates WHERE store_id IS NOT NULL AND removed IS NULL AND transfer_state IN ${IN_FLIGHT.replace(')', ", 'NotUploaded')")}`);
        for (const row of rows) {
          const r = this.running.get(row.store_id);
          if (!r) continue;
          const st = await (await r).client.get(row.id).catch(() => undefined);
          if (st) await this.apply(row.id, st);
        }
      } catch (e) {
        this.s.log.warn({ err: e }, 'storage: polling transfers failed');
      } finally { this.polling = undefined; }
    })();
    return this.polling;
  }

  private async apply(id: string, st: ImageState): Promise<void> {
    await this.s.db.query(
      `UPDATE templates SET transfer_state = $2, status = $3, is_ready = $4, physical_size = $5, size = coalesce($6, size), sha256 = $7, compression = $8
       WHERE id = $1 AND removed IS NULL`,
      [id, st.state, st.status, st.state === 'Ready', st.physicalSize, st.state === 'Ready' ? (st.size ?? st.physicalSize) : null, st.sha256 ?? null, st.compression ?? null]);
  }
}

const runtimes = new WeakMap<Services, StorageRuntime>();

export async function startStorage(s: Services, env: NodeJS.ProcessEnv): Promise<StorageRuntime> {
  const r = new StorageRuntime(s, env);
  runtimes.set(s, r);
  await r.start();
  return r;
}

export function storageOf(s: Services): StorageRuntime {
  let r = runtimes.get(s);
  if (!r) { r = new StorageRuntime(s, process.env); runtimes.set(s, r); }
  return r;
}

/** Host URL of a stored template for the agent (vmSpec): signed, valid for a day (a host fetches
 *  it once, at its first VM of the template; later starts use its cache). */
export function hostImageUrl(serviceUrl: string, secret: string, id: string): string {
  return signedUrl(Buffer.from(secret, 'base64'), serviceUrl, 'host', id, new Date(Date.now() + 86_400_000));
}
