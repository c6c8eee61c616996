// FirewallSpec: the whole firewall/NAT state of one appliance (router or shared-network host),
// built by the manager for a generation and compiled by @flotilla/firewall into ONE nftables
// table. It is plain data: the manager validates it with validateFirewallSpec() before it
// accepts an API call (errors → CloudStack 431 / 537), and the appliance's compiler enforces
// the very same function, so a spec that passed the manager cannot fail on the appliance for a
// reason the manager could have seen.
//
// Rule ids are UUIDs: nft set elements carry them as comments so per-rule hit counters can be
// read back and reported by id. The generation number lives in the enclosing RouterSpec.
import { Type, type Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import ipaddr from 'ipaddr.js';

export const FIREWALL_SPEC_VERSION = 1 as const;
/** Upper bound on ports of shifted port forwards (each is one map element). */
export const MAX_SHIFTED_PORTS = 65_536;

// ---- schema -------------------------------------------------------------------------------

export const RuleId = Type.String({
  pattern: '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$',
  description: 'UUID of the CloudStack rule; reported with its counters',
});
/** Linux interface name; never passed to a shell, but kept tight anyway (IFNAMSIZ). */
export const FwIfName = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$' });
/** IPv4 or IPv6 address; parsed with ipaddr.js by the validator. */
export const FwAddress = Type.String({ pattern: '^[0-9a-fA-F.:]{2,39}$' });
/** IPv4 or IPv6 prefix; host bits are cleared by normalisation (10.1.1.5/24 → 10.1.1.0/24). */
export const FwCidr = Type.String({ pattern: '^[0-9a-fA-F.:]{2,39}/[0-9]{1,3}$' });
export const Port = Type.Integer({ minimum: 1, maximum: 65535 });
export const PortRange = Type.Object({ start: Port, end: Port }, { additionalProperties: false });
/** CloudStack's protocols for firewall/ACL/SG rules. "icmp" means ICMPv6 on IPv6 addresses. */
export const FwProtocol = Type.Union([Type.Literal('tcp'), Type.Literal('udp'), Type.Literal('icmp'), Type.Literal('all')]);
/** ICMP type or code; -1 is CloudStack's "any". */
export const IcmpValue = Type.Integer({ minimum: -1, maximum: 255 });

const matchFields = {
  protocol: FwProtocol,
  /** tcp/udp only; absent = all ports. */
  ports: Type.Optional(PortRange),
  /** icmp only; absent or -1 = any. */
  icmpType: Type.Optional(IcmpValue),
  icmpCode: Type.Optional(IcmpValue),
};

/** Ingress firewall rule on a public IP (createFirewallRule / createIpv6FirewallRule). */
export const FirewallRule = Type.Object({
  id: RuleId,
  ...matchFields,
  /** Allowed sources; empty = anywhere (0.0.0.0/0 or ::/0 of the IP's family). */
  sourceCidrs: Type.Array(FwCidr, { maxItems: 256 }),
}, { additionalProperties: false });

/** Port forwarding (createPortForwardingRule). Public and private ranges have equal length and map 1:1.
 *  It opens the firewall for its sources, like CloudStack's openfirewall=true. */
export const PortForward = Type.Object({
  id: RuleId,
  protocol: Type.Union([Type.Literal('tcp'), Type.Literal('udp')]),
  publicPorts: PortRange,
  privateIp: FwAddress,
  privatePorts: PortRange,
  sourceCidrs: Type.Array(FwCidr, { maxItems: 256 }),
  /** false: the forward opens nothing by itself; a firewall rule on its public ports must
   *  (CloudStack's openfirewall=false; the manager sends every forward so and keeps
   *  openfirewall=true as the separate firewall rule CloudStack creates). Absent: true. */
  open: Type.Optional(Type.Boolean()),
}, { additionalProperties: false });

export const PublicIp = Type.Object({
  address: FwAddress,
  /** 'rules': default deny, open by `rules` and port forwards (isolated networks).
   *  'open': no filtering at the public IP (VPC: the tiers' ACLs filter instead). */
  filter: Type.Union([Type.Literal('rules'), Type.Literal('open')]),
  rules: Type.Array(FirewallRule),
  portForwards: Type.Array(PortForward),
  /** One-to-one NAT to a guest address, both directions (enableStaticNat). Filtered by `rules`. */
  staticNat: Type.Optional(Type.Object({ privateIp: FwAddress }, { additionalProperties: false })),
}, { additionalProperties: false });

/** Egress rule of an isolated network (createEgressFirewallRule). Its verdict is the opposite
 *  of the network's default policy: deny rules when the default allows, and vice versa. */
export const EgressRule = Type.Object({
  id: RuleId,
  ...matchFields,
  /** Guest sources; empty = the whole network. */
  sourceCidrs: Type.Array(FwCidr, { maxItems: 256 }),
  /** Destinations; empty = anywhere. */
  destinationCidrs: Type.Array(FwCidr, { maxItems: 256 }),
}, { additionalProperties: false });

export const FirewallGuestNetwork = Type.Object({
  id: Type.String({ pattern: '^[A-Za-z0-9_.:-]{1,64}$' }),
  /** The appliance's interface on this network (router: guest NIC / VPC tier NIC). */
  interface: FwIfName,
  /** The network's prefixes (v4 and/or v6): source NAT applies to them. */
  cidrs: Type.Array(FwCidr, { minItems: 1, maxItems: 8 }),
  /** Source NAT address (one of publicIps) for traffic leaving through a public interface. */
  sourceNatIp: Type.Optional(FwAddress),
  /** Isolated networks: egress policy towards public interfaces. */
  egress: Type.Optional(Type.Object({
    defaultPolicy: Type.Union([Type.Literal('allow'), Type.Literal('deny')]),
    rules: Type.Array(EgressRule),
  }, { additionalProperties: false })),
  /** VPC tiers: id of the network ACL list filtering traffic into and out of this tier. */
  aclListId: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_.:-]{1,64}$' })),
}, { additionalProperties: false });

