// IP address management: pure functions over addresses, subnets, ranges and VLAN/VNI sets.
// No I/O here — the infra commands load rows, call these, and turn an IpamError into a 431.
// Addresses are compared as bigints so IPv4 and IPv6 share one code path; every refusal names
// the parameter it is about and, for conflicts, the object it collides with.
import ipaddr from 'ipaddr.js';

/** A refusal: `param` is the API parameter at fault, `message` the full text for the caller. */
export class IpamError extends Error {
  readonly param: string;
  constructor(param: string, message: string) {
    super(message);
    this.name = 'IpamError';
    this.param = param;
  }
}

export type Family = 4 | 6;
export interface Addr { readonly family: Family; readonly value: bigint; readonly text: string }
export interface Subnet { readonly family: Family; readonly network: bigint; readonly prefix: number; readonly text: string }
export interface Span { readonly family: Family; readonly start: bigint; readonly end: bigint }

const BITS: Record<Family, number> = { 4: 32, 6: 128 };

function shown(v: string): string { return v.length > 64 ? `${v.slice(0, 64)}…` : v; }
function invalid(param: string, value: string, why: string): IpamError {
  return new IpamError(param, `Invalid parameter ${param} value=${shown(value)} due to ${why}`);
}

function bytesToBig(bytes: number[]): bigint {
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return v;
}

/** The text of an address value (IPv6 in RFC 5952 compressed form). */
export function addrText(family: Family, v: bigint): string {
  const n = family === 4 ? 4 : 16;
  const bytes: number[] = [];
  for (let i = n - 1; i >= 0; i--) bytes.push(Number((v >> BigInt(i * 8)) & 0xffn));
  const a = ipaddr.fromByteArray(bytes);
  return a.kind() === 'ipv6' ? (a as ipaddr.IPv6).toRFC5952String() : a.toString();
}

/** Strict dotted-quad IPv4 (no octal, hex or shortened forms, which ipaddr.js would accept). */
export function parseIPv4(param: string, s: string): Addr {
  const t = s.trim();
  if (!ipaddr.IPv4.isValidFourPartDecimal(t) || !/^\d{1,3}(\.\d{1,3}){3}$/.test(t)) throw invalid(param, s, 'it is not an IPv4 address');
  const a = ipaddr.IPv4.parse(t);
  const value = bytesToBig(a.toByteArray());
  return { family: 4, value, text: addrText(4, value) };
}

export function parseIPv6(param: string, s: string): Addr {
  const t = s.trim();
  // No zone ids ("%eth0"): an interface name is not part of a cloud address.
  if (t.includes('%') || !ipaddr.IPv6.isValid(t)) throw invalid(param, s, 'it is not an IPv6 address');
  const value = bytesToBig(ipaddr.IPv6.parse(t).toByteArray());
  return { family: 6, value, text: addrText(6, value) };
}

export function parseIp(param: string, s: string): Addr {
  return s.includes(':') ? parseIPv6(param, s) : parseIPv4(param, s);
}

/** A dotted IPv4 netmask → prefix length; refuses non-contiguous masks. */
export function parseNetmask(param: string, s: string): number {
  const m = parseIPv4(param, s);
  const prefix = ipaddr.IPv4.parse(m.text).prefixLengthFromSubnetMask();
  if (prefix === null) throw invalid(param, s, 'it is not a contiguous netmask (like 255.255.255.0)');
  if (prefix === 0) throw invalid(param, s, 'a netmask of 0.0.0.0 covers every address');
  return prefix;
}

export function netmaskOf(prefix: number): string { return ipaddr.IPv4.subnetMaskFromPrefixLength(prefix).toString(); }

function hostMask(family: Family, prefix: number): bigint { return (1n << BigInt(BITS[family] - prefix)) - 1n; }

