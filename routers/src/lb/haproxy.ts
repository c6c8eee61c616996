// The appliance's HAProxy: started only when a rule needs it (lbEngine = haproxy), in
// master-worker mode (-W) with a master CLI socket (-S). A change of members only (servers
// added to or removed from existing backends, nothing else different) goes through the runtime
// API: `add server` + `enable server` (+ `enable health`), and for a removal `disable server`
// (no new connections) then `del server` once its connections have finished — the worker keeps
// running, its counters and its other servers' check state. Any other change is a `reload`
// through the master CLI: the new worker takes the listening sockets from the old one over the
// admin socket (`expose-fd listeners`, the -x transfer) and the old worker finishes its
// connections, so no connection is refused or dropped. Backend health is HAProxy's own checks
// (a server goes down/up without a reload). Counters come from `show stat` of the runtime API
// and are accumulated across reloads (a new worker starts at zero).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { backendName, compileHaproxy, haproxyRules, pemOf, serverName } from '@flotilla/lb/haproxy';

/** A configuration's server lines by backend (`be_<id>/<server>` → the line's arguments) and the rest. */
export function splitServers(cfg: string): { rest: string; servers: Map<string, string> } {
  const rest: string[] = [];
  const servers = new Map<string, string>();
  let backend = '';
  for (const line of cfg.split('\n')) {
    if (line.startsWith('backend ')) backend = line.slice(8).trim();
    else if (!line.startsWith(' ')) backend = '';
    const m = /^    server (\S+) (.*)$/.exec(line);
    if (m && backend) { servers.set(`${backend}/${m[1]}`, `${m[1]} ${m[2]}`); continue; }
    rest.push(line);
  }
  return { rest: rest.join('\n'), servers };
}

/**
 * The runtime commands that turn `from` into `to`, or undefined when more than members changed
 * (a reload is needed). A server whose line changed (same name) is a reload too.
 */
export function memberDelta(from: string, to: string): { add: Array<[string, string]>; del: string[] } | undefined {
  const a = splitServers(from), b = splitServers(to);
  if (a.rest !== b.rest) return undefined;
  const add: Array<[string, string]> = [], del: string[] = [];
  for (const [k, line] of b.servers) {
    const old = a.servers.get(k);
    if (old === undefined) add.push([k, line]);
    else if (old !== line) return undefined;
  }
  for (const k of a.servers.keys()) if (!b.servers.has(k)) del.push(k);
  return { add, del };
}
import type { LbSpec } from '@flotilla/protocol/lb';

export const HAPROXY_BIN = ['/usr/sbin/haproxy', '/usr/bin/haproxy'].find((p) => existsSync(p)) ?? 'haproxy';
const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));

/** One line of `show stat` (CSV), the fields we use. */
export interface StatRow { pxname: string; svname: string; stot: number; bin: number; bout: number; status: string }

/** Sends one command to a HAProxy CLI socket and returns the whole answer. */
export function cli(path: string, command: string, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = net.createConnection(path);
    let out = '';
    const timer = setTimeout(() => { c.destroy(); reject(new Error(`haproxy cli ${command}: timeout`)); }, timeoutMs);
    c.setEncoding('utf8');
    // Half-close after the command: the master CLI answers and closes only then.
    c.on('connect', () => c.end(`${command}\n`));
    c.on('data', (d: string) => { out += d; });
    c.on('error', (e) => { clearTimeout(timer); reject(e); });
    c.on('close', () => { clearTimeout(timer); resolve(out); });
  });
}

export function parseStat(csv: string): StatRow[] {
  const lines = csv.split('\n').filter((l) => l.trim());
  if (!lines.length || !lines[0]!.startsWith('# ')) return [];
  const head = lines[0]!.slice(2).split(',');
  const ix = (n: string) => head.indexOf(n);
  return lines.slice(1).map((l) => {
    const f = l.split(',');
    return { pxname: f[ix('pxname')]!, svname: f[ix('svname')]!, stot: Number(f[ix('stot')] || 0), bin: Number(f[ix('bin')] || 0), bout: Number(f[ix('bout')] || 0), status: f[ix('status')] ?? '' };
  });
}

export interface HaproxyRuleStatus {
  sessions: number;
  bytes: number;
  backends: Record<string, 'Active' | 'Inactive' | 'Unknown'>;
  members: Record<string, { packets: number; bytes: number; sessions: number }>;
}

export class Haproxy {
  private proc: ChildProcess | undefined;
  private config = '';
  /** Counters of workers that were replaced (by rule id / server): added to the live ones. */
  private base = new Map<string, { sessions: number; bytes: number }>();
  readonly dir: string;
  readonly socket: string;
  readonly master: string;
  reloads = 0;
  /** Changes made through the runtime API (no reload, same worker). */
  runtimeChanges = 0;
  /** Removed servers still draining (`be/server` → retry timer): deleted when their connections end. */
  private readonly draining = new Map<string, NodeJS.Timeout>();

  constructor(stateDir: string) {
    this.dir = join(stateDir, 'haproxy');
    this.socket = join(this.dir, 'admin.sock');
    this.master = join(this.dir, 'master.sock');
  }

