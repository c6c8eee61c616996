// The channel between the manager and a host agent: one WebSocket per host, dialled by the
// agent, JSON text frames, one message per frame. Also the network and VM specs the agent
// receives. Everything here is validated on arrival (TypeBox), and the agent checks again
// semantically (CIDRs, MAC kinds, name lengths) before any string reaches `ip` or `bridge`.
//
// Flow: agent → hello; manager → welcome | refused. Then both sides send heartbeats every
// `heartbeatIntervalMs`; a side that hears nothing for `heartbeatTimeoutMs` (10 s) treats the
// peer as gone (the manager marks the host Disconnected, the agent reconnects with backoff).
// The manager sends requests (`op` + `args`, correlation `id`); the agent answers each with
// exactly one response carrying the same `id`. Requests are idempotent by design (start a
// running VM with the same spec, release an absent network, … succeed) so the manager can
// re-send after a reconnect; after every reconnect it asks `listState` and reconciles.
import { Type, type Static, type TSchema } from '@sinclair/typebox';

/** Version of this channel. Minor: additive (unknown fields are ignored); major: breaking. */
export const AGENT_PROTOCOL_VERSION = '1.0' as const;

/** CloudStack's hypervisor type names: netns driver = LXC, simulator = Simulator, qemu = KVM. */
export const HypervisorType = Type.Union([Type.Literal('LXC'), Type.Literal('Simulator'), Type.Literal('KVM')]);
export type HypervisorType = Static<typeof HypervisorType>;

// ---- scalar formats (tight: these strings end up in names of kernel objects and in argv) ----

/** A VM's internal name (CloudStack's instance name, e.g. "i-2-10-VM", "r-4-VM"). It names the
 *  VM's namespace and is its hostname, so it is a DNS label of at most 40 characters. */
export const VmName = Type.String({ pattern: '^[A-Za-z0-9]([A-Za-z0-9-]{0,38}[A-Za-z0-9])?$', description: 'VM internal name' });
/** The manager's id of a network (a UUID in practice). Stored as the bridge's alias. */
export const NetworkId = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$' });
export const Mac = Type.String({ pattern: '^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$', description: 'unicast MAC, colon separated' });
/** VXLAN network identifier (24 bits, 0 reserved). */
export const Vni = Type.Integer({ minimum: 1, maximum: 16777215 });
/** Checked semantically with ipaddr.js by the agent. */
export const IpAddress = Type.String({ pattern: '^[0-9a-fA-F.:]{2,39}$' });
export const Cidr = Type.String({ pattern: '^[0-9a-fA-F.:]{2,39}/[0-9]{1,3}$' });
export const IfName = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$', description: 'Linux interface name (IFNAMSIZ)' });
export const HostName = Type.String({ pattern: '^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$' });
export const DomainName = Type.String({ pattern: '^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.)*[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$', maxLength: 253 });
export const Mtu = Type.Integer({ minimum: 576, maximum: 9000 });
/** Correlation id of a request; echoed by its response. */
export const CorrelationId = Type.String({ minLength: 1, maxLength: 64 });
/** Name of an appliance role; the agent maps it to a command line from its own allow-list
 *  (the manager never sends a command line). */
export const ApplianceRole = Type.String({ pattern: '^[a-z][a-z0-9-]{0,31}$' });

// ---- host ----

export const HostCapacity = Type.Object({
  cpus: Type.Integer({ minimum: 1 }),
  cpuMhz: Type.Integer({ minimum: 0 }),
  memoryMb: Type.Integer({ minimum: 1 }),
}, { additionalProperties: false });
export type HostCapacity = Static<typeof HostCapacity>;

// ---- networks ----

export const NetworkKind = Type.Union([Type.Literal('guest'), Type.Literal('public'), Type.Literal('control')]);
export type NetworkKind = Static<typeof NetworkKind>;

/** One L2 network on a host: a bridge, and when `vni` is set a VXLAN device on the host's fabric
 *  interface with head-end replication to `peers` (the fabric IPs of the other hosts that carry
 *  this network; the host's own IP may be included, it is skipped). Guest networks need a VNI,
 *  or an `uplinkInterface` for a flat (untagged) provider network.
 *  Public and control networks are bridges that may enslave an existing host interface
 *  (`uplinkInterface`) and may carry an address of the host itself (`hostAddress`). */
export const NetworkSpec = Type.Object({
  id: NetworkId,
  kind: NetworkKind,
  vni: Type.Optional(Vni),
  peers: Type.Optional(Type.Array(IpAddress, { maxItems: 4096 })),
  mtu: Type.Optional(Mtu),
  uplinkInterface: Type.Optional(IfName),
  hostAddress: Type.Optional(Cidr),
}, { additionalProperties: false });
export type NetworkSpec = Static<typeof NetworkSpec>;