/** The subnet of `prefix` bits containing `a`. */
export function subnetOf(a: Addr, prefix: number): Subnet {
  const network = a.value & ~hostMask(a.family, prefix) & ((1n << BigInt(BITS[a.family])) - 1n);
  return { family: a.family, network, prefix, text: `${addrText(a.family, network)}/${prefix}` };
}

/** `a.b.c.d/n` or `x::/n`. With `exact`, host bits must be zero (a network address, as CIDRs are written). */
export function parseCidr(param: string, s: string, family?: Family, exact = true): Subnet {
  const t = s.trim();
  const m = /^([^/]+)\/(\d{1,3})$/.exec(t);
  if (!m) throw invalid(param, s, `it is not a CIDR (address/prefix length)`);
  const fam: Family = family ?? (m[1]!.includes(':') ? 6 : 4);
  const a = fam === 4 ? parseIPv4(param, m[1]!) : parseIPv6(param, m[1]!);
  const prefix = Number(m[2]);
  if (prefix > BITS[fam]) throw invalid(param, s, `the prefix length is greater than ${BITS[fam]}`);
  if (prefix === 0) throw invalid(param, s, 'a prefix length of 0 covers every address');
  const sn = subnetOf(a, prefix);
  if (exact && sn.network !== a.value) throw invalid(param, s, `it is not a network address; did you mean ${sn.text}?`);
  return sn;
}

export function subnetSpan(s: Subnet): Span {
  return { family: s.family, start: s.network, end: s.network | hostMask(s.family, s.prefix) };
}

export function contains(s: Subnet, a: Addr): boolean {
  return a.family === s.family && (a.value & ~hostMask(s.family, s.prefix)) === s.network;
}

export function overlaps(a: Span, b: Span): boolean {
  return a.family === b.family && a.start <= b.end && b.start <= a.end;
}

export function spanText(s: Span): string { return `${addrText(s.family, s.start)}-${addrText(s.family, s.end)}`; }

/** The lowest address of the span that `taken` does not claim (address allocation), or undefined. */
export function firstFree(s: Span, taken: (text: string) => boolean): string | undefined {
  for (let v = s.start; v <= s.end; v++) {
    const t = addrText(s.family, v);
    if (!taken(t)) return t;
  }
  return undefined;
}

/** RFC 1918 private space: what CloudStack accepts as a zone's guest CIDR. */
const RFC1918 = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16'].map((c) => parseCidr('cidr', c));
/** RFC 1918 and RFC 6598 (shared address space): where CloudStack's NetUtils.validateGuestCidr
 *  lets an isolated network's CIDR be. */
const PRIVATE_GUEST = [...RFC1918, parseCidr('cidr', '100.64.0.0/10')];
export function isPrivateGuestCidr(sn: Subnet): boolean {
  const span = subnetSpan(sn);
  return sn.family === 4 && PRIVATE_GUEST.some((p) => { const ps = subnetSpan(p); return span.start >= ps.start && span.end <= ps.end; });
}

export function parseGuestCidr(param: string, s: string): Subnet {
  const sn = parseCidr(param, s, 4);
  const span = subnetSpan(sn);
  const inside = RFC1918.some((p) => { const ps = subnetSpan(p); return span.start >= ps.start && span.end <= ps.end; });
  if (!inside) throw invalid(param, s, 'a guest CIDR must be inside the private ranges 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16 (RFC 1918)');
  return sn;
}

// ---- ranges with a gateway: public VLAN ranges and pod management ranges ----

export interface V4RangeInput { gateway: string; netmask: string; startip: string; endip?: string | undefined }
export interface V4Range { gateway: Addr; netmask: string; subnet: Subnet; span: Span; start: Addr; end: Addr }

/**
 * Gateway/netmask/start/end consistency: start ≤ end, both inside the gateway's subnet, the
 * gateway outside the range, neither the subnet's network nor its broadcast address used.
 * `endip` defaults to `startip` (a one-address range), as CloudStack does.
 */
