// The DHCPv4 server's decisions (RFC 2131 §4.3), pure: a compiled network table, a request and
// the lease view in, a reply (bytes + destination) and the lease change out. No sockets, no
// clock, no disk: the server (server.ts) performs the I/O.
import type { GuestNetwork } from '@flotilla/protocol/router';
import {
  encodeReply, intToIp, ipBuf, ipToInt, msgType, MsgType, Opt, optIp, optString, u32Buf,
  type DhcpPacket,
} from './packet.ts';
import type { Lease } from './leases.ts';

export interface DhcpNetwork {
  ifname: string;
  serverId: string;
  net: number; mask: number;
  broadcast: string;
  leaseSeconds: number;
  reservations: Map<string, { ip: string; hostname?: string }>;
  reservedIps: Set<string>;
  pool?: { start: number; end: number };
  /** Options common to every OFFER/ACK of this network, encoded once per spec. */
  common: Array<[number, Buffer]>;
}

/** Compiles one guest network of the spec into the server's table (pure). */
export function compileDhcpNetwork(g: GuestNetwork): DhcpNetwork {
  const [base, plen] = g.cidr.split('/') as [string, string];
  const prefix = Number(plen);
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  const net = (ipToInt(base) & mask) >>> 0;
  const broadcast = intToIp((net | ~mask) >>> 0);
  const reservations = new Map<string, { ip: string; hostname?: string }>();
  for (const r of g.reservations) reservations.set(r.mac.toLowerCase(), r.hostname ? { ip: r.ip, hostname: r.hostname } : { ip: r.ip });
  const t1 = Math.floor(g.leaseSeconds / 2);
  const t2 = Math.floor((g.leaseSeconds * 7) / 8);
  const common: Array<[number, Buffer]> = [
    [Opt.SERVER_ID, ipBuf(g.gateway)],
    [Opt.LEASE_TIME, u32Buf(g.leaseSeconds)],
    [Opt.RENEWAL_T1, u32Buf(t1)],
    [Opt.REBINDING_T2, u32Buf(t2)],
    [Opt.SUBNET_MASK, u32Buf(mask)],
    [Opt.BROADCAST, ipBuf(broadcast)],
    [Opt.ROUTER, ipBuf(g.gateway)],
    // The router itself is the guests' resolver: it answers the network's names and forwards
    // the rest to the zone's DNS (CloudStack's VR does the same with dnsmasq).
    [Opt.DNS, ipBuf(g.gateway)],
    [Opt.DOMAIN, Buffer.from(g.domain, 'ascii')],
  ];
  const out: DhcpNetwork = {
    ifname: g.interface, serverId: g.gateway, net, mask, broadcast, leaseSeconds: g.leaseSeconds,
    reservations, reservedIps: new Set(g.reservations.map((r) => r.ip)), common,
  };
  if (g.dynamicRange) out.pool = { start: ipToInt(g.dynamicRange.start), end: ipToInt(g.dynamicRange.end) };
  return out;
}

export interface LeaseView {
  get(mac: string): Lease | undefined;
  byIp(ip: string): Lease | undefined;
}

export interface Decision {
  /** Counter to bump ("discover", "offer", "ack", "nak", "ignored_…"). */
  events: string[];
  reply?: { buf: Buffer; address: string; port: number };
  /** Lease to make durable BEFORE the reply is sent. */
  put?: Lease;
  remove?: string;
  /** A pool address offered to this MAC (held in memory briefly, never persisted). */
  offered?: string;
}

export const inNet = (n: DhcpNetwork, ip: string): boolean => ((ipToInt(ip) & n.mask) >>> 0) === n.net;

/**
 * The address this client is entitled to: its reservation, else its (persisted) lease, else
 * an address the caller already offered it. Reservations win over leases so a manager change
 * of a VM's IP takes effect at the next renewal (NAK then re-DISCOVER), as in CloudStack.
 */
export function bindingFor(n: DhcpNetwork, mac: string, leases: LeaseView, offered?: string): { ip: string; hostname?: string; dynamic: boolean } | undefined {
  const r = n.reservations.get(mac);
  if (r) return { ...r, dynamic: false };
  if (!n.pool) return undefined;
  const l = leases.get(mac);
  if (l && inPool(n, l.ip) && !n.reservedIps.has(l.ip)) return l.hostname ? { ip: l.ip, hostname: l.hostname, dynamic: true } : { ip: l.ip, dynamic: true };
  if (offered) return { ip: offered, dynamic: true };
  return undefined;
}
const inPool = (n: DhcpNetwork, ip: string) => { const v = ipToInt(ip); return !!n.pool && v >= n.pool.start && v <= n.pool.end; };

/** Picks a free pool address: not reserved, not leased (unexpired) to anyone else, not `busy`. */
export function allocate(n: DhcpNetwork, mac: string, leases: LeaseView, busy: (ip: string) => boolean, now: number, cursor: { next: number }): string | undefined {
  if (!n.pool) return undefined;
  const size = n.pool.end - n.pool.start + 1;
  for (let i = 0; i < size; i++) {
    const v = n.pool.start + ((cursor.next + i) % size);
    const ip = intToIp(v);
    if (ip === n.serverId || n.reservedIps.has(ip) || busy(ip)) continue;
    const l = leases.byIp(ip);
    if (l && l.mac !== mac && l.expires > now) continue;
    cursor.next = (v - n.pool.start + 1) % size;
    return ip;
  }
  return undefined;
}

const ZERO = '0.0.0.0';

/** Where a reply goes (RFC 2131 §4.1). A client without an address is answered by broadcast:
 *  unicasting to yiaddr would need an ARP entry injected for chaddr first. */
