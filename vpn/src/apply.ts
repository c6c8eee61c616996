// The applier: brings the router's WireGuard device in line with a CompiledVpn. The device is
// served by wireguard-go (a child process of the appliance, in its namespace); it is configured
// through its UAPI socket, and peers are added, changed and removed ONE BY ONE from the diff
// against what was applied — never `replace_peers`, so 10,000 users cost nothing per change and
// every other peer keeps its session. What was applied (key, port, peers) is journalled in the
// router's state directory, which the host keeps under the network's state key.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { deviceOf, diffPeers, uapi, type CompiledVpn, type VpnChange } from './compile.ts';
import { hexToKey } from './keys.ts';
import { UapiClient, socketPath } from './uapi.ts';

const run = promisify(execFile);

export interface VpnApplierOptions {
  /** Directory kept across router re-creation (the journal lives there). */
  stateDir: string;
  /** The userspace daemon (Debian's wireguard-go). */
  wireguardGo?: string;
  /** How long a fresh daemon may take to open its UAPI socket. */
  startTimeoutMs?: number;
}

interface Applied { device: ReturnType<typeof deviceOf>; peers: Map<string, string> }

export interface VpnApplyResult { added: number; removed: number; device: boolean }

/** The journal: one JSON object a line — a snapshot {device, peers}, then {set:[k,ip]} / {rm:k}. */
export class VpnJournal {
  private lines = 0;
  constructor(readonly path: string) {}

  load(): Applied | undefined {
    if (!existsSync(this.path)) return undefined;
    let cur: Applied | undefined;
    const text = readFileSync(this.path, 'utf8');
    for (const line of text.split('\n')) {
      if (!line) continue;
      let r: { device?: Applied['device']; peers?: Array<[string, string]>; set?: [string, string]; rm?: string };
      try { r = JSON.parse(line); } catch { break; } // a torn last line: what came before stands
      this.lines++;
      if (r.device) cur = { device: r.device, peers: new Map(r.peers ?? []) };
      else if (cur && r.set) cur.peers.set(r.set[0], r.set[1]);
      else if (cur && r.rm) cur.peers.delete(r.rm);
    }
    return cur;
  }

  snapshot(a: Applied): void {
    mkdirSync(join(this.path, '..'), { recursive: true });
    const tmp = `${this.path}.tmp`;
    writeFileSync(tmp, JSON.stringify({ device: a.device, peers: [...a.peers] }) + '\n', { mode: 0o600 });
    renameSync(tmp, this.path);
    this.lines = 1;
  }

  /** Appends peer changes; rewrites a snapshot when the journal grew past twice the live set. */
  record(a: Applied, set: Array<[string, string]>, rm: string[]): void {
    if (this.lines + set.length + rm.length > 2 * a.peers.size + 1000) { this.snapshot(a); return; }
    const text = set.map((s) => JSON.stringify({ set: s })).concat(rm.map((k) => JSON.stringify({ rm: k }))).join('\n');
    if (text) { appendFileSync(this.path, text + '\n'); this.lines += set.length + rm.length; }
  }

  clear(): void { rmSync(this.path, { force: true }); this.lines = 0; }
}

export class VpnApplier {
  private applied: Applied | undefined;
  private daemon: ChildProcess | undefined;
  private client: UapiClient | undefined;
  private readonly journal: VpnJournal;
  private lastError: string | undefined;
  /** The compiler revision whose peers `applied` holds (its diffs apply directly), if any. */
  private appliedRev: number | undefined;

  constructor(private readonly opts: VpnApplierOptions) {
    this.journal = new VpnJournal(join(opts.stateDir, 'vpn-journal.jsonl'));
  }

  /** The server key and peers last applied (from the journal), e.g. after a re-creation. */
  persisted(): Applied | undefined { return this.journal.load(); }

  get peerCount(): number { return this.applied?.peers.size ?? 0; }

  /**
   * `c`: a VpnCompiler's change (its diff is used as is when this applier holds exactly the
   * compiler's previous result: O(changed)) or a compiled VPN (diffed against what was applied:
   * O(peers)); undefined stops the device.
   */
  async apply(c: VpnChange | CompiledVpn | undefined): Promise<VpnApplyResult> {
    try {
      const r = await this.applyNow(c);
      this.lastError = undefined;
      return r;
    } catch (e) { this.lastError = (e as Error).message; throw e; }
  }

