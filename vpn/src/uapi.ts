// A client of WireGuard's cross-platform configuration protocol (the UAPI socket that
// wireguard-go serves at /var/run/wireguard/<interface>.sock): one connection kept open,
// operations strictly in order. `set=1` changes only what it names — one peer added or removed
// leaves every other peer and its session untouched, which is why the applier never rewrites the
// peer list.
import net from 'node:net';

export const UAPI_DIR = '/var/run/wireguard';
export const socketPath = (iface: string) => `${UAPI_DIR}/${iface}.sock`;

export class UapiError extends Error {
  constructor(readonly errno: number, op: string) { super(`wireguard UAPI ${op} failed: errno=${errno}`); }
}

export class UapiClient {
  private buf = '';
  private waiting: Array<{ resolve: (body: string) => void; reject: (e: Error) => void }> = [];
  private closed = false;

  private constructor(private readonly sock: net.Socket) {
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      this.buf += d;
      let end: number;
      // Every answer ends with "errno=N\n\n".
      while ((end = this.buf.indexOf('\n\n')) >= 0 && /(^|\n)errno=-?\d+$/.test(this.buf.slice(0, end))) {
        const body = this.buf.slice(0, end + 1); this.buf = this.buf.slice(end + 2);
        this.waiting.shift()?.resolve(body);
      }
    });
    const fail = (e: Error) => { this.closed = true; for (const w of this.waiting.splice(0)) w.reject(e); };
    sock.on('error', fail);
    sock.on('close', () => fail(new Error('wireguard UAPI socket closed')));
  }

  static connect(path: string, timeoutMs = 2000): Promise<UapiClient> {
    return new Promise((resolve, reject) => {
      const s = net.createConnection(path);
      const t = setTimeout(() => { s.destroy(); reject(new Error(`connecting to ${path} timed out`)); }, timeoutMs);
      s.once('connect', () => { clearTimeout(t); s.removeAllListeners('error'); resolve(new UapiClient(s)); });
      s.once('error', (e) => { clearTimeout(t); reject(e); });
    });
  }

  get isOpen(): boolean { return !this.closed; }

  private request(text: string): Promise<string> {
    if (this.closed) return Promise.reject(new Error('wireguard UAPI socket closed'));
    return new Promise((resolve, reject) => { this.waiting.push({ resolve, reject }); this.sock.write(text); });
  }

  /** `set=1` with these lines (each ending in \n); throws on a non-zero errno. */
  async set(lines: string): Promise<void> {
    const body = await this.request(`set=1\n${lines}\n`);
    const errno = Number(/errno=(-?\d+)/.exec(body)?.[1] ?? -1);
    if (errno !== 0) throw new UapiError(errno, 'set');
  }

  /** `get=1`: the device and its peers as wireguard-go reports them. */
  async get(): Promise<{ device: Record<string, string>; peers: Array<Record<string, string | string[]>> }> {
    const body = await this.request('get=1\n\n');
    const device: Record<string, string> = {};
    const peers: Array<Record<string, string | string[]>> = [];
    let cur: Record<string, string | string[]> | undefined;
    for (const line of body.split('\n')) {
      const i = line.indexOf('=');
      if (i < 0) continue;
      const k = line.slice(0, i); const v = line.slice(i + 1);
      if (k === 'errno') { if (v !== '0') throw new UapiError(Number(v), 'get'); continue; }
      if (k === 'public_key') { cur = { public_key: v, allowed_ip: [] }; peers.push(cur); continue; }
      if (cur) { if (k === 'allowed_ip') (cur.allowed_ip as string[]).push(v); else cur[k] = v; } else device[k] = v;
    }
    return { device, peers };
  }

  close(): void { this.closed = true; this.sock.destroy(); }
}
