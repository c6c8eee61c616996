// The router appliance's desired state (RouterSpec) and its control-socket messages.
// The manager builds the WHOLE spec for a generation; the appliance diffs locally against the
// last applied one. Same generation twice is a no-op. Field names of VM metadata are exactly
// CloudStack's (the names cloud-init and CloudStack's own guests request), so no mapping exists
// anywhere between the API and the guest.
import { Type, type Static } from '@sinclair/typebox';
import { FirewallSpec, RuleCounters } from './firewall.ts';
import { RemoteAccessVpnSpec, VpnPeersDeltaMessage } from './vpn.ts';
import { LbSpec, LbStatus } from './lb.ts';

/** Protocol version of RouterSpec and its control messages (minor: additive, major: breaking). */
export const ROUTER_SPEC_VERSION = '1.0' as const;

// Patterns are deliberately tight: every string here may end up in a command line (ip), a file
// (lease file) or a DNS answer, so anything outside them is refused before it is used.
export const IfName = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$', description: 'Linux interface name (IFNAMSIZ)' });
export const Mac = Type.String({ pattern: '^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$', description: 'MAC, colon separated' });
/** Address or prefix; checked semantically (v4/v6, host bits) by the appliance's validator. */
export const IpAddress = Type.String({ pattern: '^[0-9a-fA-F.:]{2,39}$' });
export const Cidr = Type.String({ pattern: '^[0-9a-fA-F.:]{2,39}/[0-9]{1,3}$' });
/** One DNS label (RFC 1123 host name label). */
export const HostName = Type.String({ pattern: '^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$' });
export const DomainName = Type.String({ pattern: '^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.)*[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$', maxLength: 253 });

export const InterfaceRole = Type.Union([Type.Literal('guest'), Type.Literal('public'), Type.Literal('control')]);

export const RouterInterface = Type.Object({
  name: IfName,
  mac: Mac,
  role: InterfaceRole,
  /** Addresses with prefix length, v4 and v6 ("10.1.1.1/24", "fd00::1/64"). */
  addresses: Type.Array(Cidr),
  mtu: Type.Optional(Type.Integer({ minimum: 576, maximum: 9216 })),
}, { additionalProperties: false });

export const RouterRoute = Type.Object({
  /** Prefix, or "default" / "default6". */
  destination: Type.Union([Cidr, Type.Literal('default'), Type.Literal('default6')]),
  gateway: Type.Optional(IpAddress),
  interface: Type.Optional(IfName),
}, { additionalProperties: false });

export const DhcpReservation = Type.Object({
  mac: Mac,
  ip: IpAddress,
  hostname: Type.Optional(HostName),
  /** The VM's IPv6 address, if any: published as AAAA and ip6.arpa PTR (assigned by SLAAC). */
  ip6: Type.Optional(IpAddress),
}, { additionalProperties: false });

/** CloudStack's metadata fields, by their exact names under /latest/meta-data/. */
export const VmMetadata = Type.Object({
  'service-offering': Type.Optional(Type.String({ maxLength: 255 })),
  'availability-zone': Type.Optional(Type.String({ maxLength: 255 })),
  'local-ipv4': Type.Optional(IpAddress),
  'local-hostname': Type.Optional(Type.String({ maxLength: 255 })),
  'public-ipv4': Type.Optional(IpAddress),
  'public-hostname': Type.Optional(Type.String({ maxLength: 255 })),
  'instance-id': Type.Optional(Type.String({ maxLength: 255 })),
  'vm-id': Type.Optional(Type.String({ maxLength: 255 })),
  'public-keys': Type.Optional(Type.String({ maxLength: 65536 })),
  'cloud-identifier': Type.Optional(Type.String({ maxLength: 255 })),
}, { additionalProperties: false });
export const VM_METADATA_FIELDS = Object.keys(VmMetadata.properties) as Array<keyof Static<typeof VmMetadata>>;

export const VmData = Type.Object({
  /** The VM's guest IP: the metadata and password services answer by request source address. */
  ip: IpAddress,
  /** User data, base64 (as CloudStack's API carries it); served decoded. */
  userData: Type.Optional(Type.String({ maxLength: 1_048_576, pattern: '^[A-Za-z0-9+/=\\r\\n]*$' })),
  metadata: VmMetadata,
  /** Set only by the manager (resetPasswordForVirtualMachine / deploy); served once per value. */
  password: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
}, { additionalProperties: false });

export const GuestNetwork = Type.Object({
  /** Router interface (role guest) serving this network/tier. */
  interface: IfName,
  cidr: Cidr,
  /** The router's address on this network: DHCP server id, default router, DNS, metadata. */
  gateway: IpAddress,
  domain: DomainName,
  /** Zone DNS servers: names outside `domain` are forwarded to them. */
  dnsForwarders: Type.Array(IpAddress, { maxItems: 4 }),
  leaseSeconds: Type.Integer({ minimum: 120, maximum: 31_536_000 }),
  reservations: Type.Array(DhcpReservation),
  /** Optional dynamic pool (CloudStack uses static reservations only; benchmarks and ad-hoc
   *  networks use a pool). Inclusive bounds inside `cidr`. */
  dynamicRange: Type.Optional(Type.Object({ start: IpAddress, end: IpAddress }, { additionalProperties: false })),
  vms: Type.Array(VmData),
}, { additionalProperties: false });