export const NetworkState = Type.Object({
  id: NetworkId,
  kind: NetworkKind,
  vni: Type.Optional(Vni),
  /** Name of the bridge on the host (driver-specific; informative). */
  bridge: Type.String(),
  peers: Type.Array(IpAddress),
  mtu: Mtu,
}, { additionalProperties: false });
export type NetworkState = Static<typeof NetworkState>;

// ---- VMs ----

export const NicSpec = Type.Object({
  /** 0 → eth0 in the guest, 1 → eth1, … */
  deviceId: Type.Integer({ minimum: 0, maximum: 15 }),
  mac: Mac,
  networkId: NetworkId,
  /** Static address set by the host at boot (like a config drive); without it a guest asks DHCP. */
  ipv4: Type.Optional(Type.Object({ address: Cidr, gateway: Type.Optional(IpAddress) }, { additionalProperties: false })),
  mtu: Type.Optional(Mtu),
  /** The NIC that carries the default route (default: lowest deviceId). */
  default: Type.Optional(Type.Boolean()),
}, { additionalProperties: false });
export type NicSpec = Static<typeof NicSpec>;

/** What runs inside. A guest boots like a plain VM (DHCP client per NIC, HTTP server on port 80
 *  answering its hostname on netns). A system VM runs one appliance role, reached only through
 *  its control channel. KVM adds an image to boot from (`disks`). */
/** A guest's root filesystem from an image store (a TAR template): the host fetches `url` (signed
 *  by the manager, served by the secondary storage service) once, checks its sha256, and keeps
 *  the unpacked tree as the read-only lower layer of every VM of that template (the built-in
 *  guest template too: every image store builds it). Absent (a zone without an image store): the
 *  host builds the built-in guest template itself. */
