// `npm run bench` (root: `npm run bench:router`): the router's DHCP and DNS servers against
// dnsmasq (the peer CloudStack's VR runs) on the same namespaces, alternating, bounded.
//
// DHCP: perfdhcp always acts as a relay (giaddr = its address, replies to port 67), and dnsmasq
// ignores relayed requests whose relay sits on one of its connected subnets. So the client
// namespace is a "remote" subnet 10.9.0.0/16 reached by a route on the server side; both
// servers see exactly the same traffic. Every lease is persisted by both (our journal is
// fdatasync'd before the ACK; dnsmasq rewrites its lease file). Each server is tried at a few
// offered rates (1k–12k/s) from a fresh lease file; its best completed 4-way exchange rate counts
// (past saturation a server answers late and perfdhcp counts drops, so the best rate is the
// sustainable one).
// DNS: dnsperf against 200 VM names in the network's domain (the authoritative path), best of
// two alternating runs per server.
// ready_ms and rule_live_ms need the manager (createNetwork → lease, rule → port answering):
// printed as NA here.
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Lab, isRoot } from '@flotilla/tests/lab';
import { NAMES } from './net.ts';

const here = dirname(fileURLToPath(import.meta.url));
const NA = 'router: ready_ms=NA rule_live_ms=NA';

if (!isRoot()) {
  process.stdout.write(`router bench needs root (network namespaces)\n${NA} dhcp_leases_per_s=NA dhcp_ratio_dnsmasq=NA dns_qps=NA dns_ratio_dnsmasq=NA\n`);
  process.exit(0);
}

const lab = Lab.create(undefined, 'rbn');
const dir = await mkdtemp(join(tmpdir(), 'flt-rbench-'));
lab.onCleanup(() => rm(dir, { recursive: true, force: true }));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function stop(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || !p.pid) return;
  const done = new Promise((r) => p.once('exit', r));
  process.kill(p.pid, 'SIGTERM');
  await Promise.race([done, sleep(5000)]);
  if (p.exitCode === null) { process.kill(p.pid, 'SIGKILL'); await done; }
}

async function waitReady(p: ChildProcess): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    let out = '';
    const t = setTimeout(() => reject(new Error('server did not start')), 30_000);
    p.stdout!.on('data', (d) => { out += String(d); if (out.includes('ready')) { clearTimeout(t); resolve(); } });
    p.once('exit', (c) => { clearTimeout(t); reject(new Error(`server exited ${c}`)); });
  });
}