/** Network ACL item (createNetworkACL): evaluated in `number` order, first match wins;
 *  a packet matching no item is denied (CloudStack's implicit deny). */
export const AclRule = Type.Object({
  id: RuleId,
  number: Type.Integer({ minimum: 1, maximum: 2_147_483_647 }),
  action: Type.Union([Type.Literal('allow'), Type.Literal('deny')]),
  /** ingress: into the tier, cidrs are sources; egress: out of the tier, cidrs are destinations. */
  direction: Type.Union([Type.Literal('ingress'), Type.Literal('egress')]),
  ...matchFields,
  cidrs: Type.Array(FwCidr, { maxItems: 256 }),
}, { additionalProperties: false });

export const AclList = Type.Object({
  id: Type.String({ pattern: '^[A-Za-z0-9_.:-]{1,64}$' }),
  rules: Type.Array(AclRule),
}, { additionalProperties: false });

/** Security group rule (authorizeSecurityGroupIngress/Egress): by CIDR and/or by group. */
export const SecurityGroupRule = Type.Object({
  id: RuleId,
  direction: Type.Union([Type.Literal('ingress'), Type.Literal('egress')]),
  ...matchFields,
  /** Peers by prefix (ingress: sources, egress: destinations). */
  cidrs: Type.Array(FwCidr, { maxItems: 256 }),
  /** Peers by group: every address of every member of these groups. */
  groupIds: Type.Array(Type.String({ pattern: '^[A-Za-z0-9_.:-]{1,64}$' }), { maxItems: 64 }),
}, { additionalProperties: false });

export const SecurityGroup = Type.Object({
  id: Type.String({ pattern: '^[A-Za-z0-9_.:-]{1,64}$' }),
  rules: Type.Array(SecurityGroupRule),
}, { additionalProperties: false });

/** A NIC protected by security groups (shared networks): matched by its addresses. Ingress is
 *  denied unless a rule allows; egress is allowed unless one of its groups has egress rules. */
export const SecurityGroupMember = Type.Object({
  id: Type.String({ pattern: '^[A-Za-z0-9_.:-]{1,64}$' }),
  addresses: Type.Array(FwAddress, { minItems: 1, maxItems: 16 }),
  groupIds: Type.Array(Type.String({ pattern: '^[A-Za-z0-9_.:-]{1,64}$' }), { maxItems: 64 }),
}, { additionalProperties: false });

export const FirewallSpec = Type.Object({
  version: Type.Literal(FIREWALL_SPEC_VERSION),
  /** Interfaces on the public side (router public NICs). */
  publicInterfaces: Type.Array(FwIfName, { maxItems: 16 }),
  guestNetworks: Type.Array(FirewallGuestNetwork),
  publicIps: Type.Array(PublicIp),
  aclLists: Type.Array(AclList),
  securityGroups: Type.Array(SecurityGroup),
  securityGroupMembers: Type.Array(SecurityGroupMember),
}, { additionalProperties: false });

export type FirewallSpec = Static<typeof FirewallSpec>;
export type FirewallRule = Static<typeof FirewallRule>;
export type PortForward = Static<typeof PortForward>;
export type PublicIp = Static<typeof PublicIp>;
export type EgressRule = Static<typeof EgressRule>;
export type FirewallGuestNetwork = Static<typeof FirewallGuestNetwork>;
export type AclRule = Static<typeof AclRule>;
export type AclList = Static<typeof AclList>;
export type SecurityGroupRule = Static<typeof SecurityGroupRule>;
export type SecurityGroup = Static<typeof SecurityGroup>;
export type SecurityGroupMember = Static<typeof SecurityGroupMember>;

/** An empty spec: nothing filtered, nothing translated (the compiler still emits the table). */
export function emptyFirewallSpec(): FirewallSpec {
  return { version: 1, publicInterfaces: [], guestNetworks: [], publicIps: [], aclLists: [], securityGroups: [], securityGroupMembers: [] };
}

/** Per-rule hit counters, as the appliance reports them. */
export const RuleCounters = Type.Record(RuleId, Type.Object({ packets: Type.Integer({ minimum: 0 }), bytes: Type.Integer({ minimum: 0 }) }));
export type RuleCounters = Static<typeof RuleCounters>;

// ---- diagnostics ---------------------------------------------------------------------------

/** 'invalid' → CloudStack 431 (cserrorcode 4350); 'conflict' → 537 (network rule conflict). */
export type FirewallDiagnosticKind = 'invalid' | 'conflict';
export interface FirewallDiagnostic {
  kind: FirewallDiagnosticKind;
  /** JSON-pointer-like path into the spec, e.g. "/publicIps/0/rules/2/ports/end". */
  path: string;
  message: string;
  /** The rule the error is about, when there is one (the API reports it). */
  ruleId?: string;
}

