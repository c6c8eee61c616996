// npm run bench:lb — the load balancer against its peers, in one run, one summary line:
//   lb: l4_connrate_ratio_direct= l4_connrate_ratio_one_dnat= l4_connrate_ratio_portforward= l4_connrate_ratio_haproxy= l4_gbps_ratio_direct= tls_rps_ratio_haproxy_plain= failover_ms= apply_1k_ms= reload_failed_requests=
// Topology: outside → router namespace → backends (HAProxy `http-request return` responders, the
// fastest HTTP server at hand, so the backends are not what is measured; iperf3 servers).
// - connection rate: wrk with `Connection: close` (a new connection per request) through the
//   kernel L4 rule, against the same wrk to the backend directly (routed through the same router
//   namespace, no table), against the same wrk through a CloudStack port-forwarding rule of the
//   same firewall (one DNAT: the single-backend path CloudStack users take, paying the same
//   conntrack and NAT per connection as any NAT load balancer), against one hand-written DNAT
//   rule alone in a table of its own (the floor of any conntrack NAT balancer), and against
//   HAProxy in TCP mode on the router; alternated, medians.
//   Each path has its own backend port (see lbSpec: no TIME_WAIT/PAWS collisions between paths).
// - one-flow throughput: iperf3 through the L4 rule / directly.
// - TLS: HTTPS keep-alive requests/s through compileHaproxy's configuration / a minimal
//   hand-written one on the same HAProxy.
// - failover: a backend's responder killed → the appliance's LbService (1 s interval, 2
//   unhealthy) has it out of the kernel map (after the element update).
// - apply_1k: compile (firewall + LB) and apply 1,000 rules × 10 backends in a fresh namespace.
// - reload: failed requests of a wrk run while HAProxy takes 20 rule changes (members through the
//   runtime API, stickiness by hitless reload).
// Every phase has a deadline and the bench fails naming the phase (see phase()).
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { Lab, isRoot } from '@flotilla/tests/lab';
import { compile } from '@flotilla/firewall/compile';
import { NftApplier, NFT_BIN } from '@flotilla/firewall/apply';
import { emptyFirewallSpec, type FirewallSpec } from '@flotilla/protocol/firewall';
import type { LbRule, LbSpec } from '@flotilla/protocol/lb';
import { compileLbNft } from '../src/nft.ts';
import { compileHaproxy } from '../src/haproxy.ts';

/** Resolves when the child has exited — at once if it already has. (Waiting for 'exit' on a child
 *  that exited earlier never resolves: the reload child exits by itself after 'done', and on an
 *  idle machine it did so before wrk's run ended, which hung this bench.) */
const exited = (c: ChildProcess) => new Promise<void>((r) => { if (c.exitCode !== null || c.signalCode !== null) r(); else c.once('exit', () => r()); });
const run = promisify(execFile);
if (!isRoot()) { console.log('lb: skipped (needs root)'); process.exit(0); }

const PUB = '203.0.113.10';
const uid = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const lab = Lab.create(undefined, 'lbb');
const dir = mkdtempSync(join(tmpdir(), 'flt-lbb-'));
process.once('exit', () => rmSync(dir, { recursive: true, force: true }));

// Every phase has a deadline: a phase that does not finish fails the bench loudly, naming the
// phase and what the bench's own processes were doing (state, CPU, kernel wait channel), instead
// of leaving a bench idle in epoll (two runs hung that way after a merge).
const innerChildren: ChildProcess[] = [];
class PhaseTimeout extends Error {}
let current = 'setup';
// LB_BENCH_DEADLINE_SCALE (e.g. 0.001) shrinks every deadline: shows the failure path works.
const deadlineScale = Number(process.env.LB_BENCH_DEADLINE_SCALE ?? 1) || 1;
async function phase<T>(name: string, ms: number, fn: () => Promise<T>): Promise<T> {
  current = name;
  ms = Math.max(1, Math.round(ms * deadlineScale));
  let timer: NodeJS.Timeout | undefined;
  const t0 = Date.now();
  try {
    return await Promise.race([fn(), new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new PhaseTimeout(`lb: phase '${name}' did not finish within ${ms} ms`)), ms); })]);
  } finally {
    clearTimeout(timer);
    if (process.env.LB_BENCH_TRACE) console.error(`lb phase ${name}: ${Date.now() - t0} ms`);
  }
}
function diagnose(): string {
  try {
    // The bench's process tree only (its own PIDs), with what each is waiting for.
    const out = execFileSync('ps', ['-o', 'pid,ppid,stat,pcpu,time,wchan:24,args', '--ppid', String(process.pid)], { encoding: 'utf8' });
    // And the bench's own threads (a native nft job blocked in the kernel shows here).
    const threads = readdirSync('/proc/self/task').map((tid) => {
      const read = (f: string) => { try { return readFileSync(`/proc/self/task/${tid}/${f}`, 'utf8').trim(); } catch { return '?'; } };
      return `  thread ${tid} ${read('comm')} wchan=${read('wchan')} ${read('stat').split(' ')[2] ?? ''}`;
    });
    return [...out.split('\n').map((l) => l.slice(0, 200)), ...threads].join('\n');
  } catch (e) { return `ps failed: ${(e as Error).message}`; }
}

