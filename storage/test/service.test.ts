// The storage service over real HTTP on loopback: downloads from a server this test starts,
// uploads with curl through CloudStack's signed POST, signed host/extract URLs.
import test from 'ava';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { StorageClient } from '../src/client.ts';
import { findBusybox, GUEST_TEMPLATE_ID } from '../src/guest-template.ts';
import { ImageStore } from '../src/store.ts';
import { signedUrl, uploadParams } from '../src/signature.ts';
import { startStorageServer, type StorageServer } from '../src/server.ts';
import { md5, rootfsTar, serve, sha256, tmp, until } from '../src/testing.ts';

const sh = promisify(execFile);
const KEY = Buffer.alloc(32, 3);

async function withStore(t: { teardown(f: () => unknown): void }, maxBytes?: number): Promise<{ s: StorageServer; c: StorageClient; dir: string }> {
  const dir = tmp();
  const s = await startStorageServer({ dir, key: KEY, ...(maxBytes ? { defaultMaxBytes: maxBytes } : {}) });
  t.teardown(async () => { await s.close(); rmSync(dir, { recursive: true, force: true }); });
  return { s, c: new StorageClient(s.url, KEY), dir };
}

const final = (c: StorageClient, id: string) => until(async () => { const s = await c.get(id); return s && (s.state === 'Ready' || s.state === 'Error') ? s : undefined; }, 30_000, 'the transfer to end');

test('download: right MD5 and {SHA-256} checksums land the template; a wrong one is an error with no file', async (t) => {
  const { s, c, dir } = await withStore(t);
  const tar = rootfsTar(100_000);
  const web = await serve({ 't.tar': tar });
  t.teardown(() => web.close());
  const a = randomUUID(), b = randomUUID(), bad = randomUUID();
  await c.download({ id: a, kind: 'template', format: 'TAR', checksum: md5(tar) }, `${web.url}/t.tar`);
  await c.download({ id: b, kind: 'template', format: 'TAR', checksum: `{SHA-256}${sha256(tar)}` }, `${web.url}/t.tar`);
  await c.download({ id: bad, kind: 'template', format: 'TAR', checksum: md5(Buffer.from('other')) }, `${web.url}/t.tar`);
  t.like(await final(c, a), { state: 'Ready', status: 'Download Complete', physicalSize: tar.length, size: tar.length, sha256: sha256(tar), checksum: md5(tar) });
  t.like(await final(c, b), { state: 'Ready', checksum: `{SHA-256}${sha256(tar)}` });
  const e = await final(c, bad);
  t.is(e.state, 'Error');
  t.regex(e.status, /^Download Failed: checksum mismatch \(MD5 expected [0-9a-f]{32}, got [0-9a-f]{32}\)$/);
  t.false(existsSync(join(dir, 'templates', bad)));
  t.deepEqual(readdirSync(join(dir, 'tmp')), []);
  t.true(existsSync(s.store.file(a)));
});

test('download: files of several blocks, two at once, each get their own digests', async (t) => {
  // Several megabytes each, received in many chunks; the two transfers interleave.
  const { c } = await withStore(t);
  const one = rootfsTar(9_500_000); const two = rootfsTar(6_000_000);
  const web = await serve({ 'one.tar': one, 'two.tar': two });
  t.teardown(() => web.close());
  const a = randomUUID(), b = randomUUID();
  await c.download({ id: a, kind: 'template', format: 'TAR', checksum: md5(one) }, `${web.url}/one.tar`);
  await c.download({ id: b, kind: 'template', format: 'TAR', checksum: `{SHA-256}${sha256(two)}` }, `${web.url}/two.tar`);
  t.like(await final(c, a), { state: 'Ready', physicalSize: one.length, sha256: sha256(one), checksum: md5(one) });
  t.like(await final(c, b), { state: 'Ready', physicalSize: two.length, sha256: sha256(two) });
});

test('download: redirects followed up to 5; a loop, a non-HTTP target refused; brackets in a URL are not patterns', async (t) => {
  const { c, dir } = await withStore(t);
  const tar = rootfsTar(20_000);
  const web = await serve({ 't.tar': tar, 'odd[1-2].tar': tar }, { redirects: { a: 'b', b: 'c', c: 't.tar', loop: 'loop', local: 'file:///etc/passwd' } });
  t.teardown(() => web.close());
  const [ok, loop, local, odd] = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
  await c.download({ id: ok, kind: 'template', format: 'TAR', checksum: md5(tar) }, `${web.url}/a`);
  await c.download({ id: loop, kind: 'template', format: 'TAR' }, `${web.url}/loop`);
  await c.download({ id: local, kind: 'template', format: 'TAR' }, `${web.url}/local`);
  await c.download({ id: odd, kind: 'template', format: 'TAR', checksum: md5(tar) }, `${web.url}/odd[1-2].tar`);
  t.like(await final(c, ok), { state: 'Ready', physicalSize: tar.length, total: tar.length });
  t.is((await final(c, loop)).status, 'Download Failed: too many redirects');
  t.regex((await final(c, local)).status, /^Download Failed: .*(scheme|[Pp]rotocol)/);
  t.like(await final(c, odd), { state: 'Ready' });
  t.deepEqual(readdirSync(join(dir, 'tmp')), []);
});

