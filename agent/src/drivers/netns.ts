// The netns driver (CloudStack hypervisor type LXC): the host is a network namespace given in
// config, a VM is a network namespace of its own, NICs are veth pairs created directly in both
// namespaces (never in the root namespace), guest networks are bridges in the host namespace
// joined across hosts by VXLAN with unicast head-end replication. Nothing here touches the root
// namespace's links, routes or firewall. See ../../README.md for names and cleanup guarantees.
import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, statSync } from 'node:fs';
import { chmod, chown, mkdir, readFile, readdir, readlink, rename, rm, truncate, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import type {
  AgentArgs, AgentResult, HostCapacity, NetworkKind, NetworkSpec, NetworkState, NicSpec, NicState, VmSpec, VmState, VmStats,
} from '@flotilla/protocol/agent';
import { applianceBundle } from '@flotilla/appliance-image/bundle';
import type { Driver, HostFacts } from '../driver.ts';
import { AgentError } from '../errors.ts';
import { run, runJson, tryRun } from '../exec.ts';
import { KeyedMutex } from '../mutex.ts';
import { relayUnix } from '../relay.ts';
import { checkArgs, parseIp } from '../validate.ts';
import {
  consoleRelayBinary, createUsernsNetns, DEFAULT_ID_RANGE, dhcpArgv, guestFiles, guestOciConfig, type IdRange,
  isMountPoint, oomKills, probeUserNamespaces, Runc, swapAccounting, templateImageRootfs, unmountAndRemove, writeMetaFiles,
} from './container.ts';
import { sameVmSpec } from '@flotilla/protocol/agent';
import { buildGuestTemplate, findBusybox } from '@flotilla/storage/guest-template';

/** First element of an appliance argv meaning "node running the role's bundle" (appliance-image:
 *  one ES module built on first use, starting in ~0.1 s where tsx took ~0.8 s). */
export const BUNDLE = '{bundle}';

/** Appliance roles the agent will start, as argv with `{control}` (the control socket path),
 *  `{state}` (a directory of the VM's own, removed with it) and `{name}` (the VM name)
 *  substituted, and a leading `{bundle}` expanded. The manager only names a role. */
export const DEFAULT_APPLIANCES: Record<string, string[]> = {
  router: [BUNDLE, '--control', '{control}', '--state-dir', '{state}'],
  // `{manager}`: a unix socket the agent links to the manager's address (the console proxy
  // reaches consoles through the manager, which asks their hosts' agents).
  proxy: [BUNDLE, '--control', '{control}', '--manager', '{manager}'],
  storage: [BUNDLE, '--control', '{control}'],
  // The secondary storage VM's appliance (manager/src/systemvm/storage-role.ts): the health-only
  // stand-in until the storage service speaks the appliance contract (appliance-image/README.md).
  ssvm: [BUNDLE, '--control', '{control}'],
};

export interface NetnsDriverConfig {
  /** Existing namespace that plays the host (e.g. `flt-host1`). Required: this driver never
   *  works in the root namespace. */
  hostNamespace: string;
  /** 4 chars [a-z0-9] in every object name, unique per host on one machine (default: derived
   *  from hostNamespace). */
  hostTag?: string;
  /** VXLAN underlay: an interface in the host namespace and its address. */
  fabric?: { interface: string; localIp: string };
  /** Per-VM files (spec, pids, console link, control socket). Default /run/flotilla/agent-<tag>. */
  stateDir?: string;
  appliances?: Record<string, string[]>;
  /** The manager's URL (normally set by the agent, setManagerUrl): a system VM whose appliance
   *  argv has `{manager}` gets a unix socket forwarded to its host:port (socat, host side). */
  managerUrl?: string;
  capacity?: Partial<HostCapacity>;
  busybox?: string;
  socat?: string;
  /** How long stop waits after SIGTERM before SIGKILL. */
  stopGraceMs?: number;
  /** Guests are OCI containers run by runc (docs/decisions/0410). */
  runc?: string;
  /** The busybox copied into the guest template (with its libraries when dynamic). Default:
   *  FLT_GUEST_BUSYBOX, else the host's busybox. */
  guestBusybox?: string;
  /** Host uids/gids of a guest's root and users (default 1000000 + 65536). */
  guestIds?: IdRange;
  /** false: no user namespace for guests even where the kernel allows one (default: probe). */
  userNamespaces?: boolean;
}

/** What every guest container of this host shares, settled once at first start. */
interface GuestHost {
  /** The host's own build of the built-in guest template, made on first use: for VMs whose spec
   *  names no image (their zone has no image store, which otherwise serves it). */
  ownTemplate: () => Promise<string>;
  relay: string;
  /** Set when guests get a user namespace (the kernel allows it). */
  ids?: IdRange;
  usernsUnavailable?: string;
  owner: number;
  hostMhz: number;
  swap: boolean;
}

const BRIDGE_LETTER: Record<NetworkKind, string> = { guest: 'g', public: 'p', control: 'k' };
const KIND_OF_LETTER: Record<string, NetworkKind> = { g: 'guest', p: 'public', k: 'control' };
const SAFE_PATH = /^\/[A-Za-z0-9/_.-]*$/;
const VXLAN_PORT = '4789';
const DEFAULT_MTU_VXLAN = 1450;
const DEFAULT_MTU = 1500;

interface IpLink {
  ifname: string; address?: string; mtu: number; ifalias?: string; master?: string; flags?: string[];
  linkinfo?: { info_kind?: string };
  addr_info?: Array<{ family: string; local: string; prefixlen: number; scope?: string }>;
  stats64?: { rx: { bytes: number; packets: number }; tx: { bytes: number; packets: number } };
}

type Pids = Record<string, number>;

/** The kernel objects' names, all `flt-`, all ≤ 15 chars where they are interfaces. Name sets
 *  are disjoint: bridges/VXLANs have a non-hex letter after the tag, VM veths are all hex. */
export class NetnsNames {
  constructor(readonly tag: string) {}
  vmNamespace(vm: string): string { return `flt-vm-${this.tag}-${vm}`; }
  vmPrefix(): string { return `flt-vm-${this.tag}-`; }
  /** Host end of a VM's NIC: flt- + 9 hex of hash(tag/vm) + device id in hex (14 chars). */
  vethStem(vm: string): string { return `flt-${createHash('sha256').update(`${this.tag}/${vm}`).digest('hex').slice(0, 9)}`; }
  hostVeth(vm: string, deviceId: number): string { return `${this.vethStem(vm)}${deviceId.toString(16)}`; }
  bridge(kind: NetworkKind, vni?: number): string { return `flt-${this.tag}${BRIDGE_LETTER[kind]}${vni?.toString(16) ?? ''}`; }
  vxlan(vni: number): string { return `flt-${this.tag}x${vni.toString(16)}`; }
  /** Parses a bridge name of this host back into kind and VNI. */
  parseBridge(name: string): { kind: NetworkKind; vni?: number } | undefined {
    const m = new RegExp(`^flt-${this.tag}([gpk])([0-9a-f]{0,6})$`).exec(name);
    if (!m) return undefined;
    return m[2] ? { kind: KIND_OF_LETTER[m[1]!]!, vni: parseInt(m[2], 16) } : { kind: KIND_OF_LETTER[m[1]!]! };
  }
}

export class NetnsDriver implements Driver {
  readonly hypervisor = 'LXC' as const;
  readonly names: NetnsNames;
  readonly stateDir: string;
  private readonly host: string;
  private readonly appliances: Record<string, string[]>;
  private managerUrl: string | undefined;
  private readonly busybox: string;
  private readonly socat: string;
  private readonly mutex = new KeyedMutex();
  private ready?: Promise<void>;
  private guestHost?: GuestHost;
  private guestProblem?: string;
  /** Template images being fetched (one fetch per template however many VMs start from it). */
  private imageFetches = new Map<string, Promise<string>>();
  readonly runc: Runc;

  constructor(private readonly config: NetnsDriverConfig) {
    const problems: string[] = [];
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(config.hostNamespace)) problems.push(`hostNamespace: not a namespace name (got ${JSON.stringify(config.hostNamespace)})`);
    const tag = config.hostTag ?? createHash('sha256').update(config.hostNamespace).digest('hex').slice(0, 4);
    if (!/^[a-z0-9]{4}$/.test(tag)) problems.push(`hostTag: must be 4 characters [a-z0-9] (got ${JSON.stringify(tag)})`);
    if (config.fabric) {
      if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/.test(config.fabric.interface)) problems.push(`fabric.interface: not an interface name (got ${JSON.stringify(config.fabric.interface)})`);
      if (!parseIp(config.fabric.localIp)) problems.push(`fabric.localIp: not an IP address (got ${JSON.stringify(config.fabric.localIp)})`);
    }
    this.stateDir = config.stateDir ?? `/run/flotilla/agent-${tag}`;
    this.busybox = config.busybox ?? 'busybox';
    this.socat = config.socat ?? 'socat';
    // These end up inside socat address strings, where ',' ':' and spaces are syntax.
    for (const [k, v] of [['stateDir', this.stateDir], ['busybox', this.busybox], ['socat', this.socat]] as const) {
      if (!SAFE_PATH.test(v) && !/^[a-z0-9]+$/.test(v)) problems.push(`${k}: only [A-Za-z0-9/_.-] allowed (got ${JSON.stringify(v)})`);
    }
    if (problems.length) throw new AgentError('INVALID_ARGUMENT', `netns driver config: ${problems.join('; ')}`);
    this.names = new NetnsNames(tag);
    this.host = config.hostNamespace;
    this.appliances = config.appliances ?? DEFAULT_APPLIANCES;
    this.managerUrl = config.managerUrl;
    this.runc = new Runc(join(this.stateDir, 'runc'), config.runc ?? 'runc');
  }

  // ---- host ----

  async hostFacts(): Promise<HostFacts> {
    let mhz = Math.round(cpus()[0]?.speed ?? 0);
    if (!mhz) {
      const info = await readFile('/proc/cpuinfo', 'utf8').catch(() => '');
      mhz = Math.round(Number(/cpu MHz\s*:\s*([0-9.]+)/.exec(info)?.[1] ?? 0));
    }
    const capacity: HostCapacity = {
      cpus: this.config.capacity?.cpus ?? cpus().length,
      cpuMhz: this.config.capacity?.cpuMhz ?? mhz,
      memoryMb: this.config.capacity?.memoryMb ?? Math.floor(totalmem() / 1048576),
    };
    return this.config.fabric ? { hypervisor: 'LXC', capacity, fabricIp: this.config.fabric.localIp } : { hypervisor: 'LXC', capacity };
  }

  async close(): Promise<void> { /* VMs keep running; nothing held open */ }

  private ensureReady(): Promise<void> {
    this.ready ??= (async () => {
      if (!existsSync(`/run/netns/${this.host}`)) {
        this.ready = undefined;
        throw new AgentError('DRIVER_FAILURE', `host namespace ${this.host} does not exist`);
      }
      await mkdir(join(this.stateDir, 'vms'), { recursive: true });
      // A guest's root (an unprivileged host uid) must reach its root filesystem's mount point
      // under the VM's directory: traversal only, no listing.
      await chmod(this.stateDir, 0o711);
      await chmod(join(this.stateDir, 'vms'), 0o711);
      // Without runc (or a C compiler for the console helper) system VMs still run; guests are
      // refused with the reason.
      this.guestHost = await this.prepareGuestHost().catch((e: Error) => { this.guestProblem = e.message; return undefined; });
      // Containers and files of VMs whose namespace is gone (agent died mid-destroy) are garbage.
      for (const id of await this.runc.list()) {
        if (!existsSync(`/run/netns/${this.names.vmNamespace(id)}`)) await this.runc.delete(id);
      }
      for (const vm of await readdir(join(this.stateDir, 'vms'))) {
        if (!existsSync(`/run/netns/${this.names.vmNamespace(vm)}`)) await this.removeVmDir(vm);
      }
    })();
    return this.ready;
  }

  private async prepareGuestHost(): Promise<GuestHost> {
    const userns = this.config.userNamespaces === false ? { ok: false, why: 'disabled in the agent config' } : probeUserNamespaces();
    const ids = userns.ok ? (this.config.guestIds ?? DEFAULT_ID_RANGE) : undefined;
    const owner = ids?.base ?? 0;
    const busybox = this.config.guestBusybox ?? findBusybox();
    let own: Promise<string> | undefined;
    const ownTemplate = () => {
      own ??= buildGuestTemplate(join(this.stateDir, 'templates'), { busybox, owner });
      own.catch(() => { own = undefined; });
      return own;
    };
    const facts = await this.hostFacts();
    await run([this.runc.bin, '--version']).catch((e: Error) => { throw new Error(`runc is not usable: ${e.message}`); });
    return {
      ownTemplate, relay: await consoleRelayBinary(), owner, hostMhz: facts.capacity.cpuMhz, swap: swapAccounting(),
      ...(ids ? { ids } : { usernsUnavailable: userns.why ?? 'unknown' }),
    };
  }

  /** How guests are isolated on this host (after the first command): for logs and tests. */
  guestIsolation(): { userNamespace: boolean; why?: string; ids?: IdRange } | undefined {
    const g = this.guestHost;
    if (!g) return undefined;
    return g.ids ? { userNamespace: true, ids: g.ids } : { userNamespace: false, why: g.usernsUnavailable! };
  }

  /** The cgroup of a guest container (one level, so `runc delete` leaves no parent behind). */
  cgroupOf(vm: string): string { return `/${this.names.vmNamespace(vm)}`; }
  private rootfsDir(vm: string): string { return join(this.vmDir(vm), 'rootfs'); }
  private metaDir(vm: string): string { return join(this.vmDir(vm), 'meta'); }
  private usernsFile(vm: string): string { return join(this.vmDir(vm), 'userns'); }
  /** Host pid of a guest's init: `/proc/<pid>/root/…` reads the guest's files as the guest
   *  sees them (its symlinks resolved inside its root), for tests and diagnostics. */
  async guestInit(vm: string): Promise<number | undefined> { return (await this.readPids(vm)).init; }
  /** Host pids of the guest's processes whose command line contains every word of `words`. */
  async guestProcesses(vm: string, words: string[]): Promise<number[]> {
    const out: number[] = [];
    for (const p of await this.nsPids(this.names.vmNamespace(vm))) {
      const cmd = (await readFile(`/proc/${p}/cmdline`, 'utf8').catch(() => '')).split('\0');
      if (words.every((w) => cmd.some((c) => c === w || c.endsWith(`/${w}`)))) out.push(p);
    }
    return out;
  }
  /** A guest's metadata file (its /run/flotilla/<name>: resolv.conf, dhcp, user-data …). */
  guestMetaPath(vm: string, name: string): string { return join(this.metaDir(vm), name); }
  private vmDir(vm: string): string { return join(this.stateDir, 'vms', vm); }
  private controlSocket(vm: string): string { return join(this.vmDir(vm), 'control.sock'); }
  private consolePath(vm: string): string { return join(this.vmDir(vm), 'console'); }
  /** The console link of a VM of this host, when the name is valid and the link exists. */
  async consoleDevice(name: string): Promise<string | undefined> {
    if (!/^[A-Za-z0-9]([A-Za-z0-9-]{0,38}[A-Za-z0-9])?$/.test(name)) return undefined;
    const p = this.consolePath(name);
    return existsSync(p) ? p : undefined;
  }
  private ipH(...args: string[]): Promise<unknown> { return run(['ip', '-n', this.host, ...args]); }

  private async hostLinks(): Promise<IpLink[]> {
    return runJson<IpLink[]>(['ip', '-n', this.host, '-j', '-d', 'link', 'show']);
  }

  // ---- networks ----

  async prepareNetwork(args: AgentArgs<'prepareNetwork'>): Promise<NetworkState> {
    const spec = checkArgs('prepareNetwork', args);
    await this.ensureReady();
    const br = this.names.bridge(spec.kind, spec.vni);
    return this.mutex.run(`net:${br}`, async () => {
      const links = await this.hostLinks();
      const existing = links.find((l) => l.ifname === br);
      if (existing && existing.ifalias && existing.ifalias !== spec.id) {
        throw new AgentError('CONFLICT', `bridge ${br} (${spec.kind}${spec.vni ? ` VNI ${spec.vni}` : ''}) already belongs to network ${existing.ifalias}`);
      }
      const other = links.find((l) => l.ifalias === spec.id && l.ifname !== br && this.names.parseBridge(l.ifname));
      if (other) throw new AgentError('CONFLICT', `network ${spec.id} is already prepared on bridge ${other.ifname}; release it first`);
      const fabric = this.config.fabric;
      const peers = (spec.peers ?? []).filter((p) => p !== (fabric && parseIp(fabric.localIp)?.text));
      if (spec.vni !== undefined && peers.length && !fabric) {
        throw new AgentError('UNSUPPORTED', `network ${spec.id} has VXLAN peers but this host has no fabric interface configured`);
      }
      if (spec.uplinkInterface && !links.some((l) => l.ifname === spec.uplinkInterface)) {
        throw new AgentError('NOT_FOUND', `uplink interface ${spec.uplinkInterface} does not exist on host ${this.host}`);
      }
      const useVxlan = spec.vni !== undefined && fabric !== undefined;
      const vx = spec.vni !== undefined ? this.names.vxlan(spec.vni) : undefined;
      const mtu = spec.mtu ?? (useVxlan ? DEFAULT_MTU_VXLAN : DEFAULT_MTU);
      const created: string[] = [];
      // Every VM start re-sends its networks: objects already as the spec wants them (seen in the
      // one listing above) are left alone, so a prepared network costs one `ip` (and one
      // `bridge fdb`) call instead of five or six (measured: ~1 s of a loaded host's deploy).
      const up = (l: IpLink | undefined) => Boolean(l?.flags?.includes('UP'));
      let changed = false;
      let peersNow: string[] | undefined;
      try {
        if (!existing) {
          await this.ipH('link', 'add', br, 'type', 'bridge');
          created.push(br);
        }
        if (!existing || existing.ifalias !== spec.id || existing.mtu !== mtu || !up(existing)) {
          await this.ipH('link', 'set', br, 'alias', spec.id, 'mtu', String(mtu), 'up');
          changed = true;
        }
        if (vx && useVxlan) {
          const vxl = links.find((l) => l.ifname === vx);
          if (!vxl) {
            await this.ipH('link', 'add', vx, 'type', 'vxlan', 'id', String(spec.vni), 'local', parseIp(fabric.localIp)!.text,
              'dev', fabric.interface, 'dstport', VXLAN_PORT);
            created.push(vx);
          }
          if (!vxl || vxl.master !== br || vxl.mtu !== mtu || !up(vxl)) { await this.ipH('link', 'set', vx, 'master', br, 'mtu', String(mtu), 'up'); changed = true; }
          peersNow = await this.syncPeers(vx, peers);
        }
        const upl = spec.uplinkInterface ? links.find((l) => l.ifname === spec.uplinkInterface) : undefined;
        if (spec.uplinkInterface && (upl?.master !== br || !up(upl))) { await this.ipH('link', 'set', spec.uplinkInterface, 'master', br, 'up'); changed = true; }
        if (spec.hostAddress) { await this.ipH('addr', 'replace', spec.hostAddress, 'dev', br); changed = true; }
      } catch (e) {
        for (const l of created.reverse()) await tryRun(['ip', '-n', this.host, 'link', 'del', l]);
        throw e;
      }
      if (!changed && !created.length) return this.networkState(br, spec.id, links, peersNow);
      return this.networkState(br, spec.id);
    });
  }

  /** Head-end replication list: one all-zero FDB entry per peer VTEP; extra ones are removed. */
  private async syncPeers(vx: string, peers: string[]): Promise<string[]> {
    const have = await this.fdbPeers(vx);
    for (const p of peers) if (!have.includes(p)) await run(['bridge', '-n', this.host, 'fdb', 'append', '00:00:00:00:00:00', 'dev', vx, 'dst', p]);
    for (const p of have) if (!peers.includes(p)) await run(['bridge', '-n', this.host, 'fdb', 'del', '00:00:00:00:00:00', 'dev', vx, 'dst', p]);
    return [...have.filter((p) => peers.includes(p)), ...peers.filter((p) => !have.includes(p))];
  }

  private async fdbPeers(vx: string): Promise<string[]> {
    const fdb = await runJson<Array<{ mac: string; dst?: string }>>(['bridge', '-n', this.host, '-j', 'fdb', 'show', 'dev', vx]);
    return fdb.filter((e) => e.mac === '00:00:00:00:00:00' && e.dst).map((e) => parseIp(e.dst!)?.text ?? e.dst!);
  }

  private async networkState(br: string, id?: string, links?: IpLink[], knownPeers?: string[]): Promise<NetworkState> {
    const all = links ?? await this.hostLinks();
    const l = all.find((x) => x.ifname === br);
    const parsed = this.names.parseBridge(br);
    if (!l || !parsed) throw new AgentError('NOT_FOUND', `bridge ${br} not found`);
    const out: NetworkState = { id: id ?? l.ifalias ?? br, kind: parsed.kind, bridge: br, peers: [], mtu: l.mtu };
    if (parsed.vni !== undefined) {
      out.vni = parsed.vni;
      const vx = this.names.vxlan(parsed.vni);
      if (all.some((x) => x.ifname === vx)) out.peers = knownPeers ?? await this.fdbPeers(vx);
    }
    return out;
  }

  private async bridgeOf(networkId: string, links: IpLink[]): Promise<IpLink | undefined> {
    return links.find((l) => l.ifalias === networkId && this.names.parseBridge(l.ifname) !== undefined);
  }

  async releaseNetwork(args: AgentArgs<'releaseNetwork'>): Promise<AgentResult<'releaseNetwork'>> {
    const { id } = checkArgs('releaseNetwork', args);
    await this.ensureReady();
    const links = await this.hostLinks();
    const br = await this.bridgeOf(id, links);
    if (!br) return { id, existed: false };
    return this.mutex.run(`net:${br.ifname}`, async () => {
      const parsed = this.names.parseBridge(br.ifname)!;
      const vx = parsed.vni !== undefined ? this.names.vxlan(parsed.vni) : undefined;
      const ports = (await this.hostLinks()).filter((l) => l.master === br.ifname);
      const vmPorts = ports.filter((p) => /^flt-[0-9a-f]{10}$/.test(p.ifname));
      if (vmPorts.length) {
        throw new AgentError('IN_USE', `network ${id} still has VM NICs on bridge ${br.ifname}: ${vmPorts.map((p) => `${p.ifname}${p.ifalias ? ` (${p.ifalias})` : ''}`).join(', ')}`);
      }
      // An uplink is the operator's interface: detach it, never delete it.
      for (const p of ports) if (p.ifname !== vx && !vmPorts.includes(p)) await this.ipH('link', 'set', p.ifname, 'nomaster');
      if (vx && links.some((l) => l.ifname === vx)) await this.ipH('link', 'del', vx);
      await this.ipH('link', 'del', br.ifname);
      return { id, existed: true };
    });
  }

  // ---- VMs ----

  async startVm(args: AgentArgs<'startVm'>): Promise<VmState> {
    const { spec } = checkArgs('startVm', args);
    await this.ensureReady();
    return this.mutex.run(`vm:${spec.name}`, async () => {
      const ns = this.names.vmNamespace(spec.name);
      if (existsSync(`/run/netns/${ns}`)) {
        const current = await this.readSpec(spec.name);
        if (current && sameVmSpec(current, spec)) return this.readVmState(spec.name);
        throw new AgentError('CONFLICT', `VM ${spec.name} already exists on this host${current ? ' with a different spec' : ' without a spec (a stray)'}; destroy it first`);
      }
      // Everything that can be refused is refused before the first object exists.
      const links = await this.hostLinks();
      const bridges = await this.resolveBridges(spec.nics, links);
      const appliance = this.applianceArgv(spec);
      if (spec.template.kind === 'guest' && !this.guestHost) {
        throw new AgentError('UNSUPPORTED', `guest VMs cannot run on this host: ${this.guestProblem ?? 'not prepared'}`);
      }
      if (spec.template.kind === 'guest' && join(this.vmDir(spec.name), 'console.sock.tmp').length > 107) {
        throw new AgentError('INVALID_ARGUMENT', `console socket path ${join(this.vmDir(spec.name), 'console.sock')} exceeds the unix socket limit; use a shorter stateDir`);
      }
      if (this.controlSocket(spec.name).length > 100) throw new AgentError('INVALID_ARGUMENT', `control socket path ${this.controlSocket(spec.name)} exceeds the unix socket limit; use a shorter stateDir`);
      try {
        await this.createVm(spec, bridges, appliance);
      } catch (e) {
        await this.teardownVm(spec.name, true).catch(() => undefined);
        throw e;
      }
      return this.readVmState(spec.name);
    });
  }

  private async resolveBridges(nics: NicSpec[], links: IpLink[]): Promise<Map<number, IpLink>> {
    const out = new Map<number, IpLink>();
    const missing: string[] = [];
    for (const n of nics) {
      const br = await this.bridgeOf(n.networkId, links);
      if (!br) missing.push(`nic ${n.deviceId}: network ${n.networkId}`);
      else out.set(n.deviceId, br);
    }
    if (missing.length) throw new AgentError('NETWORK_NOT_PREPARED', `not prepared on this host: ${missing.join(', ')}`);
    return out;
  }

  private applianceArgv(spec: VmSpec): string[] | undefined {
    if (spec.template.kind !== 'system') return undefined;
    let argv = this.appliances[spec.template.role];
    if (!argv) throw new AgentError('UNSUPPORTED', `appliance role ${spec.template.role} is not on this host's allow-list (${Object.keys(this.appliances).join(', ') || 'empty'})`);
    if (argv[0] === BUNDLE) {
      let bundle: string | null;
      try { bundle = applianceBundle(spec.template.role); } catch (e) {
        throw new AgentError('UNSUPPORTED', `appliance role ${spec.template.role} does not build: ${(e as Error).message.split('\n')[0]}`);
      }
      if (!bundle) throw new AgentError('UNSUPPORTED', `appliance role ${spec.template.role} is not installed on this host (no entry point)`);
      argv = [process.execPath, bundle, ...argv.slice(1)];
    }
    // Refuse before creating anything when the role's program is not installed here.
    const missing = argv.filter((a) => a.startsWith('/') && (a === argv[0] || /\.(m?[jt]s)$/.test(a)) && !existsSync(a));
    if (missing.length) throw new AgentError('UNSUPPORTED', `appliance role ${spec.template.role} is not installed on this host (missing ${missing.join(', ')})`);
    if (argv.includes('{manager}')) this.managerTarget(); // refuses before anything exists
    return argv.map((a) => a.replaceAll('{control}', this.controlSocket(spec.name)).replaceAll('{state}', this.applianceStateDir(spec))
      .replaceAll('{name}', spec.name).replaceAll('{manager}', this.managerSocket(spec.name)));
  }

  /** An appliance's state directory: kept under its stateKey across VM destroy/re-create, else
   *  inside the VM's own directory (gone with the VM). */
  private applianceStateDir(spec: VmSpec): string {
    return spec.stateKey ? join(this.stateDir, 'kept', spec.stateKey) : join(this.vmDir(spec.name), 'state');
  }

  /** A volume's sparse file, `<stateDir>/volumes/<volume>.img` (a netns VM has no block
   *  device to give it; the file is real storage a later driver can attach). */
  private volumeFile(volume: string): string { return join(this.stateDir, 'volumes', `${volume}.img`); }

  async ensureVolume(args: AgentArgs<'ensureVolume'>): Promise<AgentResult<'ensureVolume'>> {
    const { volume, sizeBytes } = checkArgs('ensureVolume', args);
    await mkdir(join(this.stateDir, 'volumes'), { recursive: true });
    const file = this.volumeFile(volume);
    const created = !existsSync(file);
    // 'a' creates without truncating an existing file; truncate() then sets the size (sparse).
    closeSync(openSync(file, 'a', 0o600));
    await truncate(file, sizeBytes);
    const st = statSync(file);
    return { volume, sizeBytes: st.size, allocatedBytes: st.blocks * 512, created };
  }

  async removeVolume(args: AgentArgs<'removeVolume'>): Promise<AgentResult<'removeVolume'>> {
    const { volume } = checkArgs('removeVolume', args);
    const file = this.volumeFile(volume);
    const existed = existsSync(file);
    await rm(file, { force: true });
    return { volume, existed };
  }

  async releaseState(args: AgentArgs<'releaseState'>): Promise<AgentResult<'releaseState'>> {
    const { stateKey } = checkArgs('releaseState', args);
    await this.ensureReady();
    const dir = join(this.stateDir, 'kept', stateKey);
    const existed = existsSync(dir);
    await rm(dir, { recursive: true, force: true });
    return { stateKey, existed };
  }

  setManagerUrl(url: string): void { this.managerUrl = url; }

  /** A system VM's link to the manager: `<vmDir>/manager.sock`. */
  private managerSocket(vm: string): string { return join(this.vmDir(vm), 'manager.sock'); }

  /** host and port of the manager's URL, as a socat TCP address (validated: it goes into one). */
  private managerTarget(): string {
    if (!this.managerUrl) throw new AgentError('UNSUPPORTED', 'this appliance needs a link to the manager, and the driver was not told the manager\'s URL');
    const u = new URL(this.managerUrl);
    const host = u.hostname.replace(/^\[|\]$/g, '');
    const port = u.port || (u.protocol === 'wss:' || u.protocol === 'https:' ? '443' : '80');
    if (!/^[A-Za-z0-9.-]+$/.test(host) && !/^[0-9a-fA-F:]+$/.test(host)) throw new AgentError('INVALID_ARGUMENT', `manager host ${JSON.stringify(host)} cannot be linked`);
    return host.includes(':') ? `TCP6:[${host}]:${port},nodelay` : `TCP:${host}:${port},nodelay`;
  }

  /** The link: socat in the agent's namespace (which reaches the manager) listening on the VM's
   *  manager.sock; the appliance, in its own namespace, reaches the socket by path. A plain byte
   *  forward: the appliance authenticates itself to the manager (TLS, if the URL is wss, is end
   *  to end). Recorded as the VM's `link` process: its death is the VM's Error, as any other.
   *  backlog: a console proxy VM opens one link connection per console; socat's default of 5
   *  refused a burst (EAGAIN). */
  private startManagerLink(vm: string): number {
    return this.spawnHost(vm, 'link', [this.socat, `UNIX-LISTEN:${this.managerSocket(vm)},fork,mode=600,unlink-early,backlog=512`, this.managerTarget()]);
  }

  private async createVm(spec: VmSpec, bridges: Map<number, IpLink>, appliance: string[] | undefined): Promise<void> {
    if (spec.template.kind === 'guest') return this.createGuestVm(spec, bridges);
    const name = spec.name;
    const ns = this.names.vmNamespace(name);
    const dir = this.vmDir(name);
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    await mkdir(this.applianceStateDir(spec), { recursive: true, mode: 0o700 });
    await this.writeSpec(spec);
    // `ip netns exec` bind-mounts this over /etc/resolv.conf for every process of the VM.
    await mkdir(`/etc/netns/${ns}`, { recursive: true });
    await writeFile(`/etc/netns/${ns}/resolv.conf`, resolvConf(spec.dns ?? [], spec.searchDomain));
    await run(['ip', 'netns', 'add', ns]);
    await run(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
    for (const nic of spec.nics) await this.createNic(spec, nic, bridges.get(nic.deviceId)!);
    const pids: Pids = {};
    if (spec.console?.serial !== false) pids.console = this.startConsole(name);
    if (appliance!.includes(this.managerSocket(name))) pids.link = this.startManagerLink(name);
    pids.appliance = this.spawnIn(name, 'appliance', appliance!);
    await this.writePids(name, pids);
    await this.awaitInNamespace(name, pids);
  }

  // ---- guest containers (docs/decisions/0410) ----

  /** A guest: its network namespace (owned by a user namespace of its own where the kernel
   *  allows), NICs, an overlay root filesystem over the host's guest template, then the
   *  container booted by runc. */
  private async createGuestVm(spec: VmSpec, bridges: Map<number, IpLink>): Promise<void> {
    const g = this.guestHost!;
    const name = spec.name;
    const ns = this.names.vmNamespace(name);
    const dir = this.vmDir(name);
    await this.removeVmDir(name);
    await mkdir(dir, { recursive: true, mode: 0o711 });
    await chmod(dir, 0o711);
    await this.writeSpec(spec);
    // Independent steps overlap (a start is mostly waiting for short-lived processes): the
    // console relay starts first; NICs and the disk are made side by side.
    const relay = await this.startRelay(name);
    if (g.ids) await createUsernsNetns(ns, this.usernsFile(name), g.ids);
    else await run(['ip', 'netns', 'add', ns]);
    await Promise.all([
      this.createGuestNics(spec, bridges),
      (async () => {
        // The VM's own disk: an overlay whose upper layer is its, the template shared read-only.
        const disk = join(dir, 'disk');
        await mkdir(join(disk, 'upper'), { recursive: true, mode: 0o755 });
        await mkdir(join(disk, 'work'), { recursive: true, mode: 0o700 });
        await chmod(disk, 0o700);
        await chown(join(disk, 'upper'), g.owner, g.owner); // owns the guest's "/"
        await mkdir(this.rootfsDir(name), { recursive: true });
        // A template from an image store is fetched once per host and shared by its VMs.
        const lower = spec.template.kind === 'guest' && spec.template.image
          ? await templateImageRootfs(join(this.stateDir, 'templates'), spec.template.image, g.ids, this.imageFetches, this.host) : await g.ownTemplate();
        await run(['mount', '-t', 'overlay', `flt-${this.names.tag}-${name}`, '-o',
          `lowerdir=${lower},upperdir=${join(disk, 'upper')},workdir=${join(disk, 'work')}`, this.rootfsDir(name)]);
      })(),
    ]);
    await this.bootGuest(spec, relay);
  }

  /** The console relay, listening on <vm>/console.sock once this returns (see console-relay.c). */
  private async startRelay(name: string): Promise<number> {
    const sock = join(this.vmDir(name), 'console.sock');
    await rm(sock, { force: true });
    await rm(this.consolePath(name), { force: true });
    return this.spawnHost(name, 'console', [this.guestHost!.relay, sock, this.consolePath(name)]);
  }

  /** Writes the guest's metadata and bundle, starts its console relay and runs the container
   *  (`runc create` hands the pty master to the relay, `runc start` runs /sbin/init). Ready
   *  when its HTTP server listens and the console is linked. */
  private async bootGuest(spec: VmSpec, startedRelay?: number): Promise<void> {
    const g = this.guestHost!;
    const name = spec.name;
    const dir = this.vmDir(name);
    const relay = startedRelay ?? await this.startRelay(name);
    await writeMetaFiles(this.metaDir(name), guestFiles(spec, this.defaultNic(spec), resolvConf(spec.dns ?? [], spec.searchDomain)), g.owner);
    const bundle = join(dir, 'bundle');
    await mkdir(bundle, { recursive: true, mode: 0o700 });
    const config = guestOciConfig(spec, {
      rootfs: this.rootfsDir(name), meta: this.metaDir(name), netns: `/run/netns/${this.names.vmNamespace(name)}`,
      ...(g.ids ? { userns: this.usernsFile(name), ids: g.ids } : {}),
      cgroupsPath: this.cgroupOf(name), hostMhz: g.hostMhz, swapAccounting: g.swap,
    });
    await atomicWrite(join(bundle, 'config.json'), JSON.stringify(config));
    const sock = join(dir, 'console.sock');
    for (const deadline = Date.now() + 5000; !existsSync(sock);) {
      if (Date.now() > deadline || !existsSync(`/proc/${relay}`)) throw new AgentError('DRIVER_FAILURE', `the console relay of VM ${name} did not start: ${await this.lastLog(name, 'console')}`);
      await new Promise((r) => setTimeout(r, 2));
    }
    const pidFile = join(dir, 'init.pid');
    await rm(pidFile, { force: true });
    // `runc run --detach` = create + start in one process (one exec less than two commands).
    await this.runc.run(name, bundle, sock, pidFile);
    const init = Number((await readFile(pidFile, 'utf8')).trim());
    await this.writePids(name, { init, relay });
    // A template need not serve HTTP: it is up when its init runs and its console is linked. The
    // built-in template (whoever built it) also answers on port 80, its index page the VM's
    // metadata: that link says so (readlink only, nothing of the guest's is followed).
    const http = await readlink(join(this.rootfsDir(name), 'var/www/index.html')).then((l) => l === '/run/flotilla/index.html', () => false);
    await this.awaitGuest(name, init, 10_000, http);
  }

  /** "Running" means the guest answers: its HTTP server listens (seen through the init's view
   *  of the VM's network namespace) and its console is linked. */
  private async awaitGuest(vm: string, init: number, timeoutMs = 10_000, http = true): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!((!http || await listens(init, 80)) && existsSync(this.consolePath(vm)))) {
      const stat = await readFile(`/proc/${init}/stat`, 'utf8').catch(() => '');
      if (!stat || / Z /.test(stat.slice(stat.lastIndexOf(')')))) {
        throw new AgentError('DRIVER_FAILURE', `the init of VM ${vm} exited at start: ${await this.lastLog(vm, 'console')}`);
      }
      if (Date.now() > deadline) throw new AgentError('TIMEOUT', `VM ${vm} did not bring up its HTTP server and console within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  private async lastLog(vm: string, label: string): Promise<string> {
    return (await readFile(join(this.vmDir(vm), `${label}.log`), 'utf8').catch(() => '')).trim().split('\n').pop() || '(no output)';
  }

  /** Stops a guest's container: SIGTERM to its init (busybox init shuts down), SIGKILL to every
   *  process after the grace period, then `runc delete` (its cgroups go with it). */
  private async stopGuest(vm: string, graceMs: number): Promise<void> {
    const st = await this.runc.state(vm);
    if (st && st.status !== 'stopped' && graceMs > 0) {
      await this.runc.kill(vm, 'TERM');
      for (const deadline = Date.now() + graceMs; Date.now() < deadline;) {
        if ((await this.runc.state(vm))?.status === 'stopped') break;
        await new Promise((r) => setTimeout(r, 25));
      }
    }
    if (st) {
      await this.runc.kill(vm, 'KILL', true);
      await this.runc.delete(vm);
    }
    // The relay ends with the pty (the container's terminal is gone); stop it if it has not.
    for (const pid of await this.hostSidePids(vm)) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
  }

  /** Host-side processes of a VM: a guest's console relay (it lives in the host namespace, so
   *  it is not found by namespace). */
  async hostSidePids(vm: string): Promise<number[]> {
    const { relay, link } = await this.readPids(vm);
    const out: number[] = [];
    // Only while the pid is still that process (a recycled pid is someone else's).
    if (relay && (await readFile(`/proc/${relay}/cmdline`, 'utf8').catch(() => '')).includes(this.consolePath(vm))) out.push(relay);
    // A start that failed after the relay was spawned but before its pid was recorded (or a pid
    // file that is gone): found by its command line (the console path is this VM's alone), so a
    // rollback leaves no relay behind.
    if (!out.length) {
      for (const d of await readdir('/proc').catch(() => [] as string[])) {
        if (!/^\d+$/.test(d)) continue;
        const cmd = await readFile(`/proc/${d}/cmdline`, 'utf8').catch(() => '');
        if (cmd.includes('flt-console-relay') && cmd.includes(this.consolePath(vm))) out.push(Number(d));
      }
    }
    if (link && (await this.linkAlive(vm, link))) out.push(link);
    return out;
  }

  private async linkAlive(vm: string, pid: number): Promise<boolean> {
    return (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).includes(this.managerSocket(vm));
  }

  /** Removes a VM's directory, unmounting its root filesystem and persisted user namespace
   *  first (never recurse into a mounted guest filesystem). */
  private async removeVmDir(vm: string): Promise<void> {
    const dir = this.vmDir(vm);
    if (!existsSync(dir)) return;
    if (await isMountPoint(this.rootfsDir(vm))) await unmountAndRemove(this.rootfsDir(vm));
    if (await isMountPoint(this.usernsFile(vm))) await unmountAndRemove(this.usernsFile(vm));
    await rm(dir, { recursive: true, force: true });
  }

  /** Waits until each new process has entered the VM's namespace (`ip netns exec` starts in the
   *  agent's and then switches), so a started VM is really running; one that died instead fails
   *  the start with its log's last line. */
  private async awaitInNamespace(vm: string, pids: Pids, timeoutMs = 5000): Promise<void> {
    const want = `net:[${statSync(`/run/netns/${this.names.vmNamespace(vm)}`).ino}]`;
    const deadline = Date.now() + timeoutMs;
    // A guest counts as started when its HTTP server listens, so "Running" means it answers; and
    // a VM with a serial console when socat has linked its pty (it does so just after starting,
    // and a state read in between would report no console).
    for (const [label, pid] of Object.entries(pids)) {
      if (label === 'link') { await this.awaitLink(vm, pid, deadline); continue; }
      for (;;) {
        const ns = await readlink(`/proc/${pid}/ns/net`).catch(() => undefined);
        if (ns === want && (label !== 'console' || existsSync(this.consolePath(vm)))) break;
        const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
        if (ns === undefined || / Z /.test(stat.slice(stat.lastIndexOf(')')))) {
          const log = (await readFile(join(this.vmDir(vm), `${label}.log`), 'utf8').catch(() => '')).trim().split('\n').pop();
          throw new AgentError('DRIVER_FAILURE', `process ${label} of VM ${vm} exited at start${log ? `: ${log}` : ''}`);
        }
        if (Date.now() > deadline) throw new AgentError('TIMEOUT', `process ${label} of VM ${vm} did not enter the VM's namespace within ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 5));
      }
    }
  }

  /** The manager link (host side) is up when its socket exists. */
  private async awaitLink(vm: string, pid: number, deadline: number): Promise<void> {
    while (!existsSync(this.managerSocket(vm))) {
      if (!existsSync(`/proc/${pid}`)) {
        const log = (await readFile(join(this.vmDir(vm), 'link.log'), 'utf8').catch(() => '')).trim().split('\n').pop();
        throw new AgentError('DRIVER_FAILURE', `the manager link of VM ${vm} exited at start${log ? `: ${log}` : ''}`);
      }
      if (Date.now() > deadline) throw new AgentError('TIMEOUT', `the manager link of VM ${vm} did not listen in time`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  private defaultNic(spec: VmSpec): number | undefined {
    return (spec.nics.find((n) => n.default) ?? spec.nics[0])?.deviceId;
  }

  private async createNic(spec: VmSpec, nic: NicSpec, bridge: IpLink): Promise<void> {
    const ns = this.names.vmNamespace(spec.name);
    const hv = this.names.hostVeth(spec.name, nic.deviceId);
    const eth = `eth${nic.deviceId}`;
    const mtu = String(nic.mtu ?? bridge.mtu);
    // Both ends are born in their namespaces; nothing ever appears in the root namespace.
    await run(['ip', 'link', 'add', hv, 'netns', this.host, 'type', 'veth', 'peer', 'name', eth, 'address', nic.mac, 'netns', ns]);
    await this.ipH('link', 'set', hv, 'alias', `${spec.name}/${nic.deviceId}`, 'master', bridge.ifname, 'mtu', mtu, 'up');
    await run(['ip', '-n', ns, 'link', 'set', eth, 'mtu', mtu, 'up']);
    await this.applyStatic(spec, nic);
  }

  /** A new guest's loopback and NICs in two processes (`ip -batch`: the host ends, then the
   *  guest's side) instead of four or five per NIC: process starts are most of a start's cost on
   *  a loaded host. Same objects as createNic; names, MACs and addresses are validated, and
   *  contain no spaces or newlines (the batch's separators). */
  private async createGuestNics(spec: VmSpec, bridges: Map<number, IpLink>): Promise<void> {
    const ns = this.names.vmNamespace(spec.name);
    const host: string[] = []; const guest: string[] = ['link set lo up'];
    for (const nic of spec.nics) {
      const hv = this.names.hostVeth(spec.name, nic.deviceId);
      const eth = `eth${nic.deviceId}`;
      const bridge = bridges.get(nic.deviceId)!;
      const mtu = String(nic.mtu ?? bridge.mtu);
      // Both ends are born in their namespaces; nothing ever appears in the root namespace.
      host.push(`link add ${hv} type veth peer name ${eth} address ${nic.mac} netns ${ns}`, `link set ${hv} alias ${spec.name}/${nic.deviceId} master ${bridge.ifname} mtu ${mtu} up`);
      guest.push(`link set ${eth} mtu ${mtu} up`);
      if (nic.ipv4) {
        guest.push(`addr replace ${nic.ipv4.address} dev ${eth}`);
        if (nic.ipv4.gateway && nic.deviceId === this.defaultNic(spec)) guest.push(`route replace default via ${nic.ipv4.gateway} dev ${eth}`);
      }
    }
    if ([...host, ...guest].some((l) => /[\s]/.test(l.replace(/ /g, '')))) throw new AgentError('INVALID_ARGUMENT', `VM ${spec.name}: a NIC field contains whitespace`);
    if (host.length) await run(['ip', '-n', this.host, '-batch', '-'], { input: `${host.join('\n')}\n` });
    await run(['ip', '-n', ns, '-batch', '-'], { input: `${guest.join('\n')}\n` });
  }

  private async applyStatic(spec: VmSpec, nic: NicSpec): Promise<void> {
    if (!nic.ipv4) return;
    const ns = this.names.vmNamespace(spec.name);
    await run(['ip', '-n', ns, 'addr', 'replace', nic.ipv4.address, 'dev', `eth${nic.deviceId}`]);
    if (nic.ipv4.gateway && nic.deviceId === this.defaultNic(spec)) {
      await run(['ip', '-n', ns, 'route', 'replace', 'default', 'via', nic.ipv4.gateway, 'dev', `eth${nic.deviceId}`]);
    }
  }

  /** A detached process in the host namespace (a guest's console relay); output to its log. */
  private spawnHost(vm: string, label: string, argv: string[]): number {
    const log = openSync(join(this.vmDir(vm), `${label}.log`), 'a');
    try {
      const child = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: ['ignore', log, log], cwd: '/', env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' } });
      child.on('error', () => undefined);
      child.unref();
      if (!child.pid) throw new AgentError('DRIVER_FAILURE', `could not start ${label} of VM ${vm}`);
      return child.pid;
    } finally { closeSync(log); }
  }

  /** A detached process inside the VM's namespace (`ip netns exec` execs in place, so the pid is
   *  the process's own). Its output goes to <vmDir>/<label>.log. */
  private spawnIn(vm: string, label: string, argv: string[], env: Record<string, string> = {}): number {
    const log = openSync(join(this.vmDir(vm), `${label}.log`), 'a');
    try {
      const child = spawn('ip', ['netns', 'exec', this.names.vmNamespace(vm), ...argv], {
        detached: true, stdio: ['ignore', log, log], cwd: '/',
        env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', FLT_VM_NAME: vm, ...env },
      });
      child.on('error', () => undefined);
      child.unref();
      if (!child.pid) throw new AgentError('DRIVER_FAILURE', `could not start ${label} in VM ${vm}`);
      return child.pid;
    } finally { closeSync(log); }
  }

  /** Serial console: socat holds a pty whose slave end is linked at <vmDir>/console, wired to a
   *  shell in the VM; `ignoreeof` keeps it across client sessions (a console proxy can reattach). */
  private startConsole(vm: string): number {
    return this.spawnIn(vm, 'console', [this.socat, `PTY,link=${this.consolePath(vm)},rawer,ignoreeof`,
      `EXEC:${this.busybox} sh -i,pty,setsid,ctty,stderr,sane`]);
  }

  async stopVm(args: AgentArgs<'stopVm'>): Promise<AgentResult<'stopVm'>> {
    const { name, force } = checkArgs('stopVm', args);
    await this.ensureReady();
    return this.mutex.run(`vm:${name}`, async () => ({ name, existed: await this.teardownVm(name, force ?? false) }));
  }

  async destroyVm(args: AgentArgs<'destroyVm'>): Promise<AgentResult<'destroyVm'>> {
    const { name } = checkArgs('destroyVm', args);
    await this.ensureReady();
    return this.mutex.run(`vm:${name}`, async () => ({ name, existed: await this.teardownVm(name, false) }));
  }

  /** Removes every object of a VM: its processes (by pid, all of them live in its namespace),
   *  host veth ends, namespace, /etc/netns entry and files. Idempotent. */
  private async teardownVm(name: string, force: boolean): Promise<boolean> {
    const ns = this.names.vmNamespace(name);
    const existed = existsSync(`/run/netns/${ns}`);
    // A guest's container first (also when its namespace is already gone: a half-made VM).
    await this.stopGuest(name, force ? 0 : (this.config.stopGraceMs ?? 2000));
    if (existed) {
      // Anything left in the namespace (everything, for a system VM).
      await this.killAll(ns, force ? 0 : (this.config.stopGraceMs ?? 2000));
      // Deleting the host ends first is synchronous; a namespace's own cleanup is deferred.
      const stem = this.names.vethStem(name);
      // Only links that carry this VM's alias are ours (a squatter with a colliding name is not;
      // an end that never got its alias dies with the namespace below).
      for (const l of await this.hostLinks()) {
        if (l.ifname.startsWith(stem) && l.ifname.length === stem.length + 1 && l.ifalias?.startsWith(`${name}/`)) {
          await tryRun(['ip', '-n', this.host, 'link', 'del', l.ifname]);
        }
      }
      await run(['ip', 'netns', 'del', ns]);
    }
    await rm(`/etc/netns/${ns}`, { recursive: true, force: true });
    await this.removeVmDir(name);
    return existed;
  }

  private async nsPids(ns: string): Promise<number[]> {
    // An unusable namespace entry has no processes to find; destroy must still go on.
    const { stdout } = await run(['ip', 'netns', 'pids', ns]).catch(() => ({ stdout: '' }));
    return stdout.split('\n').map((s) => Number(s.trim())).filter((n) => Number.isInteger(n) && n > 1);
  }

  /** SIGTERM, wait up to graceMs, SIGKILL — every pid whose network namespace is the VM's (the
   *  agent created that namespace, so they are all the VM's). `except` survives (the console). */
  private async killAll(ns: string, graceMs: number, keep: number[] = []): Promise<void> {
    // A kept process keeps its descendants (the console's shell).
    const except = keep.length ? await withDescendants(keep, await this.nsPids(ns)) : [];
    const signalAll = async (sig: NodeJS.Signals) => {
      const pids = (await this.nsPids(ns)).filter((p) => !except.includes(p));
      for (const p of pids) { try { process.kill(p, sig); } catch { /* already gone */ } }
      return pids.length;
    };
    if (!(await signalAll(graceMs > 0 ? 'SIGTERM' : 'SIGKILL'))) return;
    const deadline = Date.now() + graceMs;
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 25));
      if (!(await this.nsPids(ns)).some((p) => !except.includes(p))) return;
    }
    for (let i = 0; i < 20 && await signalAll('SIGKILL'); i++) await new Promise((r) => setTimeout(r, 25));
  }

  async rebootVm(args: AgentArgs<'rebootVm'>): Promise<VmState> {
    const { name } = checkArgs('rebootVm', args);
    await this.ensureReady();
    return this.mutex.run(`vm:${name}`, async () => {
      const spec = await this.requireSpec(name);
      const ns = this.names.vmNamespace(name);
      if (spec.template.kind === 'guest') {
        // A new container on the same disk (the overlay stays) and the same network namespace.
        await this.stopGuest(name, this.config.stopGraceMs ?? 2000);
        await this.killAll(ns, 0);
        for (const nic of spec.nics) await run(['ip', '-n', ns, 'addr', 'flush', 'dev', `eth${nic.deviceId}`]);
        for (const nic of spec.nics) await this.applyStatic(spec, nic);
        await this.bootGuest(spec);
        return this.readVmState(name);
      }
      const pids = await this.readPids(name);
      const keep = pids.console ? [pids.console] : [];
      await this.killAll(ns, this.config.stopGraceMs ?? 2000, keep);
      // A reboot forgets what the guest configured; static addresses come back at "boot".
      for (const nic of spec.nics) await run(['ip', '-n', ns, 'addr', 'flush', 'dev', `eth${nic.deviceId}`]);
      for (const nic of spec.nics) await this.applyStatic(spec, nic);
      const next: Pids = {};
      if (pids.console) next.console = pids.console;
      if (pids.link) next.link = pids.link;
      next.appliance = this.spawnIn(name, 'appliance', this.applianceArgv(spec)!);
      await this.writePids(name, next);
      await this.awaitInNamespace(name, next);
      return this.readVmState(name);
    });
  }

  async plugNic(args: AgentArgs<'plugNic'>): Promise<VmState> {
    const { name, nic } = checkArgs('plugNic', args);
    await this.ensureReady();
    return this.mutex.run(`vm:${name}`, async () => {
      const spec = await this.requireSpec(name);
      const same = spec.nics.find((n) => n.deviceId === nic.deviceId || n.mac === nic.mac);
      if (same && JSON.stringify(same) === JSON.stringify(nic)) return this.readVmState(name);
      if (same) throw new AgentError('CONFLICT', `VM ${name} already has NIC ${same.deviceId} (${same.mac})`);
      const bridges = await this.resolveBridges([nic], await this.hostLinks());
      const next: VmSpec = { ...spec, nics: [...spec.nics, nic].sort((a, b) => a.deviceId - b.deviceId) };
      try {
        await this.createNic(next, nic, bridges.get(nic.deviceId)!);
      } catch (e) {
        await tryRun(['ip', '-n', this.host, 'link', 'del', this.names.hostVeth(name, nic.deviceId)]);
        throw e;
      }
      await this.writeSpec(next);
      // A guest's DHCP client comes up on the new NIC; an appliance is already running and
      // notices the new link itself.
      if (next.template.kind === 'guest') {
        // The guest's metadata lists the new NIC (a reboot configures it again); a DHCP client
        // starts inside the running container, as a guest's hotplug handler would.
        await writeMetaFiles(this.metaDir(name), guestFiles(next, this.defaultNic(next), resolvConf(next.dns ?? [], next.searchDomain)), this.guestHost!.owner);
        if (!nic.ipv4) {
          await this.runc.exec(name, dhcpArgv(nic.deviceId, next.hostname ?? name, nic.deviceId === this.defaultNic(next)))
            .catch((e) => { throw new AgentError('DRIVER_FAILURE', `could not start a DHCP client on eth${nic.deviceId} in VM ${name}: ${(e as Error).message}`); });
        }
      }
      return this.readVmState(name);
    });
  }

  async unplugNic(args: AgentArgs<'unplugNic'>): Promise<VmState> {
    const { name, mac } = checkArgs('unplugNic', args);
    await this.ensureReady();
    return this.mutex.run(`vm:${name}`, async () => {
      const spec = await this.requireSpec(name);
      const nic = spec.nics.find((n) => n.mac === mac);
      if (!nic) throw new AgentError('NOT_FOUND', `VM ${name} has no NIC with MAC ${mac}`);
      const pids = await this.readPids(name);
      const label = `udhcpc-eth${nic.deviceId}`;
      const pid = pids[label];
      if (pid && (await this.nsPids(this.names.vmNamespace(name))).includes(pid)) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
      delete pids[label];
      const next = { ...spec, nics: spec.nics.filter((n) => n !== nic) };
      if (spec.template.kind === 'guest') {
        // The guest's DHCP client of that NIC (found by its command line in the VM's namespace).
        for (const p of await this.guestProcesses(name, ['udhcpc', '-i', `eth${nic.deviceId}`])) { try { process.kill(p, 'SIGKILL'); } catch { /* gone */ } }
        await writeMetaFiles(this.metaDir(name), guestFiles(next, this.defaultNic(next), resolvConf(next.dns ?? [], next.searchDomain)), this.guestHost!.owner);
      }
      await tryRun(['ip', '-n', this.host, 'link', 'del', this.names.hostVeth(name, nic.deviceId)]);
      await this.writeSpec(next);
      await this.writePids(name, pids);
      return this.readVmState(name);
    });
  }

  async vmStats(args: AgentArgs<'vmStats'>): Promise<AgentResult<'vmStats'>> {
    const { names } = checkArgs('vmStats', args);
    await this.ensureReady();
    const vms = names ?? await this.vmNames();
    const stats: VmStats[] = [];
    for (const name of vms) {
      const ns = this.names.vmNamespace(name);
      if (!existsSync(`/run/netns/${ns}`)) continue;
      let cpuTicks = 0; let rssPages = 0;
      for (const pid of await this.nsPids(ns)) {
        const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
        const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        cpuTicks += Number(f[11] ?? 0) + Number(f[12] ?? 0); // utime, stime (fields 14, 15)
        rssPages += Number((await readFile(`/proc/${pid}/statm`, 'utf8').catch(() => '0 0')).split(' ')[1] ?? 0);
      }
      const links = await runJson<IpLink[]>(['ip', '-n', ns, '-j', '-s', 'link', 'show']);
      const state = await this.vmState(name);
      stats.push({
        name, state: state.state, cpuTimeMs: cpuTicks * 10, memoryKb: rssPages * 4,
        nics: links.filter((l) => /^eth[0-9]+$/.test(l.ifname)).map((l) => ({
          deviceId: Number(l.ifname.slice(3)), mac: l.address ?? '',
          rxBytes: l.stats64?.rx.bytes ?? 0, txBytes: l.stats64?.tx.bytes ?? 0,
          rxPackets: l.stats64?.rx.packets ?? 0, txPackets: l.stats64?.tx.packets ?? 0,
        })),
      });
    }
    return { stats };
  }

  async listState(args: AgentArgs<'listState'> = {}): Promise<AgentResult<'listState'>> {
    checkArgs('listState', args);
    await this.ensureReady();
    const links = await this.hostLinks();
    const networks: NetworkState[] = [];
    for (const l of links) if (this.names.parseBridge(l.ifname)) networks.push(await this.networkState(l.ifname, undefined, links));
    const vms: VmState[] = [];
    for (const name of await this.vmNames()) vms.push(await this.vmState(name));
    return { vms, networks };
  }

  async relay(args: AgentArgs<'relay'>): Promise<AgentResult<'relay'>> {
    const { name, payload, timeoutMs } = checkArgs('relay', args);
    await this.ensureReady();
    const spec = await this.requireSpec(name);
    if (spec.template.kind !== 'system') throw new AgentError('UNSUPPORTED', `VM ${name} is not a system VM; it has no control socket`);
    return { payload: await relayUnix(this.controlSocket(name), payload, timeoutMs ?? 30_000, name) };
  }

  // ---- state ----

  /** VM names of this host, from the namespaces that exist (the kernel is the truth). */
  async vmNames(): Promise<string[]> {
    const prefix = this.names.vmPrefix();
    const all = await readdir('/run/netns').catch(() => [] as string[]);
    return all.filter((n) => n.startsWith(prefix)).map((n) => n.slice(prefix.length)).sort();
  }

  private async readSpec(name: string): Promise<VmSpec | undefined> {
    try { return JSON.parse(await readFile(join(this.vmDir(name), 'spec.json'), 'utf8')) as VmSpec; } catch { return undefined; }
  }

  private async requireSpec(name: string): Promise<VmSpec> {
    if (!existsSync(`/run/netns/${this.names.vmNamespace(name)}`)) throw new AgentError('NOT_FOUND', `VM ${name} is not on this host`);
    const spec = await this.readSpec(name);
    if (!spec) throw new AgentError('CONFLICT', `VM ${name} has no spec on this host (a stray); destroy it`);
    return spec;
  }

  private async writeSpec(spec: VmSpec): Promise<void> { await atomicWrite(join(this.vmDir(spec.name), 'spec.json'), JSON.stringify(spec)); }
  private async readPids(name: string): Promise<Pids> {
    try { return JSON.parse(await readFile(join(this.vmDir(name), 'pids.json'), 'utf8')) as Pids; } catch { return {}; }
  }
  private async writePids(name: string, pids: Pids): Promise<void> { await atomicWrite(join(this.vmDir(name), 'pids.json'), JSON.stringify(pids)); }

  /** A VM's state once any command in progress on it has finished (so a VM being started is
   *  never reported half-made). */
  vmState(name: string): Promise<VmState> { return this.mutex.run(`vm:${name}`, () => this.readVmState(name)); }

  private async readVmState(name: string): Promise<VmState> {
    const ns = this.names.vmNamespace(name);
    if (!existsSync(`/run/netns/${ns}`)) throw new AgentError('NOT_FOUND', `VM ${name} is not on this host`);
    const spec = await this.readSpec(name);
    // A broken namespace entry must not make the whole listState fail: report it as an Error.
    let links: IpLink[] = [];
    let broken: string | undefined;
    // The namespace's processes are listed while its addresses are read (two processes side by
    // side, not one after the other: every start and listState pays this).
    const livePids = this.nsPids(ns);
    try { links = await runJson<IpLink[]>(['ip', '-n', ns, '-j', 'addr', 'show']); } catch (e) { broken = (e as Error).message; }
    const nics: NicState[] = links.filter((l) => /^eth[0-9]+$/.test(l.ifname)).map((l) => {
      const deviceId = Number(l.ifname.slice(3));
      const n: NicState = {
        deviceId, mac: l.address ?? '', hostInterface: this.names.hostVeth(name, deviceId),
        addresses: (l.addr_info ?? []).filter((a) => a.scope !== 'link').map((a) => `${a.local}/${a.prefixlen}`),
      };
      const networkId = spec?.nics.find((x) => x.deviceId === deviceId)?.networkId;
      if (networkId) n.networkId = networkId;
      return n;
    });
    const state: VmState = { name, state: 'Running', nics, consoles: {} };
    if (spec) state.spec = spec;
    else { state.state = 'Error'; state.detail = 'no spec on this host (stray)'; }
    if (existsSync(this.consolePath(name))) state.consoles.serial = this.consolePath(name);
    if (spec?.template.kind === 'system') state.controlSocket = this.controlSocket(name);
    if (broken) return { ...state, state: 'Error', detail: `namespace unusable: ${broken}` };
    const live = await livePids;
    if (spec?.template.kind === 'guest') return this.guestState(name, spec, state, live);
    const pidsNow = await this.readPids(name);
    const dead = Object.entries(pidsNow).filter(([label, pid]) => label !== 'link' && !live.includes(pid));
    if (pidsNow.link && !(await this.linkAlive(name, pidsNow.link))) dead.push(['link', pidsNow.link]);
    if (spec && dead.length) {
      state.state = 'Error';
      state.detail = dead.map(([label, pid]) => `process ${label} (pid ${pid}) exited`).join('; ');
    }
    return state;
  }

  /** A guest is Running while its init lives. Out of memory (an OOM kill in its cgroup) stops
   *  the whole VM — as a VM whose memory ran out would — and the agent reports it Stopped, as it
   *  does a guest that powered itself off; the manager then records it Stopped. */
  private async guestState(name: string, spec: VmSpec, state: VmState, live: number[]): Promise<VmState> {
    const { init } = await this.readPids(name);
    const kills = oomKills(this.cgroupOf(name)) ?? 0;
    if (kills > 0) {
      if (init && live.includes(init)) await this.runc.kill(name, 'KILL', true);
      return { ...state, state: 'Stopped', detail: `out of memory: the guest exceeded its ${spec.memoryMb} MB and was OOM-killed` };
    }
    if (!init || !live.includes(init) || / Z /.test(await readFile(`/proc/${init}/stat`, 'utf8').then((st) => st.slice(st.lastIndexOf(')')), () => ' Z '))) {
      return { ...state, state: 'Stopped', detail: 'the guest\'s init exited (powered off)' };
    }
    return state;
  }

  /** Test/maintenance helper: destroys every VM and releases every network of this host tag. */
  async destroyAll(): Promise<void> {
    for (const name of await this.vmNames()) await this.destroyVm({ name });
    const links = await this.hostLinks().catch(() => [] as IpLink[]);
    for (const l of links) {
      if (!this.names.parseBridge(l.ifname)) continue;
      if (l.ifalias) await this.releaseNetwork({ id: l.ifalias }).catch(() => undefined);
      else await tryRun(['ip', '-n', this.host, 'link', 'del', l.ifname]);
    }
  }
}