export const RouterSpec = Type.Object({
  version: Type.Literal(ROUTER_SPEC_VERSION),
  routerId: Type.String({ pattern: '^[A-Za-z0-9_.-]{1,64}$' }),
  generation: Type.Integer({ minimum: 0 }),
  interfaces: Type.Array(RouterInterface),
  routes: Type.Array(RouterRoute),
  guestNetworks: Type.Array(GuestNetwork),
  /** Filtering and NAT of this router (firewall/ compiles and applies it); absent = no table. */
  firewall: Type.Optional(FirewallSpec),
  /** Remote-access VPN (WireGuard) of this router; absent = none (see ./vpn.ts). */
  vpn: Type.Optional(RemoteAccessVpnSpec),
  /** Load-balancer rules (lb/ compiles them: kernel elements in the firewall's table, HAProxy). */
  lb: Type.Optional(LbSpec),
}, { additionalProperties: false });

export type RouterSpec = Static<typeof RouterSpec>;
export type RouterInterface = Static<typeof RouterInterface>;
export type RouterRoute = Static<typeof RouterRoute>;
export type GuestNetwork = Static<typeof GuestNetwork>;
export type DhcpReservation = Static<typeof DhcpReservation>;
export type VmData = Static<typeof VmData>;
export type VmMetadata = Static<typeof VmMetadata>;

// ---- control socket (newline-delimited JSON, one object per line) ----

export const ServiceName = Type.Union([
  Type.Literal('links'), Type.Literal('firewall'), Type.Literal('dhcp'), Type.Literal('dns'),
  Type.Literal('metadata'), Type.Literal('password'),
  Type.Literal('vpn'),
  Type.Literal('lb'),
]);
export type ServiceName = Static<typeof ServiceName>;

/** Manager → router: apply this whole spec. `id` is echoed in the reply. */
export const ApplyMessage = Type.Object({
  type: Type.Literal('apply'), id: Type.Optional(Type.String({ maxLength: 64 })), spec: RouterSpec,
});
/** Manager → router: ask for the report. */
export const ReportRequest = Type.Object({ type: Type.Literal('report'), id: Type.Optional(Type.String({ maxLength: 64 })) });
export const RouterRequest = Type.Union([ApplyMessage, ReportRequest, VpnPeersDeltaMessage]);
export type RouterRequest = Static<typeof RouterRequest>;

export const ServiceHealth = Type.Object({ ok: Type.Boolean(), detail: Type.Optional(Type.String()) });
export type ServiceHealth = Static<typeof ServiceHealth>;

/** Monotonic counters since the appliance process started. */
export const RouterCounters = Type.Object({
  dhcp: Type.Record(Type.String(), Type.Integer()),
  dns: Type.Record(Type.String(), Type.Integer()),
  metadata: Type.Record(Type.String(), Type.Integer()),
  password: Type.Record(Type.String(), Type.Integer()),
});
export type RouterCounters = Static<typeof RouterCounters>;

/** Router → manager: result of an apply. `changed` lists what the diff touched ([] = no-op). */
export const AppliedMessage = Type.Object({
  type: Type.Literal('applied'), id: Type.Optional(Type.String()), generation: Type.Integer(),
  changed: Type.Array(ServiceName),
  /** Milliseconds per stage of this apply in the appliance (diagnostics; see vpn/README.md). */
  timings: Type.Optional(Type.Record(Type.String(), Type.Number())),
});
export const ErrorMessage = Type.Object({
  type: Type.Literal('error'), id: Type.Optional(Type.String()), generation: Type.Optional(Type.Integer()),
  code: Type.Union([Type.Literal('invalid_message'), Type.Literal('invalid_spec'), Type.Literal('stale_generation'), Type.Literal('apply_failed'),
    // A delta (applyVpnPeers) whose base is not what the router applied: nothing applied, send the full spec.
    Type.Literal('base_mismatch')]),
  /** One line per problem ("path: message"), all problems at once. */
  errors: Type.Array(Type.String()),
});
export const ReportMessage = Type.Object({
  type: Type.Literal('report'), id: Type.Optional(Type.String()),
  /** Last generation applied completely; null before the first apply. */
  appliedGeneration: Type.Union([Type.Integer(), Type.Null()]),
  health: Type.Record(Type.String(), ServiceHealth),
  counters: RouterCounters,
  /** Per-rule hit counters of the applied firewall (rule id → packets/bytes). */
  firewallCounters: Type.Optional(RuleCounters),
  /** Per load-balancer rule: engine, backend health, accumulated counters. */
  lb: Type.Optional(LbStatus),
});
export const RouterReply = Type.Union([AppliedMessage, ErrorMessage, ReportMessage]);
export type RouterReply = Static<typeof RouterReply>;
export type AppliedMessage = Static<typeof AppliedMessage>;
export type ErrorMessage = Static<typeof ErrorMessage>;
export type ReportMessage = Static<typeof ReportMessage>;
