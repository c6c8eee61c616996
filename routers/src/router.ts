// The appliance's spec/apply loop: validate the whole spec, diff it per service against the last
// applied one, apply only what changed (links first: services bind to the addresses), remember
// the generation. Same generation twice: no-op. Older generation: refused. Services are
// long-lived objects whose apply() swaps tables on open sockets, so a reload drops nothing.
import { join } from 'node:path';
import { compile as compileFirewall, FirewallCompiler, NftApplier, type NftDocument } from '@flotilla/firewall';
import { FirewallSpecError, type RuleCounters } from '@flotilla/protocol/firewall';
import type { RouterCounters, RouterSpec, ServiceHealth, ServiceName } from '@flotilla/protocol/router';
import { compileDhcpNetwork } from './dhcp/engine.ts';
import { LeaseStore } from './dhcp/leases.ts';
import { DhcpServer } from './dhcp/server.ts';
import { compileZone } from './dns/zone.ts';
import { DnsServer } from './dns/server.ts';
import { applyLinks } from './links.ts';
import { validateSpec } from './validate.ts';
import { compileVmData } from './vmdata/compile.ts';
import { MetadataService, PasswordService } from './vmdata/services.ts';
import { VpnApplier, VpnCompiler, VpnSpecError, withVpnFirewall, type CompiledVpn, type VpnChange } from '@flotilla/vpn';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { VpnPeersDeltaMessage } from '@flotilla/protocol/vpn';
import { validateLbSpec, type LbStatus } from '@flotilla/protocol/lb';
import { emptyFirewallSpec } from '@flotilla/protocol/firewall';
import { LbService } from './lb/service.ts';

export interface RouterOptions {
  /** Directory for the lease journal and password acknowledgements (kept across re-creation). */
  stateDir: string;
  /** Port overrides (tests without root use high ports; the appliance uses the defaults). */
  ports?: { dhcp?: number; dns?: number; metadata?: number; password?: number };
  /** Skip links (tests that run services in a namespace prepared by the test itself). */
  manageLinks?: boolean;
}

export type ApplyResult =
  | { ok: true; generation: number; changed: ServiceName[]; timings?: Record<string, number> }
  | { ok: false; code: 'invalid_spec' | 'stale_generation' | 'apply_failed' | 'base_mismatch'; errors: string[]; generation?: number };

// The delta message's schema, compiled once (it holds only the changed peers).
const deltaChecker = TypeCompiler.Compile(VpnPeersDeltaMessage);
const ms = (t0: number) => Math.round((performance.now() - t0) * 100) / 100;

/** Slices of the spec each service depends on: a service is touched only if its slice changed. */
export function serviceSlices(s: RouterSpec): Record<ServiceName, unknown> {
  return {
    links: [s.interfaces, s.routes],
    firewall: [s.firewall ?? null, vpnFirewallKey(s)],
    dhcp: s.guestNetworks.map(({ vms: _v, dnsForwarders: _f, ...rest }) => rest),
    dns: [s.guestNetworks.map((g) => [g.cidr, g.gateway, g.domain, g.dnsForwarders, g.reservations])],
    metadata: s.guestNetworks.map((g) => [g.gateway, g.vms.map(({ password: _p, ...v }) => v)]),
    password: s.guestNetworks.map((g) => [g.gateway, g.vms.map((v) => [v.ip, v.password ?? null])]),
    // The VPN's device part; its peers are diffed by the VpnCompiler (one Map lookup a peer)
    // instead of serialising 10,000 of them per spec.
    vpn: s.vpn ? vpnDevice(s.vpn) : null,
    lb: s.lb ?? null,
  };
}

const vpnDevice = ({ peers: _p, ...device }: NonNullable<RouterSpec['vpn']>) => device;

/** What of the VPN the firewall depends on (its peers do not: they are matched by prefix). */
const vpnFirewallKey = (s: RouterSpec) => (s.vpn ? [s.vpn.id, s.vpn.interface, s.vpn.publicIp, s.vpn.listenPort, s.vpn.openFirewall, s.vpn.range] : null);

/** Which services differ between two specs (pure). */
export function diffServices(prev: RouterSpec | undefined, next: RouterSpec): ServiceName[] {
  const a = prev ? sliceTexts(prev) : undefined;
  const b = sliceTexts(next);
  // First apply: every service present; a section absent from the spec (vpn) is no change.
  return (Object.keys(b) as ServiceName[]).filter((k) => (a ? a[k] !== b[k] : b[k] !== 'null'));
}

/** Serialised slices, kept per spec object: the applied spec's are computed once, when it was
 *  the new one (a spec with 10,000 VPN peers costs ~10 ms to serialise). */