  get running(): boolean { return !!this.proc && this.proc.exitCode === null; }

  /** Brings HAProxy in line with the spec: stop (no rule needs it), start, reload or nothing. */
  async apply(spec: LbSpec | undefined): Promise<'stopped' | 'started' | 'reloaded' | 'runtime' | 'unchanged' | 'idle'> {
    const rules = spec ? haproxyRules(spec) : [];
    if (!rules.length) {
      if (!this.proc) return 'idle';
      await this.stop();
      return 'stopped';
    }
    mkdirSync(join(this.dir, 'certs'), { recursive: true, mode: 0o700 });
    for (const r of rules) {
      const pem = pemOf(r);
      if (pem) writeFileSync(join(this.dir, 'certs', `${r.id}.pem`), pem, { mode: 0o600 });
    }
    const cfg = compileHaproxy({ rules }, { socket: this.socket, certDir: join(this.dir, 'certs') });
    if (this.running && cfg === this.config) return 'unchanged';
    const file = join(this.dir, 'haproxy.cfg');
    writeFileSync(`${file}.new`, cfg, { mode: 0o600 });
    await check(`${file}.new`);
    writeFileSync(file, cfg, { mode: 0o600 });
    if (!this.running) {
      await this.start(file);
      this.config = cfg;
      return 'started';
    }
    const delta = memberDelta(this.config, cfg);
    if (delta && await this.runtime(delta)) {
      this.config = cfg;
      this.runtimeChanges++;
      return 'runtime';
    }
    // Keep what the old worker counted: the new one starts from zero.
    this.stopDraining();
    await this.remember();
    const pidOf = async () => /Pid: (\d+)/.exec(await cli(this.socket, 'show info', 2000).catch(() => ''))?.[1];
    const before = await pidOf();
    const answer = await cli(this.master, 'reload').catch((e: Error) => `failed: ${e.message}`);
    if (/fail/i.test(answer)) throw new Error(`haproxy reload: ${answer.trim()}`);
    this.config = cfg;
    this.reloads++;
    // The reload is done when the admin socket answers from a new worker (the master answers first).
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      const now = await pidOf();
      if (now && now !== before) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    return 'reloaded';
  }

  /**
   * Members through the runtime API. False when HAProxy refused a command (the caller reloads:
   * the configuration file already says what is wanted).
   */
  private async runtime(delta: { add: Array<[string, string]>; del: string[] }): Promise<boolean> {
    const ok = async (cmd: string, expect: RegExp) => expect.test(await cli(this.socket, cmd).catch((e: Error) => e.message));
    for (const [key, line] of delta.add) {
      const [be] = key.split('/');
      // A server re-added while it still drained: it is already there, only disabled.
      const t = this.draining.get(key);
      if (t) {
        clearTimeout(t);
        this.draining.delete(key);
        if (!await ok(`enable server ${key}`, /^\s*$/)) return false;
        continue;
      }
      // New servers start in maintenance: enable them (and their checks) once added.
      if (!await ok(`add server ${be}/${line}`, /New server registered/)) return false;
      if (!await ok(`enable server ${key}`, /^\s*$/)) return false;
      if (/ check( |$)/.test(line) && !await ok(`enable health ${key}`, /^\s*$/)) return false;
    }
    for (const key of delta.del) {
      // No new connections from now on; the established ones finish (nothing is cut).
      if (!await ok(`disable server ${key}`, /^\s*$/)) return false;
      this.drain(key);
    }
    return true;
  }

  /** Deletes a disabled server once it has no connections (HAProxy refuses before), retrying. */
  private drain(key: string): void {
    const attempt = async () => {
      if (!this.draining.has(key)) return;
      // Its counters go with it: keep them (per-backend counters survive the removal).
      const row = (await this.stats().catch(() => [])).find((s) => `${s.pxname}/${s.svname}` === key);
      const answer = await cli(this.socket, `del server ${key}`).catch((e: Error) => e.message);
      if (/Server deleted/.test(answer)) {
        this.draining.delete(key);
        if (row) this.add(key, row);
        return;
      }
      if (this.draining.has(key)) this.draining.set(key, setTimeout(() => void attempt(), 500).unref());
    };
    this.draining.set(key, setTimeout(() => void attempt(), 0).unref());
  }

  private stopDraining(): void {
    for (const t of this.draining.values()) clearTimeout(t);
    this.draining.clear();
  }

  /** Live HAProxy worker's PID (the runtime API answers from it), undefined when none. */
  async workerPid(): Promise<number | undefined> {
    const m = /Pid: (\d+)/.exec(await cli(this.socket, 'show info', 2000).catch(() => ''));
    return m ? Number(m[1]) : undefined;
  }

