// `npm run bench:guests` (agent workspace: `node --import tsx bench/guests.bench.ts`): what a
// guest VM of the netns (LXC) driver costs, at the DRIVER level, on the path production uses
// (NetnsDriver.startVm with a guest template):
//  - answer_ms: from the startVm call until the guest's HTTP server answers its name over its
//    network, fetched with curl from the host namespace (median of 5, one VM at a time);
//  - answer10_ms: 10 VMs started concurrently, until all 10 answer;
//  - rss_per_vm_mb: resident memory per idle VM — every process in the VM's network namespace
//    (the guest) plus the host-side console relay, measured on the 10 idle VMs (RSS, what the
//    issue asks for, counts shared busybox/libc pages in every process; PSS splits them).
// The peer is the same driver's previous guest (plain processes in a network namespace), whose
// numbers are recorded in docs/decisions/0410 (measured on this machine before the change).
// Ends with: guests: answer_ms=<n> answer10_ms=<n> rss_per_vm_mb=<n> pss_per_vm_mb=<n>
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import type { VmSpec } from '@flotilla/protocol/agent';
import { isRoot } from '@flotilla/tests/lab';
import { makeHosts } from '../test/helpers/hosts.ts';

const out = (s: string) => process.stdout.write(`${s}\n`);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function curl(ns: string, ip: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile('ip', ['netns', 'exec', ns, 'curl', '-s', '--max-time', '1', `http://${ip}/`], (err, stdout) => resolve(err ? undefined : stdout.trim()));
  });
}

async function untilAnswers(ns: string, ip: string, name: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await curl(ns, ip)) !== name) {
    if (Date.now() > deadline) throw new Error(`${name} did not answer on ${ip}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function rssKb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
}

/** Proportional set size: shared pages (busybox, libc) split among the processes mapping them. */
async function pssKb(pid: number): Promise<number> {
  const rollup = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8').catch(() => '');
  return Number(/^Pss:\s+(\d+)/m.exec(rollup)?.[1] ?? 0);
}

async function main(): Promise<void> {
  if (!isRoot()) { out('guests: skipped (needs root)'); return; }
  const { lab, hosts: [h] } = await makeHosts(undefined, 1, { fabric: false });
  const d = h!.driver;
  try {
    await d.prepareNetwork({ id: 'bench', kind: 'guest', vni: 4001, hostAddress: '10.41.255.254/16' });
    const spec = (i: number): VmSpec => ({
      name: `gb-${i}`, cpus: 1, cpuMhz: 500, memoryMb: 64, template: { kind: 'guest' },
      nics: [{ deviceId: 0, mac: `02:00:00:01:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`, networkId: 'bench', ipv4: { address: `10.41.${i >> 8}.${(i & 255) + 1}/16` } }],
    });
    const ip = (i: number) => `10.41.${i >> 8}.${(i & 255) + 1}`;
    const singles: number[] = [];
    for (let r = 0; r < 5; r++) {
      const i = 100 + r;
      const t0 = performance.now();
      await d.startVm({ spec: spec(i) });
      await untilAnswers(h!.ns, ip(i), `gb-${i}`);
      singles.push(performance.now() - t0);
      await d.destroyVm({ name: `gb-${i}` });
    }
    const t0 = performance.now();
    await Promise.all(Array.from({ length: 10 }, async (_, i) => { await d.startVm({ spec: spec(i) }); await untilAnswers(h!.ns, ip(i), `gb-${i}`); }));
    const answer10 = performance.now() - t0;
    await new Promise((r) => setTimeout(r, 1000)); // idle
    let total = 0;
    let totalPss = 0;
    for (let i = 0; i < 10; i++) {
      const pids = new Set((await new Promise<string>((resolve) => execFile('ip', ['netns', 'pids', d.names.vmNamespace(`gb-${i}`)], (_e, so) => resolve(so ?? ''))))
        .split('\n').map(Number).filter((n) => n > 0));
      // The console relay of a container VM lives in the host namespace (the old guest had none there).
      for (const p of await d.hostSidePids?.(`gb-${i}`) ?? []) pids.add(p);
      for (const p of pids) { total += await rssKb(p); totalPss += await pssKb(p); }
    }
    const perVm = total / 10 / 1024;
    const perVmPss = totalPss / 10 / 1024;
    await Promise.all(Array.from({ length: 10 }, (_, i) => d.destroyVm({ name: `gb-${i}` })));
    out(`guest VM (driver level): until it answers on its network ${singles.map((s) => s.toFixed(0)).join('/')} ms (median ${median(singles).toFixed(0)}), 10 concurrently ${answer10.toFixed(0)} ms, RSS per idle VM ${perVm.toFixed(2)} MB (PSS ${perVmPss.toFixed(2)} MB)`);
    out(`guests: answer_ms=${median(singles).toFixed(0)} answer10_ms=${answer10.toFixed(0)} rss_per_vm_mb=${perVm.toFixed(2)} pss_per_vm_mb=${perVmPss.toFixed(2)}`);
  } finally {
    await lab.cleanup();
  }
}

await main();