export function validateV4Range(i: V4RangeInput, names = { gateway: 'gateway', netmask: 'netmask', startip: 'startip', endip: 'endip' }): V4Range {
  const gateway = parseIPv4(names.gateway, i.gateway);
  const prefix = parseNetmask(names.netmask, i.netmask);
  const start = parseIPv4(names.startip, i.startip);
  const end = i.endip !== undefined ? parseIPv4(names.endip, i.endip) : start;
  const subnet = subnetOf(gateway, prefix);
  const sn = subnetSpan(subnet);
  // /31 and /32 have no network or broadcast address to keep free (RFC 3021).
  const special = prefix <= 30;
  if (special && (gateway.value === sn.start || gateway.value === sn.end)) {
    throw new IpamError(names.gateway, `The gateway ${gateway.text} (${names.gateway}) is the ${gateway.value === sn.start ? 'network' : 'broadcast'} address of its subnet ${subnet.text}`);
  }
  for (const [p, a] of [[names.startip, start], [names.endip, end]] as const) {
    if (!contains(subnet, a)) throw new IpamError(p, `The ${p} ${a.text} is not in the subnet ${subnet.text} of gateway ${gateway.text} and netmask ${netmaskOf(prefix)}`);
    if (special && (a.value === sn.start || a.value === sn.end)) {
      throw new IpamError(p, `The ${p} ${a.text} is the ${a.value === sn.start ? 'network' : 'broadcast'} address of the subnet ${subnet.text}`);
    }
  }
  if (start.value > end.value) throw new IpamError(names.endip, `The start IP ${start.text} (${names.startip}) is greater than the end IP ${end.text} (${names.endip})`);
  if (gateway.value >= start.value && gateway.value <= end.value) {
    throw new IpamError(names.gateway, `The gateway ${gateway.text} (${names.gateway}) is inside the IP range ${start.text}-${end.text}; a gateway cannot be handed out`);
  }
  return { gateway, netmask: netmaskOf(prefix), subnet, span: { family: 4, start: start.value, end: end.value }, start, end };
}

export interface V6RangeInput { ip6gateway: string; ip6cidr: string; startipv6?: string | undefined; endipv6?: string | undefined }
export interface V6Range { gateway: Addr; subnet: Subnet; span?: Span; start?: Addr; end?: Addr }

/** IPv6: the CIDR must be /64 or larger (SLAAC needs 64 host bits), gateway and range inside it. */
export function validateV6Range(i: V6RangeInput): V6Range {
  const gateway = parseIPv6('ip6gateway', i.ip6gateway);
  const subnet = parseCidr('ip6cidr', i.ip6cidr, 6);
  if (subnet.prefix > 64) throw invalid('ip6cidr', i.ip6cidr, 'the IPv6 CIDR must be at least /64 (a prefix length of 64 or less)');
  if (!contains(subnet, gateway)) throw new IpamError('ip6gateway', `The ip6gateway ${gateway.text} is not in the ip6cidr ${subnet.text}`);
  if (i.startipv6 === undefined) {
    if (i.endipv6 !== undefined) throw new IpamError('startipv6', 'endipv6 was given without startipv6');
    return { gateway, subnet };
  }
  const start = parseIPv6('startipv6', i.startipv6);
  const end = i.endipv6 !== undefined ? parseIPv6('endipv6', i.endipv6) : start;
  for (const [p, a] of [['startipv6', start], ['endipv6', end]] as const) {
    if (!contains(subnet, a)) throw new IpamError(p, `The ${p} ${a.text} is not in the ip6cidr ${subnet.text}`);
  }
  if (start.value > end.value) throw new IpamError('endipv6', `The start IPv6 ${start.text} (startipv6) is greater than the end IPv6 ${end.text} (endipv6)`);
  if (gateway.value >= start.value && gateway.value <= end.value) {
    throw new IpamError('ip6gateway', `The ip6gateway ${gateway.text} is inside the IPv6 range ${start.text}-${end.text}; a gateway cannot be handed out`);
  }
  return { gateway, subnet, span: { family: 6, start: start.value, end: end.value }, start, end };
}