const sliceCache = new WeakMap<RouterSpec, Record<ServiceName, string>>();
function sliceTexts(s: RouterSpec): Record<ServiceName, string> {
  let t = sliceCache.get(s);
  if (!t) {
    const sl = serviceSlices(s);
    t = Object.fromEntries(Object.entries(sl).map(([k, v]) => [k, JSON.stringify(v)])) as Record<ServiceName, string>;
    sliceCache.set(s, t);
  }
  return t;
}

export class Router {
  /** The last whole spec applied (deltas change only its VPN peers, which the VPN compiler and
   *  applier hold); `appliedGen` is the generation applied last, by a spec or a delta. */
  private applied: RouterSpec | undefined;
  private appliedGen: number | undefined;
  /** Keeps the last accepted VPN peers: a change checks and diffs only the changed peers. */
  private readonly vpnCompiler = new VpnCompiler();
  /** The generation whose VPN the compiler holds (a delta needs it to be the applied one). */
  private vpnCompilerGen: number | undefined;
  private leases: LeaseStore | undefined;
  private dhcp: DhcpServer | undefined;
  readonly dns: DnsServer;
  readonly metadata: MetadataService;
  readonly password: PasswordService;
  private readonly health: Partial<Record<ServiceName, ServiceHealth>> = {};
  private chain: Promise<unknown> = Promise.resolve();
  private firewall: NftApplier | undefined;
  /** Recompiles only what changed since the last spec (a one-rule change touches one IP). */
  private readonly fwCompiler = new FirewallCompiler();
  /** The remote-access VPN's WireGuard device (wireguard-go), created with the first VPN. */
  readonly vpn: VpnApplier;
  /** The applied spec's compiled VPN (its firewall additions ride in every reload). */
  private appliedVpn: CompiledVpn | undefined;
  /** Load balancing: its kernel part rides in the firewall's document (loadFirewall). */
  readonly lb: LbService;
  /** The table last loaded carries LB kernel rules (their counters are kept across a full replace). */
  private lbInTable = false;

  constructor(private readonly opts: RouterOptions) {
    this.dns = new DnsServer({ port: opts.ports?.dns ?? 53 });
    this.metadata = new MetadataService(opts.ports?.metadata ?? 80);
    this.password = new PasswordService(join(opts.stateDir, 'passwords-acked.json'), opts.ports?.password ?? 8080);
    this.vpn = new VpnApplier({ stateDir: opts.stateDir });
    // A kernel backend changed health: reload the table (element changes only), serialised with applies.
    this.lb = new LbService(opts.stateDir, () => {
      const next = this.chain.then(async () => {
        if (!this.applied) return;
        try { await this.loadFirewall(this.applied); } catch (e) { this.health.lb = { ok: false, detail: `health change: ${(e as Error).message}` }; }
      });
      this.chain = next.catch(() => undefined);
    });
  }

  /**
   * Loads the firewall with the VPN's additions plus the LB's kernel commands in one transaction.
   * `doc`: the firewall document this apply already compiled; without it (an LB health change)
   * it is compiled again from the applied spec, through the same incremental compiler.
   */
  private async loadFirewall(spec: RouterSpec, doc?: NftDocument): Promise<void> {
    if (!spec.firewall && !this.firewall && !spec.lb) return;
    doc ??= this.fwCompiler.compile(withVpnFirewall(spec.firewall ?? emptyFirewallSpec(), this.appliedVpn)!);
    if (spec.lb) doc.nftables.push(...this.lb.nftCommands());
    this.firewall ??= new NftApplier();
    const before = this.lbInTable ? await this.firewall.counters().catch(() => undefined) : undefined;
    const r = await this.firewall.apply(doc);
    if (spec.lb) this.lb.keep(before, r.mode);
    this.lbInTable = !!spec.lb;
  }

  /** Per load-balancer rule: engine, backend state, accumulated counters. */
  async lbStatus(): Promise<LbStatus | undefined> {
    if (!this.applied?.lb) return undefined;
    const fw = this.lbInTable && this.firewall ? await this.firewall.counters().catch(() => undefined) : undefined;
    return this.lb.status(fw);
  }

  get appliedGeneration(): number | null { return this.appliedGen ?? null; }

  /** Applies serially: a second apply waits for the first (no interleaving). */
  apply(input: unknown): Promise<ApplyResult> {
    const next = this.chain.then(() => this.applyNow(input));
    this.chain = next.catch(() => undefined);
    return next;
  }

