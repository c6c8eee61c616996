// The UI build's freshness rule (what `npm start` uses to decide on a rebuild): a build is fresh
// only with its index.html and stamp, and only while no source is newer than the stamp.
import test from 'ava';
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { uiBuildFresh } from '../src/build.ts';

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