test('download: 404, a non-tarball and an oversize file are errors with clear statuses', async (t) => {
  const { c, dir } = await withStore(t, 50_000);
  const web = await serve({ 'page.html': Buffer.from('<html>hello</html>'.repeat(100)), 'big.tar': rootfsTar(80_000), 'gz.tar.gz': rootfsTar(1000, { gzip: true }) });
  t.teardown(() => web.close());
  const [x, y, z, g] = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
  await c.download({ id: x, kind: 'template', format: 'TAR' }, `${web.url}/missing.tar`);
  await c.download({ id: y, kind: 'template', format: 'TAR' }, `${web.url}/page.html`);
  await c.download({ id: z, kind: 'template', format: 'TAR' }, `${web.url}/big.tar`);
  await c.download({ id: g, kind: 'template', format: 'TAR' }, `${web.url}/gz.tar.gz`);
  t.like(await final(c, x), { state: 'Error', status: 'Download Failed: the server answered HTTP 404 Not Found' });
  t.regex((await final(c, y)).status, /^Download Failed: not a TAR root filesystem: not a tar archive/);
  t.is((await final(c, z)).status, 'Download Failed: the file is larger than the limit of 50000 bytes');
  t.like(await final(c, g), { state: 'Ready', compression: 'gzip' });
  t.deepEqual(readdirSync(join(dir, 'templates')), [g]);
});

test('download: a slow server shows progress as "N% Downloaded"; an interrupted one ends in an error and leaves nothing', async (t) => {
  const { c, dir } = await withStore(t);
  const tar = rootfsTar(1_500_000);
  const slow = await serve({ 't.tar': tar }, { slowMs: 40 });
  const cut = await serve({ 't.tar': tar }, { cutAfter: 600_000 });
  t.teardown(async () => { await slow.close(); await cut.close(); });
  const a = randomUUID(), b = randomUUID();
  await c.download({ id: a, kind: 'template', format: 'TAR' }, `${slow.url}/t.tar`);
  await c.download({ id: b, kind: 'template', format: 'TAR' }, `${cut.url}/t.tar`);
  const seen = new Set<string>();
  await until(async () => { const s = (await c.get(a))!; seen.add(s.status); return s.state !== 'Downloading' || undefined; }, 60_000, 'slow download');
  const mid = [...seen].filter((x) => /^[1-9]\d?% Downloaded$/.test(x));
  t.true(mid.length >= 3, `progress seen: ${[...seen].join(', ')}`);
  t.like(await c.get(a), { state: 'Ready', status: 'Download Complete' });
  const e = await final(c, b);
  t.regex(e.status, /^Download Failed: the connection ended after \d+ of \d+ bytes$/);
  t.false(existsSync(join(dir, 'templates', b)));
  t.deepEqual(readdirSync(join(dir, 'tmp')), []);
});

test('upload with curl through the signed POST; expired and tampered signatures are refused', async (t) => {
  const { s, c, dir } = await withStore(t);
  const tar = rootfsTar(20_000);
  const file = join(dir, '..', `${randomUUID()}.tar`);
  writeFileSync(file, tar);
  t.teardown(() => rmSync(file, { force: true }));
  const curl = async (p: { postURL: string; metadata: string; signature: string; expires: string }) => {
    const r = await sh('curl', ['-sS', '-o', '-', '-w', '\n%{http_code}', '-X', 'POST', p.postURL, '-H', `X-signature: ${p.signature}`, '-H', `X-metadata: ${p.metadata}`, '-H', `X-expires: ${p.expires}`, '-F', `file=@${file}`]);
    const lines = r.stdout.trimEnd().split('\n');
    return { code: Number(lines.pop()), body: lines.join('\n') };
  };
  const id = randomUUID();
  const meta = { id, kind: 'template' as const, format: 'TAR', maxBytes: 10_000_000, checksum: md5(tar) };
  const expired = uploadParams(KEY, meta, s.url, new Date(Date.now() - 1000));
  t.deepEqual(await curl(expired), { code: 400, body: 'request not valid anymore.' });
  const good = uploadParams(KEY, meta, s.url, new Date(Date.now() + 60_000));
  t.deepEqual(await curl({ ...good, signature: good.signature.replace(/^./, (ch) => (ch === 'A' ? 'B' : 'A')) }), { code: 400, body: 'signature validation failed.' });
  t.deepEqual(await curl({ ...good, metadata: uploadParams(KEY, { ...meta, maxBytes: 1e12 }, s.url, new Date()).metadata }), { code: 400, body: 'signature validation failed.' });
  t.is(await c.get(id).then((x) => x?.state), undefined);
  t.deepEqual(await curl(good), { code: 200, body: 'upload successful.' });
  t.like(await c.get(id), { state: 'Ready', status: 'Download Complete', physicalSize: tar.length, checksum: md5(tar) });
  // a second upload of the same id is refused (the entity exists, as the SSVM)
  t.like(await curl(good), { code: 400, body: `image ${id} is already stored` });
});