/** Thrown by the compiler when a spec has diagnostics; carries all of them. */
export class FirewallSpecError extends Error {
  constructor(readonly diagnostics: FirewallDiagnostic[]) {
    super(`invalid firewall spec: ${diagnostics.length} error(s)\n` + diagnostics.map((d) => `  ${d.path}: ${d.message}`).join('\n'));
    this.name = 'FirewallSpecError';
  }
}

// ---- normalised form (what the compiler consumes) -------------------------------------------

export type Family = 4 | 6;
/** A parsed prefix; [lo, hi] are the first and last address as integers. */
export interface NCidr { family: Family; addr: string; len: number; lo: bigint; hi: bigint }
export interface NAddress { family: Family; addr: string; value: bigint }
export type Range = readonly [number, number];
/** A normalised match: protocol plus port range (tcp/udp) or ICMP type and code ranges. */
export interface NMatch { protocol: 'tcp' | 'udp' | 'icmp' | 'all'; ports: Range; icmpType: Range; icmpCode: Range }

export interface NFirewallRule { id: string; match: NMatch; sources: NCidr[] }
export interface NPortForward { id: string; protocol: 'tcp' | 'udp'; publicPorts: Range; privateIp: NAddress; privatePorts: Range; sources: NCidr[] }
export interface NPublicIp { address: NAddress; filter: 'rules' | 'open'; rules: NFirewallRule[]; portForwards: NPortForward[]; staticNat?: NAddress }
export interface NEgressRule { id: string; match: NMatch; sources: NCidr[]; destinations: NCidr[] }
export interface NGuestNetwork { id: string; interface: string; cidrs: NCidr[]; sourceNatIp?: NAddress; egress?: { defaultPolicy: 'allow' | 'deny'; rules: NEgressRule[] }; aclListId?: string }
export interface NAclRule { id: string; number: number; action: 'allow' | 'deny'; direction: 'ingress' | 'egress'; match: NMatch; cidrs: NCidr[] }
export interface NAclList { id: string; rules: NAclRule[] }
export interface NSgRule { id: string; direction: 'ingress' | 'egress'; match: NMatch; cidrs: NCidr[]; groupIds: string[] }
export interface NFirewallSpec {
  publicInterfaces: string[];
  guestNetworks: NGuestNetwork[];
  publicIps: NPublicIp[];
  aclLists: NAclList[];
  securityGroups: Array<{ id: string; rules: NSgRule[] }>;
  securityGroupMembers: Array<{ id: string; addresses: NAddress[]; groupIds: string[] }>;
}

const FULL: Range = [0, 65535];
const ANY8: Range = [0, 255];

// IPv4 goes through plain numbers: a 10k-rule spec parses ~20k addresses, and BigInt arithmetic
// per byte (and the garbage it leaves) was most of normalizeFirewallSpec's time.
function toBig(bytes: number[]): bigint {
  if (bytes.length === 4) return BigInt(((bytes[0]! << 24) | (bytes[1]! << 16) | (bytes[2]! << 8) | bytes[3]!) >>> 0);
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return v;
}

function fromBig(v: bigint, family: Family): string {
  if (family === 4) {
    const n = Number(v);
    return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
  }
  const bytes: number[] = [];
  for (let i = 15; i >= 0; i--) bytes.push(Number((v >> BigInt(8 * i)) & 0xffn));
  return ipaddr.fromByteArray(bytes).toString();
}

// Canonical dotted quads (no leading zeros), the form every address Flotilla writes takes, are
// parsed with plain arithmetic; anything else goes through ipaddr.js, which decides what is valid.
const CANONICAL_V4 = /^(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})$/;

/** Parses an address strictly (no IPv4-mapped IPv6 ambiguity, no zone ids, no shorthand v4). */
export function parseAddress(text: string): NAddress | string {
  const q = CANONICAL_V4.exec(text);
  if (q) {
    const a = Number(q[1]), b = Number(q[2]), c = Number(q[3]), e = Number(q[4]);
    if (a <= 255 && b <= 255 && c <= 255 && e <= 255) return { family: 4, addr: text, value: BigInt((((a << 24) | (b << 16) | (c << 8) | e) >>> 0)) };
  }
  if (ipaddr.IPv4.isValidFourPartDecimal(text)) {
    const a = ipaddr.IPv4.parse(text);
    return { family: 4, addr: a.toString(), value: toBig(a.toByteArray()) };
  }
  if (text.includes(':') && ipaddr.IPv6.isValid(text) && !text.includes('%')) {
    const a = ipaddr.IPv6.parse(text);
    if (a.isIPv4MappedAddress()) return `${text} is an IPv4-mapped IPv6 address; give the IPv4 address`;
    return { family: 6, addr: a.toString(), value: toBig(a.toByteArray()) };
  }
  return `${JSON.stringify(text)} is not an IPv4 or IPv6 address`;
}

// A router recompiles its whole spec on every change, and nearly every CIDR text in it was
// parsed the time before: results (immutable objects) are remembered, up to a bound.
const CIDR_MEMO_MAX = 1 << 17;
const cidrMemo = new Map<string, NCidr | string>();
/** Empties the remembered parses: benchmarks time a new appliance's first compile with it. */
export function forgetParsedCidrs(): void { cidrMemo.clear(); }

export function parseCidr(text: string): NCidr | string {
  let c = cidrMemo.get(text);
  if (c === undefined) {
    if (cidrMemo.size >= CIDR_MEMO_MAX) cidrMemo.clear();
    c = parseCidrText(text);
    cidrMemo.set(text, c);
  }
  return c;
}

