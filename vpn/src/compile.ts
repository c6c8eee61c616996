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
  return new VpnCompiler().compile(v).compiled;
}

/** The device part checked and compiled (everything but the peers). */
function compileDevice(v: RemoteAccessVpnSpec, errors: string[]): { lo: number; hi: number; serverPub: string } | undefined {
  const lo = ip4ToInt(v.range.start); const hi = ip4ToInt(v.range.end);
  if (lo === undefined) errors.push(`/vpn/range/start: invalid IPv4 address ${v.range.start}`);
  if (hi === undefined) errors.push(`/vpn/range/end: invalid IPv4 address ${v.range.end}`);
  if (ip4ToInt(v.publicIp) === undefined) errors.push(`/vpn/publicIp: invalid IPv4 address ${v.publicIp}`);
  if (!isWgKey(v.privateKey)) errors.push('/vpn/privateKey: not a 32-byte base64 key');
  if (lo !== undefined && hi !== undefined && lo >= hi) errors.push('/vpn/range: start must be below end');
  const serverPub = isWgKey(v.privateKey) ? serverPublicKey(v.privateKey) : '';
  return lo === undefined || hi === undefined ? undefined : { lo, hi, serverPub };
}

/** One compile's result: the whole compiled VPN and the peer changes since the compiler's
 *  previous result (`base`, the revision they were computed against; `rev`, this one's). */
export interface VpnChange { compiled: CompiledVpn; diff: PeerDiff; base: number; rev: number }

interface CompilerState {
  compiled: CompiledVpn;
  /** The range and server key the peers were checked against. */
  lo: number; hi: number; serverPub: string; rangeKey: string;
  /** Tunnel address (as an integer) → the peer holding it. */
  byAddr: Map<number, string>;
}

/**
 * compileVpn() for an appliance that compiles every change: keeps the last accepted peer set
 * keyed by public key, so that
 * - `compile(spec)` (a whole spec) checks only the peers that are new or changed — a peer whose
 *   key and address are the ones accepted last time was checked then — and yields the peer diff
 *   as it goes (one Map lookup per peer instead of a schema, a parse and a diff per peer);
 * - `patch(vpnId, set, remove)` (a delta) checks and applies only the changed peers: O(changed).
 * Both are atomic: on an error nothing of the state changes. The result is the same as
 * compileVpn() on the equivalent whole spec (a unit test checks it). Pure: no I/O.
 */
export class VpnCompiler {
  private state: CompilerState | undefined;
  private revision = 0;

  /** The VPN id of the last accepted spec (undefined: none). */
  get vpnId(): string | undefined { return this.state?.compiled.id; }

  reset(): void { this.state = undefined; this.revision++; }

  compile(v: RemoteAccessVpnSpec): VpnChange {
    const errors: string[] = [];
    const dev = compileDevice(v, errors);
    const prev = this.state;
    const rangeKey = `${v.range.start}-${v.range.end}/${v.privateKey}`;
    // Peers accepted last time are trusted only against the same range and server key.
    const known = prev && prev.rangeKey === rangeKey ? prev.compiled.peers : undefined;
    const peers = new Map<string, string>();
    const byAddr = new Map<number, string>();
    const set: Array<[string, string]> = [];
    const checkLater: number[] = [];
    const ps = v.peers;
    for (let i = 0; i < ps.length; i++) {
      const p = ps[i]!;
      if (peers.has(p.publicKey)) { errors.push(`/vpn/peers/${i}/publicKey: duplicate key ${p.publicKey}`); continue; }
      peers.set(p.publicKey, p.address);
      if (known !== undefined && known.get(p.publicKey) === p.address) {
        byAddr.set(ip4ToInt(p.address)!, p.publicKey);
      } else checkLater.push(i);
    }
    // New and changed peers, against the whole next set (an address a removed peer frees may be
    // taken in the same spec).
    for (const i of checkLater) {
      const p = ps[i]!;
      if (!isWgKey(p.publicKey)) errors.push(`/vpn/peers/${i}/publicKey: not a 32-byte base64 key`);
      else if (dev && p.publicKey === dev.serverPub) errors.push(`/vpn/peers/${i}/publicKey: the server's own key`);
      const a = ip4ToInt(p.address);
      if (a === undefined) errors.push(`/vpn/peers/${i}/address: invalid IPv4 address ${p.address}`);
      else if (dev && (a <= dev.lo || a > dev.hi)) errors.push(`/vpn/peers/${i}/address: ${p.address} is not a client address of ${v.range.start}-${v.range.end}`);
      else if (byAddr.has(a)) errors.push(`/vpn/peers/${i}/address: ${p.address} given to two peers`);
      if (a !== undefined) byAddr.set(a, p.publicKey);
      set.push([p.publicKey, p.address]);
    }
    if (errors.length) throw new VpnSpecError(errors);
    const remove: string[] = [];
    if (prev) for (const k of prev.compiled.peers.keys()) if (!peers.has(k)) remove.push(k);
    // A peer whose address changed is in `set`; one unchanged but trusted against another range
    // was re-checked above and is in `set` too (an idempotent UAPI set).
    const compiled = this.device(v, dev!, peers);
    return this.accept({ compiled, lo: dev!.lo, hi: dev!.hi, serverPub: dev!.serverPub, rangeKey, byAddr }, { set, remove });
  }