/** Whether a process's network namespace has a TCP listener on `port` (/proc/<pid>/net is the
 *  view of that process's namespace, so no exec is needed). */
async function listens(pid: number, port: number): Promise<boolean> {
  const suffix = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  for (const f of ['tcp', 'tcp6']) {
    const text = await readFile(`/proc/${pid}/net/${f}`, 'utf8').catch(() => '');
    // "sl local_address rem_address st …"; st 0A = LISTEN
    if (text.split('\n').some((l) => { const c = l.trim().split(/\s+/); return c[1]?.endsWith(suffix) === true && c[3] === '0A'; })) return true;
  }
  return false;
}

async function withDescendants(roots: number[], candidates: number[]): Promise<number[]> {
  const parent = new Map<number, number>();
  for (const pid of candidates) {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    parent.set(pid, Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
  }
  const out = new Set(roots);
  for (let grew = true; grew;) {
    grew = false;
    for (const [pid, ppid] of parent) if (!out.has(pid) && out.has(ppid)) { out.add(pid); grew = true; }
  }
  return [...out];
}

async function atomicWrite(path: string, text: string): Promise<void> {
  await writeFile(`${path}.tmp`, text);
  await rename(`${path}.tmp`, path);
}

function resolvConf(dns: string[], search: string | undefined): string {
  return `# written by the flotilla agent; the guest's DHCP client may replace it\n${search ? `search ${search}\n` : ''}${dns.map((d) => `nameserver ${d}\n`).join('')}`;
}