// ---- conflicts of a new public range with what the zone already has ----

export interface ExistingRange {
  id: string;
  vlan: string;                  // normalized, e.g. vlan://100, vlan://untagged
  physicalNetworkId?: string | null;
  v4?: { subnet: Subnet; span: Span } | undefined;
  v6?: { subnet: Subnet; span?: Span | undefined } | undefined;
}
export interface ZoneFacts {
  name: string;
  guestCidr?: Subnet | undefined;
  ranges: ExistingRange[];
  pods: { id: string; name: string; subnet?: Subnet | undefined; span?: Span | undefined }[];
}
export interface Candidate { vlan: string; v4?: V4Range | undefined; v6?: V6Range | undefined }

/**
 * Refuses a public range that collides with the zone: its addresses overlap another range;
 * it puts a subnet already used on another VLAN, or a different subnet on a VLAN already in
 * use (one VLAN is one L2 segment, one subnet); its subnet overlaps the zone's guest CIDR
 * (guest networks are carved from it) or a pod's management range.
 */
export function checkRangeConflicts(c: Candidate, z: ZoneFacts): void {
  for (const r of z.ranges) {
    if (c.v4 && r.v4) {
      if (overlaps(c.v4.span, r.v4.span)) {
        throw new IpamError('startip', `The IP range ${spanText(c.v4.span)} (startip, endip) overlaps with range ${spanText(r.v4.span)} (id ${r.id}) of zone ${z.name}`);
      }
      const sameSubnet = c.v4.subnet.network === r.v4.subnet.network && c.v4.subnet.prefix === r.v4.subnet.prefix;
      // A VLAN may carry several public subnets (CloudStack's checkZoneVlanIpOverlap refuses only
      // overlapping ones): another range of an overlapping subnet on it must extend that subnet.
      if (r.vlan === c.vlan && !sameSubnet && overlaps(subnetSpan(c.v4.subnet), subnetSpan(r.v4.subnet))) {
        throw new IpamError('gateway', `The IP range has already been added with the subnet ${r.v4.subnet.text} on ${c.vlan} of zone ${z.name} (range id ${r.id}), Please specify its gateway/netmask if you want to extend ip range; ${c.v4.subnet.text} overlaps it`);
      }
      if (r.vlan !== c.vlan && overlaps(subnetSpan(c.v4.subnet), subnetSpan(r.v4.subnet))) {
        throw new IpamError('gateway', `The subnet ${c.v4.subnet.text} (gateway, netmask) overlaps with the subnet ${r.v4.subnet.text} of range id ${r.id} on ${r.vlan} of zone ${z.name}`);
      }
    }
    if (c.v6 && r.v6) {
      if (c.v6.span && r.v6.span && overlaps(c.v6.span, r.v6.span)) {
        throw new IpamError('startipv6', `The IPv6 range ${spanText(c.v6.span)} (startipv6, endipv6) overlaps with range ${spanText(r.v6.span)} (id ${r.id}) of zone ${z.name}`);
      }
      const same = c.v6.subnet.network === r.v6.subnet.network && c.v6.subnet.prefix === r.v6.subnet.prefix;
      if (r.vlan === c.vlan && !same) {
        throw new IpamError('ip6cidr', `The ${c.vlan} of zone ${z.name} already carries the IPv6 subnet ${r.v6.subnet.text} (range id ${r.id}); a range on it must use that subnet, not ${c.v6.subnet.text} (ip6cidr)`);
      }
      if (r.vlan !== c.vlan && overlaps(subnetSpan(c.v6.subnet), subnetSpan(r.v6.subnet))) {
        throw new IpamError('ip6cidr', `The IPv6 subnet ${c.v6.subnet.text} (ip6cidr) overlaps with the IPv6 subnet ${r.v6.subnet.text} of range id ${r.id} on ${r.vlan} of zone ${z.name}`);
      }
    }
  }
  if (c.v4 && z.guestCidr && overlaps(subnetSpan(c.v4.subnet), subnetSpan(z.guestCidr))) {
    throw new IpamError('gateway', `The subnet ${c.v4.subnet.text} of the IP range (gateway, netmask) overlaps with the guest CIDR ${z.guestCidr.text} (guestcidraddress) of zone ${z.name}`);
  }
  if (c.v4) {
    for (const p of z.pods) {
      if (p.span && overlaps(c.v4.span, p.span)) {
        throw new IpamError('startip', `The IP range ${spanText(c.v4.span)} (startip, endip) overlaps with the management IP range ${spanText(p.span)} of pod ${p.name} (id ${p.id}) of zone ${z.name}`);
      }
    }
  }
}

