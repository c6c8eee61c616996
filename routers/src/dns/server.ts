// Lean DNS responder for a guest network: authoritative answers for the network's names from
// precompiled buffers (zone.ts), NXDOMAIN inside the domain and its reverse zone, everything else
// relayed byte-for-byte to the zone's DNS servers with a rewritten ID. One UDP socket per
// guest-network gateway address, so the service is reachable only on guest networks, never on
// the public interface (no open resolver). apply() swaps zones on live sockets: a reload drops
// nothing, not even queries waiting on a forwarder.
import dgram from 'node:dgram';
import net, { isIPv6 } from 'node:net';
import { inDomain, T, type Answer, type Zone } from './zone.ts';

export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;

export interface Question { name: string; type: number; cls: number; end: number; opcode: number }

/** Parses the header and the single question of a query; undefined when it is not one. */
export function parseQuery(m: Buffer): Question | undefined {
  if (m.length < 17 || (m[2]! & 0x80) !== 0) return undefined; // too short, or a response
  if (m.readUInt16BE(4) !== 1) return undefined;
  let o = 12;
  let name = '';
  for (;;) {
    const len = m[o];
    if (len === undefined || len > 63) return undefined; // compression is not valid in a query
    o++;
    if (len === 0) break;
    if (o + len > m.length || name.length + len > 253) return undefined;
    name += (name ? '.' : '') + m.toString('latin1', o, o + len).toLowerCase();
    o += len;
  }
  if (o + 4 > m.length) return undefined;
  return { name, type: m.readUInt16BE(o), cls: m.readUInt16BE(o + 2), end: o + 4, opcode: (m[2]! >> 3) & 0x0f };
}

/** Header + the query's question + answer/authority RRs. */
export function buildResponse(q: Buffer, qq: Question, rcode: number, an: Answer | undefined, auth: Buffer | undefined): Buffer {
  const anLen = an ? an.rrs.length : 0;
  const b = Buffer.allocUnsafe(qq.end + anLen + (auth ? auth.length : 0));
  q.copy(b, 0, 0, qq.end);
  b[2] = 0x80 | (qq.opcode << 3) | 0x04 | (q[2]! & 0x01); // QR, opcode, AA, RD copied
  b[3] = 0x80 | rcode; // RA: we recurse through the forwarders
  b.writeUInt16BE(1, 4);
  b.writeUInt16BE(an ? an.ancount : 0, 6);
  b.writeUInt16BE(auth ? 1 : 0, 8);
  b.writeUInt16BE(0, 10);
  if (an) an.rrs.copy(b, qq.end);
  if (auth) auth.copy(b, qq.end + anLen);
  return b;
}

/** An error response echoing the question when there is one (FORMERR may have none). */
function errorResponse(q: Buffer, qq: Question | undefined, rcode: number): Buffer {
  if (qq) { const b = buildResponse(q, qq, rcode, undefined, undefined); b[2] = b[2]! & ~0x04; return b; }
  const b = Buffer.alloc(12);
  q.copy(b, 0, 0, 2);
  b[2] = 0x80; b[3] = 0x80 | rcode;
  return b;
}

export type Verdict = { kind: 'answer'; buf: Buffer; event: string } | { kind: 'forward'; event: string } | { kind: 'drop'; event: string };

/** What to do with one query for `zone` (pure; the unit tests drive this directly). */
export function respond(zone: Zone, q: Buffer): Verdict {
  if (q.length < 12 || (q[2]! & 0x80) !== 0) return { kind: 'drop', event: 'dropped_malformed' };
  const qq = parseQuery(q);
  if (!qq) return { kind: 'answer', buf: errorResponse(q, undefined, RCODE.FORMERR), event: 'formerr' };
  if (qq.opcode !== 0) return { kind: 'answer', buf: errorResponse(q, qq, RCODE.NOTIMP), event: 'notimp' };
  const type = qq.type === T.ANY ? T.A : qq.type; // RFC 8482: a minimal answer to ANY
  // A record we hold is answered even outside the domain's zones (ip6.arpa PTRs of VMs).
  const an = qq.cls === 1 ? zone.answers.get(`${type}/${qq.name}`) : undefined;
  if (an) return { kind: 'answer', buf: buildResponse(q, qq, RCODE.NOERROR, an, undefined), event: 'answered' };
  const local = inDomain(zone, qq.name) || zone.reverse.some((m) => m(qq.name));
  if (!local) return { kind: 'forward', event: 'forwarded' };
  if (qq.cls !== 1) return { kind: 'answer', buf: errorResponse(q, qq, RCODE.REFUSED), event: 'refused' };
  if (zone.names.has(qq.name)) return { kind: 'answer', buf: buildResponse(q, qq, RCODE.NOERROR, undefined, zone.soa), event: 'nodata' };
  return { kind: 'answer', buf: buildResponse(q, qq, RCODE.NXDOMAIN, undefined, zone.soa), event: 'nxdomain' };
}

