#!/usr/bin/env node
// Runs every workspace's ava suite in turn (one at a time: the kernel tests share the
// machine's namespaces and CPUs) and ends with one plain summary line,
// "tests: N passed, N failed, N skipped", that CI reads whatever the runner.
// Usage: node scripts/run-tests.mjs [workspace …]   (default: all with tests)
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const workspaces = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).workspaces;
const wanted = process.argv.slice(2);
const hasTests = (dir) => {
  const t = join(root, dir, 'test');
  if (!existsSync(t)) return false;
  const walk = (d) => readdirSync(d, { withFileTypes: true }).some((e) =>
    e.isDirectory() ? walk(join(d, e.name)) : e.name.endsWith('.test.ts'));
  return walk(t);
};
const targets = (wanted.length ? wanted : workspaces).filter(hasTests);

// Database tests run on PGlite and on a PostgreSQL server (FLOTILLA_TEST_PG_URL); two managers
// sharing one database can only be tested on a server. Without one named, a throwaway server of
// the Debian `postgresql` package is started for this run (its own directory and port) and
// removed at the end, so `npm test` alone tests both; CI starts its own (.ci/run).
let stopPostgres = () => {};
if (!process.env.FLOTILLA_TEST_PG_URL) {
  const env = { ...process.env, FLOTILLA_PG_DIR: `/tmp/flt-pg-test-${process.pid}`, FLOTILLA_PG_PORT: String(56000 + (process.pid % 1000)) };
  const script = join(root, 'scripts/pg-throwaway.sh');
  const r = spawnSync('bash', [script, 'start'], { env, encoding: 'utf8' });
  const url = /FLOTILLA_TEST_PG_URL=(\S+)/.exec(r.stdout ?? '')?.[1];
  if (r.status === 0 && url) {
    process.env.FLOTILLA_TEST_PG_URL = url;
    stopPostgres = () => { spawnSync('bash', [script, 'stop'], { env, stdio: 'ignore' }); };
    process.on('exit', () => stopPostgres());
    process.stdout.write(`a throwaway PostgreSQL for this run: ${url}\n`);
  } else {
    process.stdout.write(`no PostgreSQL server for the database tests (${(r.stderr ?? '').trim() || 'pg-throwaway.sh failed'}): they run on PGlite only, and the several-managers test fails\n`);
  }
}

const totals = { passed: 0, failed: 0, skipped: 0 };
const failedSuites = [];
// The failing tests' own lines, repeated at the end: CI keeps only the tail of a long run.
const failedLines = [];
const failedDetails = [];
for (const ws of targets) {
  process.stdout.write(`\n=== ${ws} ===\n`);
  const out = await new Promise((resolve) => {
    const child = spawn(join(root, 'node_modules/.bin/ava'), [], {
      cwd: join(root, ws), stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env },
    });
    let text = '';
    child.stdout.on('data', (b) => { text += b; process.stdout.write(b); });
    child.stderr.on('data', (b) => { text += b; process.stderr.write(b); });
    child.on('close', (code) => resolve({ text, code }));
  });
  // ava's default reporter prints one line per test (✔ passed, ✘ [fail], - [skip]); its closing
  // counts omit the passed count when something failed, so the per-test lines are counted.
  const lines = (re) => (out.text.match(re) ?? []).length;
  const passed = lines(/^\s*✔ /gm);
  const failed = lines(/^\s*✘ \[fail\]/gm) + lines(/^\s*✘ .* exited with a non-zero exit code/gm)
    + lines(/^\s*✘ Timed out/gm) + lines(/^\s*Uncaught exception in /gm) + lines(/^\s*Unhandled rejection in /gm);
  const skipped = lines(/^\s*- \[skip\]/gm);
  totals.passed += passed; totals.skipped += skipped;
  // A suite that exits non-zero without a counted failure (a crash, a timeout) still fails.
  const suiteFailed = failed > 0 || out.code !== 0;
  totals.failed += suiteFailed ? Math.max(failed, 1) : 0;
  if (suiteFailed) failedSuites.push(ws);
  // On a timeout ava names the file that hung ("Failed to exit when running …", "… pending in …")
  // below the ✘ line: without it the tail says only "Timed out".
  for (const m of out.text.matchAll(/^\s*(✘ .*|Uncaught exception in .*|Unhandled rejection in .*|Failed to exit when running .*|\d+ tests? (?:were|was) pending in .*)$/gm)) {
    failedLines.push(`${ws}: ${m[1].trim()}`);
  }
  if (suiteFailed && out.code !== 0 && failed === 0) failedLines.push(`${ws}: exited with code ${out.code}`);
  // ava's failure details follow its last "─" rule; a short excerpt of them goes to the tail too.
  if (suiteFailed) {
    const detail = out.text.split(/^\s*─\s*$/m).slice(1, -1).join('\n').split('\n').filter((l) => l.trim());
    if (detail.length) failedDetails.push(`--- ${ws}\n${detail.slice(0, 30).join('\n')}`);
  }
}
if (failedDetails.length) process.stdout.write(`\nfailure details (excerpt):\n${failedDetails.join('\n')}\n`);
if (failedLines.length) process.stdout.write(`\nfailed:\n${failedLines.map((l) => `  ${l}`).join('\n')}\n`);
if (failedSuites.length) process.stdout.write(`\nfailing suites: ${failedSuites.join(', ')}\n`);
process.stdout.write(`\ntests: ${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped\n`);
process.exit(totals.failed > 0 || totals.passed === 0 ? 1 : 0);
