// `npm run bench` (root: `npm run bench:router`): the router's DNS server against dnsmasq (the
// peer CloudStack's VR runs) on the same namespaces, alternating, bounded. (Its DHCP server has
// its own benchmark against dnsmasq and Kea: dhcp.bench.ts, `npm run bench:dhcp`.)
//
// DNS, dnsperf from a client namespace, best of two alternating runs per server and workload:
//   - dns_qps: 200 VM names in the network's domain (the authoritative path);
//   - dns_qps_10k: a 10,000-name zone, every name queried;
//   - dns_qps_forward: half the queries for VM names, half for names that no cache holds (each
//     external name is asked once), forwarded to an upstream server in a third namespace (a
//     dnsmasq answering every name of ext.test, without cache). dnsmasq caches what it forwards,
//     Flotilla's router does not; with unique names neither cache helps.
// ready_ms and rule_live_ms need the manager (createNetwork → lease, rule → port answering):
// printed as NA here.
import type { ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isRoot } from '@flotilla/tests/lab';
import { NAMES, reservedIp } from './net.ts';
import { benchLab, serverAndClient, sleep, started, stop } from './lab.ts';

const here = dirname(fileURLToPath(import.meta.url));
const NA = 'router: ready_ms=NA rule_live_ms=NA';
const DNS_FIELDS = ['dns_qps', 'dns_ratio_dnsmasq', 'dns_qps_10k', 'dns_ratio_dnsmasq_10k', 'dns_qps_forward', 'dns_ratio_dnsmasq_forward'];

if (!isRoot()) {
  process.stdout.write(`router bench needs root (network namespaces)\n${NA} ${DNS_FIELDS.map((f) => `${f}=NA`).join(' ')}\n`);
  process.exit(0);
}

const { lab, dir } = await benchLab('rbn');
const waitReady = (p: ChildProcess) => started(p, 'ready');

try {
  const { r, c } = await serverAndClient(lab);
  const u = await lab.netns('up');
  await lab.veth(r, 'up0', u, 'eth0');
  await lab.exec(r, ['ip', 'addr', 'add', '10.7.0.2/24', 'dev', 'up0']);
  await lab.exec(u, ['ip', 'addr', 'add', '10.7.0.1/24', 'dev', 'eth0']);
  // DNS listens on the router side's address (10.8.0.1) for both servers.

  const ours = (mode: 'dhcp' | 'dns', ...args: string[]) => lab.spawn(r, [process.execPath, '--import', 'tsx', join(here, 'serve.ts'), mode, ...args], { cwd: join(here, '..') });
  const dnsmasq = (conf: string) => lab.spawn(r, ['dnsmasq', '-k', `--conf-file=${conf}`, `--pid-file=${join(dir, 'dnsmasq.pid')}`]);

  // ---- DNS ----
  const upConf = join(dir, 'upstream.conf');
  await writeFile(upConf, ['port=53', 'listen-address=10.7.0.1', 'bind-interfaces', 'no-resolv', 'no-hosts', 'cache-size=0', 'address=/ext.test/192.0.2.1', ''].join('\n'));
  const upstream = lab.spawn(u, ['dnsmasq', '-k', `--conf-file=${upConf}`, `--pid-file=${join(dir, 'upstream.pid')}`]);
  await sleep(500);
  interface Workload { field: string; names: number; queries: string[]; forward: boolean }
  const FORWARDED = 200_000;
  const workloads: Workload[] = [
    { field: 'dns_qps', names: NAMES, queries: Array.from({ length: NAMES }, (_, i) => `vm${i}.bench.internal A`), forward: false },
    { field: 'dns_qps_10k', names: 10_000, queries: Array.from({ length: 10_000 }, (_, i) => `vm${i}.bench.internal A`), forward: false },
    { field: 'dns_qps_forward', names: NAMES, forward: true,
      queries: Array.from({ length: FORWARDED }, (_, i) => (i % 2 ? `vm${(i >> 1) % NAMES}.bench.internal A` : `q${i}.ext.test A`)) },
  ];
  // Forwarded names are asked once each (-n 1: one pass through the file).
  const dnsperf = async (queries: string, once: boolean): Promise<number> => {
    const res = await lab.tryExec(c, ['dnsperf', '-s', '10.8.0.1', '-d', queries, '-l', '5', '-c', '4', '-Q', '500000', ...(once ? ['-n', '1'] : [])], { timeoutMs: 30_000 });
    const m = /Queries per second:\s*([\d.]+)/.exec(res.stdout);
    const lost = /Queries lost:\s*(\d+)/.exec(res.stdout);
    if (lost && Number(lost[1]) > 0) process.stdout.write(`  (dnsperf lost ${lost[1]} queries)\n`);
    return m ? Number(m[1]) : 0;
  };
  const results: Record<string, { ours: number; dnsmasq: number }> = {};
  for (const w of workloads) {
    const hosts = join(dir, `hosts-${w.field}`);
    await writeFile(hosts, Array.from({ length: w.names }, (_, i) => `${w.names === NAMES ? `10.9.0.${i + 10}` : reservedIp(i)} vm${i}.bench.internal vm${i}`).join('\n') + '\n');
    const dmDns = join(dir, `dnsmasq-${w.field}.conf`);
    await writeFile(dmDns, ['port=53', 'listen-address=10.8.0.1', 'bind-interfaces', 'no-resolv', 'no-hosts', `addn-hosts=${hosts}`,
      'local=/bench.internal/', 'domain=bench.internal', 'cache-size=10000', ...(w.forward ? ['server=10.7.0.1'] : []), ''].join('\n'));
    const queries = join(dir, `queries-${w.field}`);
    await writeFile(queries, w.queries.join('\n') + '\n');
    const best = { ours: 0, dnsmasq: 0 };
    for (let round = 0; round < 2; round++) {
      for (const who of (round % 2 ? ['dnsmasq', 'ours'] : ['ours', 'dnsmasq']) as Array<'ours' | 'dnsmasq'>) {
        let p: ChildProcess;
        if (who === 'ours') { p = ours('dns', '10.8.0.1', String(w.names), ...(w.forward ? ['10.7.0.1'] : [])); await waitReady(p); } else { p = dnsmasq(dmDns); await sleep(500); }
        const q = await dnsperf(queries, w.forward);
        await stop(p);
        process.stdout.write(`dns  ${w.field.padEnd(16)} ${who.padEnd(7)} round=${round + 1} qps=${q.toFixed(0)}\n`);
        best[who] = Math.max(best[who], q);
      }
    }
    results[w.field] = best;
  }
  await stop(upstream);
  const ratio = (a: number, b: number) => (b > 0 ? (a / b).toFixed(2) : 'NA');
  const suffix = (f: string) => f.slice('dns_qps'.length);
  process.stdout.write('ready_ms and rule_live_ms need the manager end to end (createNetwork → lease, rule → port): NA here.\n');
  process.stdout.write(`${NA} ${workloads.map((w) => `${w.field}=${results[w.field]!.ours.toFixed(0)} dns_ratio_dnsmasq${suffix(w.field)}=${ratio(results[w.field]!.ours, results[w.field]!.dnsmasq)}`).join(' ')}\n`);
} finally {
  await lab.cleanup();
}