interface Listener { sock: dgram.Socket; tcp: net.Server; zone: Zone }
interface Pending { l: Listener; address: string; port: number; id: number; query: Buffer; tried: number; sentAt: number; upstream: string }

const FORWARD_TIMEOUT_MS = 1500;

export class DnsServer {
  private readonly listeners = new Map<string, Listener>();
  private readonly pending = new Map<number, Pending>();
  private up4: dgram.Socket | undefined;
  private up6: dgram.Socket | undefined;
  private sweeper: NodeJS.Timeout | undefined;
  readonly counters: Record<string, number> = {};
  private lastError: string | undefined;

  constructor(private readonly opts: { port?: number } = {}) {}

  private count(e: string): void { this.counters[e] = (this.counters[e] ?? 0) + 1; }

  /** Listens on each `address` with its zone; unchanged addresses keep their socket. */
  async apply(entries: Array<{ address: string; zone: Zone }>): Promise<void> {
    const wanted = new Map(entries.map((e) => [e.address, e.zone]));
    for (const [addr, l] of this.listeners) {
      if (!wanted.has(addr)) { this.listeners.delete(addr); await closeListener(l); }
    }
    for (const [addr, zone] of wanted) {
      const l = this.listeners.get(addr);
      if (l) { l.zone = zone; continue; }
      this.listeners.set(addr, await this.listen(addr, zone));
    }
    this.sweeper ??= setInterval(() => this.sweep(), 250).unref();
  }