  private async start(file: string): Promise<void> {
    rmSync(this.master, { force: true });
    // setpriv --pdeathsig: HAProxy's master dies with the appliance even when the appliance is
    // SIGKILLed (its workers follow their master), so no HAProxy outlives its router.
    const argv = ['-W', '-S', `${this.master},mode,600`, '-f', file, '-db'];
    const p = SETPRIV ? spawn(SETPRIV, ['--pdeathsig', 'KILL', '--', HAPROXY_BIN, ...argv], { stdio: ['ignore', 'ignore', 'pipe'] })
      : spawn(HAPROXY_BIN, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
    const kill = () => { try { p.kill('SIGKILL'); } catch { /* gone */ } };
    process.once('exit', kill);
    p.once('exit', () => process.removeListener('exit', kill));
    let err = '';
    p.stderr!.setEncoding('utf8');
    p.stderr!.on('data', (d: string) => { err = (err + d).slice(-4000); });
    this.proc = p;
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      if (p.exitCode !== null) throw new Error(`haproxy exited (${p.exitCode}): ${err.trim()}`);
      if (existsSync(this.socket) && existsSync(this.master)) {
        const ok = await cli(this.socket, 'show info').then((s) => s.includes('Pid:')).catch(() => false);
        if (ok) return;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`haproxy did not start: ${err.trim()}`);
  }

  async stop(): Promise<void> {
    const p = this.proc;
    this.proc = undefined;
    this.config = '';
    this.stopDraining();
    if (!p || p.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => { try { p.kill('SIGKILL'); } catch { /* gone */ } }, 5000);
      p.once('exit', () => { clearTimeout(t); resolve(); });
      p.kill('SIGUSR1'); // soft stop: finish connections, then exit
    });
  }

  private async stats(): Promise<StatRow[]> {
    if (!this.running) return [];
    return parseStat(await cli(this.socket, 'show stat'));
  }

  private async remember(): Promise<void> {
    for (const s of await this.stats().catch(() => [])) this.add(`${s.pxname}/${s.svname}`, s);
  }

  private add(k: string, s: StatRow): void {
    const b = this.base.get(k) ?? { sessions: 0, bytes: 0 };
    this.base.set(k, { sessions: b.sessions + s.stot, bytes: b.bytes + s.bin + s.bout });
  }

  /**
   * Per rule: sessions and bytes (accumulated across reloads) and each backend's state
   * (HAProxy's check result: UP → Active, DOWN → Inactive, no check → Active).
   */
  async status(spec: LbSpec): Promise<Map<string, HaproxyRuleStatus>> {
    const rows = await this.stats().catch(() => []);
    const out = new Map<string, HaproxyRuleStatus>();
    for (const r of haproxyRules(spec)) {
      const be = backendName(r.id);
      const row = rows.find((x) => x.pxname === be && x.svname === 'BACKEND');
      const b = this.base.get(`${be}/BACKEND`) ?? { sessions: 0, bytes: 0 };
      const backends: Record<string, 'Active' | 'Inactive' | 'Unknown'> = {};
      for (const m of r.backends) {
        const s = rows.find((x) => x.pxname === be && x.svname === serverName(m.vmId, m.ip));
        backends[m.ip] = !s ? 'Unknown' : /^(UP|no check)/.test(s.status) ? 'Active' : /DOWN|MAINT/.test(s.status) ? 'Inactive' : 'Unknown';
      }
      // Per member: its server's counters, live and of earlier workers / its removal.
      const members: HaproxyRuleStatus['members'] = {};
      const names = new Set<string>([...rows.filter((x) => x.pxname === be && x.svname !== 'BACKEND' && x.svname !== 'FRONTEND').map((x) => x.svname),
        ...[...this.base.keys()].filter((k) => k.startsWith(`${be}/`)).map((k) => k.slice(be.length + 1)).filter((n) => n !== 'BACKEND' && n !== 'FRONTEND')]);
      for (const n of names) {
        const ip = /_(\d+-\d+-\d+-\d+)$/.exec(n)?.[1]?.replace(/-/g, '.');
        if (!ip) continue;
        const live = rows.find((x) => x.pxname === be && x.svname === n);
        const kept = this.base.get(`${be}/${n}`) ?? { sessions: 0, bytes: 0 };
        const m = members[ip] ?? { packets: 0, bytes: 0, sessions: 0 };
        members[ip] = { packets: 0, sessions: m.sessions + kept.sessions + (live?.stot ?? 0), bytes: m.bytes + kept.bytes + (live ? live.bin + live.bout : 0) };
      }
      out.set(r.id, { sessions: b.sessions + (row?.stot ?? 0), bytes: b.bytes + (row ? row.bin + row.bout : 0), backends, members });
    }
    return out;
  }

  configText(): string { return this.config || (existsSync(join(this.dir, 'haproxy.cfg')) ? readFileSync(join(this.dir, 'haproxy.cfg'), 'utf8') : ''); }
}

/** `haproxy -c`: a configuration HAProxy refuses never replaces the running one. */
function check(file: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn(HAPROXY_BIN, ['-c', '-q', '-f', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    p.stdout!.on('data', (d) => { err += d; });
    p.stderr!.on('data', (d) => { err += d; });
    p.on('error', reject);
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`haproxy refused the configuration: ${err.trim().split('\n').slice(0, 5).join('; ')}`))));
  });
}