  /** Applies a VPN peers delta (applyVpnPeers) on the applied generation, serially. */
  applyVpnPeers(input: unknown): Promise<ApplyResult> {
    const next = this.chain.then(() => this.applyVpnPeersNow(input));
    this.chain = next.catch(() => undefined);
    return next;
  }

  private async applyVpnPeersNow(input: unknown): Promise<ApplyResult> {
    let t = performance.now();
    const timings: Record<string, number> = {};
    if (!deltaChecker.Check(input)) return { ok: false, code: 'invalid_spec', errors: [...deltaChecker.Errors(input)].slice(0, 50).map((e) => `${e.path || '/'}: ${e.message}`) };
    const m = input as VpnPeersDeltaMessage;
    timings.validate = ms(t);
    const gen = this.appliedGen;
    // Only on top of exactly what is applied; anything else is the full spec's business.
    if (gen === undefined || m.base !== gen || this.vpnCompilerGen !== gen || this.applied?.vpn?.id !== m.vpnId || this.vpnCompiler.vpnId !== m.vpnId) {
      return { ok: false, code: 'base_mismatch', generation: m.generation, errors: [`base generation ${m.base} (vpn ${m.vpnId}) is not what this router applied (${gen ?? 'nothing'}): send the whole spec`] };
    }
    if (m.generation <= m.base) return { ok: false, code: 'invalid_spec', errors: [`/generation: ${m.generation} is not above base ${m.base}`] };
    t = performance.now();
    let change: VpnChange;
    try { change = this.vpnCompiler.patch(m.vpnId, m.set, m.remove); } catch (e) {
      if (e instanceof VpnSpecError) return { ok: false, code: 'invalid_spec', errors: e.errors };
      throw e;
    }
    timings.compile = ms(t);
    this.vpnCompilerGen = m.generation;
    t = performance.now();
    try { await this.vpn.apply(change); this.health.vpn = { ok: true }; } catch (e) {
      this.health.vpn = { ok: false, detail: (e as Error).message };
      return { ok: false, code: 'apply_failed', generation: m.generation, errors: [`vpn: ${(e as Error).message}`] };
    }
    timings.vpn = ms(t);
    this.appliedGen = m.generation;
    this.appliedVpn = change.compiled;
    const changed: ServiceName[] = change.diff.set.length || change.diff.remove.length ? ['vpn'] : [];
    return { ok: true, generation: m.generation, changed, timings };
  }