/** A new or changed guest CIDR must not overlap the zone's public ranges or pod subnets. */
export function checkGuestCidr(param: string, cidr: Subnet, z: ZoneFacts): void {
  for (const r of z.ranges) {
    if (r.v4 && overlaps(subnetSpan(cidr), subnetSpan(r.v4.subnet))) {
      throw new IpamError(param, `The guest CIDR ${cidr.text} (${param}) overlaps with the subnet ${r.v4.subnet.text} of public IP range ${spanText(r.v4.span)} (id ${r.id}) of zone ${z.name}`);
    }
  }
  for (const p of z.pods) {
    if (p.subnet && overlaps(subnetSpan(cidr), subnetSpan(p.subnet))) {
      throw new IpamError(param, `The guest CIDR ${cidr.text} (${param}) overlaps with the subnet ${p.subnet.text} of pod ${p.name} (id ${p.id}) of zone ${z.name}`);
    }
  }
}

/** A pod's management subnet must not collide with other pods, the guest CIDR or public ranges. */
export function checkPodConflicts(r: V4Range, z: ZoneFacts): void {
  for (const p of z.pods) {
    if (p.subnet && overlaps(subnetSpan(r.subnet), subnetSpan(p.subnet))) {
      throw new IpamError('gateway', `The pod subnet ${r.subnet.text} (gateway, netmask) overlaps with the subnet ${p.subnet.text} of pod ${p.name} (id ${p.id}) of zone ${z.name}`);
    }
  }
  if (z.guestCidr && overlaps(subnetSpan(r.subnet), subnetSpan(z.guestCidr))) {
    throw new IpamError('gateway', `The pod subnet ${r.subnet.text} (gateway, netmask) overlaps with the guest CIDR ${z.guestCidr.text} (guestcidraddress) of zone ${z.name}`);
  }
  for (const x of z.ranges) {
    if (x.v4 && overlaps(r.span, x.v4.span)) {
      throw new IpamError('startip', `The pod IP range ${spanText(r.span)} (startip, endip) overlaps with public IP range ${spanText(x.v4.span)} (id ${x.id}) of zone ${z.name}`);
    }
  }
}

// ---- VLAN / VNI sets ----

export type VnetInterval = readonly [number, number];

/** Allowed ids per isolation method: 802.1Q VLAN ids, VXLAN VNIs (24 bits), GRE keys (32 bits). */
export const VNET_LIMITS: Readonly<Record<string, VnetInterval>> = {
  VLAN: [1, 4094],
  VXLAN: [1, 16777215],
  GRE: [1, 4294967295],
};

export function vnetLimits(method: string): VnetInterval {
  return VNET_LIMITS[method.toUpperCase()] ?? VNET_LIMITS.VLAN!;
}

/**
 * Parses `100-199,300` (CloudStack's vnet range syntax; a single id is an interval of one) into
 * sorted, merged intervals within the method's limits. An empty string is the empty set.
 */
