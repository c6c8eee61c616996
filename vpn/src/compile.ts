// The pure side of the VPN: RemoteAccessVpnSpec → what the WireGuard device must be (interface,
// listen port, key, address, peers with their allowed IPs, routes) and what the router's firewall
// must add for it; the peer diff between two of them; wg-quick client configurations. No I/O:
// the applier (apply.ts) does the talking, the router's firewall compiles the additions.
import { createHash } from 'node:crypto';
import type { EgressRule, FirewallGuestNetwork, FirewallSpec } from '@flotilla/protocol/firewall';
import type { RemoteAccessVpnSpec } from '@flotilla/protocol/vpn';
import { isWgKey, keyToHex, publicKeyOf } from './keys.ts';

// ---- IPv4 arithmetic (the VPN's range is IPv4, as CloudStack's iprange) ----

export function ip4ToInt(s: string): number | undefined {
  // Hand-rolled (no regex, no arrays): it runs once per peer of every spec, 10,000 per apply.
  let n = 0; let octet = 0; let digits = 0; let dots = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || dots === 3) return undefined;
      n = n * 256 + octet; octet = 0; digits = 0; dots++;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && octet === 0) return undefined; // leading zero ("010")
      octet = octet * 10 + (c - 48); digits++;
      if (octet > 255) return undefined;
    } else return undefined;
  }
  if (dots !== 3 || digits === 0) return undefined;
  return n * 256 + octet;
}
export const intToIp4 = (n: number): string => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');

/** The smallest prefix holding [lo, hi]: the tunnel interface's network, routed to the device. */
export function coveringPrefix(lo: number, hi: number): { base: number; len: number } {
  let len = 32;
  while (len > 0) {
    const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
    if (((lo & mask) >>> 0) === ((hi & mask) >>> 0)) break;
    len--;
  }
  const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  return { base: (lo & mask) >>> 0, len };
}

/** CloudStack's iprange text ("10.1.2.1-10.1.2.8") → bounds, or why it is not one. */
export function parseRange(text: string): { start: string; end: string; lo: number; hi: number } | string {
  const parts = text.split('-');
  if (parts.length !== 2) return `Invalid ip range: ${text} (expected <first ip>-<last ip>)`;
  const [a, b] = parts.map((p) => p.trim()) as [string, string];
  const lo = ip4ToInt(a); const hi = ip4ToInt(b);
  if (lo === undefined || hi === undefined) return `Invalid ip range: ${text} (not IPv4 addresses)`;
  if (lo >= hi) return `Invalid ip range: ${text} (the first address must be below the last: the first is the server's, the others the clients')`;
  if (hi - lo > 65_535) return `Invalid ip range: ${text} (at most 65536 addresses)`;
  const c = coveringPrefix(lo, hi);
  if (c.len < 8) return `Invalid ip range: ${text} (spans more than a /8)`;
  return { start: a, end: b, lo, hi };
}

// ---- compiled device ----

export interface CompiledVpn {
  id: string;
  interface: string;
  listenPort: number;
  privateKey: string;
  publicKey: string;
  /** The server's address with the prefix covering the range (the route to the clients). */
  address: string;
  /** The covering prefix, e.g. 10.8.0.0/24: the clients' side for the firewall. */
  clientPrefix: string;
  publicIp: string;
  openFirewall: boolean;
  /** Peers by public key (base64) → tunnel address (its only allowed IP, as a /32). */
  peers: Map<string, string>;
}

// The server key of consecutive specs is the same: derive its public key once.
let lastServer: [string, string] | undefined;
function serverPublicKey(privateKey: string): string {
  if (lastServer?.[0] !== privateKey) lastServer = [privateKey, publicKeyOf(privateKey)];
  return lastServer[1];
}

export class VpnSpecError extends Error {
  constructor(readonly errors: string[]) { super(`invalid vpn spec: ${errors.join('; ')}`); }
}

/** Validates and compiles the VPN section; throws VpnSpecError with every problem. */
export function compileVpn(v: RemoteAccessVpnSpec): CompiledVpn {
  const errors: string[] = [];
  const lo = ip4ToInt(v.range.start); const hi = ip4ToInt(v.range.end);
  if (lo === undefined) errors.push(`/vpn/range/start: invalid IPv4 address ${v.range.start}`);
  if (hi === undefined) errors.push(`/vpn/range/end: invalid IPv4 address ${v.range.end}`);
  if (ip4ToInt(v.publicIp) === undefined) errors.push(`/vpn/publicIp: invalid IPv4 address ${v.publicIp}`);
  if (!isWgKey(v.privateKey)) errors.push('/vpn/privateKey: not a 32-byte base64 key');
  if (lo !== undefined && hi !== undefined && lo >= hi) errors.push('/vpn/range: start must be below end');
  const serverPub = isWgKey(v.privateKey) ? serverPublicKey(v.privateKey) : '';
  const peers = new Map<string, string>();
  const used = new Set<number>();
  v.peers.forEach((p, i) => {
    if (!isWgKey(p.publicKey)) errors.push(`/vpn/peers/${i}/publicKey: not a 32-byte base64 key`);
    else if (p.publicKey === serverPub) errors.push(`/vpn/peers/${i}/publicKey: the server's own key`);
    else if (peers.has(p.publicKey)) errors.push(`/vpn/peers/${i}/publicKey: duplicate key ${p.publicKey}`);
    const a = ip4ToInt(p.address);
    if (a === undefined) errors.push(`/vpn/peers/${i}/address: invalid IPv4 address ${p.address}`);
    else if (lo !== undefined && hi !== undefined && (a <= lo || a > hi)) errors.push(`/vpn/peers/${i}/address: ${p.address} is not a client address of ${v.range.start}-${v.range.end}`);
    else if (used.has(a)) errors.push(`/vpn/peers/${i}/address: ${p.address} given to two peers`);
    if (a !== undefined) used.add(a);
    peers.set(p.publicKey, p.address);
  });
  if (errors.length) throw new VpnSpecError(errors);
  const c = coveringPrefix(lo!, hi!);
  return {
    id: v.id, interface: v.interface, listenPort: v.listenPort, privateKey: v.privateKey, publicKey: serverPub,
    address: `${v.range.start}/${c.len}`, clientPrefix: `${intToIp4(c.base)}/${c.len}`, publicIp: v.publicIp, openFirewall: v.openFirewall, peers,
  };
}