export const TemplateImage = Type.Object({
  id: Type.String({ pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' }),
  url: Type.String({ pattern: '^https?://', maxLength: 4096 }),
  sha256: Type.String({ pattern: '^[0-9a-f]{64}$' }),
}, { additionalProperties: false });
export type TemplateImage = Static<typeof TemplateImage>;

export const TemplateSpec = Type.Union([
  Type.Object({ kind: Type.Literal('guest'), image: Type.Optional(TemplateImage) }, { additionalProperties: false }),
  Type.Object({ kind: Type.Literal('system'), role: ApplianceRole }, { additionalProperties: false }),
]);
export type TemplateSpec = Static<typeof TemplateSpec>;

/** KVM-ready (netns ignores it): a volume on a storage pool the host knows by name. */
export const DiskSpec = Type.Object({
  deviceId: Type.Integer({ minimum: 0, maximum: 25 }),
  kind: Type.Union([Type.Literal('disk'), Type.Literal('cdrom')]),
  pool: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$' }),
  /** File name inside the pool: no slashes, so it can never escape the pool's directory. */
  volume: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$' }),
  format: Type.Union([Type.Literal('qcow2'), Type.Literal('raw')]),
  bus: Type.Optional(Type.Union([Type.Literal('virtio'), Type.Literal('scsi'), Type.Literal('ide'), Type.Literal('sata')])),
  readOnly: Type.Optional(Type.Boolean()),
  boot: Type.Optional(Type.Boolean()),
}, { additionalProperties: false });
export type DiskSpec = Static<typeof DiskSpec>;

export const ConsoleSpec = Type.Object({
  /** A serial console (pty) — every driver but the simulator provides one; default true. */
  serial: Type.Optional(Type.Boolean()),
  /** KVM: a VNC display on the host, for the console proxy; password ≤ 8 chars (VNC auth). */
  vnc: Type.Optional(Type.Object({ password: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9]{1,8}$' })) }, { additionalProperties: false })),
}, { additionalProperties: false });

export const VmSpec = Type.Object({
  name: VmName,
  /** Guest hostname; defaults to `name` (the HTTP server of a netns guest answers with it). */
  hostname: Type.Optional(HostName),
  cpus: Type.Integer({ minimum: 1, maximum: 256 }),
  cpuMhz: Type.Optional(Type.Integer({ minimum: 1 })),
  memoryMb: Type.Integer({ minimum: 16, maximum: 4194304 }),
  template: TemplateSpec,
  nics: Type.Array(NicSpec, { maxItems: 16 }),
  dns: Type.Optional(Type.Array(IpAddress, { maxItems: 3 })),
  searchDomain: Type.Optional(DomainName),
  /** Base64, as CloudStack's userdata; kept for the guest (netns: a file in the VM's state dir). */
  userData: Type.Optional(Type.String({ maxLength: 1048576, pattern: '^[A-Za-z0-9+/=\\s]*$' })),
  // KVM-ready fields (optional; netns and simulator accept and ignore disks/vnc):
  disks: Type.Optional(Type.Array(DiskSpec, { maxItems: 26 })),
  console: Type.Optional(ConsoleSpec),
  /** Appliance state that must outlive the VM (a router's DHCP leases, acknowledged passwords):
   *  the host keeps it under this key when the VM is destroyed, and a VM started later with the
   *  same key gets it back. The manager uses the network id for routers. Absent: state dies with
   *  the VM. `releaseState` drops it for good. */
  stateKey: Type.Optional(NetworkId),
  /** How the host reaches the appliance: a unix socket (netns), virtio-serial or vsock (KVM). */
  controlChannel: Type.Optional(Type.Union([Type.Literal('unix'), Type.Literal('virtio-serial'), Type.Literal('vsock')])),
}, { additionalProperties: false });
export type VmSpec = Static<typeof VmSpec>;

/** `Stopped`: the VM is on the host but not running (a guest that ran out of memory or powered
 *  itself off); the manager records it Stopped and cleans it up with stopVm. */
export const VmPowerState = Type.Union([Type.Literal('Running'), Type.Literal('Error'), Type.Literal('Stopped')]);

export const NicState = Type.Object({
  deviceId: Type.Integer(),
  mac: Mac,
  networkId: Type.Optional(NetworkId),
  /** The host-side device (netns: the veth end in the host's bridge). */
  hostInterface: Type.Optional(Type.String()),
  /** Addresses currently on the guest NIC (netns reads them; others may leave it empty). */
  addresses: Type.Array(Cidr),
}, { additionalProperties: false });
export type NicState = Static<typeof NicState>;

/** A VM the host has. `spec` is absent for a stray (objects the agent finds but has no spec
 *  for); the manager destroys those. A VM not listed is not on the host (stopped or never). */
export const VmState = Type.Object({
  name: VmName,
  state: VmPowerState,
  /** Why `Error` (e.g. "process httpd (pid 123) exited"). */
  detail: Type.Optional(Type.String()),
  spec: Type.Optional(VmSpec),
  nics: Type.Array(NicState),
  consoles: Type.Object({
    serial: Type.Optional(Type.String({ description: 'path of the serial console pty on the host' })),
    vnc: Type.Optional(Type.Object({ host: Type.String(), port: Type.Integer() })),
  }),
  /** netns: path of the appliance's unix control socket (system VMs). */
  controlSocket: Type.Optional(Type.String()),
}, { additionalProperties: false });
export type VmState = Static<typeof VmState>;

export const VmStats = Type.Object({
  name: VmName,
  state: VmPowerState,
  cpuTimeMs: Type.Number(),
  memoryKb: Type.Number(),
  nics: Type.Array(Type.Object({
    deviceId: Type.Integer(), mac: Mac,
    rxBytes: Type.Number(), txBytes: Type.Number(), rxPackets: Type.Number(), txPackets: Type.Number(),
  })),
}, { additionalProperties: false });
export type VmStats = Static<typeof VmStats>;

export const HostState = Type.Object({
  vms: Type.Array(VmState),
  networks: Type.Array(NetworkState),
}, { additionalProperties: false });
export type HostState = Static<typeof HostState>;

// ---- errors ----

/** Machine-readable error codes of a failed request. */
export const AgentErrorCode = Type.Union([
  /** The envelope is wrong: not JSON, unknown type/op, missing id. */
  Type.Literal('BAD_MESSAGE'),
  /** The arguments are wrong (schema or semantics); `message` names every offending path. */
  Type.Literal('INVALID_ARGUMENT'),
  Type.Literal('NOT_FOUND'),
  /** A NIC refers to a network this host has not prepared. */
  Type.Literal('NETWORK_NOT_PREPARED'),
  /** The object exists with a different spec (e.g. a VM of that name, a VNI of another network). */
  Type.Literal('CONFLICT'),
  /** Release refused while something uses the object (a network with VM NICs). */
  Type.Literal('IN_USE'),
  /** The driver cannot do this (e.g. a role not on the host's allow-list, KVM not implemented). */
  Type.Literal('UNSUPPORTED'),
  Type.Literal('APPLIANCE_UNREACHABLE'),
  Type.Literal('TIMEOUT'),
  /** A host command failed; the message carries the command and its stderr. */
  Type.Literal('DRIVER_FAILURE'),
  /** The simulator's configured failure rate struck. */
  Type.Literal('SIMULATED_FAILURE'),
]);
export type AgentErrorCode = Static<typeof AgentErrorCode>;

export const AgentErrorBody = Type.Object({
  code: AgentErrorCode,
  message: Type.String(),
  details: Type.Optional(Type.Unknown()),
});
export type AgentErrorBody = Static<typeof AgentErrorBody>;

/** A volume's file name on a host: no slashes, so it can never leave the volumes directory. */
export const VolumeFile = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$' });
export const VolumeState = Type.Object({
  volume: VolumeFile,
  sizeBytes: Type.Integer({ minimum: 0 }),
  /** bytes the file really takes on the host (a new sparse file: ~0) */
  allocatedBytes: Type.Integer({ minimum: 0 }),
  created: Type.Boolean(),
});
export type VolumeState = Static<typeof VolumeState>;

// ---- commands: op → args schema, result schema ----

const NameArgs = Type.Object({ name: VmName }, { additionalProperties: false });

/** Every command: its arguments and its result. The manager validates results with these. */
export const AgentCommands = {
  prepareNetwork: { args: NetworkSpec, result: NetworkState },
  releaseNetwork: {
    args: Type.Object({ id: NetworkId }, { additionalProperties: false }),
    result: Type.Object({ id: NetworkId, existed: Type.Boolean() }),
  },
  startVm: { args: Type.Object({ spec: VmSpec }, { additionalProperties: false }), result: VmState },
  stopVm: {
    args: Type.Object({ name: VmName, force: Type.Optional(Type.Boolean()) }, { additionalProperties: false }),
    result: Type.Object({ name: VmName, existed: Type.Boolean() }),
  },
  rebootVm: { args: NameArgs, result: VmState },
  destroyVm: { args: NameArgs, result: Type.Object({ name: VmName, existed: Type.Boolean() }) },
  plugNic: { args: Type.Object({ name: VmName, nic: NicSpec }, { additionalProperties: false }), result: VmState },
  unplugNic: { args: Type.Object({ name: VmName, mac: Mac }, { additionalProperties: false }), result: VmState },
  vmStats: {
    args: Type.Object({ names: Type.Optional(Type.Array(VmName, { maxItems: 10000 })) }, { additionalProperties: false }),
    result: Type.Object({ stats: Type.Array(VmStats) }),
  },
  listState: { args: Type.Object({}, { additionalProperties: false }), result: HostState },
  /** Drops the kept appliance state of a key (its network was deleted). Idempotent. */
  releaseState: {
    args: Type.Object({ stateKey: NetworkId }, { additionalProperties: false }),
    result: Type.Object({ stateKey: NetworkId, existed: Type.Boolean() }),
  },
  /** A volume's backing file on this host (netns: a sparse file under the agent's state
   *  directory): created with the size, or resized to it. Idempotent. */
  ensureVolume: {
    args: Type.Object({ volume: VolumeFile, sizeBytes: Type.Integer({ minimum: 1, maximum: 2 ** 50 }) }, { additionalProperties: false }),
    result: VolumeState,
  },
  /** Removes a volume's backing file. Idempotent. */
  removeVolume: {
    args: Type.Object({ volume: VolumeFile }, { additionalProperties: false }),
    result: Type.Object({ volume: VolumeFile, existed: Type.Boolean() }),
  },
  /** Opaque JSON to an appliance's control socket; the first reply line comes back (when the
   *  payload has an `id`, the first reply with that `id`). */
  relay: {
    args: Type.Object({
      name: VmName, payload: Type.Unknown(), timeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 600000 })),
    }, { additionalProperties: false }),
    result: Type.Object({ payload: Type.Unknown() }),
  },
  /** Console proxy: the agent opens the VM's console and dials `<manager url>/console` (its
   *  token + `session` in the first text frame), then relays the console's bytes over that
   *  socket as binary frames until either side closes. Answered once the socket is open. */
  openConsole: {
    args: Type.Object({
      // 'vnc': the agent connects to the VM's VNC server (VmState.consoles.vnc) and relays the
      // RFB bytes unchanged (the browser's noVNC speaks RFB end to end).
      name: VmName, session: Type.String({ pattern: '^[A-Za-z0-9_-]{16,64}$' }), console: Type.Union([Type.Literal('serial'), Type.Literal('vnc')]),
      // Several managers: the one that asked (a follower, through the leader) waits for the
      // console there. Its origin must be one of the agent's own manager URLs, which is what the
      // agent dials: a manager cannot send it anywhere else. Absent: the connected manager.
      manager: Type.Optional(Type.String({ minLength: 1, maxLength: 512 })),
    }, { additionalProperties: false }),
    result: Type.Object({ name: VmName, session: Type.String() }),
  },
} as const satisfies Record<string, { args: TSchema; result: TSchema }>;

export type AgentOp = keyof typeof AgentCommands;
export const AGENT_OPS = Object.keys(AgentCommands) as AgentOp[];
export type AgentArgs<O extends AgentOp> = Static<(typeof AgentCommands)[O]['args']>;
export type AgentResult<O extends AgentOp> = Static<(typeof AgentCommands)[O]['result']>;

// ---- envelopes ----

export const Hello = Type.Object({
  type: Type.Literal('hello'),
  v: Type.String(),
  /** Issued by the manager when the host is added; unknown or revoked tokens are refused. */
  token: Type.String({ minLength: 1, maxLength: 512 }),
  hostName: Type.String({ minLength: 1, maxLength: 255 }),
  agentVersion: Type.String({ maxLength: 64 }),
  hypervisor: HypervisorType,
  capacity: HostCapacity,
  /** The host's address on the fabric (the VXLAN underlay); other hosts' `peers` use it. */
  fabricIp: Type.Optional(IpAddress),
});
export type Hello = Static<typeof Hello>;

export const Welcome = Type.Object({
  type: Type.Literal('welcome'),
  v: Type.String(),
  hostId: Type.String({ minLength: 1, maxLength: 64 }),
  heartbeatIntervalMs: Type.Integer({ minimum: 50, maximum: 60000 }),
  heartbeatTimeoutMs: Type.Integer({ minimum: 100, maximum: 600000 }),
  /** This connection's session epoch (grows by one with every accepted hello of the host). */
  epoch: Type.Optional(Type.Integer({ minimum: 0 })),
});
export type Welcome = Static<typeof Welcome>;

export const RefusalCode = Type.Union([
  Type.Literal('UNKNOWN_TOKEN'), Type.Literal('REVOKED'), Type.Literal('UNSUPPORTED_VERSION'),
  Type.Literal('BAD_HELLO'), Type.Literal('DUPLICATE'),
  // Several managers (decision 0282): this manager is not the leader; the message names the
  // leader's URL; the agent tries its next manager URL.
  Type.Literal('NOT_LEADER'),
]);
export type RefusalCode = Static<typeof RefusalCode>;
/** Manager → agent, then the manager closes with WebSocket code 4001. The agent does not retry,
 *  except after DUPLICATE (another agent holds the host's live session): it retries with back-off
 *  and takes over only once that session is gone (never ping-pong). */
export const Refused = Type.Object({ type: Type.Literal('refused'), code: RefusalCode, message: Type.String() });
export type Refused = Static<typeof Refused>;
/** WebSocket close code the manager uses after `refused`. */
export const REFUSED_CLOSE_CODE = 4001;

export const Heartbeat = Type.Object({
  type: Type.Literal('heartbeat'),
  seq: Type.Integer({ minimum: 0 }),
  /** Sender's clock (ms since epoch), informative only. */
  at: Type.Number(),
});
export type Heartbeat = Static<typeof Heartbeat>;

/** Manager → agent. `args` is validated against AgentCommands[op].args. */
export const Request = Type.Object({
  type: Type.Literal('request'),
  id: CorrelationId,
  op: Type.Union(AGENT_OPS.map((op) => Type.Literal(op))),
  args: Type.Unknown(),
});
export type Request = { type: 'request'; id: string } & { [O in AgentOp]: { op: O; args: AgentArgs<O> } }[AgentOp];

export const ResponseOk = Type.Object({ type: Type.Literal('response'), id: CorrelationId, ok: Type.Literal(true), result: Type.Unknown() });
export const ResponseError = Type.Object({ type: Type.Literal('response'), id: CorrelationId, ok: Type.Literal(false), error: AgentErrorBody });
export const Response = Type.Union([ResponseOk, ResponseError]);
export type Response = Static<typeof Response>;

export const AgentToManager = Type.Union([Hello, Heartbeat, Response]);
export type AgentToManager = Static<typeof AgentToManager>;
export const ManagerToAgent = Type.Union([Welcome, Refused, Heartbeat, Request]);
export type ManagerToAgent = Welcome | Refused | Heartbeat | Request;

/** Two specs ask for the same VM: equal but for a template image's URL (signed with an expiry,
 *  so a retried start carries a fresh one). */
export function sameVmSpec(a: VmSpec, b: VmSpec): boolean {
  const key = (s: VmSpec) => JSON.stringify(s.template.kind === 'guest' && s.template.image ? { ...s, template: { ...s.template, image: { ...s.template.image, url: '' } } } : s);
  return key(a) === key(b);
}
