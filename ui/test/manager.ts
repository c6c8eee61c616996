// `npm start` as users run it (manager/src/main.ts: builds the UI when stale, the single-machine
// cloud, netns as root and the simulator otherwise) with its own port, data dir and namespace
// prefix, stopped and cleaned afterwards.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));

export interface Started { url: string; name: string; child: ChildProcess; output: () => string; stop(): Promise<void> }

export async function startManager(env: Record<string, string> = {}): Promise<Started> {
  const name = `flt-u${randomBytes(3).toString('hex')}`;
  const dataDir = mkdtempSync(join(tmpdir(), 'flt-ui-'));
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'manager/src/main.ts')], {
    env: { ...process.env, PORT: '0', FLOTILLA_LISTEN: '127.0.0.1', FLOTILLA_DATA_DIR: dataDir, FLOTILLA_ADMIN_PASSWORD: 'ui-admin-pw', FLOTILLA_LOCAL_NAME: name, FLOTILLA_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const stop = async () => {
    if (child.exitCode === null) { child.kill('SIGTERM'); await new Promise((r) => child.once('exit', r)); }
    try { execFileSync(join(root, 'scripts/local-cloud-clean.sh'), [name], { stdio: 'ignore' }); } catch { /* not root: nothing was made */ }
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the manager did not start: ${out}`)), 300_000);
      child.stdout!.on('data', (b) => { out += b; const m = /listening on (http:\/\/localhost:\d+)/.exec(out); if (m) { clearTimeout(timer); resolve(m[1]!.replace('localhost', '127.0.0.1')); } });
      child.stderr!.on('data', (b) => { out += b; });
      child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`the manager exited (${code}): ${out}`)); });
    });
    return { url, name, child, output: () => out, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
