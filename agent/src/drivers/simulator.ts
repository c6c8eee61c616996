// The simulator driver (CloudStack hypervisor type Simulator): no kernel changes, state in
// memory, every command answered after a configurable delay and failing at a configurable rate.
// It validates exactly like the netns driver (same checkArgs) and enforces the same rules
// (networks must be prepared, names unique, releases refused while in use), so the manager's
// logic can be tested against it; a simulated failure happens before any state changes.
import type { AgentArgs, AgentOp, AgentResult, HostCapacity, NetworkState, VmSpec, VmState } from '@flotilla/protocol/agent';
import { sameVmSpec } from '@flotilla/protocol/agent';
import type { Driver, HostFacts } from '../driver.ts';
import { AgentError } from '../errors.ts';
import { checkArgs } from '../validate.ts';

export interface SimulatorConfig {
  /** Every VM of this host reports this VNC server as its console (VmState.consoles.vnc): tests
   *  point it at a real VNC server (Xvfb + x11vnc) to drive the console proxy's VNC path. */
  vnc?: { host: string; port: number };
  /** Delay of every command: a fixed number of ms, or a uniform range. */
  delayMs?: number | { min: number; max: number };
  /** Probability (0..1) that a command fails with SIMULATED_FAILURE. */
  failureRate?: number;
  /** Only these ops fail (default: all). */
  failOps?: AgentOp[];
  capacity?: Partial<HostCapacity>;
  fabricIp?: string;
  /** Injectable randomness for reproducible runs. */
  random?: () => number;
  /** Injectable wait (tests observe the delay without timing it). */
  sleep?: (ms: number) => Promise<void>;
}

export class SimulatorDriver implements Driver {
  readonly hypervisor = 'Simulator' as const;
  readonly networks = new Map<string, NetworkState>();
  readonly vms = new Map<string, VmSpec>();
  /** How many commands ran (including failed ones), by op. */
  readonly calls = new Map<AgentOp, number>();
  /** Volumes as recorded (no files): name → size in bytes. */
  readonly volumes = new Map<string, number>();
  /** The last router spec each system VM accepted through relay. */
  readonly appliedSpecs = new Map<string, { generation?: number }>();
  private readonly random: () => number;

  constructor(readonly config: SimulatorConfig = {}) {
    const rate = config.failureRate ?? 0;
    if (!(rate >= 0 && rate <= 1)) throw new AgentError('INVALID_ARGUMENT', `simulator failureRate must be within 0..1 (got ${rate})`);
    this.random = config.random ?? Math.random;
  }

  async hostFacts(): Promise<HostFacts> {
    const capacity: HostCapacity = { cpus: 16, cpuMhz: 2400, memoryMb: 65536, ...this.config.capacity };
    return this.config.fabricIp ? { hypervisor: 'Simulator', capacity, fabricIp: this.config.fabricIp } : { hypervisor: 'Simulator', capacity };
  }

  async close(): Promise<void> { /* nothing held */ }

  async vncEndpoint(name: string): Promise<{ host: string; port: number } | undefined> {
    return this.vms.has(name) && this.config.vnc ? { ...this.config.vnc } : undefined;
  }

  /** Validates, waits the configured delay, then maybe fails — before touching any state. */
  private async begin<O extends AgentOp>(op: O, args: AgentArgs<O>): Promise<AgentArgs<O>> {
    this.calls.set(op, (this.calls.get(op) ?? 0) + 1);
    const checked = checkArgs(op, args);
    const d = this.config.delayMs;
    const ms = typeof d === 'number' ? d : d ? d.min + this.random() * (d.max - d.min) : 0;
    if (ms > 0) await (this.config.sleep ?? ((n: number) => new Promise<void>((r) => setTimeout(r, n))))(ms);
    const rate = this.config.failureRate ?? 0;
    if (rate > 0 && (!this.config.failOps || this.config.failOps.includes(op)) && this.random() < rate) {
      throw new AgentError('SIMULATED_FAILURE', `simulated failure of ${op} (failure rate ${rate})`);
    }
    return checked;
  }

