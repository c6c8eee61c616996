// The appliance's load balancer: kernel rules (lb/ compiles them into the firewall's document,
// applied in the firewall's transaction) with health checks run here, and HAProxy for the rest.
// A kernel backend that fails `unhealthy` checks in a row leaves its rule's slot map (the
// firewall applier's element fast path: no rule or chain changes, counters kept); it returns
// after `healthy` successes. Counters are accumulated across full reloads of the table.
import net from 'node:net';
import { compileLbNft, kernelRules, slotMembers } from '@flotilla/lb/nft';
import { lbEngine, type LbRule, type LbSpec, type LbStatus } from '@flotilla/protocol/lb';
import type { RuleCounters } from '@flotilla/protocol/firewall';
import type { Command } from '@flotilla/firewall/nft/types';
import { Haproxy } from './haproxy.ts';

interface Probe { timer: NodeJS.Timeout; ok: number; bad: number; up: boolean; busy: boolean }

/** One check: TCP connect, or an HTTP/1.0 GET whose status must be 2xx or 3xx. */
export function probe(ip: string, port: number, timeoutMs: number, path?: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createConnection({ host: ip, port });
    let buf = '';
    const done = (ok: boolean) => { clearTimeout(t); s.destroy(); resolve(ok); };
    const t = setTimeout(() => done(false), timeoutMs);
    s.on('error', () => done(false));
    s.on('connect', () => {
      if (!path) { done(true); return; }
      s.write(`GET ${path} HTTP/1.0\r\nHost: ${ip}\r\nUser-Agent: flotilla-lb-check\r\n\r\n`);
    });
    s.setEncoding('latin1');
    s.on('data', (d: string) => {
      buf += d;
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(buf);
      if (m) done(m[1]![0] === '2' || m[1]![0] === '3');
      else if (buf.length > 64) done(false);
    });
    s.on('end', () => done(false));
  });
}

export class LbService {
  readonly haproxy: Haproxy;
  private spec: LbSpec = { rules: [] };
  /** rule id → backend IPs that are down (kernel rules). */
  private readonly down = new Map<string, Set<string>>();
  private readonly probes = new Map<string, Probe>();
  /** Kernel counters of tables replaced by a full apply (rule id → sum). */
  private readonly base = new Map<string, { packets: number; bytes: number }>();
  /** Per backend (memberKey → sum): counters of slot elements that were replaced or removed. */
  private readonly memberBase = new Map<string, { packets: number; bytes: number }>();
  /** Slot mark → member key: of the last nftCommands() and of the table last applied. */
  private pendingSlots = new Map<number, string>();
  private appliedSlots = new Map<number, string>();

  /** `onHealth` re-applies the firewall document (called when a kernel backend changes state). */
  constructor(stateDir: string, private readonly onHealth: () => void) {
    this.haproxy = new Haproxy(stateDir);
  }

  /** The LB's nft commands for the current spec and health. */
  nftCommands(): Command[] {
    const cmds = compileLbNft(this.spec, this.down);
    this.pendingSlots = slotMembers(cmds);
    return cmds;
  }

  get hasKernelRules(): boolean { return kernelRules(this.spec).length > 0; }

  /** New spec: health probes follow it, HAProxy follows it. */
  async apply(spec: LbSpec | undefined): Promise<void> {
    this.spec = spec ?? { rules: [] };
    const ids = new Set(this.spec.rules.map((r) => r.id));
    for (const k of this.memberBase.keys()) if (!ids.has(k.slice(0, k.indexOf('/')))) this.memberBase.delete(k);
    const wanted = new Map<string, { r: LbRule; ip: string }>();
    for (const r of kernelRules(this.spec)) if (r.healthCheck) for (const b of r.backends) wanted.set(`${r.id}|${b.ip}|${r.privatePort}|${JSON.stringify(r.healthCheck)}`, { r, ip: b.ip });
    for (const [k, p] of this.probes) if (!wanted.has(k)) { clearInterval(p.timer); this.probes.delete(k); }
    // Backends no longer in a rule (or rules gone) leave the down sets.
    for (const [id, set] of this.down) {
      const r = this.spec.rules.find((x) => x.id === id);
      if (!r?.healthCheck) { this.down.delete(id); continue; }
      for (const ip of set) if (!r.backends.some((b) => b.ip === ip)) set.delete(ip);
    }
    for (const [k, { r, ip }] of wanted) if (!this.probes.has(k)) this.startProbe(k, r, ip);
    await this.haproxy.apply(this.spec);
  }

