// Runs every benchmark of tests/bench (or those named: `npm run bench -- hosts`), one after the other.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';

const dir = new URL('.', import.meta.url).pathname;
const wanted = process.argv.slice(2);
let failed = 0;
for (const f of readdirSync(dir).filter((x) => x.endsWith('.ts') && x !== 'run.ts').sort()) {
  if (wanted.length && !wanted.includes(f.replace(/\.ts$/, ''))) continue;
  const r = spawnSync(process.execPath, ['--import', 'tsx', `${dir}${f}`], { stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
