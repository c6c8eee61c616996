// `npm run bench` in agent/ (also run by the root `npm run bench`). Two parts, both below the manager:
//  - netns, at the DRIVER level (no manager, no API): time for NetnsDriver.startVm to return
//    (namespace, veth NIC in the bridge, console + httpd started and inside the VM's namespace)
//    for 1 VM (median of 3) and for 50 VMs started concurrently. The API-level deploy time
//    (deployVirtualMachine → Running) is the manager's to measure once it drives the agent.
//  - 1,000 simulated hosts: 1,000 Agents with the simulator driver in this process, connected
//    over WebSocket to the stand-in gateway in a child process, heartbeating every second;
//    RSS and CPU of the agents' process (sim1000_rss_mb) and of the server.
// Ends with: hosts-driver: deploy_ms=<n> deploy50_ms=<n> sim1000_rss_mb=<n> (driver level; the
// API-level line `hosts: …` of the issue comes from tests/bench/hosts.ts, `npm run bench:hosts`)
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { VmSpec } from '@flotilla/protocol/agent';
import { isRoot } from '@flotilla/tests/lab';
import { makeHosts } from '../test/helpers/hosts.ts';

const out = (s: string) => process.stdout.write(`${s}\n`);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function benchNetns(): Promise<{ deploy: number; deploy50: number }> {
  const { lab, hosts: [h] } = await makeHosts(undefined, 1, { fabric: false });
  const d = h!.driver;
  try {
    await d.prepareNetwork({ id: 'bench', kind: 'guest', vni: 4000 });
    const spec = (i: number): VmSpec => ({
      name: `bench-${i}`, cpus: 1, memoryMb: 64, template: { kind: 'guest' },
      nics: [{ deviceId: 0, mac: `02:00:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`, networkId: 'bench', ipv4: { address: `10.40.${i >> 8}.${(i & 255) + 1}/16` } }],
    });
    const singles: number[] = [];
    for (let r = 0; r < 3; r++) {
      const t0 = performance.now();
      await d.startVm({ spec: spec(1000 + r) });
      singles.push(performance.now() - t0);
      await d.destroyVm({ name: `bench-${1000 + r}` });
    }
    const t0 = performance.now();
    await Promise.all(Array.from({ length: 50 }, (_, i) => d.startVm({ spec: spec(i) })));
    const deploy50 = performance.now() - t0;
    const running = (await d.listState({})).vms.filter((v) => v.state === 'Running').length;
    if (running !== 50) throw new Error(`expected 50 running VMs, found ${running}`);
    const t1 = performance.now();
    await Promise.all(Array.from({ length: 50 }, (_, i) => d.destroyVm({ name: `bench-${i}` })));
    const destroy50 = performance.now() - t1;
    out(`netns (driver level): start 1 VM ${singles.map((s) => s.toFixed(0)).join('/')} ms (median ${median(singles).toFixed(0)}), start 50 concurrently ${deploy50.toFixed(0)} ms, destroy 50 ${destroy50.toFixed(0)} ms`);
    return { deploy: median(singles), deploy50 };
  } finally {
    await lab.cleanup();
  }
}

async function benchSim1000(): Promise<number> {
  const child = (file: string, args: string[]) => fork(fileURLToPath(new URL(file, import.meta.url)), args, { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const next = <T>(p: ReturnType<typeof child>): Promise<T> => new Promise((resolve) => p.once('message', (m) => resolve(m as T)));
  const ask = <T>(p: ReturnType<typeof child>, msg: string): Promise<T> => { const r = next<T>(p); p.send(msg); return r; };
  type Stats = { connected: number; connectMs: number; rssMb: number; baseRssMb: number; cpuMs: number };
  type ServerStats = { sessions: number; rssMb: number; cpuMs: number };
  const server = child('./sim-server.ts', ['1000']);
  const { port } = await next<{ port: number }>(server);
  const agents = child('./sim-agents.ts', [String(port), '1000']);
  const up = await next<Stats>(agents);
  const s0 = await ask<ServerStats>(server, 'stats');
  const a0 = await ask<Stats>(agents, 'stats');
  const w0 = performance.now();
  await new Promise((r) => setTimeout(r, 5000)); // five heartbeat rounds each way
  const a1 = await ask<Stats>(agents, 'stats');
  const s1 = await ask<ServerStats>(server, 'stats');
  const window = performance.now() - w0;
  out(`sim1000: ${s1.sessions} agents connected in ${up.connectMs.toFixed(0)} ms; agents' process RSS ${a1.rssMb.toFixed(0)} MB (node baseline ${a1.baseRssMb.toFixed(0)} MB), CPU ${((a1.cpuMs - a0.cpuMs) / window * 100).toFixed(1)}% of a core at 1 heartbeat/s each way`);
  out(`sim1000: stand-in gateway RSS ${s1.rssMb.toFixed(0)} MB, CPU ${((s1.cpuMs - s0.cpuMs) / window * 100).toFixed(1)}% of a core (the real manager's numbers come from manager/)`);
  const gone = (p: ReturnType<typeof child>) => new Promise((r) => p.once('exit', r));
  agents.send('exit'); await gone(agents);
  server.send('exit'); await gone(server);
  return a1.rssMb;
}

let deploy = NaN; let deploy50 = NaN;
if (isRoot()) ({ deploy, deploy50 } = await benchNetns());
else out('netns: skipped (needs root)');
const sim = await benchSim1000();
out(`hosts-driver: deploy_ms=${Math.round(deploy)} deploy50_ms=${Math.round(deploy50)} sim1000_rss_mb=${Math.round(sim)}`);
process.exit(0);
