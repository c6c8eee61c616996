// The manager's side of the secondary storage services (I/O). Each image store is served by the
// zone's secondary storage VM when one runs and has been configured with that store (its
// appliance is storage/src/appliance.ts; manager/src/systemvm/storage-role.ts hands it the store's
// directory and secret): the manager drives its transfers through the host agent's relay of the
// appliance's control socket, hosts fetch templates from its control (link-local) address,
// browsers post uploads and fetch extracts at its public address (or through the manager's
// `/storage/<store id>/` forward, storage/forward.ts). Only while the zone has no such VM does the
// manager run the same server in its own process (the fallback: storage/README.md).
// `service(st)` is the one switch between the two. Transfers are followed by polling (every
// second while any runs, and on every listTemplates): their state lands in the templates row
// (status, isready, sizes).
import { mkdir } from 'node:fs/promises';
import { randomBytes, randomUUID } from 'node:crypto';
import { findBusybox, GUEST_TEMPLATE_ID, signedUrl, startStorageServer, StorageClient, uploadParams, type ImageRequest, type ImageState, type StorageServer } from '@flotilla/storage';
import type { TemplateImage } from '@flotilla/protocol/agent';
import type { Services } from '../../services.ts';
import type { Sql } from '../../db/sql.ts';
import { apiError } from '../../api/errors.ts';

export interface StoreRow { id: string; name: string; zone_id: string | null; provider: string; protocol: string; url: string; path: string; secret: string; service_url: string | null; readonly: boolean; created: Date }

interface Local { server: StorageServer; client: StorageClient; key: Buffer }

/** What the manager does to a store's images, wherever the service runs. */
export interface ImageControl {
  download(req: ImageRequest, url: string): Promise<ImageState>;
  get(id: string): Promise<ImageState | undefined>;
  delete(id: string): Promise<boolean>;
}

/** The serving secondary storage VM of a store (as its row and last report say). */
export interface StorageVm { vmId: string; instanceName: string; hostId: string; publicIp: string; linkLocalIp: string }

export interface Backend {
  kind: 'ssvm' | 'manager';
  control: ImageControl;
  key: Buffer;
  /** where hosts fetch from (signed host URLs are made on it) */
  serviceUrl: string;
  vm?: StorageVm;
  local?: Local;
}

/** The port the storage appliance serves on (all its addresses). */
export const STORAGE_VM_PORT = 80;

/** A store's signing key, sealed with the manager's master key as every secret at rest. */
export const newStoreSecret = (s: Pick<Services, 'secrets'>): string => s.secrets.seal(randomBytes(32).toString('base64'));
/** The signing key of a store row (base64). Rows written before keys were sealed hold it plain. */
export const storeSecret = (s: Pick<Services, 'secrets'>, stored: string): string => stored.startsWith('v1.') ? s.secrets.open(stored) : stored;

const IN_FLIGHT = `('Downloading', 'Uploading')`;

/** The appliance's control socket, relayed by its host's agent. */
function relayControl(s: Services, vm: StorageVm): ImageControl {
  const ask = async (payload: Record<string, unknown>, want: string): Promise<Record<string, unknown>> => {
    const { payload: r } = await s.agents.request(vm.hostId, 'relay', { name: vm.instanceName, payload: { ...payload, id: randomUUID() }, timeoutMs: 10_000 }, 15_000);
    const rep = r as Record<string, unknown>;
    if (rep?.type !== want) throw new Error(`secondary storage VM ${vm.instanceName}: ${Array.isArray(rep?.errors) ? rep.errors.join('; ') : JSON.stringify(rep)}`.slice(0, 400));
    return rep;
  };
  return {
    download: async (req, url) => (await ask({ type: 'download', image: req, url }, 'image')).image as ImageState,
    get: async (id) => ((await ask({ type: 'images', ids: [id] }, 'images')).images as ImageState[])[0],
    delete: async (id) => Boolean((await ask({ type: 'delete', image: id }, 'deleted')).deleted),
  };
}

export class StorageRuntime {
  private running = new Map<string, Promise<Local>>();
  private vms = new Map<string, { at: number; vm: Promise<StorageVm | undefined> }>();
  private timer?: NodeJS.Timeout;
  private polling?: Promise<void>;
  private closed = false;

