// bench:console — the console proxy (served by the manager, its own process here, so its RSS is
// its own; agents run in this process). Loopback and lab namespaces only.
//  - open_ms: createConsoleEndpoint → the first prompt on the page (real chromium, a runc guest
//    on the netns driver), median of 3;
//  - keystroke_echo_p50_ms: a keystroke typed into xterm (term.input, as a key press) until the
//    guest's echo is parsed onto the page, 100 keys;
//  - sessions_100_rss_mb / sessions_100_echo_p99_ms: 100 concurrent sessions (WebSocket clients,
//    not tabs) to 100 VMs of a Simulator host whose consoles are ptys echoed by `cat` (socat), 20
//    keys each at once; the manager's RSS while they are open, and the echo p99.
// Peer, same run: the same echo read directly from the pty by a process on the host (no proxy,
// no agent socket) — the floor any console path pays — as direct_echo_p50_ms and the ratio.
// Ends with: console: open_ms= keystroke_echo_p50_ms= sessions_100_rss_mb= sessions_100_echo_p99_ms= …
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, constants as fsc, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tty from 'node:tty';
import WebSocket from 'ws';
import { chromium } from 'playwright-core';
import { SimulatorDriver } from '@flotilla/agent';
import { keysFor } from '@flotilla/manager/client';
import { Lab } from '../src/lab.ts';
import { addHost, createZone, netnsHosts, waitFor, type Cloud } from '../src/cloud.ts';

const MAIN = new URL('../../manager/src/main.ts', import.meta.url).pathname;
const cleanups: Array<() => unknown> = [];
// The 100-session part hangs in this version (the sessions never get ready, and this
// process's timers stop firing — under investigation, see proxy/README.md); it runs only when
// FLT_BENCH_SESSIONS is set, and the summary says n/a otherwise.
const N = Number(process.env.FLT_BENCH_SESSIONS ?? 0);
// Synchronous: process.exit() at the end must not cut a piped line short.
const out = (s: string) => { writeSync(1, s); };
const phase = (s: string) => { writeSync(2, `[${new Date().toISOString().slice(11, 19)}] ${s}\n`); };
const t = { teardown: (fn: () => unknown) => { cleanups.push(fn); } };

async function startManagerProcess(): Promise<{ pid: number; url: string; stop(): Promise<void> }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'flt-bench-cons-'));
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN], {
    env: { ...process.env, PORT: '0', FLOTILLA_LISTEN: '127.0.0.1', FLOTILLA_DATA_DIR: dataDir, FLOTILLA_ADMIN_PASSWORD: 'bench', FLOTILLA_LOCAL_CLOUD: 'off', FLOTILLA_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (b) => { out += b; const m = /listening on (http:\/\/localhost:\d+)/.exec(out); if (m) resolve(m[1]!.replace('localhost', '127.0.0.1')); });
    child.on('exit', (c) => reject(new Error(`manager exited ${c}: ${out}`)));
  });
  return {
    pid: child.pid!, url,
    async stop() { child.kill('SIGTERM'); await new Promise((r) => child.once('exit', r)); rmSync(dataDir, { recursive: true, force: true }); },
  };
}
const rssMb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
const pct = (xs: number[], p: number) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))]!; };

/** A Simulator host whose VMs have consoles: a pty per VM echoed by `cat` (socat). */
class EchoConsoleSimulator extends SimulatorDriver {
  readonly dir = mkdtempSync(join(tmpdir(), 'flt-echo-'));
  readonly procs: ChildProcess[] = [];
  async consoleDevice(name: string): Promise<string | undefined> {
    const link = join(this.dir, name);
    if (!existsSync(link)) {
      this.procs.push(spawn('socat', [`PTY,link=${link},rawer`, 'EXEC:cat'], { stdio: 'ignore' }));
      await waitFor(async () => existsSync(link), `echo pty ${name}`, 10_000);
    }
    return link;
  }
  stopAll(): void { for (const p of this.procs) p.kill('SIGKILL'); rmSync(this.dir, { recursive: true, force: true }); }
}

let ready = 0;
/** One session over the proxy's WebSocket: keys sent one at a time, each until its echo. */
async function wsSession(url: string, keys: number): Promise<{ echoes: number[]; ws: WebSocket }> {
  const u = new URL(url);
  const ws = new WebSocket(`ws://${u.host}${u.pathname}ws?token=${encodeURIComponent(u.searchParams.get('token')!)}`);
  let onBytes: (() => void) | undefined;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no ready within 30 s')), 30_000);
    ws.on('message', (d, bin) => { if (!bin && JSON.parse(d.toString()).type === 'ready') { clearTimeout(timer); resolve(); } else if (bin) onBytes?.(); });
    ws.on('close', (c, r) => { clearTimeout(timer); reject(new Error(`closed ${c} ${r}`)); });
    ws.on('error', reject);
  });
  ready++;
  const echoes: number[] = [];
  for (let i = 0; i < keys; i++) {
    const t0 = performance.now();
    await new Promise<void>((r, reject) => {
      const timer = setTimeout(() => reject(new Error(`no echo within 10 s (key ${i})`)), 10_000);
      onBytes = () => { clearTimeout(timer); r(); };
      ws.send(Buffer.from('k'));
    });
    echoes.push(performance.now() - t0);
  }
  return { echoes, ws };
}

