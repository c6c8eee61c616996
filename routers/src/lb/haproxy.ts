// The appliance's HAProxy: started only when a rule needs it (lbEngine = haproxy), in
// master-worker mode (-W) with a master CLI socket (-S). A changed configuration is a `reload`
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

export class Haproxy {
  private proc: ChildProcess | undefined;
  private config = '';
  /** Counters of workers that were replaced (by rule id / server): added to the live ones. */
  private base = new Map<string, { sessions: number; bytes: number }>();
  readonly dir: string;
  readonly socket: string;
  readonly master: string;
  reloads = 0;

  constructor(stateDir: string) {
    this.dir = join(stateDir, 'haproxy');
    this.socket = join(this.dir, 'admin.sock');
    this.master = join(this.dir, 'master.sock');
  }

  get running(): boolean { return !!this.proc && this.proc.exitCode === null; }

  /** Brings HAProxy in line with the spec: stop (no rule needs it), start, reload or nothing. */
  async apply(spec: LbSpec | undefined): Promise<'stopped' | 'started' | 'reloaded' | 'unchanged' | 'idle'> {
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
    // Keep what the old worker counted: the new one starts from zero.
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
    for (const s of await this.stats().catch(() => [])) {
      const k = `${s.pxname}/${s.svname}`;
      const b = this.base.get(k) ?? { sessions: 0, bytes: 0 };
      this.base.set(k, { sessions: b.sessions + s.stot, bytes: b.bytes + s.bin + s.bout });
    }
  }

  /**
   * Per rule: sessions and bytes (accumulated across reloads) and each backend's state
   * (HAProxy's check result: UP → Active, DOWN → Inactive, no check → Active).
   */
  async status(spec: LbSpec): Promise<Map<string, { sessions: number; bytes: number; backends: Record<string, 'Active' | 'Inactive' | 'Unknown'> }>> {
    const rows = await this.stats().catch(() => []);
    const out = new Map<string, { sessions: number; bytes: number; backends: Record<string, 'Active' | 'Inactive' | 'Unknown'> }>();
    for (const r of haproxyRules(spec)) {
      const be = backendName(r.id);
      const row = rows.find((x) => x.pxname === be && x.svname === 'BACKEND');
      const b = this.base.get(`${be}/BACKEND`) ?? { sessions: 0, bytes: 0 };
      const backends: Record<string, 'Active' | 'Inactive' | 'Unknown'> = {};
      for (const m of r.backends) {
        const s = rows.find((x) => x.pxname === be && x.svname === serverName(m.vmId, m.ip));
        backends[m.ip] = !s ? 'Unknown' : /^(UP|no check)/.test(s.status) ? 'Active' : /DOWN|MAINT/.test(s.status) ? 'Inactive' : 'Unknown';
      }
      out.set(r.id, { sessions: b.sessions + (row?.stot ?? 0), bytes: b.bytes + (row ? row.bin + row.bout : 0), backends });
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