  constructor(private s: Services, private env: NodeJS.ProcessEnv) {}

  /** Follows transfers. Stores are served on first use (by their zone's storage VM, or here). */
  async start(): Promise<void> {
    // Transfers a previous run had going in its own process are gone with it; those of a
    // storage VM go on (the poll asks it, and marks any it no longer knows).
    await this.s.db.query(`UPDATE templates t SET transfer_state = 'Error', status = 'Download Failed: interrupted by a manager restart; delete and register it again'
      FROM image_stores st WHERE st.id = t.store_id AND t.transfer_state = 'Downloading' AND (st.service_url IS NULL OR st.service_url !~ '^http://169\\.254\\.')`);
    for (const st of await this.s.db.query<StoreRow>('SELECT * FROM image_stores ORDER BY created')) {
      if (!st.service_url?.startsWith('http://169.254.')) await this.local(st).catch((e) => this.s.log.warn({ err: e, store: st.name }, 'storage: the image store cannot be served here'));
    }
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

  /** The zone's running secondary storage VM that serves `st` (its appliance says so), if any;
   *  asked at most every 2 s per store. */
  storageVm(st: StoreRow, fresh = false): Promise<StorageVm | undefined> {
    const c = this.vms.get(st.id);
    if (c && !fresh && Date.now() - c.at < 2000) return c.vm;
    const vm = (async () => {
      const rows = await this.s.db.query<{ vm_id: string; instance_name: string; host_id: string; public_ip: string; link_local_ip: string }>(
        `SELECT x.vm_id, v.instance_name, v.host_id, x.public_ip, x.link_local_ip FROM system_vms x JOIN vm_instances v ON v.id = x.vm_id
         WHERE v.type = 'SecondaryStorageVm' AND v.state = 'Running' AND v.host_id IS NOT NULL AND ($1::uuid IS NULL OR v.zone_id = $1) ORDER BY v.created`, [st.zone_id]);
      for (const r of rows) {
        if (!this.s.agents.isConnected(r.host_id)) continue;
        const rep = await this.s.agents.request(r.host_id, 'relay', { name: r.instance_name, payload: { type: 'report', id: randomUUID() }, timeoutMs: 3000 }, 5000)
          .then((x) => x.payload as Record<string, unknown>, () => undefined);
        if (rep?.type === 'report' && rep.storeId === st.id) return { vmId: r.vm_id, instanceName: r.instance_name, hostId: r.host_id, publicIp: r.public_ip, linkLocalIp: r.link_local_ip };
      }
      return undefined;
    })();
    this.vms.set(st.id, { at: Date.now(), vm });
    vm.catch(() => this.vms.delete(st.id));
    return vm;
  }

  /** A new or removed image store: the zones' storage VMs get their configuration again (the
   *  store they serve), then the store is served (by one of them, or here). */
  async attach(st: StoreRow): Promise<Backend> {
    await this.reconfigureVms();
    return this.service(st);
  }

  async reconfigureVms(): Promise<void> {
    const { reconfigureRole } = await import('../../systemvm/orchestrator.ts');
    await reconfigureRole(this.s, 'SecondaryStorageVm');
    this.forgetVms();
  }

  /** Forgets what is known of the storage VMs (one was (re)configured or went away). */
  forgetVms(): void { this.vms.clear(); }

  /** The one switch: the store's storage VM when one serves it, else the manager's own server. */
  async service(st: StoreRow): Promise<Backend> {
    const vm = await this.storageVm(st).catch(() => undefined);
    const key = Buffer.from(storeSecret(this.s, st.secret), 'base64');
    if (vm) {
      const serviceUrl = `http://${vm.linkLocalIp}:${STORAGE_VM_PORT}`;
      if (st.service_url !== serviceUrl) await this.s.db.query('UPDATE image_stores SET service_url = $2 WHERE id = $1', [st.id, serviceUrl]);
      return { kind: 'ssvm', control: relayControl(this.s, vm), key, serviceUrl, vm };
    }
    const local = await this.local(st);
    return { kind: 'manager', control: local.client, key, serviceUrl: local.server.url, local };
  }

  /** The manager's own server of a store (the fallback), started on first use. */
  local(st: StoreRow): Promise<Local> {
    let r = this.running.get(st.id);
    if (!r) {
      r = (async () => {
        await mkdir(st.path, { recursive: true });
        const key = Buffer.from(storeSecret(this.s, st.secret), 'base64');
        const first = this.running.size === 0;
        const server = await startStorageServer({
          dir: st.path, key, host: this.env.FLOTILLA_STORAGE_HOST ?? '127.0.0.1',
          port: first && this.env.FLOTILLA_STORAGE_PORT ? Number(this.env.FLOTILLA_STORAGE_PORT) : 0, guestTemplate: { busybox: findBusybox(this.env) },
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
    this.vms.delete(storeId);
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
    const b = await this.service(st);
    await this.s.db.query(`UPDATE templates SET store_id = $2, transfer_state = 'Downloading', status = '0% Downloaded' WHERE id = $1`, [req.id, st.id]);
    try {
      await this.apply(req.id, await b.control.download(req, url));
    } catch (e) {
      await this.s.db.query(`UPDATE templates SET transfer_state = 'Error', status = $2 WHERE id = $1`, [req.id, `Download Failed: the storage service refused it: ${(e as Error).message}`]);
    }
  }

  /**
   * The built-in guest template as a host fetches it from the zone's image store, which builds it
   * at its first start (storage/src/guest-template.ts) and serves it as any template; undefined
   * when the zone has no image store (the host then builds the same tree itself). Waits up to
   * 30 s while the store builds it (a storage VM just configured, a handover).
   */
  async guestTemplateImage(zoneId: string, hostId: string | undefined): Promise<TemplateImage | undefined> {
    const st = await this.storeForZone(this.s.db, zoneId);
    if (!st) return undefined;
    const deadline = Date.now() + 30_000;
    for (;;) {
      let why = 'the store is still building it';
      const b = await this.service(st).catch((e: Error) => { why = `its storage service is unavailable: ${e.message}`; return undefined; });
      const img = b && await b.control.get(GUEST_TEMPLATE_ID).catch((e: Error) => { why = `its storage service does not answer: ${e.message}`; return undefined; });
      if (b && img?.state === 'Ready' && img.sha256) return hostImage(this.s.db, { serviceUrl: b.serviceUrl, secret: b.key.toString('base64'), id: GUEST_TEMPLATE_ID, sha256: img.sha256 }, hostId);
      if (img) why = img.status;
      if (Date.now() > deadline) throw apiError('RESOURCE_UNAVAILABLE', `The built-in guest template is not on image store ${st.name}: ${why}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  /** Where browsers reach a store's uploads and extracts: FLOTILLA_STORAGE_PUBLIC_URL; else a
   *  storage VM's public address, or the manager's `/storage/<store id>` forward to it where the
   *  manager reaches the public network only through a namespace (the single-machine cloud);
   *  else the manager's own server. */
  async publicBase(st: StoreRow, b: Backend): Promise<string> {
    if (this.env.FLOTILLA_STORAGE_PUBLIC_URL) return this.env.FLOTILLA_STORAGE_PUBLIC_URL;
    if (!b.vm) return b.serviceUrl;
    const { storageForwardBase } = await import('./forward.ts');
    return storageForwardBase(this.s, st.id) ?? `http://${b.vm.publicIp}`;
  }

  async uploadParams(st: StoreRow, meta: { id: string; kind: 'template' | 'iso'; format: string; checksum?: string }, ttlSeconds: number) {
    const b = await this.service(st);
    const base = await this.publicBase(st, b);
    return uploadParams(b.key, { ...meta, maxBytes: Number(this.env.FLOTILLA_STORAGE_MAX_UPLOAD_BYTES ?? 20 * 2 ** 30) }, base, new Date(Date.now() + ttlSeconds * 1000));
  }

  async extractUrl(st: StoreRow, id: string, ttlSeconds: number): Promise<string> {
    const b = await this.service(st);
    return signedUrl(b.key, await this.publicBase(st, b), 'extract', id, new Date(Date.now() + ttlSeconds * 1000));
  }

  async deleteFiles(storeId: string, id: string): Promise<void> {
    const st = await this.storeById(storeId);
    if (!st) return;
    const b = await this.service(st).catch(() => undefined);
    if (!b) throw apiError('RESOURCE_UNAVAILABLE', `the storage service of image store ${st.name} is not running`);
    await b.control.delete(id);
    // Files an earlier fallback server of the manager still tracks go too.
    if (b.kind === 'ssvm') await this.running.get(st.id)?.then((l) => l.client.delete(id), () => undefined);
  }

  /** Brings every transferring template's row up to date (listTemplates calls it too). */
  poll(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.polling ??= (async () => {
      try {
        const rows = await this.s.db.query<{ id: string; store_id: string; transfer_state: string }>(
          `SELECT id, store_id, transfer_state FROM templates WHERE store_id IS NOT NULL AND removed IS NULL AND transfer_state IN ${IN_FLIGHT.replace(')', ", 'NotUploaded')")}`);
        for (const row of rows) {
          const st = await this.storeById(row.store_id);
          if (!st) continue;
          // A transfer the manager's own server started before the storage VM came up stays there.
          const local = this.running.get(st.id);
          let img = local ? await (await local).client.get(row.id).catch(() => undefined) : undefined;
          let asked = Boolean(local);
          if (!img) {
            const vm = await this.storageVm(st).catch(() => undefined);
            if (vm) { asked = true; img = await relayControl(this.s, vm).get(row.id).catch(() => undefined); }
          }
          if (img) await this.apply(row.id, img);
          else if (asked && row.transfer_state === 'Downloading' && !local) {
            await this.s.db.query(`UPDATE templates SET transfer_state = 'Error', status = $2 WHERE id = $1 AND transfer_state = 'Downloading'`,
              [row.id, 'Download Failed: the secondary storage VM lost the transfer (it was re-created); delete and register it again']);
          }
        }
        await this.retireLocal();
      } catch (e) {
        this.s.log.warn({ err: e }, 'storage: polling transfers failed');
      } finally { this.polling = undefined; }
    })();
    return this.polling;
  }

  /** The manager's own server of a store goes once a storage VM serves the store and nothing
   *  is transferring through the manager's. */
  private async retireLocal(): Promise<void> {
    for (const [id, p] of [...this.running]) {
      const l = await p.catch(() => undefined);
      if (!l || l.server.store.list().some((i) => i.state === 'Downloading' || i.state === 'Uploading')) continue;
      const st = await this.storeById(id);
      if (!st || !(await this.storageVm(st).catch(() => undefined))) continue;
      this.running.delete(id);
      await l.server.close();
      this.s.log.info({ store: st.name }, 'storage: the secondary storage VM serves the image store; the manager\'s own server stopped');
      await this.service(st);
    }
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

/** A stored template as a host fetches it (vmSpec's `template.image`). */
export async function hostImage(sql: Sql, t: { serviceUrl: string; secret: string; id: string; sha256: string }, hostId: string | undefined): Promise<TemplateImage> {
  return { id: t.id, url: hostImageUrl(await serviceUrlForHost(sql, t.serviceUrl, hostId), t.secret, t.id), sha256: t.sha256 };
}

/** The service URL a given host fetches from: a storage VM's control (link-local) address is
 *  reachable from its own host only (each host's control network is its own), so another host
 *  fetches from the VM's public address. */
export async function serviceUrlForHost(sql: Sql, serviceUrl: string, hostId: string | undefined): Promise<string> {
  const m = /^http:\/\/(169\.254\.\d+\.\d+)(:\d+)?$/.exec(serviceUrl);
  if (!m || !hostId) return serviceUrl;
  const vm = (await sql.query<{ host_id: string | null; public_ip: string }>(
    `SELECT v.host_id, x.public_ip FROM system_vms x JOIN vm_instances v ON v.id = x.vm_id WHERE x.link_local_ip = $1 AND v.type = 'SecondaryStorageVm' AND v.state = 'Running'`, [m[1]]))[0];
  return !vm || vm.host_id === hostId ? serviceUrl : `http://${vm.public_ip}`;
}