  private async applyNow(input: unknown): Promise<ApplyResult> {
    let t = performance.now();
    const timings: Record<string, number> = {};
    const v = validateSpec(input);
    if (!v.ok) return { ok: false, code: 'invalid_spec', errors: v.errors };
    const spec = v.spec;
    timings.validate = ms(t);
    t = performance.now();
    // The firewall compiler is pure and validates its spec fully: run it before anything is
    // applied so an invalid rule refuses the whole generation (nothing half-applied).
    let vpnChange: VpnChange | undefined;
    if (spec.vpn) {
      try { vpnChange = this.vpnCompiler.compile(spec.vpn); } catch (e) {
        if (e instanceof VpnSpecError) return { ok: false, code: 'invalid_spec', errors: e.errors };
        throw e;
      }
      this.vpnCompilerGen = spec.generation;
    } else if (this.vpnCompiler.vpnId !== undefined) { this.vpnCompiler.reset(); this.vpnCompilerGen = undefined; }
    const vpn = vpnChange?.compiled;
    let fwDoc: NftDocument | undefined;
    if (spec.firewall) {
      try { fwDoc = this.fwCompiler.compile(withVpnFirewall(spec.firewall, vpn)); } catch (e) {
        if (e instanceof FirewallSpecError) return { ok: false, code: 'invalid_spec', errors: e.diagnostics.map((d) => `/firewall${d.path}: ${d.message}`) };
        throw e;
      }
    }
    const lbDiags = spec.lb ? validateLbSpec(spec.lb) : [];
    if (lbDiags.length) return { ok: false, code: 'invalid_spec', errors: lbDiags.map((d) => `${d.path}: ${d.message}`) };
    timings.compile = ms(t);
    const appliedGen = this.appliedGen;
    if (appliedGen !== undefined && spec.generation === appliedGen) { if (vpnChange) this.vpn.unchanged(vpnChange); return { ok: true, generation: spec.generation, changed: [] }; }
    if (appliedGen !== undefined && spec.generation < appliedGen) {
      return { ok: false, code: 'stale_generation', generation: spec.generation, errors: [`generation ${spec.generation} is older than applied ${appliedGen}`] };
    }
    t = performance.now();
    const changed = diffServices(this.applied, spec);
    // Peers are not in the VPN's slice: the compiler's diff says whether they changed.
    if (vpnChange && !changed.includes('vpn')) {
      if (vpnChange.diff.set.length || vpnChange.diff.remove.length) changed.push('vpn'); else this.vpn.unchanged(vpnChange);
    }
    timings.diff = ms(t);
    const errors: string[] = [];
    const step = async (name: ServiceName, fn: () => Promise<void>) => {
      if (!changed.includes(name)) return;
      try { await fn(); this.health[name] = { ok: true }; } catch (e) {
        this.health[name] = { ok: false, detail: (e as Error).message };
        errors.push(`${name}: ${(e as Error).message}`);
      }
    };
    await step('links', async () => { if (this.opts.manageLinks !== false) await applyLinks(spec, this.applied); });
    await step('lb', async () => {
      await this.lb.apply(spec.lb);
      if (!changed.includes('firewall')) await this.loadFirewall(spec, fwDoc);
    });
    await step('firewall', async () => {
      if (fwDoc && spec.lb) { await this.loadFirewall(spec, fwDoc); return; }
      if (fwDoc) { this.firewall ??= new NftApplier(); await this.firewall.apply(fwDoc); return; }
      // Firewall removed from the spec: an empty spec keeps the table but filters and NATs nothing.
      if (this.firewall) { await this.firewall.apply(compileFirewall({ version: 1, publicInterfaces: [], guestNetworks: [], publicIps: [], aclLists: [], securityGroups: [], securityGroupMembers: [] })); }
    });
    await step('dhcp', async () => {
      if (!this.leases) { this.leases = await LeaseStore.open(join(this.opts.stateDir, 'dhcp-leases.jsonl')); this.dhcp = new DhcpServer(this.leases, this.opts.ports?.dhcp ? { port: this.opts.ports.dhcp } : {}); }
      await this.dhcp!.apply(spec.guestNetworks.map(compileDhcpNetwork));
    });
    await step('dns', async () => {
      await this.dns.apply(spec.guestNetworks.map((g) => ({ address: g.gateway, zone: compileZone(g, spec.generation) })));
    });
    const table = compileVmData(spec.guestNetworks);
    await step('metadata', () => this.metadata.apply(table));
    await step('password', async () => {
      if (!this.applied) await this.password.load();
      await this.password.apply(table);
    });
    t = performance.now();
    await step('vpn', async () => { await this.vpn.apply(vpnChange); });
    timings.vpn = ms(t);
    if (errors.length) return { ok: false, code: 'apply_failed', generation: spec.generation, errors };
    this.applied = spec;
    this.appliedGen = spec.generation;
    this.appliedVpn = vpn;
    return { ok: true, generation: spec.generation, changed, timings };
  }

  /** Per-rule firewall counters, read back from the kernel (undefined: no firewall applied). */
  async firewallCounters(): Promise<RuleCounters | undefined> {
    if (!this.firewall || !this.applied?.firewall) return undefined;
    // Only rule ids: the LB's per-backend counters (<rule id>/<ip>) go in its own report.
    try { return Object.fromEntries(Object.entries(await this.firewall.counters()).filter(([k]) => !k.includes('/'))); } catch (e) { this.health.firewall = { ok: false, detail: `counters: ${(e as Error).message}` }; return undefined; }
  }

  report(): { appliedGeneration: number | null; health: Record<string, ServiceHealth>; counters: RouterCounters } {
    const health: Record<string, ServiceHealth> = { ...this.health };
    if (this.dhcp) health.dhcp = this.health.dhcp?.ok === false ? this.health.dhcp : this.dhcp.health();
    if (this.applied?.vpn && this.health.vpn?.ok !== false) health.vpn = this.vpn.health();
    if (this.applied) {
      for (const [k, s] of [['dns', this.dns], ['metadata', this.metadata], ['password', this.password]] as const) {
        health[k] = this.health[k]?.ok === false ? this.health[k]! : s.health();
      }
    }
    return {
      appliedGeneration: this.appliedGeneration,
      health,
      counters: { dhcp: { ...(this.dhcp?.counters ?? {}), leases: this.leases?.size ?? 0 }, dns: { ...this.dns.counters }, metadata: { ...this.metadata.counters }, password: { ...this.password.counters } },
    };
  }

  async close(): Promise<void> {
    await this.chain;
    await Promise.all([this.dhcp?.close(), this.dns.close(), this.metadata.close(), this.password.close(), this.lb.close()]);
    await this.leases?.close();
    // The table stays (the namespace goes with the appliance); the nft context is released.
    await this.firewall?.close();
    await this.vpn.close();
  }
}
