// bench:console — the production console path: the zone's console proxy VM (proxy/src/main.ts as
// a system VM on the netns driver, public address in the uplink namespace), reached as on the
// single-machine cloud: the manager (its own process) forwards /console/ to the proxy VM through
// FLOTILLA_CONSOLE_NETNS; the proxy VM opens each console over its link to the manager, which
// asks the host agent (in this process) for the pty. Loopback and lab namespaces only.
//  - open_ms: createConsoleEndpoint → the first prompt on the page (real chromium, a runc guest
//    on the netns driver), median of 3, with where the time goes (endpoint call, page + assets,
//    WebSocket upgrade, ready = token check + manager + agent attach, first byte, prompt drawn);
//  - keystroke_echo_p50_ms: a keystroke typed into xterm (term.input, as a key press) until the
//    guest's echo is parsed onto the page, 100 keys;
//  - sessions_100_rss_mb / sessions_100_echo_p99_ms: 100 concurrent sessions (WebSocket clients,
//    not tabs) on ONE console proxy VM (consoleproxy.session.max raised so the zone keeps one) to
//    100 VMs of a Simulator cluster of the same zone whose consoles are ptys echoed by `cat`
//    (socat), 20 keys each; the proxy VM's RSS while they are open, and the echo p99.
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
import { addHost, addUplink, createZone, netnsHosts, waitFor, type Cloud } from '../src/cloud.ts';
import { startManager, stopManager } from '../src/manager-proc.ts';

const cleanups: Array<() => unknown> = [];
const N = Number(process.env.FLT_BENCH_SESSIONS ?? 100);
// Synchronous: process.exit() at the end must not cut a piped line short.
const out = (s: string) => { writeSync(1, s); };
const phase = (s: string) => { writeSync(2, `[${new Date().toISOString().slice(11, 19)}] ${s}\n`); };
const t = { teardown: (fn: () => unknown) => { cleanups.push(fn); } };

/** `npm start`'s entry point as its own process (tests/src/manager-proc.ts), its own data dir. */
async function startManagerProcess(env: Record<string, string>): Promise<{ pid: number; url: string; stop(): Promise<void> }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'flt-bench-cons-'));
  const m = await startManager({ PORT: '0', FLOTILLA_DATA_DIR: dataDir, FLOTILLA_ADMIN_PASSWORD: 'bench', FLOTILLA_LOCAL_CLOUD: 'off', ...env });
  return { pid: m.child.pid!, url: m.url, async stop() { await stopManager(m); rmSync(dataDir, { recursive: true, force: true }); } };
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
    await new Promise<void>((r, reject) => {
      const timer = setTimeout(() => reject(new Error(`no echo from ${path} within 10 s`)), 10_000);
      onBytes = () => { clearTimeout(timer); r(); };
      pty.write('k');
    });
    out.push(performance.now() - t0);
  }
  pty.destroy();
  return out;
}

/** The page's own marks (console.js) and resource timings, relative to navigation start. */
const pageTimes = (page: import('playwright-core').Page) => page.evaluate<Record<string, number>>(`(() => {
  const o = {};
  const nav = performance.getEntriesByType('navigation')[0];
  if (nav) { o.html = nav.responseEnd; o.domready = nav.domContentLoadedEventEnd; o.load = nav.loadEventEnd; }
  for (const r of performance.getEntriesByType('resource')) { const n = r.name.replace(/^.*\\/|\\?.*$/g, ''); if (n && !n.startsWith('ws')) { o['asset:' + n] = r.responseEnd; o['bytes:' + n] = r.transferSize; } }
  for (const m of performance.getEntriesByType('mark')) o[m.name.replace(/^console-/, '')] = m.startTime;
  o.prompt = performance.now();
  return o;
})()`);