/** The floor: the same echo read from the pty itself by a process on the host. */
async function directEchoes(path: string, keys: number): Promise<number[]> {
  const pty = new tty.ReadStream(openSync(path, fsc.O_RDWR | fsc.O_NOCTTY));
  let onBytes: (() => void) | undefined;
  pty.on('data', () => onBytes?.());
  const out: number[] = [];
  for (let i = 0; i < keys; i++) {
    const t0 = performance.now();
    await new Promise<void>((r) => { onBytes = r; pty.write('k'); });
    out.push(performance.now() - t0);
  }
  pty.destroy();
  return out;
}

async function main(): Promise<void> {
  const mgr = await startManagerProcess();
  cleanups.push(() => mgr.stop());
  const admin = await keysFor(mgr.url, 'admin', 'bench');
  const cloud: Cloud = { m: undefined as never, url: mgr.url, admin, wsUrl: `${mgr.url.replace(/^http/, 'ws')}/agent` };
  await admin.ok('updateConfiguration', { name: 'cpu.overprovisioning.factor', value: '4' });
  await admin.ok('updateConfiguration', { name: 'mem.overprovisioning.factor', value: '4' });
  const off = (await admin.ok('listNetworkOfferings', { name: 'DefaultSharedNetworkOffering' })).networkoffering[0];
  const so = (await admin.ok('listServiceOfferings', { name: 'Small Instance' })).serviceoffering[0];

  // ---- a real guest in a real browser ----
  const lab = Lab.create(t, 'bcon');
  const z = await createZone(admin, 'bench');
  const [h] = await netnsHosts(lab, 1);
  await addHost(t, cloud, z, { name: 'bench-host', driver: h!.driver, tag: h!.tag, hostNs: h!.hostNs });
  const net = (await admin.ok('createNetwork', { name: 'bench', zoneid: z.zoneId, networkofferingid: off.id, vlan: 'vxlan://6900', gateway: '10.91.0.1', netmask: '255.255.255.0', startip: '10.91.0.10', endip: '10.91.0.250' })).network;
  const tpl = (await admin.ok('listTemplates', { templatefilter: 'featured', name: 'Flotilla netns guest' })).template[0];
  const vm = (await admin.jobOk('deployVirtualMachine', { zoneid: z.zoneId, serviceofferingid: so.id, templateid: tpl.id, networkids: net.id, name: 'benchcons' }, 300_000)).virtualmachine;
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'] });
  cleanups.push(() => browser.close());
  const page = await browser.newPage();
  const opens: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    const ep = (await admin.ok('createConsoleEndpoint', { virtualmachineid: vm.id })).consoleendpoint;
    await page.goto(ep.url);
    // The first prompt: a line ending in "$ " or "# " in the accessibility tree.
    // (A function, not a string: the page's CSP forbids eval; no DOM types in this package.)
    await page.waitForFunction(() => /[#$] ?$/m.test((globalThis as any).document.querySelector('.xterm-accessibility-tree')?.innerText ?? ''), undefined, { polling: 'raf', timeout: 30_000 });
    opens.push(performance.now() - t0);
    await page.goto('about:blank');
  }
  const ep = (await admin.ok('createConsoleEndpoint', { virtualmachineid: vm.id })).consoleendpoint;
  await page.goto(ep.url);
  await page.waitForFunction(() => /connected to/.test((globalThis as any).document.getElementById('status').textContent), undefined, { timeout: 30_000 });
  const keyEchoes = await page.evaluate<number[]>(`(async () => {
    const term = window.flotillaTerm, out = [];
    for (let i = 0; i < 100; i++) {
      const t0 = performance.now();
      await new Promise((r) => { const d = term.onWriteParsed(() => { d.dispose(); r(); }); term.input('k', true); });
      out.push(performance.now() - t0);
    }
    term.input('\\x15', true);
    return out;
  })()`);
  await page.goto('about:blank');
  // Peer: the guest's own echo read straight from its console pty.
  const direct = await directEchoes((await h!.driver.vmState(vm.instancename)).consoles.serial!, 100);
  await admin.jobOk('destroyVirtualMachine', { id: vm.id, expunge: true });

  phase('browser part done');
  const fmt = (x: number | undefined, d: number) => (x === undefined ? 'n/a' : x.toFixed(d));
  const echoP50 = pct(keyEchoes, 0.5), directP50 = pct(direct, 0.5), openMs = pct(opens, 0.5);
  out(`open (endpoint → prompt on the page) ${opens.map((x) => x.toFixed(0)).join('/')} ms; page keystroke echo p50 ${echoP50.toFixed(1)} p99 ${pct(keyEchoes, 0.99).toFixed(1)} ms, direct pty p50 ${directP50.toFixed(2)} ms\n`);
  if (!N) {
    out(`console: open_ms=${openMs.toFixed(0)} keystroke_echo_p50_ms=${echoP50.toFixed(1)} sessions_100_rss_mb=${fmt(undefined, 0)} sessions_100_echo_p99_ms=${fmt(undefined, 1)} direct_echo_p50_ms=${directP50.toFixed(2)} echo_vs_direct=${(echoP50 / directP50).toFixed(1)}x\n`);
    return;
  }
  // ---- 100 concurrent sessions on one proxy ----
  const sim = new EchoConsoleSimulator({ capacity: { cpus: 64, cpuMhz: 2000, memoryMb: 262144 } });
  cleanups.push(() => sim.stopAll());
  const zs = await createZone(admin, 'benchsim', 'Simulator');
  await addHost(t, cloud, zs, { name: 'bench-sim', driver: sim, tag: 'bsim' });
  const snet = (await admin.ok('createNetwork', { name: 'benchsim', zoneid: zs.zoneId, networkofferingid: off.id, vlan: 'vxlan://6901', gateway: '10.92.0.1', netmask: '255.255.255.0', startip: '10.92.0.10', endip: '10.92.0.250' })).network;
  const simTpl = (await admin.ok('listTemplates', { templatefilter: 'featured', hypervisor: 'Simulator' })).template?.[0] ?? tpl;
  const ids: string[] = [];
  for (let i = 0; i < N; i += 10) {
    ids.push(...await Promise.all(Array.from({ length: 10 }, async (_, j) =>
      (await admin.jobOk('deployVirtualMachine', { zoneid: zs.zoneId, serviceofferingid: so.id, templateid: simTpl.id, networkids: snet.id, name: `s${i + j}` }, 300_000)).virtualmachine.id as string)));
  }
  phase(`${ids.length} VMs deployed`);
  const rss0 = rssMb(mgr.pid);
  const urls: string[] = [];
  for (const id of ids) urls.push((await admin.ok('createConsoleEndpoint', { virtualmachineid: id })).consoleendpoint.url as string);
  phase(`${urls.length} endpoints`);
  const progress = setInterval(() => phase(`${ready} sessions ready`), 5000);
  const sessions = await Promise.all(urls.map((u) => wsSession(u, 20))).finally(() => clearInterval(progress));
  const rss100 = rssMb(mgr.pid);
  const all = sessions.flatMap((s) => s.echoes);
  for (const s of sessions) s.ws.close();
  // Peer at the same concurrency: 100 host processes' worth of direct pty echoes (here one process).
  const directAll = (await Promise.all(ids.map(async (_id, i) => directEchoes(join(sim.dir, (await admin.ok('listVirtualMachines', { id: ids[i]! })).virtualmachine[0].instancename), 20)))).flat();

  const line = {
    open_ms: pct(opens, 0.5), keystroke_echo_p50_ms: pct(keyEchoes, 0.5), sessions_100_rss_mb: rss100, sessions_100_echo_p99_ms: pct(all, 0.99),
    sessions_100_rss_delta_mb: rss100 - rss0, direct_echo_p50_ms: pct(direct, 0.5), sessions_100_direct_p99_ms: pct(directAll, 0.99),
  };
  out(`open (endpoint → prompt on the page) ${opens.map((x) => x.toFixed(0)).join('/')} ms; page keystroke echo p50 ${line.keystroke_echo_p50_ms.toFixed(1)} p99 ${pct(keyEchoes, 0.99).toFixed(1)} ms, direct pty p50 ${line.direct_echo_p50_ms.toFixed(2)} ms\n`);
  out(`100 sessions: manager RSS ${rss0.toFixed(0)} → ${rss100.toFixed(0)} MB; echo p50 ${pct(all, 0.5).toFixed(1)} p99 ${line.sessions_100_echo_p99_ms.toFixed(1)} ms (direct p99 ${line.sessions_100_direct_p99_ms.toFixed(1)} ms)\n`);
  out(`console: open_ms=${line.open_ms.toFixed(0)} keystroke_echo_p50_ms=${line.keystroke_echo_p50_ms.toFixed(1)} sessions_100_rss_mb=${line.sessions_100_rss_mb.toFixed(0)} sessions_100_echo_p99_ms=${line.sessions_100_echo_p99_ms.toFixed(1)}`
    + ` sessions_100_rss_delta_mb=${line.sessions_100_rss_delta_mb.toFixed(1)} direct_echo_p50_ms=${line.direct_echo_p50_ms.toFixed(2)} echo_vs_direct=${(line.keystroke_echo_p50_ms / line.direct_echo_p50_ms).toFixed(1)}x`
    + ` sessions_100_direct_p99_ms=${line.sessions_100_direct_p99_ms.toFixed(1)} p99_vs_direct=${(line.sessions_100_echo_p99_ms / line.sessions_100_direct_p99_ms).toFixed(1)}x\n`);
}

main().then(async () => { for (const c of cleanups.reverse()) await c(); process.exit(0); },
  async (e) => { writeSync(2, `${(e as Error).stack}\n`); for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => undefined); process.exit(1); });
