#!/usr/bin/env node
// `npm run bench`: runs every workspace's `bench` script in turn; each ends with its one
// summary line (e.g. "firewall: apply_10k_ms=…"). Usage: node scripts/run-benches.mjs [workspace …]
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const workspaces = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).workspaces;
const wanted = process.argv.slice(2);
let failed = 0;
for (const ws of wanted.length ? wanted : workspaces) {
  const pkg = JSON.parse(readFileSync(join(root, ws, 'package.json'), 'utf8'));
  if (!pkg.scripts?.bench) continue;
  process.stdout.write(`\n=== bench ${ws} ===\n`);
  const r = spawnSync('npm', ['run', '--silent', 'bench'], { cwd: join(root, ws), stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
