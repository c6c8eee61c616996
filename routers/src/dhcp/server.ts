// The DHCPv4 server's I/O: one UDP socket per guest interface, each bound to 0.0.0.0:67 with
// SO_REUSEADDR and SO_BINDTODEVICE (native/sockopt.c). The kernel then hands a tier's
// broadcasts only to that tier's socket, and a reply sent on it leaves through that interface
// even to 255.255.255.255 with no route for it (see docs/decisions/0500). apply() diffs the
// table by interface: unchanged interfaces keep their socket, so a reload loses nothing.
import dgram from 'node:dgram';
import { sockopt } from '../native.ts';
import { allocate, decide, type DhcpNetwork } from './engine.ts';
import type { LeaseStore } from './leases.ts';
import { DhcpParseError, parse } from './packet.ts';

const OFFER_HOLD_S = 60;
/** replies per sendmmsg: native/sockopt.c's BATCH_MAX */
const SEND_BATCH = 256;

/** The file descriptor under a bound dgram socket (Node keeps it in its internal state). */
export function socketFd(s: dgram.Socket): number {
  const sym = Object.getOwnPropertySymbols(s).find((x) => x.description === 'state symbol');
  const fd = (sym ? (s as unknown as Record<symbol, { handle?: { fd?: number } }>)[sym]?.handle?.fd : undefined);
  if (typeof fd !== 'number' || fd < 0) throw new Error('cannot find the socket fd');
  return fd;
}

interface Port {
  sock: dgram.Socket; fd: number; net: DhcpNetwork; cursor: { next: number };
  /** replies waiting for this tick's end: one sendmmsg for all (a group commit ACKs many at once) */
  outbox: Array<[Buffer, number, string]>;
  closed?: boolean;
}

export class DhcpServer {
  private readonly ports = new Map<string, Port>();
  private readonly offers = new Map<string, { ip: string; until: number }>();
  private readonly offeredIps = new Map<string, string>();
  readonly counters: Record<string, number> = {};
  private lastError: string | undefined;

  constructor(private readonly leases: LeaseStore, private readonly opts: { port?: number; now?: () => number } = {}) {}

  private now(): number { return this.opts.now ? this.opts.now() : Math.floor(Date.now() / 1000); }
  private count(e: string): void { this.counters[e] = (this.counters[e] ?? 0) + 1; }

  async apply(nets: DhcpNetwork[]): Promise<void> {
    const wanted = new Map(nets.map((n) => [n.ifname, n]));
    for (const [ifname, p] of this.ports) {
      if (!wanted.has(ifname)) { this.ports.delete(ifname); p.closed = true; await new Promise<void>((r) => p.sock.close(() => r())); }
    }
    for (const n of nets) {
      const p = this.ports.get(n.ifname);
      if (p) { p.net = n; continue; } // swap the table in place: the socket stays open
      this.ports.set(n.ifname, await this.open(n));
    }
  }

  private async open(net: DhcpNetwork): Promise<Port> {
    // Large receive buffer: a burst of DISCOVERs (a whole tier booting) waits in the kernel
    // while a lease batch is being fsync'd instead of being dropped.
    const sock = dgram.createSocket({ type: 'udp4', reuseAddr: true, recvBufferSize: 4 << 20 });
    const port: Port = { sock, fd: -1, net, cursor: { next: 0 }, outbox: [] };
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind(this.opts.port ?? 67, '0.0.0.0', () => { sock.off('error', reject); resolve(); });
    });
    // Bound to 0.0.0.0 before the device filter is set: a packet of another tier arriving in
    // this microsecond window would be answered with this tier's table; decide() then ignores
    // relays from foreign subnets and unknown MACs, so the window can leak nothing.
    port.fd = socketFd(sock);
    sockopt().bindToDevice(port.fd, net.ifname);
    sock.setBroadcast(true);
    sock.on('error', (e) => { this.lastError = `${net.ifname}: ${e.message}`; this.count('socket_error'); });
    sock.on('message', (msg) => { void this.onMessage(port, msg); });
    return port;
  }

  private async onMessage(p: Port, msg: Buffer): Promise<void> {
    let req;
    try { req = parse(msg); } catch (e) {
      this.count(e instanceof DhcpParseError ? 'ignored_malformed' : 'error');
      return;
    }
    const now = this.now();
    const mac = req.chaddr;
    const o = this.offers.get(mac);
    const offered = o && o.until > now ? o.ip : undefined;
    const d = decide(p.net, req, this.leases, now, offered, () => allocate(p.net, mac, this.leases, (ip) => {
      const holder = this.offeredIps.get(ip);
      if (!holder || holder === mac) return false;
      const h = this.offers.get(holder);
      return !!h && h.until > now;
    }, now, p.cursor));
    for (const e of d.events) this.count(e);
    if (d.offered) {
      const prev = this.offers.get(mac);
      if (prev) this.offeredIps.delete(prev.ip);
      this.offers.set(mac, { ip: d.offered, until: now + OFFER_HOLD_S });
      this.offeredIps.set(d.offered, mac);
    }
    try {
      if (d.put) {
        await this.leases.put(d.put);
        const prev = this.offers.get(mac);
        if (prev) { this.offers.delete(mac); this.offeredIps.delete(prev.ip); }
      }
      if (d.remove) await this.leases.remove(d.remove);
    } catch (e) {
      // Never ACK a lease that is not on disk: the client retries, and we report unhealthy.
      this.lastError = `lease store: ${(e as Error).message}`;
      this.count('lease_write_failed');
      return;
    }
    if (!d.reply) return;
    if (p.outbox.push([d.reply.buf, d.reply.port, d.reply.address]) === 1) process.nextTick(() => this.flush(p));
  }

  /** Sends a port's waiting replies: the ACKs of one lease batch resolve in one tick, so they
   *  leave in one sendmmsg; what the socket's buffer does not take goes through dgram. */
  private flush(p: Port): void {
    const out = p.outbox;
    p.outbox = [];
    if (p.closed) { for (let i = 0; i < out.length; i++) this.count('dropped_socket_closed'); return; }
    let i = 0;
    while (i < out.length) {
      const n = sockopt().sendBatch(p.fd, out.slice(i, i + SEND_BATCH));
      if (n < 0) { this.count('send_failed'); this.lastError = `sendmmsg: errno ${-n}`; i++; continue; }
      if (n === 0) break;
      i += n;
    }
    for (; i < out.length; i++) {
      const [buf, port, address] = out[i]!;
      p.sock.send(buf, port, address, (err) => { if (err) { this.count('send_failed'); this.lastError = err.message; } });
    }
  }

  health(): { ok: boolean; detail?: string } {
    return this.lastError ? { ok: false, detail: this.lastError } : { ok: true };
  }

  async close(): Promise<void> {
    for (const p of this.ports.values()) { p.closed = true; await new Promise<void>((r) => p.sock.close(() => r())); }
    this.ports.clear();
  }
}
