// Lean DNS responder for a guest network: authoritative answers for the network's names from
// precompiled buffers (zone.ts), NXDOMAIN inside the domain and its reverse zone, everything else
// relayed byte-for-byte to the zone's DNS servers with a rewritten ID. One UDP socket per
// guest-network gateway address, so the service is reachable only on guest networks, never on
// the public interface (no open resolver). apply() swaps zones on live sockets: a reload drops
// nothing, not even queries waiting on a forwarder.
import dgram from 'node:dgram';
import { isIPv6 } from 'node:net';
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
  const local = inDomain(zone, qq.name) || zone.reverse.some((m) => m(qq.name));
  if (!local) return { kind: 'forward', event: 'forwarded' };
  if (qq.cls !== 1) return { kind: 'answer', buf: errorResponse(q, qq, RCODE.REFUSED), event: 'refused' };
  const type = qq.type === T.ANY ? T.A : qq.type; // RFC 8482: a minimal answer to ANY
  const an = zone.answers.get(`${type}/${qq.name}`);
  if (an) return { kind: 'answer', buf: buildResponse(q, qq, RCODE.NOERROR, an, undefined), event: 'answered' };
  if (zone.names.has(qq.name)) return { kind: 'answer', buf: buildResponse(q, qq, RCODE.NOERROR, undefined, zone.soa), event: 'nodata' };
  return { kind: 'answer', buf: buildResponse(q, qq, RCODE.NXDOMAIN, undefined, zone.soa), event: 'nxdomain' };
}

interface Listener { sock: dgram.Socket; zone: Zone }
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
      if (!wanted.has(addr)) { this.listeners.delete(addr); await new Promise<void>((r) => l.sock.close(() => r())); }
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
    const l: Listener = { sock, zone };
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind(this.opts.port ?? 53, address, () => { sock.off('error', reject); resolve(); });
    });
    sock.on('error', (e) => { this.lastError = `${address}: ${e.message}`; this.count('socket_error'); });
    sock.on('message', (msg, rinfo) => {
      const v = respond(l.zone, msg);
      this.count(v.event);
      if (v.kind === 'answer') sock.send(v.buf, rinfo.port, rinfo.address);
      else if (v.kind === 'forward') this.forward(l, msg, rinfo.address, rinfo.port);
    });
    return l;
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
    p.l.sock.send(msg, p.port, p.address);
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
      p.l.sock.send(errorResponse(p.query, parseQuery(p.query), RCODE.SERVFAIL), p.port, p.address);
    }
  }

  health(): { ok: boolean; detail?: string } { return this.lastError ? { ok: false, detail: this.lastError } : { ok: true }; }

  async close(): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    for (const l of this.listeners.values()) await new Promise<void>((r) => l.sock.close(() => r()));
    this.listeners.clear();
    for (const s of [this.up4, this.up6]) if (s) s.close();
  }
}