try {
  const r = await lab.netns('srv');
  const c = await lab.netns('cli');
  await lab.veth(r, 'gst0', c, 'eth0');
  await lab.exec(r, ['ip', 'addr', 'add', '10.8.0.1/24', 'dev', 'gst0']);
  await lab.exec(r, ['ip', 'route', 'add', '10.9.0.0/16', 'dev', 'gst0']);
  await lab.exec(c, ['ip', 'addr', 'add', '10.9.0.2/16', 'dev', 'eth0']);
  await lab.exec(c, ['ip', 'route', 'add', '10.8.0.0/24', 'dev', 'eth0']);
  // DNS listens on the router side's address (10.8.0.1) for both servers.

  const ours = (mode: 'dhcp' | 'dns', arg: string) => lab.spawn(r, [process.execPath, '--import', 'tsx', join(here, 'serve.ts'), mode, arg], { cwd: join(here, '..') });
  const dnsmasq = (conf: string) => lab.spawn(r, ['dnsmasq', '-k', `--conf-file=${conf}`, `--pid-file=${join(dir, 'dnsmasq.pid')}`]);

  // ---- DHCP ----
  const dmDhcp = join(dir, 'dnsmasq-dhcp.conf');
  await writeFile(dmDhcp, ['port=0', 'interface=gst0', 'bind-interfaces', 'dhcp-range=10.9.1.0,10.9.250.255,255.255.0.0,1h',
    `dhcp-leasefile=${join(dir, 'dnsmasq.leases')}`, 'dhcp-authoritative', 'no-ping', 'dhcp-lease-max=200000', ''].join('\n'));
  const perfdhcp = async (rate: number): Promise<number> => {
    const res = await lab.tryExec(c, ['perfdhcp', '-4', '-l', 'eth0', '-r', String(rate), '-R', '60000', '-p', '4', '10.8.0.1'], { timeoutMs: 30_000 });
    const m = /Rate:\s*([\d.]+)\s*4-way exchanges\/second/.exec(res.stdout);
    return m ? Number(m[1]) : 0;
  };
  const best = { ours: 0, dnsmasq: 0 };
  for (const rate of [1000, 3000, 6000, 9000, 12000]) {
    for (const who of ['ours', 'dnsmasq'] as const) {
      await rm(join(dir, 'leases.jsonl'), { force: true });
      await rm(join(dir, 'dnsmasq.leases'), { force: true });
      let p: ChildProcess;
      if (who === 'ours') { p = ours('dhcp', join(dir, 'leases.jsonl')); await waitReady(p); } else { p = dnsmasq(dmDhcp); await sleep(500); }
      const got = await perfdhcp(rate);
      await stop(p);
      process.stdout.write(`dhcp ${who.padEnd(7)} offered=${rate}/s completed=${got.toFixed(0)} leases/s\n`);
      best[who] = Math.max(best[who], got);
    }
  }

  // ---- DNS ----
  const hosts = join(dir, 'hosts');
  await writeFile(hosts, Array.from({ length: NAMES }, (_, i) => `10.9.0.${i + 10} vm${i}.bench.internal vm${i}`).join('\n') + '\n');
  const dmDns = join(dir, 'dnsmasq-dns.conf');
  await writeFile(dmDns, ['port=53', 'listen-address=10.8.0.1', 'bind-interfaces', 'no-resolv', 'no-hosts', `addn-hosts=${hosts}`,
    'local=/bench.internal/', 'domain=bench.internal', 'cache-size=10000', ''].join('\n'));
  const queries = join(dir, 'queries');
  await writeFile(queries, Array.from({ length: NAMES }, (_, i) => `vm${i}.bench.internal A`).join('\n') + '\n');
  const dnsperf = async (): Promise<number> => {
    const res = await lab.tryExec(c, ['dnsperf', '-s', '10.8.0.1', '-d', queries, '-l', '5', '-c', '4', '-Q', '500000'], { timeoutMs: 30_000 });
    const m = /Queries per second:\s*([\d.]+)/.exec(res.stdout);
    const lost = /Queries lost:\s*(\d+)/.exec(res.stdout);
    if (lost && Number(lost[1]) > 0) process.stdout.write(`  (dnsperf lost ${lost[1]} queries)\n`);
    return m ? Number(m[1]) : 0;
  };
  const dbest = { ours: 0, dnsmasq: 0 };
  for (let round = 0; round < 2; round++) {
    for (const who of ['ours', 'dnsmasq'] as const) {
      let p: ChildProcess;
      if (who === 'ours') { p = ours('dns', '10.8.0.1'); await waitReady(p); } else { p = dnsmasq(dmDns); await sleep(500); }
      const q = await dnsperf();
      await stop(p);
      process.stdout.write(`dns  ${who.padEnd(7)} round=${round + 1} qps=${q.toFixed(0)}\n`);
      dbest[who] = Math.max(dbest[who], q);
    }
  }
  const ratio = (a: number, b: number) => (b > 0 ? (a / b).toFixed(2) : 'NA');
  process.stdout.write('ready_ms and rule_live_ms need the manager end to end (createNetwork → lease, rule → port): NA here.\n');
  process.stdout.write(`${NA} dhcp_leases_per_s=${best.ours.toFixed(0)} dhcp_ratio_dnsmasq=${ratio(best.ours, best.dnsmasq)} dns_qps=${dbest.ours.toFixed(0)} dns_ratio_dnsmasq=${ratio(dbest.ours, dbest.dnsmasq)}\n`);
} finally {
  await lab.cleanup();
}
