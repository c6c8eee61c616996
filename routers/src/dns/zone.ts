// Compiles a guest network's names into precomputed DNS answers (pure). The server then answers
// a query with one Map lookup and two buffer copies: that is what makes a JavaScript responder
// competitive with dnsmasq (dns2 builds and re-encodes a packet object per query; see
// docs/decisions/0501).
import ipaddr from 'ipaddr.js';
import type { GuestNetwork } from '@flotilla/protocol/router';

export const T = { A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, MX: 15, TXT: 16, AAAA: 28, ANY: 255 } as const;
export const TTL = 30;
const NEG_TTL = 30;

export interface Answer { ancount: number; rrs: Buffer }

export interface Zone {
  domain: string;
  /** `${qtype}/${lower-case name}` → answer RRs (owner compressed to the question name). */
  answers: Map<string, Answer>;
  /** Names (lower case) that exist: a query for another type is NODATA, not NXDOMAIN. */
  names: Set<string>;
  /** SOA RR for the authority section of NXDOMAIN/NODATA (owner = domain, uncompressed). */
  soa: Buffer;
  /** Reverse zones this network is authoritative for (suffixes such as "1.10.in-addr.arpa"). */
  reverse: Array<(name: string) => boolean>;
  forwarders: string[];
}

export function encodeName(name: string): Buffer {
  const parts = name.replace(/\.$/, '').split('.').filter(Boolean);
  const out = Buffer.alloc(parts.reduce((n, p) => n + p.length + 1, 1));
  let o = 0;
  for (const p of parts) { out[o++] = p.length; o += out.write(p, o, 'ascii'); }
  out[o] = 0;
  return out;
}

function rr(type: number, ttl: number, rdata: Buffer, owner?: Buffer): Buffer {
  const name = owner ?? Buffer.from([0xc0, 0x0c]); // pointer to the question name at offset 12
  const b = Buffer.alloc(name.length + 10 + rdata.length);
  name.copy(b, 0);
  let o = name.length;
  b.writeUInt16BE(type, o); b.writeUInt16BE(1, o + 2); b.writeUInt32BE(ttl, o + 4); b.writeUInt16BE(rdata.length, o + 8);
  rdata.copy(b, o + 10);
  return b;
}

export function reverseName(ip: string): string {
  const a = ipaddr.parse(ip);
  if (a.kind() === 'ipv4') return `${a.toByteArray().reverse().join('.')}.in-addr.arpa`;
  const hex = a.toByteArray().map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${hex.split('').reverse().join('.')}.ip6.arpa`;
}

function reverseMatcher(cidr: string): (name: string) => boolean {
  const [net, len] = ipaddr.parseCIDR(cidr);
  return (name: string) => {
    let ip: ipaddr.IPv4 | ipaddr.IPv6 | undefined;
    if (name.endsWith('.in-addr.arpa')) {
      const p = name.slice(0, -13).split('.');
      if (p.length !== 4 || p.some((x) => !/^\d{1,3}$/.test(x) || +x > 255)) return false;
      ip = ipaddr.IPv4.parse(p.reverse().join('.'));
    } else if (name.endsWith('.ip6.arpa')) {
      const p = name.slice(0, -9).split('.');
      if (p.length !== 32 || p.some((x) => !/^[0-9a-f]$/.test(x))) return false;
      const hex = p.reverse().join('');
      ip = ipaddr.IPv6.parse(hex.match(/.{4}/g)!.join(':'));
    }
    return !!ip && ip.kind() === net.kind() && ip.match(net, len);
  };
}

/** Every VM with a host name (its DHCP reservation) gets A and PTR; `data-server` is the router,
 *  the name CloudStack's VR also publishes for the metadata service. */
export function compileZone(g: GuestNetwork, serial: number): Zone {
  const domain = g.domain.toLowerCase();
  const answers = new Map<string, Answer>();
  const names = new Set<string>([domain]);
  const add = (type: number, name: string, rdata: Buffer) => {
    const key = `${type}/${name}`;
    const prev = answers.get(key);
    const r = rr(type, TTL, rdata);
    answers.set(key, prev ? { ancount: prev.ancount + 1, rrs: Buffer.concat([prev.rrs, r]) } : { ancount: 1, rrs: r });
    names.add(name);
  };
  const host = (label: string, ip: string) => {
    const fqdn = `${label.toLowerCase()}.${domain}`;
    const a = ipaddr.parse(ip);
    add(a.kind() === 'ipv4' ? T.A : T.AAAA, fqdn, Buffer.from(a.toByteArray()));
    add(T.PTR, reverseName(ip), encodeName(fqdn));
  };
  host('data-server', g.gateway);
  for (const r of g.reservations) {
    if (!r.hostname) continue;
    host(r.hostname, r.ip);
    if (r.ip6) host(r.hostname, r.ip6);
  }
  const soaRdata = Buffer.concat([
    encodeName(domain), encodeName(`hostmaster.${domain}`),
    (() => { const b = Buffer.alloc(20); b.writeUInt32BE(serial >>> 0, 0); b.writeUInt32BE(3600, 4); b.writeUInt32BE(600, 8); b.writeUInt32BE(86400, 12); b.writeUInt32BE(NEG_TTL, 16); return b; })(),
  ]);
  const soa = rr(T.SOA, NEG_TTL, soaRdata, encodeName(domain));
  add(T.SOA, domain, soaRdata);
  return { domain, answers, names, soa, reverse: [reverseMatcher(g.cidr)], forwarders: [...g.dnsForwarders] };
}

/** True when `name` is the zone's domain or below it. */
export const inDomain = (z: Zone, name: string): boolean => name === z.domain || name.endsWith(`.${z.domain}`);