  private state(spec: VmSpec): VmState {
    return {
      name: spec.name, state: 'Running', spec, consoles: this.config.vnc ? { vnc: { ...this.config.vnc } } : {},
      nics: spec.nics.map((n) => ({ deviceId: n.deviceId, mac: n.mac, networkId: n.networkId, addresses: n.ipv4 ? [n.ipv4.address] : [] })),
    };
  }

  private requireNetworks(spec: VmSpec): void {
    const missing = spec.nics.filter((n) => !this.networks.has(n.networkId)).map((n) => `nic ${n.deviceId}: network ${n.networkId}`);
    if (missing.length) throw new AgentError('NETWORK_NOT_PREPARED', `not prepared on this host: ${missing.join(', ')}`);
  }

  private requireVm(name: string): VmSpec {
    const spec = this.vms.get(name);
    if (!spec) throw new AgentError('NOT_FOUND', `VM ${name} is not on this host`);
    return spec;
  }

  async prepareNetwork(args: AgentArgs<'prepareNetwork'>): Promise<NetworkState> {
    const spec = await this.begin('prepareNetwork', args);
    for (const n of this.networks.values()) {
      if (n.id !== spec.id && spec.vni !== undefined && n.vni === spec.vni) throw new AgentError('CONFLICT', `VNI ${spec.vni} already belongs to network ${n.id}`);
    }
    const state: NetworkState = {
      id: spec.id, kind: spec.kind, bridge: `sim-${spec.kind}-${spec.vni ?? 0}`,
      peers: (spec.peers ?? []).filter((p) => p !== this.config.fabricIp), mtu: spec.mtu ?? (spec.vni ? 1450 : 1500),
    };
    if (spec.vni !== undefined) state.vni = spec.vni;
    this.networks.set(spec.id, state);
    return state;
  }

  async releaseNetwork(args: AgentArgs<'releaseNetwork'>): Promise<AgentResult<'releaseNetwork'>> {
    const { id } = await this.begin('releaseNetwork', args);
    const users = [...this.vms.values()].filter((v) => v.nics.some((n) => n.networkId === id)).map((v) => v.name);
    if (users.length) throw new AgentError('IN_USE', `network ${id} still has NICs of VMs ${users.join(', ')}`);
    return { id, existed: this.networks.delete(id) };
  }

  async startVm(args: AgentArgs<'startVm'>): Promise<VmState> {
    const { spec } = await this.begin('startVm', args);
    const current = this.vms.get(spec.name);
    if (current) {
      if (sameVmSpec(current, spec)) return this.state(current);
      throw new AgentError('CONFLICT', `VM ${spec.name} already exists on this host with a different spec; destroy it first`);
    }
    this.requireNetworks(spec);
    this.vms.set(spec.name, spec);
    return this.state(spec);
  }

  async stopVm(args: AgentArgs<'stopVm'>): Promise<AgentResult<'stopVm'>> {
    const { name } = await this.begin('stopVm', args);
    return { name, existed: this.vms.delete(name) };
  }

  async destroyVm(args: AgentArgs<'destroyVm'>): Promise<AgentResult<'destroyVm'>> {
    const { name } = await this.begin('destroyVm', args);
    return { name, existed: this.vms.delete(name) };
  }

  async rebootVm(args: AgentArgs<'rebootVm'>): Promise<VmState> {
    const { name } = await this.begin('rebootVm', args);
    return this.state(this.requireVm(name));
  }

  async plugNic(args: AgentArgs<'plugNic'>): Promise<VmState> {
    const { name, nic } = await this.begin('plugNic', args);
    const spec = this.requireVm(name);
    const same = spec.nics.find((n) => n.deviceId === nic.deviceId || n.mac === nic.mac);
    if (same && JSON.stringify(same) === JSON.stringify(nic)) return this.state(spec);
    if (same) throw new AgentError('CONFLICT', `VM ${name} already has NIC ${same.deviceId} (${same.mac})`);
    const next = { ...spec, nics: [...spec.nics, nic].sort((a, b) => a.deviceId - b.deviceId) };
    this.requireNetworks(next);
    this.vms.set(name, next);
    return this.state(next);
  }