  private async listen(address: string, zone: Zone): Promise<Listener> {
    const sock = dgram.createSocket({ type: isIPv6(address) ? 'udp6' : 'udp4', recvBufferSize: 4 << 20, sendBufferSize: 4 << 20 });
    const tcp = net.createServer((c) => this.tcpConnection(l, c));
    const l: Listener = { sock, tcp, zone };
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind(this.opts.port ?? 53, address, () => { sock.off('error', reject); resolve(); });
    });
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen({ port: this.opts.port ?? 53, host: address, exclusive: true }, () => { tcp.off('error', reject); resolve(); });
    });
    tcp.on('error', (e) => { this.lastError = `${address} tcp: ${e.message}`; this.count('socket_error'); });
    sock.on('error', (e) => { this.lastError = `${address}: ${e.message}`; this.count('socket_error'); });
    sock.on('message', (msg, rinfo) => {
      const v = respond(l.zone, msg);
      this.count(v.event);
      if (v.kind === 'answer') sock.send(v.buf, rinfo.port, rinfo.address);
      else if (v.kind === 'forward') this.forward(l, msg, rinfo.address, rinfo.port);
    });
    return l;
  }

  /**
   * DNS over TCP (RFC 7766): needed when a forwarded UDP answer comes back truncated and the
   * client retries over TCP. Length-prefixed messages, answered as they complete (pipelined
   * queries may be answered out of order, which RFC 7766 allows). Forwarded queries go to the
   * forwarder over TCP too, one short connection each.
   */
  private tcpConnection(l: Listener, c: net.Socket): void {
    let buf = Buffer.alloc(0);
    c.setTimeout(10_000, () => c.destroy());
    c.on('error', () => undefined);
    const write = (m: Buffer) => { if (!c.destroyed) { const h = Buffer.alloc(2); h.writeUInt16BE(m.length); c.write(Buffer.concat([h, m])); } };
    c.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const msg = buf.subarray(2, 2 + buf.readUInt16BE(0));
        buf = buf.subarray(2 + msg.length);
        const v = respond(l.zone, msg);
        this.count(`tcp_${v.event}`);
        if (v.kind === 'answer') write(v.buf);
        else if (v.kind === 'forward') void this.forwardTcp(l.zone, Buffer.from(msg)).then(write);
      }
    });
  }

  private async forwardTcp(zone: Zone, query: Buffer): Promise<Buffer> {
    for (const fw of zone.forwarders) {
      const r = await new Promise<Buffer | undefined>((resolve) => {
        const u = net.connect({ host: fw, port: 53 });
        let got = Buffer.alloc(0);
        u.setTimeout(FORWARD_TIMEOUT_MS * 2, () => { u.destroy(); resolve(undefined); });
        u.on('error', () => resolve(undefined));
        u.on('connect', () => { const h = Buffer.alloc(2); h.writeUInt16BE(query.length); u.write(Buffer.concat([h, query])); });
        u.on('data', (d) => {
          got = Buffer.concat([got, d]);
          if (got.length >= 2 && got.length >= 2 + got.readUInt16BE(0)) { u.end(); resolve(got.subarray(2, 2 + got.readUInt16BE(0))); }
        });
        u.on('close', () => resolve(undefined));
      });
      if (r && r.length >= 12 && r.readUInt16BE(0) === query.readUInt16BE(0)) return r;
    }
    this.count('servfail');
    return errorResponse(query, parseQuery(query), RCODE.SERVFAIL);
  }

  private upstream(ip: string): dgram.Socket {
    const v6 = isIPv6(ip);
    let s = v6 ? this.up6 : this.up4;
    if (!s) {
      s = dgram.createSocket({ type: v6 ? 'udp6' : 'udp4', recvBufferSize: 4 << 20 });
      s.on('message', (msg, rinfo) => this.fromUpstream(msg, rinfo.address));
      s.on('error', (e) => { this.lastError = `upstream: ${e.message}`; this.count('socket_error'); });
      s.bind(0);
      if (v6) this.up6 = s; else this.up4 = s;
    }
    return s;
  }

  private forward(l: Listener, query: Buffer, address: string, port: number): void {
    if (l.zone.forwarders.length === 0 || this.pending.size >= 60_000) {
      this.count('servfail');
      l.sock.send(errorResponse(query, parseQuery(query), RCODE.SERVFAIL), port, address);
      return;
    }
    let id = 0;
    do { id = (Math.random() * 0x10000) | 0; } while (this.pending.has(id));
    const p: Pending = { l, address, port, id: query.readUInt16BE(0), query: Buffer.from(query), tried: 0, sentAt: 0, upstream: '' };
    this.pending.set(id, p);
    this.sendUpstream(id, p);
  }

  private sendUpstream(newId: number, p: Pending): void {
    const fw = p.l.zone.forwarders[p.tried % p.l.zone.forwarders.length]!;
    p.tried++; p.sentAt = Date.now(); p.upstream = fw;
    p.query.writeUInt16BE(newId, 0);
    this.upstream(fw).send(p.query, 53, fw);
  }

  private fromUpstream(msg: Buffer, from: string): void {
    if (msg.length < 12) return;
    const id = msg.readUInt16BE(0);
    const p = this.pending.get(id);
    if (!p || p.upstream !== from) { this.count('upstream_unexpected'); return; } // spoof guard
    this.pending.delete(id);
    msg.writeUInt16BE(p.id, 0);
    safeSend(p.l.sock, msg, p.port, p.address);
  }

  /** Retries a slow forwarder on the next one, once per forwarder, then SERVFAIL. */
  private sweep(): void {
    const now = Date.now();
    for (const [id, p] of this.pending) {
      if (now - p.sentAt < FORWARD_TIMEOUT_MS) continue;
      if (p.tried < Math.max(2, p.l.zone.forwarders.length)) { this.count('forward_retry'); this.sendUpstream(id, p); continue; }
      this.pending.delete(id);
      this.count('servfail');
      p.query.writeUInt16BE(p.id, 0);
      safeSend(p.l.sock, errorResponse(p.query, parseQuery(p.query), RCODE.SERVFAIL), p.port, p.address);
    }
  }

  health(): { ok: boolean; detail?: string } { return this.lastError ? { ok: false, detail: this.lastError } : { ok: true }; }

  async close(): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    for (const l of this.listeners.values()) await closeListener(l);
    this.listeners.clear();
    for (const s of [this.up4, this.up6]) if (s) s.close();
  }
}

async function closeListener(l: Listener): Promise<void> {
  await new Promise<void>((r) => l.sock.close(() => r()));
  // Stop accepting without waiting: open TCP queries finish on their own (or time out).
  l.tcp.close();
}

/** Sends on a listener that may have been closed by an apply while a forward was pending. */
function safeSend(sock: dgram.Socket, buf: Buffer, port: number, address: string): void {
  try { sock.send(buf, port, address); } catch { /* listener gone with its address */ }
}