function parseCidrText(text: string): NCidr | string {
  const slash = text.indexOf('/');
  if (slash < 0) return `${JSON.stringify(text)} is not a CIDR (address/length)`;
  const a = parseAddress(text.slice(0, slash));
  if (typeof a === 'string') return `${JSON.stringify(text)}: ${a}`;
  const lenText = text.slice(slash + 1);
  const len = /^[0-9]{1,3}$/.test(lenText) ? Number(lenText) : NaN;
  const max = a.family === 4 ? 32 : 128;
  if (!(len >= 0 && len <= max)) return `${JSON.stringify(text)}: prefix length must be 0-${max}`;
  const bits = BigInt(max - len);
  const lo = (a.value >> bits) << bits;
  const hi = lo | ((1n << bits) - 1n);
  return { family: a.family, addr: fromBig(lo, a.family), len, lo, hi };
}

export function anyCidr(family: Family): NCidr {
  return family === 4
    ? { family, addr: '0.0.0.0', len: 0, lo: 0n, hi: (1n << 32n) - 1n }
    : { family, addr: '::', len: 0, lo: 0n, hi: (1n << 128n) - 1n };
}

export function hostCidr(a: NAddress): NCidr {
  return { family: a.family, addr: a.addr, len: a.family === 4 ? 32 : 128, lo: a.value, hi: a.value };
}

export const overlaps = (a: Range, b: Range): boolean => a[0] <= b[1] && b[0] <= a[1];
export const cidrOverlaps = (a: NCidr, b: NCidr): boolean => a.family === b.family && a.lo <= b.hi && b.lo <= a.hi;
export const matchOverlaps = (a: NMatch, b: NMatch): boolean =>
  a.protocol === b.protocol && (a.protocol === 'icmp'
    ? overlaps(a.icmpType, b.icmpType) && overlaps(a.icmpCode, b.icmpCode)
    : a.protocol === 'all' || overlaps(a.ports, b.ports));

export function describeMatch(m: NMatch): string {
  if (m.protocol === 'icmp') return `icmp type ${rangeText(m.icmpType)} code ${rangeText(m.icmpCode)}`;
  if (m.protocol === 'all') return 'all protocols';
  return `${m.protocol} ${rangeText(m.ports)}`;
}
/**
 * Pairs [later, earlier] of items whose ranges overlap, found by sorting on the range start and
 * sweeping, so n rules with few overlaps cost n log n rather than n² (10,000 rules on one IP).
 */
export function sweepOverlaps<T>(items: T[], rangeOf: (t: T) => Range): Array<[T, T]> {
  const order = items.map((t, i) => ({ t, i, r: rangeOf(t) })).sort((a, b) => a.r[0] - b.r[0] || a.i - b.i);
  const out: Array<[T, T]> = [];
  let active: typeof order = [];
  for (const cur of order) {
    active = active.filter((a) => a.r[1] >= cur.r[0]);
    for (const a of active) out.push(a.i > cur.i ? [a.t, cur.t] : [cur.t, a.t]);
    active.push(cur);
  }
  return out;
}
const rangeText = (r: Range): string => (r[0] === r[1] ? `${r[0]}` : `${r[0]}-${r[1]}`);

/** Collects diagnostics while normalising; one instance per validation run. */
class Diagnostics {
  readonly list: FirewallDiagnostic[] = [];
  invalid(path: string, message: string, ruleId?: string): void { this.list.push({ kind: 'invalid', path, message, ...(ruleId ? { ruleId } : {}) }); }
  conflict(path: string, message: string, ruleId?: string): void { this.list.push({ kind: 'conflict', path, message, ...(ruleId ? { ruleId } : {}) }); }
}

function normMatch(d: Diagnostics, path: string, r: { id: string; protocol: NMatch['protocol']; ports?: { start: number; end: number }; icmpType?: number; icmpCode?: number }): NMatch {
  let ports: Range = FULL;
  if (r.ports) {
    if (r.protocol !== 'tcp' && r.protocol !== 'udp') d.invalid(`${path}/ports`, `ports are only valid for tcp and udp, not ${r.protocol}`, r.id);
    else if (r.ports.start > r.ports.end) d.invalid(`${path}/ports`, `port range ${r.ports.start}-${r.ports.end} is reversed (start > end)`, r.id);
    else ports = [r.ports.start, r.ports.end];
  }
  const icmp = (v: number | undefined, name: string): Range => {
    if (v === undefined || v === -1) return ANY8;
    if (r.protocol !== 'icmp') { d.invalid(`${path}/${name}`, `${name} is only valid for protocol icmp`, r.id); return ANY8; }
    return [v, v];
  };
  const icmpType = icmp(r.icmpType, 'icmpType');
  const icmpCode = icmp(r.icmpCode, 'icmpCode');
  if (r.protocol === 'icmp' && icmpType === ANY8 && icmpCode !== ANY8) d.invalid(`${path}/icmpCode`, 'an ICMP code needs an ICMP type', r.id);
  return { protocol: r.protocol, ports, icmpType, icmpCode };
}

/** Parses CIDRs of one family; empty → `fallback` (anywhere). Drops prefixes contained in
 *  another of the same list, since they add nothing and would overlap in an nft interval set. */
