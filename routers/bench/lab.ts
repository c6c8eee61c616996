// What the router's server benchmarks share: a lab with a temporary directory, stopping a server
// by PID, waiting for one to start, and the server/client topology. perfdhcp always acts as a
// relay (giaddr = its address), and dnsmasq ignores relayed requests whose relay sits on one of
// its connected subnets, so the client namespace is a "remote" subnet 10.9.0.0/16 reached by a
// route on the server side (10.8.0.1); every server under test sees the same traffic.
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab } from '@flotilla/tests/lab';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function benchLab(tag: string): Promise<{ lab: Lab; dir: string }> {
  const lab = Lab.create(undefined, tag);
  const dir = await mkdtemp(join(tmpdir(), `flt-${tag}-`));
  lab.onCleanup(() => rm(dir, { recursive: true, force: true }));
  return { lab, dir };
}

/** Stops a server this benchmark started: SIGTERM, then SIGKILL after 5 s. */
export async function stop(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || !p.pid) return;
  const done = new Promise((r) => p.once('exit', r));
  process.kill(p.pid, 'SIGTERM');
  await Promise.race([done, sleep(5000)]);
  if (p.exitCode === null) { process.kill(p.pid, 'SIGKILL'); await done; }
}

/** Resolves when `p` prints `marker` (ours: "ready"), or after `ms` for servers that say nothing. */
export async function started(p: ChildProcess, marker: string | undefined, ms = 800): Promise<void> {
  if (!marker) { await sleep(ms); if (p.exitCode !== null) throw new Error(`server exited ${p.exitCode}`); return; }
  await new Promise<void>((resolve, reject) => {
    let out = '';
    const t = setTimeout(() => reject(new Error('server did not start')), 30_000);
    p.stdout!.on('data', (d) => { out += String(d); if (out.includes(marker)) { clearTimeout(t); resolve(); } });
    p.once('exit', (c) => { clearTimeout(t); reject(new Error(`server exited ${c}`)); });
  });
}

/** Server namespace `srv` (gst0 10.8.0.1) and client namespace `cli` (eth0 10.9.0.2/16). */
export async function serverAndClient(lab: Lab): Promise<{ r: string; c: string }> {
  const r = await lab.netns('srv');
  const c = await lab.netns('cli');
  await lab.veth(r, 'gst0', c, 'eth0');
  await lab.exec(r, ['ip', 'addr', 'add', '10.8.0.1/24', 'dev', 'gst0']);
  await lab.exec(r, ['ip', 'route', 'add', '10.9.0.0/16', 'dev', 'gst0']);
  await lab.exec(c, ['ip', 'addr', 'add', '10.9.0.2/16', 'dev', 'eth0']);
  await lab.exec(c, ['ip', 'route', 'add', '10.8.0.0/24', 'dev', 'eth0']);
  return { r, c };
}