  private async applyNow(change: VpnChange | CompiledVpn | undefined): Promise<VpnApplyResult> {
    const c = change && 'compiled' in change ? change.compiled : change;
    const hinted = change && 'compiled' in change ? change : undefined;
    let rev = this.appliedRev;
    this.appliedRev = undefined;
    if (!c) {
      const had = this.applied !== undefined;
      await this.stop();
      this.journal.clear();
      this.applied = undefined;
      return { added: 0, removed: 0, device: had };
    }
    const device = deviceOf(c);
    if (this.applied && this.applied.device.interface !== device.interface) { await this.stop(); this.applied = undefined; }
    let deviceChanged = false;
    if (!this.client?.isOpen) {
      const adopted = await this.connectOrStart(device.interface);
      // A daemon that outlived its appliance process (restart): diff against what it holds.
      this.applied = adopted ? await this.live(device) : undefined;
      rev = undefined; // what the daemon holds now is diffed, not assumed
    }
    const client = this.client!;
    if (!this.applied || this.applied.device.privateKey !== device.privateKey || this.applied.device.listenPort !== device.listenPort) {
      await client.set(uapi.device(c));
      deviceChanged = true;
    }
    if (!this.applied || this.applied.device.address !== device.address) {
      await run('ip', ['address', 'flush', 'dev', device.interface]);
      await run('ip', ['address', 'add', device.address, 'dev', device.interface]);
      await run('ip', ['link', 'set', device.interface, 'up']);
      deviceChanged = true;
    }
    // The compiler's diff when it was computed against what this applier holds; else a diff
    // against the applied peers (first apply, an adopted daemon, a failed earlier apply).
    const diff = hinted && this.applied && rev !== undefined && rev === hinted.base ? hinted.diff : diffPeers(this.applied?.peers, c.peers);
    // The applied set is this applier's own map, changed in place peer by peer (it always says
    // what the daemon holds, even when a UAPI operation fails half-way).
    const first = !this.applied;
    if (!this.applied) this.applied = { device, peers: new Map() };
    const peers = this.applied.peers;
    // Removals first: a key moving to another address in one spec frees its address first.
    for (const k of diff.remove) { await client.set(uapi.removePeer(k)); peers.delete(k); }
    for (const [k, ip] of diff.set) { await client.set(uapi.setPeer(k, ip)); peers.set(k, ip); }
    this.applied.device = device;
    if (deviceChanged || first) this.journal.snapshot(this.applied); else this.journal.record(this.applied, diff.set, diff.remove);
    this.appliedRev = hinted?.rev;
    return { added: diff.set.length, removed: diff.remove.length, device: deviceChanged };
  }

  /** A compiler change with no peer or device change that was not applied: this applier still
   *  holds its result, so the next change's diff applies directly. */
  unchanged(change: VpnChange): void {
    if (this.appliedRev === change.base && !change.diff.set.length && !change.diff.remove.length) this.appliedRev = change.rev;
  }

  /** The device and peers a live daemon holds (address: as journalled, else unknown → re-set). */
  private async live(device: Applied['device']): Promise<Applied> {
    const g = await this.client!.get();
    const journalled = this.journal.load();
    const peers = new Map<string, string>();
    for (const p of g.peers) {
      const ips = p.allowed_ip as string[];
      if (ips.length === 1 && ips[0]!.endsWith('/32')) peers.set(hexToKey(p.public_key as string), ips[0]!.slice(0, -3));
      else await this.client!.set(uapi.removePeer(hexToKey(p.public_key as string))); // not ours: one address per peer
    }
    return {
      device: {
        interface: device.interface, listenPort: Number(g.device.listen_port ?? 0), privateKey: g.device.private_key ? hexToKey(g.device.private_key) : '',
        address: journalled?.device.interface === device.interface ? journalled.device.address : '',
      },
      peers,
    };
  }

  /** Connects to a running daemon of this interface (true) or starts one (false). */
  private async connectOrStart(iface: string): Promise<boolean> {
    const path = socketPath(iface);
    if (existsSync(path)) {
      try { this.client = await UapiClient.connect(path, 500); return true; } catch { /* stale socket: wireguard-go replaces it */ }
    }
    const child = spawn(this.opts.wireguardGo ?? 'wireguard-go', ['-f', iface], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, LOG_LEVEL: 'error', WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD: '1' },
    });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-2000); });
    this.daemon = child;
    const until = Date.now() + (this.opts.startTimeoutMs ?? 5000);
    for (;;) {
      if (child.exitCode !== null) throw new Error(`wireguard-go ${iface} exited (${child.exitCode}): ${stderr.trim().split('\n').pop() ?? ''}`);
      try { this.client = await UapiClient.connect(path, 500); return false; } catch { /* not yet */ }
      if (Date.now() > until) { child.kill('SIGKILL'); throw new Error(`wireguard-go ${iface} did not open ${path}`); }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Stops the daemon this applier started (its interface goes with it). */
  private async stop(): Promise<void> {
    this.client?.close();
    this.client = undefined;
    const d = this.daemon;
    this.daemon = undefined;
    if (d && d.exitCode === null) {
      const gone = new Promise((r) => d.once('exit', r));
      d.kill('SIGTERM');
      await Promise.race([gone, new Promise((r) => setTimeout(r, 2000))]);
      if (d.exitCode === null) d.kill('SIGKILL');
    }
  }

  /** Live peer statistics (last handshake, bytes) by public key. */
  async stats(): Promise<Map<string, { lastHandshake: number; rx: number; tx: number }>> {
    const out = new Map<string, { lastHandshake: number; rx: number; tx: number }>();
    if (!this.client?.isOpen) return out;
    for (const p of (await this.client.get()).peers) {
      out.set(hexToKey(p.public_key as string), { lastHandshake: Number(p.last_handshake_time_sec ?? 0), rx: Number(p.rx_bytes ?? 0), tx: Number(p.tx_bytes ?? 0) });
    }
    return out;
  }

  health(): { ok: boolean; detail?: string } {
    if (this.lastError) return { ok: false, detail: this.lastError };
    if (this.applied && !this.client?.isOpen) return { ok: false, detail: 'wireguard-go is not running' };
    return this.applied ? { ok: true, detail: `${this.applied.device.interface}: ${this.applied.peers.size} peers` } : { ok: true };
  }

  /** Closes the control connection and stops the daemon; the journal stays (state dir). */
  async close(): Promise<void> { await this.stop(); }
}