  /**
   * A delta on the last accepted spec: `set` peers (added or re-addressed), `remove` keys.
   * Errors name the delta's paths (/set/i/…, /remove/i).
   */
  patch(vpnId: string, setPeers: ReadonlyArray<{ publicKey: string; address: string }>, removeKeys: readonly string[]): VpnChange {
    const st = this.state;
    if (!st || st.compiled.id !== vpnId) throw new VpnSpecError([`/vpnId: ${vpnId} is not the VPN last applied`]);
    const errors: string[] = [];
    const cur = st.compiled.peers;
    const removing = new Set<string>();
    removeKeys.forEach((k, i) => {
      if (!cur.has(k)) errors.push(`/remove/${i}: ${k} is not a peer`);
      else if (removing.has(k)) errors.push(`/remove/${i}: ${k} removed twice`);
      else removing.add(k);
    });
    const setKeys = new Set<string>();
    // Addresses freed by this delta (removed peers, re-addressed peers) and taken by it.
    const freed = new Set<number>();
    for (const k of removing) freed.add(ip4ToInt(cur.get(k)!)!);
    for (const p of setPeers) { const old = cur.get(p.publicKey); if (old !== undefined && old !== p.address) freed.add(ip4ToInt(old)!); }
    const taken = new Map<number, string>();
    const set: Array<[string, string]> = [];
    setPeers.forEach((p, i) => {
      if (!isWgKey(p.publicKey)) errors.push(`/set/${i}/publicKey: not a 32-byte base64 key`);
      else if (p.publicKey === st.serverPub) errors.push(`/set/${i}/publicKey: the server's own key`);
      else if (setKeys.has(p.publicKey)) errors.push(`/set/${i}/publicKey: duplicate key ${p.publicKey}`);
      else if (removing.has(p.publicKey)) errors.push(`/set/${i}/publicKey: ${p.publicKey} is also removed`);
      setKeys.add(p.publicKey);
      const a = ip4ToInt(p.address);
      if (a === undefined) errors.push(`/set/${i}/address: invalid IPv4 address ${p.address}`);
      else if (a <= st.lo || a > st.hi) errors.push(`/set/${i}/address: ${p.address} is not a client address of the range`);
      else {
        const owner = st.byAddr.get(a);
        if (taken.has(a) || (owner !== undefined && owner !== p.publicKey && !freed.has(a))) errors.push(`/set/${i}/address: ${p.address} given to two peers`);
        taken.set(a, p.publicKey);
      }
      if (cur.get(p.publicKey) !== p.address) set.push([p.publicKey, p.address]);
    });
    if (errors.length) throw new VpnSpecError(errors);
    // Checked: change the state in place (O(changed)); the compiled object is a new one.
    for (const k of removing) { const a = ip4ToInt(cur.get(k)!)!; if (st.byAddr.get(a) === k) st.byAddr.delete(a); cur.delete(k); }
    for (const [k] of set) {
      const old = cur.get(k);
      if (old !== undefined) { const oa = ip4ToInt(old)!; if (st.byAddr.get(oa) === k) st.byAddr.delete(oa); }
    }
    for (const [k, ip] of set) { cur.set(k, ip); st.byAddr.set(ip4ToInt(ip)!, k); }
    const base = this.revision;
    this.revision++;
    st.compiled = { ...st.compiled };
    return { compiled: st.compiled, diff: { set, remove: [...removing] }, base, rev: this.revision };
  }

  private device(v: RemoteAccessVpnSpec, dev: { lo: number; hi: number; serverPub: string }, peers: Map<string, string>): CompiledVpn {
    const c = coveringPrefix(dev.lo, dev.hi);
    return {
      id: v.id, interface: v.interface, listenPort: v.listenPort, privateKey: v.privateKey, publicKey: dev.serverPub,
      address: `${v.range.start}/${c.len}`, clientPrefix: `${intToIp4(c.base)}/${c.len}`, publicIp: v.publicIp, openFirewall: v.openFirewall, peers,
    };
  }

  private accept(next: CompilerState, diff: PeerDiff): VpnChange {
    const base = this.revision;
    this.state = next;
    this.revision++;
    return { compiled: next.compiled, diff, base, rev: this.revision };
  }
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

