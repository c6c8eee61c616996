// Appliance bundles: built once, rebuilt when an input changes, and the router's bundle runs on
// plain node (no tsx loader) and answers on its control socket.
import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applianceBundle } from '../src/bundle.ts';

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'flt-bundle-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('built on first use, reused while fresh, rebuilt when an input is newer', (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'dep.ts'), "export const word: string = 'one';\n");
  writeFileSync(join(dir, 'main.ts'), "import { word } from './dep.ts';\nconsole.log(word);\n");
  const opts = { entries: { demo: join(dir, 'main.ts') }, buildDir: join(dir, 'build') };
  const out = applianceBundle('demo', opts)!;
  t.regex(readFileSync(out, 'utf8'), /"one"|'one'/);
  const built = statSync(out).mtimeMs;
  t.is(applianceBundle('demo', opts), out);
  t.is(statSync(out).mtimeMs, built, 'fresh bundle not rebuilt');
  writeFileSync(join(dir, 'dep.ts'), "export const word: string = 'two';\n");
  const later = new Date(Date.now() + 5_000);
  utimesSync(join(dir, 'dep.ts'), later, later);
  t.regex(readFileSync(applianceBundle('demo', opts)!, 'utf8'), /"two"|'two'/);
});

test('a role without an entry point has no bundle; a source that does not build throws', (t) => {
  const dir = tempDir(t);
  t.is(applianceBundle('nothing', { entries: {}, buildDir: dir }), null);
  writeFileSync(join(dir, 'bad.ts'), 'export const = ;\n');
  t.throws(() => applianceBundle('bad', { entries: { bad: join(dir, 'bad.ts') }, buildDir: join(dir, 'build') }));
});

test('a role with a stand-in bundles it until its own entry point exists, then the real one', (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'standin.ts'), "console.log('stand-in');\n");
  const opts = { entries: { storage: join(dir, 'main.ts') }, fallbacks: { storage: join(dir, 'standin.ts') }, buildDir: join(dir, 'build') };
  t.regex(readFileSync(applianceBundle('storage', opts)!, 'utf8'), /stand-in/);
  writeFileSync(join(dir, 'main.ts'), "console.log('the real storage service');\n");
  // Older than the stand-in's bundle: still rebuilt, because the bundle was made from another entry.
  const past = new Date(Date.now() - 60_000);
  utimesSync(join(dir, 'main.ts'), past, past);
  t.regex(readFileSync(applianceBundle('storage', opts)!, 'utf8'), /the real storage service/);
});

test('the router bundle runs on plain node and answers a report on its control socket', async (t) => {
  const dir = tempDir(t);
  const bundle = applianceBundle('router')!;
  const control = join(dir, 'control.sock');
  const child = spawn(process.execPath, [bundle, '--control', control, '--state-dir', join(dir, 'state')], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => { child.kill('SIGKILL'); });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (b: Buffer) => { if (b.toString().includes('control socket')) resolve(); });
    child.once('exit', (code) => reject(new Error(`router exited with ${code}`)));
  });
  t.false(readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').includes('tsx'));
  const reply = await new Promise<string>((resolve, reject) => {
    const c = net.connect(control, () => c.write('{"type":"report"}\n'));
    let buf = '';
    c.setEncoding('utf8');
    c.on('data', (d: string) => { buf += d; if (buf.includes('\n')) { c.end(); resolve(buf); } });
    c.on('error', reject);
  });
  t.like(JSON.parse(reply), { type: 'report', appliedGeneration: null });
});
