// `npm ci`'s build of the web UI (postinstall of this workspace). A failed build must not fail
// the install of the whole project: the manager builds again at start and reports the error then.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', "await (await import('./src/build.ts')).ensureUiBuilt()"],
  { cwd: fileURLToPath(new URL('../', import.meta.url)), stdio: 'inherit' });
if (r.status !== 0) process.stderr.write('flotilla ui: the web UI did not build now; the manager builds it at start\n');