function normCidrs(d: Diagnostics, path: string, list: string[], family: Family | undefined, ruleId: string | undefined, fallback: 'any' | 'none' = 'any'): NCidr[] {
  const out: NCidr[] = [];
  list.forEach((text, i) => {
    const c = parseCidr(text);
    if (typeof c === 'string') { d.invalid(`${path}/${i}`, c, ruleId); return; }
    if (family && c.family !== family) { d.invalid(`${path}/${i}`, `${text} is IPv${c.family} but the rule applies to IPv${family}`, ruleId); return; }
    out.push(c);
  });
  if (list.length === 0 && fallback === 'any' && family) return [anyCidr(family)];
  return dedupeCidrs(out);
}

/** Removes prefixes contained in another (prefixes either nest or are disjoint). */
export function dedupeCidrs(list: NCidr[]): NCidr[] {
  const sorted = [...list].sort((a, b) => a.family - b.family || a.len - b.len);
  const kept: NCidr[] = [];
  for (const c of sorted) if (!kept.some((k) => cidrOverlaps(k, c))) kept.push(c);
  return kept;
}

function normAddr(d: Diagnostics, path: string, text: string, ruleId?: string): NAddress | undefined {
  const a = parseAddress(text);
  if (typeof a === 'string') { d.invalid(path, a, ruleId); return undefined; }
  return a;
}

// Compiled once, lazily: a 10k-rule spec checks several times faster than with Value.Check.
let compiled: ReturnType<typeof TypeCompiler.Compile<typeof FirewallSpec>> | undefined;
const checker = () => (compiled ??= TypeCompiler.Compile(FirewallSpec));

/**
 * Validates and normalises a spec. Every problem is collected (schema first: when the shape is
 * wrong, semantic checks are skipped since they would only add noise).
 */
/**
 * A spec normalised before without any diagnostic, and the raw spec it came from (never mutated
 * since): public IPs whose raw form is unchanged are taken over from it instead of being parsed
 * and checked again — a router recompiles its whole spec on every change, and a one-rule change
 * touches one IP of possibly thousands.
 */
export interface NormalizedBefore { readonly raw: FirewallSpec; readonly spec: NFirewallSpec }

type RawPublicIp = FirewallSpec['publicIps'][number];
type RawRange = { start: number; end: number } | undefined;
const sameRange = (a: RawRange, b: RawRange) => a === b || (!!a && !!b && a.start === b.start && a.end === b.end);
const sameStrings = (a: readonly string[], b: readonly string[]) => {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
};
/**
 * Fields compared by samePublicIp, per schema object: a test checks they are exactly the
 * schema's properties (the schemas refuse any other), so a new field cannot be missed.
 */
export const COMPARED_FIELDS = {
  PublicIp: ['address', 'filter', 'rules', 'portForwards', 'staticNat'],
  FirewallRule: ['id', 'protocol', 'ports', 'icmpType', 'icmpCode', 'sourceCidrs'],
  PortForward: ['id', 'protocol', 'publicPorts', 'privateIp', 'privatePorts', 'sourceCidrs', 'open'],
} as const;
/** Equality of two schema-valid raw public IPs, field by field (several times cheaper than a
 *  generic deep comparison over 10,000 rules). */
export function samePublicIp(a: RawPublicIp, b: RawPublicIp): boolean {
  if (a.address !== b.address || a.filter !== b.filter || a.staticNat?.privateIp !== b.staticNat?.privateIp) return false;
  if (a.rules.length !== b.rules.length || a.portForwards.length !== b.portForwards.length) return false;
  for (let i = 0; i < a.rules.length; i++) {
    const x = a.rules[i]!, y = b.rules[i]!;
    if (x.id !== y.id || x.protocol !== y.protocol || x.icmpType !== y.icmpType || x.icmpCode !== y.icmpCode
      || !sameRange(x.ports, y.ports) || !sameStrings(x.sourceCidrs, y.sourceCidrs)) return false;
  }
  for (let i = 0; i < a.portForwards.length; i++) {
    const x = a.portForwards[i]!, y = b.portForwards[i]!;
    if (x.id !== y.id || x.protocol !== y.protocol || x.privateIp !== y.privateIp || x.open !== y.open
      || !sameRange(x.publicPorts, y.publicPorts) || !sameRange(x.privatePorts, y.privatePorts) || !sameStrings(x.sourceCidrs, y.sourceCidrs)) return false;
  }
  return true;
}