async function main(): Promise<void> {
  // The uplink namespace first: the manager is told its name at start (as the local cloud does).
  const lab = Lab.create(t, 'bcon');
  const upNs = await lab.netns('uplink');
  const mgr = await startManagerProcess({ FLOTILLA_SYSTEM_VMS: 'on', FLOTILLA_SYSTEMVM_CHECK_MS: '1000', FLOTILLA_CONSOLE_NETNS: upNs });
  cleanups.push(() => mgr.stop());
  const admin = await keysFor(mgr.url, 'admin', 'bench');
  const cloud: Cloud = { m: undefined as never, url: mgr.url, admin, wsUrl: `${mgr.url.replace(/^http/, 'ws')}/agent` };
  await admin.ok('updateConfiguration', { name: 'cpu.overprovisioning.factor', value: '4' });
  await admin.ok('updateConfiguration', { name: 'mem.overprovisioning.factor', value: '4' });
  // Only the console proxy VM; and one of it for the whole run (the 100 sessions must share it).
  await admin.ok('updateConfiguration', { name: 'secondary.storage.vm', value: 'false' });
  await admin.ok('updateConfiguration', { name: 'consoleproxy.session.max', value: String(Math.max(1000, N * 2)) });
  const off = (await admin.ok('listNetworkOfferings', { name: 'DefaultSharedNetworkOffering' })).networkoffering[0];
  const so = (await admin.ok('listServiceOfferings', { name: 'Small Instance' })).serviceoffering[0];

  const z = await createZone(admin, 'bench');
  const [h] = await netnsHosts(lab, 1);
  await addHost(t, cloud, z, { name: 'bench-host', driver: h!.driver, tag: h!.tag, hostNs: h!.hostNs });
  await addUplink(lab, cloud, z, [h!], '203.0.113', upNs);
  let cp: Record<string, any> | undefined;
  await waitFor(async () => {
    cp = ((await admin.ok('listSystemVms', { zoneid: z.zoneId, systemvmtype: 'consoleproxy' })).systemvm ?? []).find((v: any) => v.state === 'Running' && v.agentstate === 'Up');
    return Boolean(cp);
  }, 'the console proxy VM running', 120_000);
  const proxyPid = () => (JSON.parse(readFileSync(join(h!.driver.stateDir, 'vms', cp!.name, 'pids.json'), 'utf8')) as Record<string, number>).appliance!;
  phase(`console proxy VM ${cp!.name} at ${cp!.publicip} (appliance pid ${proxyPid()})`);

  // ---- a real guest in a real browser, through the proxy VM ----
  const net = (await admin.ok('createNetwork', { name: 'bench', zoneid: z.zoneId, networkofferingid: off.id, vlan: 'vxlan://6900', gateway: '10.91.0.1', netmask: '255.255.255.0', startip: '10.91.0.10', endip: '10.91.0.250' })).network;
  const tpl = (await admin.ok('listTemplates', { templatefilter: 'featured', name: 'Flotilla netns guest' })).template[0];
  const vm = (await admin.jobOk('deployVirtualMachine', { zoneid: z.zoneId, serviceofferingid: so.id, templateid: tpl.id, networkids: net.id, name: 'benchcons' }, 300_000)).virtualmachine;
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'] });
  cleanups.push(() => browser.close());
  const page = await browser.newPage();
  // Diagnostics: when each console frame arrived and what it began with (an init script, which
  // the page's CSP does not govern).
  await page.addInitScript(`(() => {
    const W = window.WebSocket;
    window.__frames = [];
    window.WebSocket = function (u, p) {
      const ws = new W(u, p);
      ws.addEventListener('message', (e) => window.__frames.push([performance.now(), typeof e.data === 'string' ? e.data.slice(0, 30) : new TextDecoder().decode(e.data).slice(0, 40)]));
      return ws;
    };
    window.WebSocket.prototype = W.prototype; window.WebSocket.OPEN = 1;
  })()`);
  const opens: number[] = [];
  const breakdowns: string[] = [];
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    const ep = (await admin.ok('createConsoleEndpoint', { virtualmachineid: vm.id })).consoleendpoint;
    const tEp = performance.now() - t0;
    if (i === 0 && !new URL(ep.url).pathname.startsWith('/console/')) throw new Error(`unexpected URL ${ep.url}`);
    const tNav = performance.now();
    await page.goto(ep.url, { waitUntil: 'commit' });
    // The first prompt: a line ending in "$ " or "# " in the accessibility tree.
    // (A function, not a string: the page's CSP forbids eval; no DOM types in this package.)
    // On the page = drawn in the terminal's rows (what the user sees). The accessibility tree
    // (screen-reader mode) follows at most once a second by xterm's design (TimeBasedDebouncer,
    // so a screen reader is not flooded): its time is reported beside, not as open_ms.
    await page.waitForFunction(() => /[#$]\s*$/m.test((globalThis as any).document.querySelector('.xterm-rows')?.innerText ?? ''), undefined, { polling: 'raf', timeout: 30_000 });
    opens.push(performance.now() - t0);
    await page.waitForFunction(() => /[#$] ?$/m.test((globalThis as any).document.querySelector('.xterm-accessibility-tree')?.innerText ?? ''), undefined, { polling: 'raf', timeout: 30_000 });
    const a11y = performance.now() - t0;
    // Page-side times are from navigation start (≈ tNav); the endpoint call before it.
    const pt = await pageTimes(page);
    const off0 = tNav - t0;
    const at = (k: string) => (pt[k] === undefined ? 'n/a' : (pt[k]! + off0).toFixed(0));
    if (process.env.FLT_BENCH_FRAMES) phase(`frames: ${JSON.stringify(await page.evaluate('window.__frames.map(([t, d]) => [Math.round(t), d])'))}`);
    const assetsAt = Object.keys(pt).filter((k) => k.startsWith('asset:')).map((k) => `${k.slice(6)} ${at(k)}${(pt[`bytes:${k.slice(6)}`] ?? 0) < 2000 ? '(304)' : ''}`).join(' ');
    breakdowns.push(`endpoint ${tEp.toFixed(0)} | html ${at('html')} ${assetsAt} load ${at('load')} | ws ${at('ws')} open ${at('open')} ready ${at('ready')} first-byte ${at('first-byte')} | prompt drawn ${opens.at(-1)!.toFixed(0)} | in the accessibility tree ${a11y.toFixed(0)}`);
    await page.goto('about:blank');
  }
  for (const b of breakdowns) phase(`open (ms since createConsoleEndpoint): ${b}`);
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
  const echoP50 = pct(keyEchoes, 0.5), directP50 = pct(direct, 0.5), openMs = pct(opens, 0.5);
  out(`open (endpoint → prompt on the page, through the proxy VM) ${opens.map((x) => x.toFixed(0)).join('/')} ms; page keystroke echo p50 ${echoP50.toFixed(1)} p99 ${pct(keyEchoes, 0.99).toFixed(1)} ms, direct pty p50 ${directP50.toFixed(2)} ms\n`);
  if (!N) {
    out(`console: open_ms=${openMs.toFixed(0)} keystroke_echo_p50_ms=${echoP50.toFixed(1)} sessions_100_rss_mb=n/a sessions_100_echo_p99_ms=n/a direct_echo_p50_ms=${directP50.toFixed(2)} echo_vs_direct=${(echoP50 / directP50).toFixed(1)}x\n`);
    return;
  }
  // ---- N concurrent sessions on the one proxy VM ----
  // A Simulator cluster in the same zone (its VMs' consoles are echo ptys); the proxy VM stays on
  // the LXC host.
  const sim = new EchoConsoleSimulator({ capacity: { cpus: 64, cpuMhz: 2000, memoryMb: 262144 } });
  cleanups.push(() => sim.stopAll());
  const simCluster = (await admin.ok('addCluster', { zoneid: z.zoneId, podid: z.podId, clustername: 'bench-sim', clustertype: 'CloudManaged', hypervisor: 'Simulator' })).cluster[0];
  await addHost(t, cloud, { ...z, clusterId: simCluster.id }, { name: 'bench-sim', driver: sim, tag: 'bsim' });
  const snet = (await admin.ok('createNetwork', { name: 'benchsim', zoneid: z.zoneId, networkofferingid: off.id, vlan: 'vxlan://6901', gateway: '10.92.0.1', netmask: '255.255.255.0', startip: '10.92.0.10', endip: '10.92.0.250' })).network;
  // (The simulator runs any template; hostid puts the VMs on it, not on the LXC host.)
  const simHost = (await admin.ok('listHosts', { zoneid: z.zoneId, hypervisor: 'Simulator' })).host[0];
  const ids: string[] = [];
  for (let i = 0; i < N; i += 10) {
    ids.push(...await Promise.all(Array.from({ length: Math.min(10, N - i) }, async (_, j) =>
      (await admin.jobOk('deployVirtualMachine', { zoneid: z.zoneId, serviceofferingid: so.id, templateid: tpl.id, hostid: simHost.id, networkids: snet.id, name: `s${i + j}` }, 300_000)).virtualmachine.id as string)));
  }
  phase(`${ids.length} VMs deployed`);
  // Peer at the same concurrency first, on the same ptys before any console holds them (a pty
  // has one reader: measured after the sessions, the agent's relay — still closing — would take
  // the echoes): the direct pty echoes, N at once from this process.
  const names = await Promise.all(ids.map(async (id) => (await admin.ok('listVirtualMachines', { id })).virtualmachine[0].instancename as string));
  const directAll = (await Promise.all(names.map(async (n) => directEchoes((await sim.consoleDevice(n))!, 20)))).flat();
  const rss0 = rssMb(proxyPid());
  const urls: string[] = [];
  for (const id of ids) urls.push((await admin.ok('createConsoleEndpoint', { virtualmachineid: id })).consoleendpoint.url as string);
  phase(`${urls.length} endpoints`);
  const progress = setInterval(() => phase(`${ready} sessions ready`), 5000);
  const sessions = await Promise.all(urls.map((u) => wsSession(u, 20))).finally(() => clearInterval(progress));
  const rss100 = rssMb(proxyPid());
  // All on the one proxy VM: its report counts them (the monitor reads it every second).
  let onOne = 0;
  await waitFor(async () => {
    const l = (await admin.ok('listSystemVms', { zoneid: z.zoneId, systemvmtype: 'consoleproxy' })).systemvm ?? [];
    onOne = l.find((v: any) => v.id === cp!.id)?.activeviewersessions ?? 0;
    return l.length === 1 && onOne >= N;
  }, `${N} sessions on the one proxy VM`, 30_000).catch(() => phase(`note: the proxy VM reports ${onOne} sessions`));
  const all = sessions.flatMap((s) => s.echoes);
  for (const s of sessions) s.ws.close();

  const line = {
    open_ms: openMs, keystroke_echo_p50_ms: echoP50, sessions_100_rss_mb: rss100, sessions_100_echo_p99_ms: pct(all, 0.99),
    sessions_100_rss_delta_mb: rss100 - rss0, direct_echo_p50_ms: directP50, sessions_100_direct_p99_ms: pct(directAll, 0.99),
  };
  out(`${N} sessions on one proxy VM (it reports ${onOne}): its RSS ${rss0.toFixed(0)} → ${rss100.toFixed(0)} MB; echo p50 ${pct(all, 0.5).toFixed(1)} p99 ${line.sessions_100_echo_p99_ms.toFixed(1)} ms (direct p99 ${line.sessions_100_direct_p99_ms.toFixed(1)} ms)\n`);
  out(`console: open_ms=${line.open_ms.toFixed(0)} keystroke_echo_p50_ms=${line.keystroke_echo_p50_ms.toFixed(1)} sessions_100_rss_mb=${line.sessions_100_rss_mb.toFixed(0)} sessions_100_echo_p99_ms=${line.sessions_100_echo_p99_ms.toFixed(1)}`
    + ` sessions_100_rss_delta_mb=${line.sessions_100_rss_delta_mb.toFixed(1)} direct_echo_p50_ms=${line.direct_echo_p50_ms.toFixed(2)} echo_vs_direct=${(line.keystroke_echo_p50_ms / line.direct_echo_p50_ms).toFixed(1)}x`
    + ` sessions_100_direct_p99_ms=${line.sessions_100_direct_p99_ms.toFixed(1)} p99_vs_direct=${(line.sessions_100_echo_p99_ms / line.sessions_100_direct_p99_ms).toFixed(1)}x\n`);
}

main().then(async () => { for (const c of cleanups.reverse()) await c(); process.exit(0); },
  async (e) => { writeSync(2, `${(e as Error).stack}\n`); for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => undefined); process.exit(1); });