test('host and extract URLs: signed, time-limited, purpose-bound; the control API needs its token', async (t) => {
  const { s, c } = await withStore(t);
  const tar = rootfsTar(5000);
  const web = await serve({ 't.tar': tar });
  t.teardown(() => web.close());
  const id = randomUUID();
  await c.download({ id, kind: 'template', format: 'TAR' }, `${web.url}/t.tar`);
  await final(c, id);
  const hostUrl = signedUrl(KEY, s.url, 'host', id, new Date(Date.now() + 60_000));
  const r = await fetch(hostUrl);
  t.is(r.status, 200);
  t.is(r.headers.get('x-sha256'), sha256(tar));
  t.deepEqual(Buffer.from(await r.arrayBuffer()), tar);
  t.is((await fetch(hostUrl.replace('/host/', '/extract/'))).status, 403);
  t.is((await fetch(signedUrl(KEY, s.url, 'extract', id, new Date(Date.now() - 1000)))).status, 403);
  const ex = await fetch(signedUrl(KEY, s.url, 'extract', id, new Date(Date.now() + 60_000)));
  t.is(ex.headers.get('content-disposition'), `attachment; filename="${id}.tar"`);
  t.is((await fetch(`${s.url}/v1/images`)).status, 401);
  t.is((await fetch(`${s.url}/v1/images`, { headers: { authorization: 'Bearer nope' } })).status, 401);
  t.true(await c.delete(id));
  t.is((await fetch(hostUrl)).status, 404);
});

test('a store refuses a directory that holds anything but a store', async (t) => {
  const dir = tmp();
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'precious'), 'x');
  await t.throwsAsync(startStorageServer({ dir, key: KEY }), { message: /not empty and not an image store/ });
  t.deepEqual(readdirSync(dir), ['precious']);
});

test('the built-in guest template: built at a store\'s first start, taken in as an upload, kept while busybox and the recipe stay, rebuilt when they change; two services of one directory agree', async (t) => {
  const dir = tmp();
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const busybox = findBusybox();
  // Two services opening one directory at once (the manager's fallback and a storage VM at a
  // handover) both build it: one copy lands, both serve it.
  const [a, b] = [new ImageStore(dir), new ImageStore(dir)];
  await a.open(); await b.open();
  const [x, y] = await Promise.all([a.ensureGuestTemplate(busybox), b.ensureGuestTemplate(busybox)]);
  t.like(x, { id: GUEST_TEMPLATE_ID, state: 'Ready', format: 'TAR' });
  t.is(y.sha256, x.sha256);
  t.is(sha256(readFileSync(a.file(GUEST_TEMPLATE_ID))), x.sha256!);
  t.deepEqual(readdirSync(join(dir, 'tmp')), []);
  const members = (await sh('tar', ['-tvf', a.file(GUEST_TEMPLATE_ID)], { maxBuffer: 1 << 24 })).stdout;
  t.regex(members, /^-rwxr-xr-x 0\/0 .* \.\/bin\/busybox$/m); // owners 0: a host shifts them
  t.regex(members, /\.\/etc\/inittab$/m);

  // Reopened with the same busybox: the stored copy stays (same file, same digest).
  const born = () => statSync(a.file(GUEST_TEMPLATE_ID), { bigint: true }).ctimeNs;
  const first = born();
  const c = new ImageStore(dir); await c.open();
  t.is((await c.ensureGuestTemplate(busybox)).sha256, x.sha256);
  t.is(born(), first);

  // Another busybox (here: a copy elsewhere): built again (the bytes may be the same).
  const other = join(tmp(), 'busybox');
  t.teardown(() => rmSync(dirname(other), { recursive: true, force: true }));
  copyFileSync(realpathSync(busybox), other); chmodSync(other, 0o755);
  const again = await c.ensureGuestTemplate(other);
  t.is(again.state, 'Ready');
  t.not(again.source, x.source);
  t.true(born() > first);

  // Nothing to build it from: an error entry that says why, no file.
  const d = new ImageStore(tmp()); await d.open();
  t.teardown(() => rmSync(d.dir, { recursive: true, force: true }));
  const none = await d.ensureGuestTemplate('/nonexistent/busybox');
  t.is(none.state, 'Error');
  t.regex(none.status, /^Upload Failed: building the guest template from \/nonexistent\/busybox: /);
  t.false(existsSync(d.file(GUEST_TEMPLATE_ID)));
});
