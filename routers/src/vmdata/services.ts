// HTTP services on each guest gateway address: user data / metadata on port 80 and CloudStack's
// password service on port 8080. Tables are swapped in place on apply(); listeners stay open,
// and a listener for an address that goes away is closed gracefully (server.close lets the
// requests in flight finish), so a reload never cuts a guest's fetch.
import { createHash } from 'node:crypto';
import { mkdir, open, readFile, rename } from 'node:fs/promises';
import http from 'node:http';
import { dirname } from 'node:path';
import { metadataReply, type VmDataTable } from './compile.ts';

async function listen(server: http.Server, port: number, address: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host: address, exclusive: true }, () => { server.off('error', reject); resolve(); });
  });
}

/** Plain client address (IPv4-mapped IPv6 unwrapped). */
const clientIp = (req: http.IncomingMessage): string => (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '');

abstract class MultiListener {
  protected table: VmDataTable = { addresses: [], vms: new Map(), passwords: new Map() };
  private readonly servers = new Map<string, http.Server>();
  readonly counters: Record<string, number> = {};
  protected lastError: string | undefined;
  constructor(private readonly port: number) {}
  protected count(e: string): void { this.counters[e] = (this.counters[e] ?? 0) + 1; }
  protected abstract handle(req: http.IncomingMessage, res: http.ServerResponse): void;

  async apply(table: VmDataTable): Promise<void> {
    this.table = table;
    const wanted = new Set(table.addresses);
    for (const [addr, s] of this.servers) {
      if (wanted.has(addr)) continue;
      this.servers.delete(addr);
      s.close(); // stops accepting; in-flight requests complete, then idle sockets close
      s.closeIdleConnections();
    }
    for (const addr of wanted) {
      if (this.servers.has(addr)) continue;
      const s = http.createServer({ requestTimeout: 30_000, headersTimeout: 10_000 }, (req, res) => {
        try { this.handle(req, res); } catch (e) { this.count('error'); this.lastError = (e as Error).message; if (!res.headersSent) { res.statusCode = 500; res.end(); } }
      });
      s.keepAliveTimeout = 5_000;
      await listen(s, this.port, addr);
      this.servers.set(addr, s);
    }
  }

  health(): { ok: boolean; detail?: string } { return this.lastError ? { ok: false, detail: this.lastError } : { ok: true }; }

  async close(): Promise<void> {
    await Promise.all([...this.servers.values()].map((s) => new Promise<void>((r) => { s.close(() => r()); s.closeIdleConnections(); })));
    this.servers.clear();
  }
}

export class MetadataService extends MultiListener {
  constructor(port = 80) { super(port); }
  protected handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (req.method !== 'GET' && req.method !== 'HEAD') { this.count('bad_method'); res.writeHead(405, { allow: 'GET, HEAD' }).end(); return; }
    const r = metadataReply(this.table, clientIp(req), req.url ?? '/');
    this.count(r.status === 200 ? 'served' : 'not_found');
    res.writeHead(r.status, { 'content-type': r.type ?? 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(r.body) });
    res.end(req.method === 'HEAD' ? undefined : r.body);
  }
}

/**
 * CloudStack's password service (the VR's passwd_server_ip.py), same wire behaviour: a GET with
 * header `DomU_Request: send_my_password` returns the VM's password as the whole body, or
 * `saved_password` when there is none (or it was already acknowledged); `DomU_Request:
 * saved_password` acknowledges (the password is never served again) and returns
 * `saved_password`; anything else is 400 `bad_request`. Guests cannot set passwords here: only
 * the manager does, through the spec. Acknowledgements are persisted as hashes of (ip, password)
 * so a restarted or re-created router does not serve an acknowledged password again while the
 * manager still carries it in the spec.
 */
export class PasswordService extends MultiListener {
  private acked = new Set<string>();
  constructor(private readonly ackFile: string, port = 8080) { super(port); }

  static fingerprint(ip: string, password: string): string { return createHash('sha256').update(`${ip}\0${password}`).digest('hex'); }

  async load(): Promise<void> {
    try { this.acked = new Set(JSON.parse(await readFile(this.ackFile, 'utf8')) as string[]); } catch { this.acked = new Set(); }
  }

  private persisting: Promise<void> = Promise.resolve();

  /** Serialised: two acknowledgements at once must not race on the temporary file. */
  private persist(): Promise<void> {
    const next = this.persisting.then(() => this.writeAcks());
    this.persisting = next.catch(() => undefined);
    return next;
  }

  private async writeAcks(): Promise<void> {
    // Only fingerprints of passwords still in the spec are kept: the file cannot grow forever.
    const live = new Set([...this.table.passwords].map(([ip, pw]) => PasswordService.fingerprint(ip, pw)));
    this.acked = new Set([...this.acked].filter((f) => live.has(f)));
    await mkdir(dirname(this.ackFile), { recursive: true });
    const tmp = `${this.ackFile}.tmp`;
    const fh = await open(tmp, 'w', 0o600);
    try { await fh.write(JSON.stringify([...this.acked])); await fh.sync(); } finally { await fh.close(); }
    await rename(tmp, this.ackFile);
  }

  protected handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const ip = clientIp(req);
    const kind = req.headers['domu_request'];
    const send = (status: number, body: string) => { res.writeHead(status, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) }); res.end(body); };
    const pw = this.table.passwords.get(ip);
    const fp = pw === undefined ? undefined : PasswordService.fingerprint(ip, pw);
    if (req.method !== 'GET') { this.count('bad_request'); send(400, 'bad_request'); return; }
    if (kind === 'send_my_password') {
      if (pw === undefined || this.acked.has(fp!)) { this.count('no_password'); send(200, 'saved_password'); return; }
      this.count('served'); send(200, pw); return;
    }
    if (kind === 'saved_password') {
      if (fp && !this.acked.has(fp)) {
        this.acked.add(fp);
        this.count('acknowledged');
        this.persist().then(() => send(200, 'saved_password'), (e: Error) => { this.lastError = `ack file: ${e.message}`; send(200, 'saved_password'); });
        return;
      }
      send(200, 'saved_password'); return;
    }
    this.count('bad_request');
    send(400, 'bad_request');
  }
}