function destination(req: DhcpPacket, nak: boolean): { address: string; port: number } {
  if (req.giaddr !== ZERO) return { address: req.giaddr, port: 67 };
  if (nak) return { address: '255.255.255.255', port: 68 };
  if (req.ciaddr !== ZERO) return { address: req.ciaddr, port: 68 };
  return { address: '255.255.255.255', port: 68 };
}

function reply(n: DhcpNetwork, req: DhcpPacket, type: MsgType, yiaddr: string, hostname: string | undefined, withLease = true): Buffer {
  const opts: Array<[number, Buffer]> = [[Opt.MSG_TYPE, Buffer.from([type])]];
  if (type === MsgType.NAK) {
    opts.push([Opt.SERVER_ID, ipBuf(n.serverId)]);
  } else {
    for (const o of n.common) if (withLease || (o[0] !== Opt.LEASE_TIME && o[0] !== Opt.RENEWAL_T1 && o[0] !== Opt.REBINDING_T2)) opts.push(o);
    if (hostname) opts.push([Opt.HOSTNAME, Buffer.from(hostname, 'ascii')]);
  }
  return encodeReply(req, { yiaddr, siaddr: type === MsgType.NAK ? ZERO : n.serverId, ciaddr: type === MsgType.INFORM || type === MsgType.ACK ? req.ciaddr : ZERO }, opts);
}

/**
 * Decides the answer to one request that arrived on network `n`. `offered` is the address
 * this MAC was offered from the pool (if any); `allocateIp` picks a pool address on DISCOVER.
 */
export function decide(n: DhcpNetwork, req: DhcpPacket, leases: LeaseView, now: number, offered: string | undefined, allocateIp: () => string | undefined): Decision {
  const type = msgType(req);
  const mac = req.chaddr;
  if (req.op !== 1 || req.htype !== 1 || req.hlen !== 6 || type === undefined) return { events: ['ignored_malformed'] };
  if (req.giaddr !== ZERO && !inNet(n, req.giaddr)) return { events: ['ignored_foreign_relay'] };
  const nak = (why: string): Decision => ({ events: ['nak', `nak_${why}`], reply: { buf: reply(n, req, MsgType.NAK, ZERO, undefined), ...destination(req, true) } });
  const requested = optIp(req, Opt.REQUESTED_IP);
  const serverId = optIp(req, Opt.SERVER_ID);

  switch (type) {
    case MsgType.DISCOVER: {
      let b = bindingFor(n, mac, leases, offered);
      let off: string | undefined;
      if (!b && n.pool) { off = allocateIp(); if (off) b = { ip: off, dynamic: true }; }
      if (!b) return { events: ['discover', 'ignored_unknown_client'] };
      const d: Decision = { events: ['discover', 'offer'], reply: { buf: reply(n, req, MsgType.OFFER, b.ip, b.hostname), ...destination(req, false) } };
      if (off) d.offered = off; else if (b.dynamic) d.offered = b.ip;
      return d;
    }
    case MsgType.REQUEST: {
      // SELECTING: the client names the server it chose; if not us, our offer is void.
      if (serverId !== undefined && serverId !== n.serverId) return { events: ['request', 'ignored_other_server'] };
      const b = bindingFor(n, mac, leases, offered);
      const wanted = serverId !== undefined || req.ciaddr === ZERO ? requested : req.ciaddr;
      if (!wanted) return { events: ['request', 'ignored_malformed'] };
      if (!b) {
        // INIT-REBOOT/RENEW from a client we know nothing about: if its address is not even on
        // this network it is wrong for sure (NAK); otherwise stay silent (RFC 2131 §4.3.2).
        if (!inNet(n, wanted)) return { ...nak('wrong_network'), events: ['request', 'nak', 'nak_wrong_network'] };
        return { events: ['request', 'ignored_unknown_client'] };
      }
      if (b.ip !== wanted) return { ...nak('wrong_address'), events: ['request', 'nak', 'nak_wrong_address'] };
      const hostname = b.hostname ?? (b.dynamic ? sanitizeHostname(optString(req, Opt.HOSTNAME)) : undefined);
      const lease: Lease = { mac, ip: b.ip, expires: now + n.leaseSeconds };
      if (hostname) lease.hostname = hostname;
      return { events: ['request', 'ack'], put: lease, reply: { buf: reply(n, req, MsgType.ACK, b.ip, b.hostname), ...destination(req, false) } };
    }
    case MsgType.RELEASE: {
      const l = leases.get(mac);
      if (serverId !== undefined && serverId !== n.serverId) return { events: ['release', 'ignored_other_server'] };
      return l && l.ip === req.ciaddr ? { events: ['release'], remove: mac } : { events: ['release', 'ignored_unknown_lease'] };
    }
    case MsgType.DECLINE: {
      // The client found the address in use. For a reservation that is the manager's problem
      // (counted, surfaced in health); for a pool address drop the lease so it is not re-offered.
      const l = leases.get(mac);
      return l && !n.reservations.has(mac) ? { events: ['decline'], remove: mac } : { events: ['decline'] };
    }
    case MsgType.INFORM: {
      if (req.ciaddr === ZERO || !inNet(n, req.ciaddr)) return { events: ['inform', 'ignored_malformed'] };
      return { events: ['inform', 'ack'], reply: { buf: reply(n, req, MsgType.ACK, ZERO, undefined, false), ...destination(req, false) } };
    }
    default:
      return { events: ['ignored_unexpected_type'] };
  }
}

/** A client-supplied host name is kept only if it is one clean DNS label. */
export function sanitizeHostname(h: string | undefined): string | undefined {
  return h && /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(h) ? h.toLowerCase() : undefined;
}