  async unplugNic(args: AgentArgs<'unplugNic'>): Promise<VmState> {
    const { name, mac } = await this.begin('unplugNic', args);
    const spec = this.requireVm(name);
    if (!spec.nics.some((n) => n.mac === mac)) throw new AgentError('NOT_FOUND', `VM ${name} has no NIC with MAC ${mac}`);
    const next = { ...spec, nics: spec.nics.filter((n) => n.mac !== mac) };
    this.vms.set(name, next);
    return this.state(next);
  }

  async vmStats(args: AgentArgs<'vmStats'>): Promise<AgentResult<'vmStats'>> {
    const { names } = await this.begin('vmStats', args);
    const specs = (names ?? [...this.vms.keys()]).map((n) => this.vms.get(n)).filter((s): s is VmSpec => s !== undefined);
    return {
      stats: specs.map((s) => ({
        name: s.name, state: 'Running' as const, cpuTimeMs: 0, memoryKb: s.memoryMb * 1024,
        nics: s.nics.map((n) => ({ deviceId: n.deviceId, mac: n.mac, rxBytes: 0, txBytes: 0, rxPackets: 0, txPackets: 0 })),
      })),
    };
  }

  async listState(args: AgentArgs<'listState'> = {}): Promise<AgentResult<'listState'>> {
    await this.begin('listState', args);
    return { vms: [...this.vms.values()].map((s) => this.state(s)), networks: [...this.networks.values()] };
  }

  async ensureVolume(args: AgentArgs<'ensureVolume'>): Promise<AgentResult<'ensureVolume'>> {
    const { volume, sizeBytes } = await this.begin('ensureVolume', args);
    const created = !this.volumes.has(volume);
    this.volumes.set(volume, sizeBytes);
    return { volume, sizeBytes, allocatedBytes: 0, created };
  }

  async removeVolume(args: AgentArgs<'removeVolume'>): Promise<AgentResult<'removeVolume'>> {
    const { volume } = await this.begin('removeVolume', args);
    return { volume, existed: this.volumes.delete(volume) };
  }

  async releaseState(args: AgentArgs<'releaseState'>): Promise<AgentResult<'releaseState'>> {
    const { stateKey } = await this.begin('releaseState', args);
    return { stateKey, existed: false };
  }

  /**
   * Plays a router appliance's control socket (there is no appliance): an `apply` is accepted
   * and its spec recorded (`appliedSpecs`, by VM name), a `report` tells the last applied
   * generation, so the manager's isolated networks and their rules work on simulated hosts.
   * Anything else is echoed. Every answer carries `simulated: true`.
   */
  async relay(args: AgentArgs<'relay'>): Promise<AgentResult<'relay'>> {
    const { name, payload } = await this.begin('relay', args);
    const spec = this.requireVm(name);
    if (spec.template.kind !== 'system') throw new AgentError('UNSUPPORTED', `VM ${name} is not a system VM; it has no control socket`);
    const msg = payload as { type?: string; id?: string; spec?: { generation?: number } };
    if (msg?.type === 'apply' && typeof msg.spec?.generation === 'number') {
      this.appliedSpecs.set(name, msg.spec);
      return { payload: { simulated: true, type: 'applied', ...(msg.id ? { id: msg.id } : {}), generation: msg.spec.generation, changed: [] } };
    }
    if (msg?.type === 'report') {
      return { payload: { simulated: true, type: 'report', ...(msg.id ? { id: msg.id } : {}), appliedGeneration: this.appliedSpecs.get(name)?.generation ?? null, health: {}, counters: { dhcp: {}, dns: {}, metadata: {}, password: {} } } };
    }
    return { payload: { simulated: true, request: payload } };
  }
}
