// The UI build's freshness rule (what `npm start` uses to decide on a rebuild): a build is fresh
// only with its index.html and stamp, and only while no source is newer than the stamp.
import test from 'ava';
import { mkdtempSync, readFileSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { buildUi, uiBuildFresh } from '../src/build.ts';

test('a build is fresh only while no source is newer than its stamp', (t) => {
  const dist = mkdtempSync(join(tmpdir(), 'flt-ui-dist-'));
  t.teardown(() => rmSync(dist, { recursive: true, force: true }));
  t.false(uiBuildFresh(dist), 'empty folder');
  writeFileSync(join(dist, '.built'), 'x');
  t.false(uiBuildFresh(dist), 'no index.html');
  writeFileSync(join(dist, 'index.html'), '<!doctype html>');
  const future = new Date(Date.now() + 3_600_000);
  utimesSync(join(dist, '.built'), future, future);
  t.true(uiBuildFresh(dist), 'stamp newer than every source');
  const past = new Date('2000-01-01T00:00:00Z');
  utimesSync(join(dist, '.built'), past, past);
  t.false(uiBuildFresh(dist), 'a source newer than the stamp');
});

test('the build is a production build whatever NODE_ENV the manager runs with', async (t) => {
  // ava runs this with NODE_ENV=test, as the UI test's manager (and once the bench's dist) ran:
  // Vite then kept Vue's development code (its "[Vue warn]" messages, 86 KB gzipped, not 67).
  t.is(process.env.NODE_ENV, 'test');
  const dist = join(mkdtempSync(join(tmpdir(), 'flt-ui-build-')), 'dist');
  t.teardown(() => rmSync(dirname(dist), { recursive: true, force: true }));
  await buildUi(dist);
  const entry = readdirSync(join(dist, 'assets')).find((f) => /^index-.*\.js$/.test(f))!;
  t.false(readFileSync(join(dist, 'assets', entry), 'utf8').includes('[Vue warn]'));
});