/** What the device-level part is (a change of any of these re-keys or re-binds the device). */
export const deviceOf = (c: CompiledVpn) => ({ interface: c.interface, listenPort: c.listenPort, privateKey: c.privateKey, address: c.address });

export interface PeerDiff {
  /** Peers to add or whose allowed IP changed (key → allowed IP). */
  set: Array<[string, string]>;
  /** Peers to remove (keys). */
  remove: string[];
}

/** The peer changes between two compiled VPNs (prev undefined: all of next). Never a rewrite. */
export function diffPeers(prev: Map<string, string> | undefined, next: Map<string, string>): PeerDiff {
  const set: Array<[string, string]> = [];
  const remove: string[] = [];
  for (const [k, ip] of next) if (prev?.get(k) !== ip) set.push([k, ip]);
  if (prev) for (const k of prev.keys()) if (!next.has(k)) remove.push(k);
  return { set, remove };
}

/** UAPI `set` bodies (wireguard-go's configuration protocol; keys in hex). */
export const uapi = {
  device: (c: Pick<CompiledVpn, 'privateKey' | 'listenPort'>) => `private_key=${keyToHex(c.privateKey)}\nlisten_port=${c.listenPort}\n`,
  setPeer: (key: string, address: string) => `public_key=${keyToHex(key)}\nreplace_allowed_ips=true\nallowed_ip=${address}/32\n`,
  removePeer: (key: string) => `public_key=${keyToHex(key)}\nremove=true\n`,
};

/**
 * The router firewall's additions for the VPN, as firewall/ compiles them:
 * - openFirewall: UDP listenPort on the public IP, from anywhere (the rule's id is the VPN's);
 * - the clients' prefix as one more guest network on the tunnel interface: source NAT to the
 *   public IP and the guest network's egress policy and rules (rules naming no sources apply to
 *   the clients like to the guests; rules naming guest sources do not match them), so VPN
 *   traffic obeys the network's firewall exactly like a guest's.
 */
export function withVpnFirewall(fw: FirewallSpec | undefined, c: CompiledVpn | undefined): FirewallSpec | undefined {
  if (!fw || !c) return fw;
  const publicIps = fw.publicIps.map((p) => (p.address !== c.publicIp || !c.openFirewall ? p
    : { ...p, rules: [...p.rules, { id: c.id, protocol: 'udp' as const, ports: { start: c.listenPort, end: c.listenPort }, sourceCidrs: [] }] }));
  const guest = fw.guestNetworks.find((g) => g.egress || g.sourceNatIp) ?? fw.guestNetworks[0];
  // Rule ids are unique in a firewall (counters are reported by id): the clients' copy of a rule
  // gets an id derived from the VPN's and the rule's, stable across generations.
  const egressRules: EgressRule[] = (guest?.egress?.rules ?? []).filter((r) => r.sourceCidrs.length === 0).map((r) => ({ ...r, id: derivedId(c.id, r.id) }));
  const vpnNet: FirewallGuestNetwork = {
    id: `vpn-${c.id}`, interface: c.interface, cidrs: [c.clientPrefix],
    ...(guest?.sourceNatIp ? { sourceNatIp: guest.sourceNatIp } : {}),
    ...(guest?.egress ? { egress: { defaultPolicy: guest.egress.defaultPolicy, rules: egressRules } } : {}),
  };
  return { ...fw, publicIps, guestNetworks: [...fw.guestNetworks, vpnNet] };
}

/** A UUID-shaped id derived from two ids (the VPN clients' copy of an egress rule). */
export function derivedId(a: string, b: string): string {
  const h = createHash('sha256').update(`${a}/${b}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** A wg-quick client configuration (the file a user imports into any WireGuard client). */
export function clientConfig(o: {
  privateKey: string; addresses: string[]; dns?: string;
  servers: Array<{ publicKey: string; endpoint: string; port: number; allowedIps: string[] }>;
}): string {
  const lines = ['[Interface]', `PrivateKey = ${o.privateKey}`, `Address = ${o.addresses.map((a) => `${a}/32`).join(', ')}`];
  if (o.dns) lines.push(`DNS = ${o.dns}`);
  for (const s of o.servers) {
    lines.push('', '[Peer]', `PublicKey = ${s.publicKey}`, `Endpoint = ${s.endpoint}:${s.port}`, `AllowedIPs = ${s.allowedIps.join(', ')}`,
      // Keeps the NAT mapping of a client behind NAT open, so the server can reach it.
      'PersistentKeepalive = 25');
  }
  return lines.join('\n') + '\n';
}

/** The wg(8) part of a wg-quick file (drops Address/DNS, which are wg-quick's own). */
export function wgSetconfOf(config: string): string {
  return config.split('\n').filter((l) => !/^\s*(Address|DNS|MTU|Table|PreUp|PostUp|PreDown|PostDown|SaveConfig)\s*=/i.test(l)).join('\n');
}

