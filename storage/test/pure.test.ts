import test from 'ava';
import { formatChecksum, parseChecksum } from '../src/checksum.ts';
import { openMetadata, sealMetadata, signedUrl, uploadParams, verifyUpload, verifyUrl } from '../src/signature.ts';
import { statusText } from '../src/status.ts';
import { normalize, TarChecker } from '../src/tar.ts';
import { rootfsTar } from '../src/testing.ts';

const KEY = Buffer.alloc(32, 7);

test('checksums: bare hex is MD5, {SHA-256} prefixed, wrong lengths and Java-foreign names refused', (t) => {
  t.deepEqual(parseChecksum('D41D8CD98F00B204E9800998ECF8427E'), { algorithm: 'MD5', node: 'md5', hex: 'd41d8cd98f00b204e9800998ecf8427e' });
  const s = parseChecksum(`{SHA-256}${'a'.repeat(64)}`);
  t.like(s, { algorithm: 'SHA-256', node: 'sha256' });
  t.is(formatChecksum(s as never), `{SHA-256}${'a'.repeat(64)}`);
  t.regex(parseChecksum(`{SHA256}${'a'.repeat(64)}`) as string, /unsupported checksum algorithm SHA256/);
  t.regex(parseChecksum(`{sha-256}${'a'.repeat(64)}`) as string, /unsupported/);
  t.regex(parseChecksum('abc') as string, /32 hexadecimal digits/);
  t.regex(parseChecksum('xyz') as string, /not a hexadecimal/);
});

test('status strings as CloudStack shows them', (t) => {
  t.is(statusText({ state: 'Downloading', bytes: 42, total: 100 }), '42% Downloaded');
  t.is(statusText({ state: 'Ready', bytes: 100 }), 'Download Complete');
  t.is(statusText({ state: 'Error', bytes: 0, error: 'Download Failed: x' }), 'Download Failed: x');
});

test('upload signature: verifies, refuses tampered metadata, signature, another URL, another id and expiry', (t) => {
  const p = uploadParams(KEY, { id: '11111111-2222-4333-8444-555555555555', kind: 'template', format: 'TAR', maxBytes: 1000 }, 'http://h:1/', new Date(Date.now() + 60_000));
  t.is(p.postURL, 'http://h:1/upload/11111111-2222-4333-8444-555555555555');
  const h = { signature: p.signature, metadata: p.metadata, expires: p.expires };
  const ok = verifyUpload(KEY, h, p.postURL, '11111111-2222-4333-8444-555555555555');
  t.true(ok.ok);
  t.like(verifyUpload(KEY, { ...h, signature: `A${p.signature.slice(1)}` }, p.postURL, '11111111-2222-4333-8444-555555555555'), { ok: false, error: 'signature validation failed.' });
  const other = sealMetadata(KEY, { id: '11111111-2222-4333-8444-555555555555', kind: 'template', format: 'TAR', maxBytes: 10 ** 12 });
  t.like(verifyUpload(KEY, { ...h, metadata: other }, p.postURL, '11111111-2222-4333-8444-555555555555'), { ok: false });
  t.like(verifyUpload(KEY, h, 'http://h:2/upload/11111111-2222-4333-8444-555555555555', '11111111-2222-4333-8444-555555555555'), { ok: false });
  t.like(verifyUpload(KEY, h, p.postURL, '11111111-2222-4333-8444-555555555555', new Date(Date.now() + 120_000)), { ok: false, error: 'request not valid anymore.' });
  t.like(verifyUpload(KEY, { ...h, signature: undefined }, p.postURL, 'x'), { ok: false, error: 'signature, metadata and expires are compulsory fields.' });
  t.is(openMetadata(Buffer.alloc(32, 8), p.metadata), undefined);
});

test('signed URLs: purpose, id and expiry are covered', (t) => {
  const u = new URL(signedUrl(KEY, 'http://s', 'host', 'abc', new Date(Date.now() + 10_000)));
  const e = u.searchParams.get('expires'); const s = u.searchParams.get('signature');
  t.is(verifyUrl(KEY, 'host', 'abc', e, s), undefined);
  t.truthy(verifyUrl(KEY, 'extract', 'abc', e, s));
  t.truthy(verifyUrl(KEY, 'host', 'abd', e, s));
  t.is(verifyUrl(KEY, 'host', 'abc', e, s, Date.now() + 20_000), 'the URL has expired');
});

function check(b: Buffer, chunk = 1000): ReturnType<TarChecker['end']> {
  const c = new TarChecker();
  for (let i = 0; i < b.length; i += chunk) if (!c.push(b.subarray(i, i + chunk))) break;
  return c.end();
}

test('tar: a real rootfs tarball passes in any chunking; truncated, foreign and bootless ones fail', (t) => {
  const tar = rootfsTar(3000);
  for (const n of [1, 511, 512, 7777, tar.length]) t.like(check(tar, n), { boot: 'bin/sh' });
  t.regex(check(tar.subarray(0, 2048)) as string, /truncated/);
  t.regex(check(Buffer.from('<html>not found</html>'.repeat(100))) as string, /not a tar archive/);
  t.is(check(Buffer.alloc(0)), 'the file is empty');
  const bad = Buffer.from(tar); bad[5] = bad[5]! ^ 0x01; // the first header's name: its checksum no longer matches
  t.regex(check(bad) as string, /bad header checksum/);
});

test('tar: names leaving the root and device nodes are refused', (t) => {
  t.is(normalize('./a/../../b'), undefined);
  t.is(normalize('/etc/passwd'), undefined);
  t.is(normalize('./bin/sh'), 'bin/sh');
  // a header crafted with a device node type
  const h = Buffer.alloc(1536);
  h.write('dev/sda', 0); h.write('0000644\0', 100); h.write('00000000000\0', 124); h.write('3', 156); h.write('ustar\0', 257); h.write('00', 263);
  let sum = 0; for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  t.regex(check(h) as string, /type "3"/);
});