let failed = false;
try {
  current = 'topology';
  const [outside, router, lan] = await Promise.all([lab.netns('out'), lab.netns('rtr'), lab.netns('lan')]);
  await lab.veth(outside, 'up0', router, 'pub0');
  await lab.veth(router, 'gst0', lan, 'lr0');
  await lab.exec(lan, ['ip', 'link', 'add', 'br0', 'type', 'bridge']);
  await lab.exec(lan, ['ip', 'link', 'set', 'br0', 'up']);
  await lab.exec(lan, ['ip', 'link', 'set', 'lr0', 'master', 'br0']);
  await lab.exec(outside, ['ip', 'addr', 'add', '203.0.113.1/24', 'dev', 'up0']);
  await lab.exec(outside, ['ip', 'route', 'add', '10.1.1.0/24', 'via', PUB]);
  await lab.exec(router, ['ip', 'addr', 'add', `${PUB}/24`, 'dev', 'pub0']);
  await lab.exec(router, ['ip', 'addr', 'add', '10.1.1.1/24', 'dev', 'gst0']);
  await lab.exec(router, ['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
  const backends: Array<{ ns: string; ip: string; pid: number }> = [];
  for (let i = 1; i <= 3; i++) {
    const ns = await lab.netns(`be${i}`);
    const ip = `10.1.1.${10 + i}`;
    await lab.veth(ns, 'eth0', lan, `lb${i}`);
    await lab.exec(lan, ['ip', 'link', 'set', `lb${i}`, 'master', 'br0']);
    await lab.exec(ns, ['ip', 'addr', 'add', `${ip}/24`, 'dev', 'eth0']);
    await lab.exec(ns, ['ip', 'route', 'add', 'default', 'via', '10.1.1.1']);
    const cfg = join(dir, `be${i}.cfg`);
    writeFileSync(cfg, `global\n    maxconn 4096\ndefaults\n    mode http\n    timeout client 10s\n    timeout server 10s\n    timeout connect 5s\nfrontend f\n    bind :80\n    bind :8080\n    bind :8082\n    bind :8083\n    http-request return status 200 content-type text/plain string be${i}\n`);
    // Nothing reads these processes' output: not pipes that could fill and block them.
    const p = lab.spawn(ns, ['haproxy', '-db', '-f', cfg], { stdio: 'ignore' });
    lab.spawn(ns, ['iperf3', '-s', '-p', '5201'], { stdio: 'ignore' });
    backends.push({ ns, ip, pid: p.pid! });
  }
  await new Promise((r) => setTimeout(r, 500));

  const fwSpec = (ports: Array<[number, 'tcp' | 'udp']>): FirewallSpec => ({
    ...emptyFirewallSpec(), publicInterfaces: ['pub0'],
    guestNetworks: [{ id: 'n1', interface: 'gst0', cidrs: ['10.1.1.0/24'], sourceNatIp: PUB, egress: { defaultPolicy: 'allow', rules: [] } }],
    publicIps: [{ address: PUB, filter: 'rules', portForwards: [{ id: uid(950), protocol: 'tcp', publicPorts: { start: 82, end: 82 }, privateIp: backends[0]!.ip, privatePorts: { start: 8082, end: 8082 }, sourceCidrs: [] }], rules: ports.map(([p, proto], i) => ({ id: uid(900 + i), protocol: proto, ports: { start: p, end: p }, sourceCidrs: [] })) }],
  });
  const one = [{ vmId: uid(11), ip: backends[0]!.ip }];
  const all = backends.map((b, i) => ({ vmId: uid(11 + i), ip: b.ip }));
  const rule = (id: number, over: Partial<LbRule>): LbRule => ({ id: uid(id), publicIp: PUB, publicPort: 80, privatePort: 80, protocol: 'tcp', algorithm: 'roundrobin', sourceCidrs: [], backends: one, ...over });
  // The kernel rule reaches the backend on another port than the direct runs: both paths come
  // from the same client address and ports, and the client's TCP timestamps differ per
  // destination address (PUB vs the backend's), so a SYN of one path onto a backend TIME_WAIT
  // left by the other path's previous run is refused by PAWS and retried after 1 s: whichever
  // path ran second lost (the direct runs after an LB run fell to 0 conn/s in a probe). Own
  // 4-tuples per path measure the paths, not each other's leftovers.
  const lbSpec: LbSpec = { rules: [rule(1, { privatePort: 8080 }), rule(2, { publicPort: 5201, privatePort: 5201 })] };
  const ports: Array<[number, 'tcp' | 'udp']> = [[80, 'tcp'], [5201, 'tcp'], [8081, 'tcp'], [443, 'tcp'], [444, 'tcp'], [8443, 'tcp']];
  const fw = new NftApplier({ netns: router });
  const loadLb = async () => { const d = compile(fwSpec(ports)); d.nftables.push(...compileLbNft(lbSpec)); await fw.apply(d); };

  // HAProxy in TCP mode on the router: the peer a user would otherwise configure.
  const tcpCfg = join(dir, 'tcp.cfg');
  writeFileSync(tcpCfg, `global\n    maxconn 4096\ndefaults\n    mode tcp\n    timeout client 10s\n    timeout server 10s\n    timeout connect 5s\nfrontend t\n    bind ${PUB}:8081\n    default_backend b\nbackend b\n    server s1 ${backends[0]!.ip}:80\n`);
  lab.spawn(router, ['haproxy', '-db', '-f', tcpCfg], { stdio: 'ignore' });
  await phase('listeners', 30_000, async () => {
    for (const b of backends) await listening(b.ns, b.ip, 80);
    await listening(backends[0]!.ns, backends[0]!.ip, 8082);
    await listening(router, PUB, 8081);
  });

  // A TCP connect from inside `ns` succeeds (the server is up), polled: a fixed sleep was too
  // short on a loaded machine (the first TLS round measured 0 req/s for both configs).
  async function listening(ns: string, host: string, port: number): Promise<void> {
    for (let i = 0; ; i++) {
      const r = await lab.tryExec(ns, ['timeout', '2', 'bash', '-c', `exec 3<>/dev/tcp/${host}/${port}`], { timeoutMs: 5000 });
      if (r.code === 0) return;
      await new Promise((res) => setTimeout(res, 50));
    }
  }
  /** wrk's error lines (socket errors by kind, non-2xx), for the detail line. */
  const errorBreakdown = (out: string) => [/Socket errors:[^\n]*/.exec(out)?.[0], /Non-2xx or 3xx responses:[^\n]*/.exec(out)?.[0]].filter(Boolean).join('; ') || 'none';
  const wrk = async (url: string, close: boolean, secs = 4, extra: string[] = []) => {
    const r = await lab.tryExec(outside, ['wrk', '-t1', '-c32', `-d${secs}s`, ...(close ? ['-H', 'Connection: close'] : []), ...extra, url], { timeoutMs: (secs + 30) * 1000 });
    const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(r.stdout)?.[1] ?? 0);
    const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(r.stdout);
    const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(r.stdout)?.[1] ?? 0);
    return { rps, errors: (sock ? Number(sock[1]) + Number(sock[2]) + Number(sock[3]) + Number(sock[4]) : 0) + non2xx, out: r.stdout };
  };

  // ---- connection rate: direct / kernel L4 / HAProxy TCP, alternated ----
  const direct: number[] = [], kernel: number[] = [], pf: number[] = [], hap: number[] = [], minNat: number[] = [];
  // The floor of any load balancer that NATs through conntrack: one hand-written DNAT rule in a
  // table of its own, nothing else (a stateful forward chain as every router has). Its own
  // backend port (8083), as every path has.
  const minNatTable = `table ip flt_bench_minnat {
  chain nat_pre { type nat hook prerouting priority -100; ip daddr ${PUB} tcp dport 83 dnat to ${backends[0]!.ip}:8083; }
  chain nat_post { type nat hook postrouting priority 100; }
  chain filter_forward { type filter hook forward priority 0; ct state established,related accept; ct state invalid drop; accept; }
}
`;
  const minNatFile = join(dir, 'minnat.nft');
  writeFileSync(minNatFile, minNatTable);
  // Five alternated rounds: this machine's speed comes and goes; the median of each path counts.
  for (let round = 0; round < 5; round++) {
    await phase(`connrate round ${round}`, 150_000, async () => {
      await fw.remove();
      direct.push((await wrk(`http://${backends[0]!.ip}/`, true)).rps);
      // NFT_BIN: under `npm run`, a bare `nft` is ava's dependency @vercel/nft (node_modules/.bin).
      await lab.exec(router, [NFT_BIN, '-f', minNatFile]);
      minNat.push((await wrk(`http://${PUB}:83/`, true)).rps);
      if (!minNat.at(-1)) {
        const probe = await lab.tryExec(outside, ['curl', '-sS', '-m', '2', `http://${PUB}:83/`]);
        const rules = await lab.tryExec(router, [NFT_BIN, 'list', 'ruleset']);
        throw new Error(`the one-DNAT-rule peer answered nothing (curl: ${probe.stdout}${probe.stderr}; ruleset: ${rules.stdout})`);
      }
      await lab.exec(router, [NFT_BIN, 'delete', 'table', 'ip', 'flt_bench_minnat']);
      await loadLb();
      kernel.push((await wrk(`http://${PUB}/`, true)).rps);
      pf.push((await wrk(`http://${PUB}:82/`, true)).rps);
      hap.push((await wrk(`http://${PUB}:8081/`, true)).rps);
    });
  }
  // ---- one-flow throughput ----
  const iperf = async (host: string) => {
    const r = await lab.exec(outside, ['iperf3', '-c', host, '-p', '5201', '-t', '3', '-J'], { timeoutMs: 60_000 });
    return (JSON.parse(r.stdout) as { end: { sum_received: { bits_per_second: number } } }).end.sum_received.bits_per_second;
  };
  const gDirect: number[] = [], gLb: number[] = [];
  // Three rounds: a median of two would be the larger of each.
  for (let round = 0; round < 3; round++) {
    await phase(`iperf round ${round}`, 150_000, async () => {
      await fw.remove();
      gDirect.push(await iperf(backends[0]!.ip));
      await loadLb();
      gLb.push(await iperf(PUB));
    });
  }

  // ---- TLS: generated configuration vs a minimal hand-written one, same HAProxy ----
  await phase('tls certificate', 60_000, () => run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem'), '-days', '2', '-subj', `/CN=${PUB}`], { timeout: 50_000 }));
  const pem = readFileSync(join(dir, 'c.pem'), 'utf8') + readFileSync(join(dir, 'k.pem'), 'utf8');
  writeFileSync(join(dir, `${uid(3)}.pem`), pem);
  const tlsRule = rule(3, { publicPort: 443, protocol: 'ssl', algorithm: 'roundrobin', backends: all, tls: { certificate: readFileSync(join(dir, 'c.pem'), 'utf8'), privateKey: readFileSync(join(dir, 'k.pem'), 'utf8') } });
  const gen = join(dir, 'gen.cfg');
  writeFileSync(gen, compileHaproxy({ rules: [tlsRule] }, { socket: join(dir, 'gen.sock'), certDir: dir }));
  const hand = join(dir, 'hand.cfg');
  writeFileSync(hand, `global\n    maxconn 4096\ndefaults\n    mode http\n    timeout client 10s\n    timeout server 10s\n    timeout connect 5s\nfrontend f\n    bind ${PUB}:444 ssl crt ${join(dir, `${uid(3)}.pem`)}\n    default_backend b\nbackend b\n    balance roundrobin\n${all.map((b, i) => `    server s${i} ${b.ip}:80\n`).join('')}`);
  const genP = lab.spawn(router, ['haproxy', '-db', '-f', gen], { stdio: 'ignore' });
  const handP = lab.spawn(router, ['haproxy', '-db', '-f', hand], { stdio: 'ignore' });
  await phase('tls listeners', 30_000, async () => { await listening(router, PUB, 443); await listening(router, PUB, 444); });
  const tGen: number[] = [], tHand: number[] = [];
  // Round 0 warms both (session caches, first handshakes) and is not counted.
  for (let round = 0; round < 4; round++) {
    await phase(`tls round ${round}`, 120_000, async () => {
      const g = (await wrk(`https://${PUB}:443/`, false, 3)).rps;
      const h = (await wrk(`https://${PUB}:444/`, false, 3)).rps;
      if (round > 0) { tGen.push(g); tHand.push(h); }
    });
  }
  for (const p of [genP, handP]) if (p.pid) process.kill(p.pid, 'SIGKILL');

  // ---- failover: the appliance's health checks take a killed backend out ----
  const foLb: LbSpec = { rules: [rule(4, { backends: all, healthCheck: { intervalS: 1, timeoutS: 1, healthy: 2, unhealthy: 2 } })] };
  const child = spawn('ip', ['netns', 'exec', router, process.execPath, '--import', 'tsx', join(import.meta.dirname, 'inner.ts'), 'failover', JSON.stringify(fwSpec(ports)), JSON.stringify(foLb)], { stdio: ['pipe', 'pipe', 'inherit'] });
  innerChildren.push(child);
  const lines = createInterface({ input: child.stdout! });
  const next = (prefix: string, ms: number) => new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no ${prefix} within ${ms} ms`)), ms);
    const on = (l: string) => { if (l.startsWith(prefix)) { clearTimeout(t); lines.off('line', on); resolve(l); } };
    lines.on('line', on);
  });
  const failover = await phase('failover', 90_000, async () => {
    await next('ready', 30_000);
    await new Promise((r) => setTimeout(r, 2500)); // the first checks pass
    const t0 = Date.now();
    process.kill(backends[1]!.pid, 'SIGKILL');
    const ms = Number((await next('down', 30_000)).split(' ')[1]) - t0;
    child.stdin!.end();
    await exited(child);
    return ms;
  });
  fw.reset();

  // ---- 1,000 rules × 10 backends, compiled and applied ----
  const bigNs = await lab.netns('big');
  const big = new NftApplier({ netns: bigNs });
  const bigLb: LbSpec = { rules: Array.from({ length: 1000 }, (_, i) => ({
    id: uid(10_000 + i), publicIp: PUB, publicPort: 1000 + i, privatePort: 80, protocol: 'tcp' as const, algorithm: (i % 2 ? 'source' : 'roundrobin') as 'source' | 'roundrobin', sourceCidrs: [],
    backends: Array.from({ length: 10 }, (_, j) => ({ vmId: uid(50_000 + j), ip: `10.1.1.${20 + j}` })),
  })) };
  const bigFw: FirewallSpec = { ...fwSpec([]), publicIps: [{ address: PUB, filter: 'rules', portForwards: [], rules: [{ id: uid(899), protocol: 'tcp', ports: { start: 1000, end: 1999 }, sourceCidrs: [] }] }] };
  // Wall time is the figure; the process CPU time (Node and libnftables' thread, the kernel's
  // share of the netlink work included) is printed beside it: on a machine loaded beyond its
  // cores the wall time is mostly waiting to run. Round 0 warms the JIT (an appliance applies
  // many times) and is not counted.
  const applyTimes: number[] = [], applyCpu: number[] = [];
  for (let round = 0; round < 4; round++) await phase(`apply_1k round ${round}`, 60_000, async () => {
    big.reset();
    const c = process.cpuUsage();
    const s = performance.now();
    const d = compile(bigFw);
    d.nftables.push(...compileLbNft(bigLb));
    await big.apply(d);
    if (round === 0) return;
    applyTimes.push(performance.now() - s);
    const used = process.cpuUsage(c);
    applyCpu.push((used.user + used.system) / 1000);
  });
  await phase('apply_1k close', 30_000, () => big.close());

  // ---- 20 HAProxy changes (reloads) under load ----
  await phase('reload firewall', 30_000, () => fw.apply(compile(fwSpec(ports))));
  const rlLb: LbSpec = { rules: [rule(5, { publicPort: 8443, algorithm: 'leastconn', backends: [all[0]!, all[2]!] })] };
  const rc = spawn('ip', ['netns', 'exec', router, process.execPath, '--import', 'tsx', join(import.meta.dirname, 'inner.ts'), 'reload', JSON.stringify(fwSpec(ports)), JSON.stringify(rlLb)], { stdio: ['pipe', 'pipe', 'inherit'] });
  innerChildren.push(rc);
  const rlines = createInterface({ input: rc.stdout! });
  const rnext = (prefix: string, ms: number) => new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no ${prefix} within ${ms} ms`)), ms);
    const on = (l: string) => { if (l.startsWith(prefix)) { clearTimeout(t); rlines.off('line', on); resolve(l); } };
    rlines.on('line', on);
  });
  const { baseline, doneLine, loaded } = await phase('reloads under load', 150_000, async () => {
    await rnext('ready', 30_000);
    // The same load without changes: wrk's error count must be 0 here for the number below to mean anything.
    const baseline = await wrk(`http://${PUB}:8443/`, true, 3);
    const load = wrk(`http://${PUB}:8443/`, true, 8);
    await new Promise((r) => setTimeout(r, 500));
    rc.stdin!.write('go\n');
    const doneLine = await rnext('done', 60_000);
    const loaded = await load;
    rc.stdin!.end();
    await exited(rc);
    return { baseline, doneLine, loaded };
  });
  await phase('close', 30_000, () => fw.close());

  const r2 = (x: number) => x.toFixed(2);
  console.error(`lb detail: connrate direct ${direct.map(Math.round).join('/')} one-DNAT-rule ${minNat.map(Math.round).join('/')} kernel ${kernel.map(Math.round).join('/')} port-forward ${pf.map(Math.round).join('/')} haproxy-tcp ${hap.map(Math.round).join('/')} conn/s; ` +
    `one flow direct ${gDirect.map((g) => r2(g / 1e9)).join('/')} lb ${gLb.map((g) => r2(g / 1e9)).join('/')} Gbit/s; tls generated ${tGen.map(Math.round).join('/')} hand ${tHand.map(Math.round).join('/')} req/s; ` +
    `apply_1k ${applyTimes.map(Math.round).join('/')} ms (cpu ${applyCpu.map(Math.round).join('/')} ms); reload run ${Math.round(loaded.rps)} req/s, ${doneLine.replace('done', 'reloads')}, baseline errors ${baseline.errors}; reload run's wrk: ${errorBreakdown(loaded.out)}`);
  console.log(`lb: l4_connrate_ratio_direct=${r2(median(kernel) / median(direct))} l4_connrate_ratio_one_dnat=${r2(median(kernel) / median(minNat))} l4_connrate_ratio_portforward=${r2(median(kernel) / median(pf))} l4_connrate_ratio_haproxy=${r2(median(kernel) / median(hap))} l4_gbps_ratio_direct=${r2(median(gLb) / median(gDirect))} ` +
    `tls_rps_ratio_haproxy_plain=${r2(median(tGen) / median(tHand))} failover_ms=${failover} apply_1k_ms=${Math.round(median(applyTimes))} reload_failed_requests=${loaded.errors}`);
} catch (e) {
  failed = true;
  console.error(e instanceof PhaseTimeout ? e.message : `lb: phase '${current}' failed: ${(e as Error).stack ?? e}`);
  console.error(`lb: the bench's processes:\n${diagnose()}`);
} finally {
  for (const c of innerChildren) if (c.exitCode === null && c.pid) { try { process.kill(c.pid, 'SIGKILL'); } catch { /* gone */ } }
  // Cleanup is bounded too: a stuck one must not turn a failure back into a hang.
  await Promise.race([lab.cleanup(), new Promise((r) => setTimeout(r, 30_000).unref())]);
}
if (failed) { console.log(`lb: FAILED in phase '${current}'`); process.exit(1); }
// Nothing may keep the process alive after the summary (a leftover handle was a hang, too).
process.exit(0);