  private startProbe(key: string, r: LbRule, ip: string): void {
    const hc = r.healthCheck!;
    const p: Probe = { ok: 0, bad: 0, up: !this.down.get(r.id)?.has(ip), busy: false, timer: setInterval(() => void run(), hc.intervalS * 1000) };
    p.timer.unref();
    const run = async () => {
      if (p.busy) return;
      p.busy = true;
      const ok = await probe(ip, r.privatePort, hc.timeoutS * 1000, hc.pingPath);
      p.busy = false;
      if (!this.probes.has(key)) return;
      if (ok) { p.ok++; p.bad = 0; } else { p.bad++; p.ok = 0; }
      const set = this.down.get(r.id) ?? new Set<string>();
      if (p.up && p.bad >= hc.unhealthy) { p.up = false; set.add(ip); this.down.set(r.id, set); this.onHealth(); }
      else if (!p.up && p.ok >= hc.healthy) { p.up = true; set.delete(ip); this.onHealth(); }
    };
    this.probes.set(key, p);
    void run();
  }

  /**
   * Called after each table load with the counters read just before it (undefined: the table had
   * no LB part) and the applier's mode. A full replace resets every counter; an element update
   * replaces the slot elements whose backend changed (their comment names it).
   */
  keep(before: RuleCounters | undefined, mode: string): void {
    const prev = this.appliedSlots;
    this.appliedSlots = this.pendingSlots;
    if (!before) return;
    const gone = new Set<string>();
    for (const [mark, key] of prev) if (mode === 'full' || this.appliedSlots.get(mark) !== key) gone.add(key);
    for (const key of gone) {
      const c = before[key];
      if (!c) continue;
      const b = this.memberBase.get(key) ?? { packets: 0, bytes: 0 };
      this.memberBase.set(key, { packets: b.packets + c.packets, bytes: b.bytes + c.bytes });
    }
    if (mode !== 'full') return;
    for (const r of kernelRules(this.spec)) {
      const c = before[r.id];
      if (!c) continue;
      const b = this.base.get(r.id) ?? { packets: 0, bytes: 0 };
      this.base.set(r.id, { packets: b.packets + c.packets, bytes: b.bytes + c.bytes });
    }
  }

  async status(fw: RuleCounters | undefined): Promise<LbStatus> {
    const out: LbStatus = {};
    const hp = await this.haproxy.status(this.spec);
    for (const r of this.spec.rules) {
      if (lbEngine(r) === 'haproxy') {
        const h = hp.get(r.id);
        out[r.id] = { engine: 'haproxy', backends: h?.backends ?? {}, packets: 0, bytes: h?.bytes ?? 0, sessions: h?.sessions ?? 0, members: h?.members ?? {} };
        continue;
      }
      const b = this.base.get(r.id) ?? { packets: 0, bytes: 0 };
      const c = fw?.[r.id] ?? { packets: 0, bytes: 0 };
      const down = this.down.get(r.id);
      const backends: Record<string, 'Active' | 'Inactive' | 'Unknown'> = {};
      for (const m of r.backends) backends[m.ip] = down?.has(m.ip) ? 'Inactive' : 'Active';
      // Per backend: kept counters of its replaced slot elements plus the live ones (connections
      // = first packets, as for the rule).
      const members: Record<string, { packets: number; bytes: number; sessions: number }> = {};
      const prefix = `${r.id}/`;
      for (const src of [this.memberBase, new Map(Object.entries(fw ?? {}))]) {
        for (const [k, v] of src) {
          if (!k.startsWith(prefix)) continue;
          const ip = k.slice(prefix.length);
          const m = members[ip] ?? { packets: 0, bytes: 0, sessions: 0 };
          members[ip] = { packets: m.packets + v.packets, bytes: m.bytes + v.bytes, sessions: m.sessions + v.packets };
        }
      }
      out[r.id] = { engine: 'kernel', backends, packets: b.packets + c.packets, bytes: b.bytes + c.bytes, sessions: b.packets + c.packets, members };
    }
    return out;
  }

  async close(): Promise<void> {
    for (const p of this.probes.values()) clearInterval(p.timer);
    this.probes.clear();
    await this.haproxy.stop();
  }
}
