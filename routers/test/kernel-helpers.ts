// Shared lab plumbing for the router kernel tests: a router namespace running the real
// appliance (src/main.ts) on a control socket, guest namespaces on a bridge, udhcpc with a
// script that records what it was given.
import type { ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Lab } from '@flotilla/tests/lab';
import { RouterControl } from '../src/client.ts';

const here = dirname(fileURLToPath(import.meta.url));
export const ROUTERS_DIR = join(here, '..');
export const MAIN = join(ROUTERS_DIR, 'src', 'main.ts');

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function until<T>(fn: () => Promise<T | undefined> | T | undefined, what: string, timeoutMs = 15_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try { const v = await fn(); if (v !== undefined && v !== false) return v; } catch (e) { last = e; }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await sleep(100);
  }
}

export async function tempDir(lab: Lab, tag: string): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), `flt-${tag}-`));
  lab.onCleanup(() => rm(d, { recursive: true, force: true }));
  return d;
}

export interface RunningRouter { ctl: RouterControl; proc: ChildProcess; stop(): Promise<void> }

/** Starts the appliance in `ns` and connects to its control socket. */
export async function startRouter(lab: Lab, ns: string, stateDir: string, sockDir: string): Promise<RunningRouter> {
  const sock = join(sockDir, `ctl-${Math.random().toString(16).slice(2, 8)}.sock`);
  const proc = lab.spawn(ns, [process.execPath, '--import', 'tsx', MAIN, '--control', sock, '--state-dir', stateDir], { cwd: ROUTERS_DIR });
  let stderr = '';
  proc.stderr?.on('data', (d) => { stderr += String(d); });
  proc.stdout?.resume();
  const ctl = await until(async () => {
    if (proc.exitCode !== null) throw new Error(`router exited: ${stderr}`);
    return RouterControl.connect(sock).catch(() => undefined);
  }, 'router control socket', 30_000);
  return {
    ctl, proc,
    async stop() {
      ctl.close();
      if (proc.exitCode === null && proc.pid) {
        const done = new Promise((r) => proc.once('exit', r));
        process.kill(proc.pid, 'SIGTERM');
        await Promise.race([done, sleep(5000)]);
        if (proc.exitCode === null) { process.kill(proc.pid, 'SIGKILL'); await done; }
      }
    },
  };
}

/** A bridge in its own namespace: the "switch" guests and the router plug into. */
export async function makeSwitch(lab: Lab): Promise<string> {
  const sw = await lab.netns('sw');
  await lab.exec(sw, ['ip', 'link', 'add', 'br0', 'type', 'bridge']);
  await lab.exec(sw, ['ip', 'link', 'set', 'br0', 'up']);
  return sw;
}

/** Plugs `ifname` of namespace `ns` into the switch through a veth (port `port`). */
export async function plug(lab: Lab, sw: string, port: string, ns: string, ifname: string, mac?: string): Promise<void> {
  await lab.veth(ns, ifname, sw, port);
  await lab.exec(sw, ['ip', 'link', 'set', port, 'master', 'br0']);
  if (mac) await setMac(lab, ns, ifname, mac);
}

export async function setMac(lab: Lab, ns: string, ifname: string, mac: string): Promise<void> {
  await lab.exec(ns, ['ip', 'link', 'set', ifname, 'down']);
  await lab.exec(ns, ['ip', 'link', 'set', ifname, 'address', mac]);
  await lab.exec(ns, ['ip', 'link', 'set', ifname, 'up']);
}

/** udhcpc script: records every event with the options, configures the address on bound/renew. */
export async function udhcpcScript(dir: string, name: string): Promise<{ script: string; out: string; events(): Promise<string[]> }> {
  const out = join(dir, `${name}.events`);
  const script = join(dir, `${name}.sh`);
  await writeFile(script, `#!/bin/sh
echo "$1 ip=$ip mask=$mask router=$router dns=$dns domain=$domain lease=$lease serverid=$serverid hostname=$hostname" >> ${out}
case "$1" in
  bound|renew) ip addr flush dev "$interface"; ip addr add "$ip/$mask" dev "$interface";;
  deconfig|nak) ip addr flush dev "$interface";;
esac
exit 0
`);
  await chmod(script, 0o755);
  return { script, out, events: async () => (await readFile(out, 'utf8').catch(() => '')).split('\n').filter(Boolean) };
}

/** Parses "bound ip=… router=…" into a record. */
export function eventFields(line: string): Record<string, string> {
  const [kind, ...rest] = line.split(' ');
  const o: Record<string, string> = { event: kind! };
  for (const kv of rest) { const i = kv.indexOf('='); o[kv.slice(0, i)] = kv.slice(i + 1); }
  return o;
}
