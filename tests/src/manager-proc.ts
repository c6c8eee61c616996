// `npm start`'s real entry point (manager/src/main.ts) as a child process with its own port, data
// dir and FLOTILLA_LOCAL_NAME, for tests that kill it (issue 16). Never the developer defaults.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { createServer } from 'node:net';

const root = new URL('../../', import.meta.url).pathname;

export interface ManagerProc { child: ChildProcess; url: string; output: () => string; alive: () => boolean }

/** A free TCP port on loopback (the kernel's pick), so a restarted manager can take the same one. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const p = (s.address() as { port: number }).port; s.close(() => resolve(p)); });
  });
}

/** Starts the manager and resolves once it listens (its URL as printed, on 127.0.0.1). */
export async function startManager(env: Record<string, string>, readyTimeoutMs = 120_000): Promise<ManagerProc> {
  const child = spawn(process.execPath, ['--import', 'tsx', `${root}manager/src/main.ts`], {
    env: { ...process.env, FLOTILLA_LISTEN: '127.0.0.1', FLOTILLA_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const alive = () => child.exitCode === null && child.signalCode === null;
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no start: ${out.slice(-3000)}`)), readyTimeoutMs);
    child.stdout!.on('data', (b) => {
      out += b;
      const m = /listening on (https?):\/\/localhost:(\d+)/.exec(out);
      if (m) { clearTimeout(timer); resolve(`${m[1]}://127.0.0.1:${m[2]}`); }
    });
    child.stderr!.on('data', (b) => { out += b; });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`manager exited (${code}) before listening: ${out.slice(-3000)}`)); });
  });
  return { child, url, output: () => out, alive };
}

/** Stops a manager we started (SIGTERM, then SIGKILL after 20 s). */
export async function stopManager(m: ManagerProc): Promise<void> {
  if (!m.alive()) return;
  const exited = new Promise((r) => m.child.once('exit', r));
  m.child.kill('SIGTERM');
  const t = setTimeout(() => m.child.kill('SIGKILL'), 20_000);
  await exited;
  clearTimeout(t);
}

/** PIDs of host agents whose command line names this data dir (its token file is there). */
export function agentPids(dataDir: string): number[] {
  const pids: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8');
      if (cmd.includes(dataDir) && cmd.includes('agent/src/main.ts')) pids.push(Number(p));
    } catch { /* gone */ }
  }
  return pids;
}