export function normalizeFirewallSpec(raw: unknown, before?: NormalizedBefore): { spec?: NFirewallSpec; diagnostics: FirewallDiagnostic[] } {
  const d = new Diagnostics();
  if (!checker().Check(raw)) {
    for (const e of checker().Errors(raw)) d.invalid(e.path || '/', e.message);
    return { diagnostics: d.list };
  }
  const s = raw as FirewallSpec;
  // Rule id → where it is used; the path is kept as its parts and spelled out only when an id
  // is used twice (10,000 ids are claimed on every compile, nearly always without a clash).
  const ruleIds = new Map<string, { at: string; list: string; j: number }>();
  const UPPER = /[A-F]/;
  const claimId = (id: string, at: string, list: string, j: number) => {
    const key = UPPER.test(id) ? id.toLowerCase() : id;
    const prev = ruleIds.get(key);
    if (prev) d.invalid(`${at}/${list}/${j}/id`, `rule id ${id} is also used at ${prev.at}/${prev.list}/${prev.j}; rule ids must be unique (counters are reported by id)`, id);
    else ruleIds.set(key, { at, list, j });
  };

  // Interfaces: a name may play one role only, or packets would be classified twice.
  const ifRoles = new Map<string, string>();
  s.publicInterfaces.forEach((n, i) => {
    if (ifRoles.has(n)) d.invalid(`/publicInterfaces/${i}`, `interface ${n} is listed twice`);
    ifRoles.set(n, `/publicInterfaces/${i}`);
  });

  // Public IPs.
  const publicIps: NPublicIp[] = [];
  const byAddress = new Map<string, { path: string; ip: NPublicIp }>();
  // The previous normalisation's IPs by their raw address text (it had no diagnostics, so its
  // i-th normalised IP is its i-th raw one).
  const earlier = new Map<string, { raw: FirewallSpec['publicIps'][number]; ip: NPublicIp }>();
  before?.raw.publicIps.forEach((p, i) => earlier.set(p.address, { raw: p, ip: before.spec.publicIps[i]! }));
  s.publicIps.forEach((p, i) => {
    const path = `/publicIps/${i}`;
    const same = earlier.get(p.address);
    if (same && samePublicIp(same.raw, p) && !byAddress.has(same.ip.address.addr)) {
      // Unchanged: its own checks passed before and depend on nothing else; rule ids must
      // still be unique across the whole spec.
      for (let j = 0; j < p.rules.length; j++) claimId(p.rules[j]!.id, path, 'rules', j);
      for (let j = 0; j < p.portForwards.length; j++) claimId(p.portForwards[j]!.id, path, 'portForwards', j);
      byAddress.set(same.ip.address.addr, { path, ip: same.ip });
      publicIps.push(same.ip);
      return;
    }
    const address = normAddr(d, `${path}/address`, p.address);
    if (!address) return;
    if (byAddress.has(address.addr)) { d.invalid(`${path}/address`, `public IP ${address.addr} is also listed at ${byAddress.get(address.addr)!.path}`); return; }
    const rules = p.rules.map((r, j) => {
      claimId(r.id, path, 'rules', j);
      return { id: r.id, match: normMatch(d, `${path}/rules/${j}`, r), sources: normCidrs(d, `${path}/rules/${j}/sourceCidrs`, r.sourceCidrs, address.family, r.id) };
    });
    const portForwards: NPortForward[] = [];
    p.portForwards.forEach((f, j) => {
      const fp = `${path}/portForwards/${j}`;
      claimId(f.id, path, 'portForwards', j);
      const privateIp = normAddr(d, `${fp}/privateIp`, f.privateIp, f.id);
      let ok = !!privateIp;
      if (privateIp && privateIp.family !== address.family) { d.invalid(`${fp}/privateIp`, `${privateIp.addr} is IPv${privateIp.family} but the public IP ${address.addr} is IPv${address.family}`, f.id); ok = false; }
      if (f.publicPorts.start > f.publicPorts.end) { d.invalid(`${fp}/publicPorts`, `port range ${f.publicPorts.start}-${f.publicPorts.end} is reversed (start > end)`, f.id); ok = false; }
      if (f.privatePorts.start > f.privatePorts.end) { d.invalid(`${fp}/privatePorts`, `port range ${f.privatePorts.start}-${f.privatePorts.end} is reversed (start > end)`, f.id); ok = false; }
      if (ok && f.publicPorts.end - f.publicPorts.start !== f.privatePorts.end - f.privatePorts.start) {
        d.invalid(`${fp}/privatePorts`, `private range ${f.privatePorts.start}-${f.privatePorts.end} and public range ${f.publicPorts.start}-${f.publicPorts.end} differ in length; ranges map one to one`, f.id);
        ok = false;
      }
      const sources = f.open === false ? [] : normCidrs(d, `${fp}/sourceCidrs`, f.sourceCidrs, address.family, f.id);
      if (ok) portForwards.push({ id: f.id, protocol: f.protocol, publicPorts: [f.publicPorts.start, f.publicPorts.end], privateIp: privateIp!, privatePorts: [f.privatePorts.start, f.privatePorts.end], sources });
    });
    let staticNat: NAddress | undefined;
    if (p.staticNat) {
      staticNat = normAddr(d, `${path}/staticNat/privateIp`, p.staticNat.privateIp);
      if (staticNat && staticNat.family !== address.family) { d.invalid(`${path}/staticNat/privateIp`, `${staticNat.addr} is IPv${staticNat.family} but the public IP ${address.addr} is IPv${address.family}`); staticNat = undefined; }
    }
    const ip: NPublicIp = { address, filter: p.filter, rules, portForwards, ...(staticNat ? { staticNat } : {}) };
    byAddress.set(address.addr, { path, ip });
    publicIps.push(ip);

    // Conflicts on this IP (CloudStack's detectRulesConflict, made exact for set elements).
    if (p.staticNat && p.portForwards.length) {
      d.conflict(`${path}/staticNat`, `public IP ${address.addr} has static NAT and ${p.portForwards.length} port forwarding rule(s); an IP can carry only one of them`, p.portForwards[0]!.id);
    }
    for (const [x, y] of sweepOverlaps(portForwards, (f) => f.publicPorts)) {
      if (x.protocol !== y.protocol) continue;
      d.conflict(`${path}/portForwards/${portForwards.indexOf(x)}/publicPorts`,
        `The range specified, ${rangeText(x.publicPorts)}, conflicts with rule ${y.id} which has ${rangeText(y.publicPorts)} (${x.protocol} on ${address.addr})`, x.id);
    }
    for (const cls of ['tcp', 'udp', 'icmp', 'all'] as const) {
      const same = rules.filter((r) => r.match.protocol === cls);
      const dim = (r: NFirewallRule): Range => (cls === 'icmp' ? r.match.icmpType : r.match.ports);
      for (const [x, y] of sweepOverlaps(same, dim)) {
        if (!matchOverlaps(x.match, y.match) || !x.sources.some((c) => y.sources.some((e) => cidrOverlaps(c, e)))) continue;
        const what = cls === 'icmp' || cls === 'all' ? describeMatch(x.match) : `The range specified, ${rangeText(x.match.ports)},`;
        d.conflict(`${path}/rules/${rules.indexOf(x)}`, `${what} conflicts with rule ${y.id} which has ${describeMatch(y.match)} for overlapping source CIDRs on ${address.addr}`, x.id);
      }
    }
  });

  // A shifted port-forward range becomes one DNAT map element per port (nft has no port offset
  // for maps); bound the total so one spec cannot make the table explode.
  let shifted = 0;
  publicIps.forEach((p) => p.portForwards.forEach((f, j) => {
    if (f.privatePorts[0] === f.publicPorts[0]) return;
    shifted += f.publicPorts[1] - f.publicPorts[0] + 1;
    if (shifted > MAX_SHIFTED_PORTS) d.invalid(`${byAddress.get(p.address.addr)!.path}/portForwards/${j}/privatePorts`, `port forwards whose private ports differ from their public ports may cover at most ${MAX_SHIFTED_PORTS} ports in total per appliance; use equal public and private ports for large ranges`, f.id);
  }));

  // Static NAT: one guest address per public IP, never the source NAT IP.
  const staticGuests = new Map<string, string>();
  publicIps.forEach((p) => {
    if (!p.staticNat) return;
    const other = staticGuests.get(p.staticNat.addr);
    if (other) d.conflict(`${byAddress.get(p.address.addr)!.path}/staticNat/privateIp`, `guest address ${p.staticNat.addr} already has static NAT from ${other}`);
    staticGuests.set(p.staticNat.addr, p.address.addr);
  });

  // Guest networks.
  const aclIds = new Set(s.aclLists.map((a) => a.id));
  const guestNetworks: NGuestNetwork[] = [];
  const sourceNatIps = new Set<string>();
  s.guestNetworks.forEach((g, i) => {
    const path = `/guestNetworks/${i}`;
    if (ifRoles.has(g.interface)) d.invalid(`${path}/interface`, `interface ${g.interface} is also used at ${ifRoles.get(g.interface)}`);
    ifRoles.set(g.interface, path);
    const cidrs = normCidrs(d, `${path}/cidrs`, g.cidrs, undefined, undefined, 'none');
    let sourceNatIp: NAddress | undefined;
    if (g.sourceNatIp) {
      sourceNatIp = normAddr(d, `${path}/sourceNatIp`, g.sourceNatIp);
      const pub = sourceNatIp && byAddress.get(sourceNatIp.addr);
      if (sourceNatIp && !pub) { d.invalid(`${path}/sourceNatIp`, `source NAT IP ${sourceNatIp.addr} is not one of publicIps`); sourceNatIp = undefined; }
      else if (sourceNatIp && pub?.ip.staticNat) d.conflict(`${path}/sourceNatIp`, `source NAT IP ${sourceNatIp.addr} also has static NAT; CloudStack refuses static NAT on a source NAT IP`);
      if (sourceNatIp) {
        sourceNatIps.add(sourceNatIp.addr);
        if (!cidrs.some((c) => c.family === sourceNatIp!.family)) d.invalid(`${path}/sourceNatIp`, `source NAT IP ${sourceNatIp.addr} is IPv${sourceNatIp.family} but the network has no IPv${sourceNatIp.family} prefix`);
      }
    }
    if (g.egress && g.aclListId) d.invalid(`${path}/aclListId`, 'a network has either an egress policy (isolated) or an ACL list (VPC tier), not both');
    if (g.aclListId && !aclIds.has(g.aclListId)) d.invalid(`${path}/aclListId`, `ACL list ${g.aclListId} is not in aclLists`);
    let egress: NGuestNetwork['egress'];
    if (g.egress) {
      const rules: NEgressRule[] = g.egress.rules.map((r, j) => {
        const rp = `${path}/egress/rules/${j}`;
        claimId(r.id, `${path}/egress`, 'rules', j);
        const sources = r.sourceCidrs.length ? normCidrs(d, `${rp}/sourceCidrs`, r.sourceCidrs, undefined, r.id) : cidrs;
        const destinations = r.destinationCidrs.length ? normCidrs(d, `${rp}/destinationCidrs`, r.destinationCidrs, undefined, r.id)
          : [...new Set(sources.map((c) => c.family))].map(anyCidr);
        r.sourceCidrs.forEach((text, k) => {
          const c = parseCidr(text);
          if (typeof c !== 'string' && !cidrs.some((n) => n.family === c.family && n.lo <= c.lo && c.hi <= n.hi)) d.invalid(`${rp}/sourceCidrs/${k}`, `${text} is not inside the network's prefixes`, r.id);
        });
        return { id: r.id, match: normMatch(d, rp, r), sources, destinations };
      });
      for (const [x, y] of sweepOverlaps(rules, (r) => (r.match.protocol === 'icmp' ? r.match.icmpType : r.match.ports))) {
        if (matchOverlaps(x.match, y.match) && x.sources.some((c) => y.sources.some((e) => cidrOverlaps(c, e))) && x.destinations.some((c) => y.destinations.some((e) => cidrOverlaps(c, e)))) {
          d.conflict(`${path}/egress/rules/${rules.indexOf(x)}`, `egress rule ${x.id} (${describeMatch(x.match)}) overlaps rule ${y.id} (${describeMatch(y.match)}) for the same sources and destinations`, x.id);
        }
      }
      egress = { defaultPolicy: g.egress.defaultPolicy, rules };
    }
    guestNetworks.push({ id: g.id, interface: g.interface, cidrs, ...(sourceNatIp ? { sourceNatIp } : {}), ...(egress ? { egress } : {}), ...(g.aclListId ? { aclListId: g.aclListId } : {}) });
  });
  // Guest prefixes must be disjoint: source NAT is an interval map keyed by them.
  const allCidrs = guestNetworks.flatMap((g, i) => g.cidrs.map((c) => ({ c, i })));
  for (let a = 0; a < allCidrs.length; a++) for (let b = 0; b < a; b++) {
    const x = allCidrs[a]!, y = allCidrs[b]!;
    if (x.i !== y.i && cidrOverlaps(x.c, y.c)) d.invalid(`/guestNetworks/${x.i}/cidrs`, `${x.c.addr}/${x.c.len} overlaps ${y.c.addr}/${y.c.len} of guest network ${guestNetworks[y.i]!.id}`);
  }
  // Port forwards and static NAT must lead into a guest network of this appliance.
  const inGuest = (a: NAddress) => guestNetworks.some((g) => g.cidrs.some((c) => c.family === a.family && c.lo <= a.value && a.value <= c.hi));
  publicIps.forEach((p) => {
    const path = byAddress.get(p.address.addr)!.path;
    if (p.staticNat && !inGuest(p.staticNat)) d.invalid(`${path}/staticNat/privateIp`, `${p.staticNat.addr} is not inside any guest network of this appliance`);
    p.portForwards.forEach((f) => { if (!inGuest(f.privateIp)) d.invalid(`${path}/portForwards/${p.portForwards.indexOf(f)}/privateIp`, `${f.privateIp.addr} is not inside any guest network of this appliance`, f.id); });
  });

  // ACL lists.
  const aclLists: NAclList[] = [];
  const seenAcl = new Set<string>();
  s.aclLists.forEach((l, i) => {
    const path = `/aclLists/${i}`;
    if (seenAcl.has(l.id)) d.invalid(`${path}/id`, `ACL list ${l.id} is listed twice`);
    seenAcl.add(l.id);
    const numbers = new Map<string, string>();
    const rules = l.rules.map((r, j) => {
      const rp = `${path}/rules/${j}`;
      claimId(r.id, path, 'rules', j);
      const key = `${r.direction}:${r.number}`;
      if (numbers.has(key)) d.conflict(`${rp}/number`, `rule number ${r.number} (${r.direction}) is already used by rule ${numbers.get(key)}`, r.id);
      numbers.set(key, r.id);
      const cidrs = r.cidrs.length ? normCidrs(d, `${rp}/cidrs`, r.cidrs, undefined, r.id) : [anyCidr(4), anyCidr(6)];
      return { id: r.id, number: r.number, action: r.action, direction: r.direction, match: normMatch(d, rp, r), cidrs };
    }).sort((a, b) => a.number - b.number);
    aclLists.push({ id: l.id, rules });
  });

  // Security groups.
  const groupIds = new Set(s.securityGroups.map((g) => g.id));
  const securityGroups = s.securityGroups.map((g, i) => ({
    id: g.id,
    rules: g.rules.map((r, j): NSgRule => {
      const rp = `/securityGroups/${i}/rules/${j}`;
      claimId(r.id, `/securityGroups/${i}`, 'rules', j);
      r.groupIds.forEach((gid, k) => { if (!groupIds.has(gid)) d.invalid(`${rp}/groupIds/${k}`, `security group ${gid} is not in securityGroups`, r.id); });
      if (!r.cidrs.length && !r.groupIds.length) d.invalid(rp, 'a security group rule needs cidrs or groupIds', r.id);
      return { id: r.id, direction: r.direction, match: normMatch(d, rp, r), cidrs: normCidrs(d, `${rp}/cidrs`, r.cidrs, undefined, r.id, 'none'), groupIds: r.groupIds };
    }),
  }));
  const memberAddrs = new Map<string, string>();
  const securityGroupMembers = s.securityGroupMembers.map((m, i) => {
    const path = `/securityGroupMembers/${i}`;
    m.groupIds.forEach((gid, k) => { if (!groupIds.has(gid)) d.invalid(`${path}/groupIds/${k}`, `security group ${gid} is not in securityGroups`); });
    const addresses: NAddress[] = [];
    m.addresses.forEach((t, k) => {
      const a = normAddr(d, `${path}/addresses/${k}`, t);
      if (!a) return;
      if (memberAddrs.has(a.addr)) d.invalid(`${path}/addresses/${k}`, `address ${a.addr} also belongs to member ${memberAddrs.get(a.addr)}`);
      memberAddrs.set(a.addr, m.id);
      addresses.push(a);
    });
    return { id: m.id, addresses, groupIds: m.groupIds };
  });

  if (d.list.length) return { diagnostics: d.list };
  return { spec: { publicInterfaces: s.publicInterfaces, guestNetworks, publicIps, aclLists, securityGroups, securityGroupMembers }, diagnostics: [] };
}

/** Every error in a spec (empty when valid). The manager maps kind 'invalid' → 431, 'conflict' → 537. */
export function validateFirewallSpec(raw: unknown): FirewallDiagnostic[] {
  return normalizeFirewallSpec(raw).diagnostics;
}