export function parseVnetRanges(param: string, s: string, method = 'VLAN'): VnetInterval[] {
  const [min, max] = vnetLimits(method);
  const label = method.toUpperCase() === 'VXLAN' ? 'VNI' : method.toUpperCase() === 'GRE' ? 'GRE key' : 'VLAN id';
  const t = s.trim();
  if (t === '') return [];
  const out: [number, number][] = [];
  for (const part of t.split(',')) {
    const p = part.trim();
    const m = /^(\d{1,10})(?:\s*-\s*(\d{1,10}))?$/.exec(p);
    if (!m) throw invalid(param, s, `"${shown(p)}" is not a ${label} or a range of them; write e.g. 100-199,300`);
    const a = Number(m[1]);
    const b = m[2] !== undefined ? Number(m[2]) : a;
    if (a < min || b > max || a > max || b < min) throw invalid(param, s, `${p} is outside ${min}-${max}, the ${label}s allowed for ${method.toUpperCase()} isolation`);
    if (a > b) throw invalid(param, s, `in ${p} the start is greater than the end`);
    out.push([a, b]);
  }
  out.sort((x, y) => x[0] - y[0]);
  const merged: [number, number][] = [];
  for (const iv of out) {
    const last = merged[merged.length - 1];
    if (last && iv[0] <= last[1] + 1) last[1] = Math.max(last[1], iv[1]);
    else merged.push([iv[0], iv[1]]);
  }
  return merged;
}

/** CloudStack's canonical text: every interval as start-end, comma-separated. */
export function formatVnetRanges(r: readonly VnetInterval[]): string {
  return r.map(([a, b]) => `${a}-${b}`).join(',');
}

/** The first id range shared by two sets, or undefined. */
export function vnetOverlap(a: readonly VnetInterval[], b: readonly VnetInterval[]): VnetInterval | undefined {
  for (const x of a) for (const y of b) {
    const lo = Math.max(x[0], y[0]); const hi = Math.min(x[1], y[1]);
    if (lo <= hi) return [lo, hi];
  }
  return undefined;
}

export function vnetContains(set: readonly VnetInterval[], id: number): boolean {
  return set.some(([a, b]) => id >= a && id <= b);
}

/** The ids in `before` that `after` no longer has (what an update would remove). */
export function vnetRemoved(before: readonly VnetInterval[], after: readonly VnetInterval[]): VnetInterval[] {
  const out: [number, number][] = [];
  for (const [a, b] of before) {
    let cur = a;
    for (const [c, d] of after) {
      if (d < cur || c > b) continue;
      if (c > cur) out.push([cur, c - 1]);
      cur = Math.max(cur, d + 1);
      if (cur > b) break;
    }
    if (cur <= b) out.push([cur, b]);
  }
  return out;
}

/** A public range's VLAN tag: `untagged`, `100`, `vlan://100`, `vxlan://5000` → canonical URI. */
export function parseVlanTag(param: string, s: string): { uri: string; id?: number; scheme: 'vlan' | 'vxlan' } {
  const t = s.trim().toLowerCase();
  if (t === 'untagged' || t === 'vlan://untagged') return { uri: 'vlan://untagged', scheme: 'vlan' };
  const m = /^(?:(vlan|vxlan):\/\/)?(\d{1,8})$/.exec(t);
  if (!m) throw invalid(param, s, 'it is not a VLAN id (1-4094), vlan://<id>, vxlan://<vni> or untagged');
  const scheme = (m[1] ?? 'vlan') as 'vlan' | 'vxlan';
  const id = Number(m[2]);
  const [min, max] = vnetLimits(scheme === 'vxlan' ? 'VXLAN' : 'VLAN');
  if (id < min || id > max) throw invalid(param, s, `${id} is outside ${min}-${max}`);
  return { uri: `${scheme}://${id}`, id, scheme };
}
