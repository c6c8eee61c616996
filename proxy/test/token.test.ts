import test from 'ava';
import { randomBytes } from 'node:crypto';
import { deriveConsoleKey, newJti, openToken, openTokenWith, sealToken, UsedTokens, type ConsoleClaims } from '../src/token.ts';
import { consoleEndpoint, normalizePrefix } from '../src/url.ts';

const key = deriveConsoleKey(randomBytes(32));
const claims = (exp: number): ConsoleClaims => ({
  jti: newJti(), vmId: '6f1b0c1e-0000-4000-8000-000000000001', vmName: 'i-2-10-VM', label: 'web1', hostId: 'h', console: 'serial',
  userId: 'u', username: 'alice', accountId: 'a', accountName: 'alice', domainId: 'd', exp,
});

test('a sealed token opens with its key and carries its claims', (t) => {
  const c = claims(2000);
  const r = openToken(key, sealToken(key, c), 1000);
  t.deepEqual(r, { ok: true, claims: c });
});

test('expired, tampered, foreign-key and malformed tokens are refused', (t) => {
  const tok = sealToken(key, claims(2000));
  t.deepEqual(openToken(key, tok, 2001), { ok: false, reason: 'expired' });
  const parts = tok.split('.');
  const body = Buffer.from(parts[3]!, 'base64url'); body[0]! ^= 1;
  t.deepEqual(openToken(key, [parts[0], parts[1], parts[2], body.toString('base64url')].join('.'), 1000), { ok: false, reason: 'tampered' });
  t.deepEqual(openToken(deriveConsoleKey(randomBytes(32)), tok, 1000), { ok: false, reason: 'tampered' });
  t.deepEqual(openToken(deriveConsoleKey(randomBytes(32), 1), tok, 1000), { ok: false, reason: 'tampered' });
  t.deepEqual(openToken(key, 'c1.x.y', 1000), { ok: false, reason: 'malformed' });
  t.deepEqual(openToken(key, `c2${tok.slice(2)}`, 1000), { ok: false, reason: 'malformed' });
});

test('a token id opens once', (t) => {
  const used = new UsedTokens();
  const c = claims(2000);
  t.true(used.claim(c, 1000));
  t.false(used.claim(c, 1500));
  t.true(used.claim(claims(2000), 1500));
});

test('endpoint URL and websocket block from configuration', (t) => {
  t.is(normalizePrefix('vmconsole'), '/vmconsole/');
  const ep = consoleEndpoint({ scheme: 'https', domain: 'cloud.example.com', pathPrefix: '/vmconsole' }, 'c1.a.b.c', 'x');
  t.is(ep.url, 'https://cloud.example.com/vmconsole/?token=c1.a.b.c');
  t.deepEqual(ep.websocket, { host: 'cloud.example.com', port: '443', path: '/vmconsole/ws', token: 'c1.a.b.c', extra: 'x' });
  t.is(consoleEndpoint({ scheme: 'http', domain: '127.0.0.1:8080', pathPrefix: '/console/' }, 't').websocket.port, '8080');
  t.throws(() => consoleEndpoint({ scheme: 'http', domain: 'evil/x', pathPrefix: '/' }, 't'));
});

test('keys in force: a token opens with the current or the previous key, not with an older one', (t) => {
  const master = randomBytes(32);
  const [k0, k1, k2] = [0, 1, 2].map((e) => deriveConsoleKey(master, e)) as [Buffer, Buffer, Buffer];
  const tok = sealToken(k0, claims(5000));
  t.true(openTokenWith([k0], tok, 1000).ok);
  t.true(openTokenWith([k1, k0], tok, 1000).ok, 'after one rotation');
  t.deepEqual(openTokenWith([k2, k1], tok, 1000), { ok: false, reason: 'tampered' }, 'after two rotations');
  t.deepEqual(openTokenWith([k1, k0], tok, 6000), { ok: false, reason: 'expired' });
  t.deepEqual(openTokenWith([], tok, 1000), { ok: false, reason: 'tampered' });
});
