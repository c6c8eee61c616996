// Signatures, sessions and their edge cases, over real HTTP.
import test from 'ava';
import { createHmac } from 'node:crypto';
import { canonicalString, javaUrlEncode, verifySignature } from '../src/api/signing.ts';
import { signedClient } from '../src/client.ts';
import { ADMIN_PASSWORD, eachDialect, loginSession, startManager } from './helpers.ts';

/** Sends raw form parameters, signing them as given (or not at all). */
async function rawCall(url: string, params: Record<string, string>, opts: { secret?: string; tamper?: (p: Record<string, string>) => void; encode?: (v: string) => string } = {}) {
  const p = { ...params };
  if (opts.secret) {
    const canon = Object.keys(p).sort().map((k) => `${k}=${(opts.encode ?? javaUrlEncode)(p[k]!)}`).join('&').toLowerCase();
    p.signature = createHmac('sha1', opts.secret).update(canon).digest('base64');
  }
  opts.tamper?.(p);
  const res = await fetch(`${url}/client/api`, { method: 'POST', body: new URLSearchParams(p) });
  const json = await res.json() as Record<string, any>;
  return { status: res.status, body: json[Object.keys(json)[0]!] };
}

test('canonical string: sorted case-sensitively, values URL-encoded like Java, lowercased', (t) => {
  t.is(canonicalString({ command: 'listZones', apiKey: 'AbC', response: 'json', name: 'a b+c*~é' }),
    'apikey=abc&command=listzones&name=a%20b%2bc*%7e%c3%a9&response=json');
  t.is(javaUrlEncode("!'()~*-_."), '%21%27%28%29%7E*-_.');
});

test('verifySignature accepts the cs client\'s encoding of ~ and refuses a wrong one', (t) => {
  const params = { apiKey: 'k', command: 'listZones', name: 'x~y*z' };
  const pyStyle = Object.keys(params).sort().map((k) => `${k}=${encodeURIComponent((params as any)[k]).replace(/[!'()]/g, (c) => `%${c.charCodeAt(0).toString(16)}`)}`).join('&').toLowerCase();
  const sig = createHmac('sha1', 's').update(pyStyle).digest('base64');
  t.true(verifySignature(params, 's', sig));
  t.false(verifySignature(params, 'other', sig));
  t.false(verifySignature({ ...params, name: 'x~y*w' }, 's', sig));
});

eachDialect('signed requests: edge cases of values, names, secrets and expiry', async (t, dialect) => {
  const { url, admin } = await startManager(t, dialect);
  const base = { command: 'listDomains', response: 'json', apiKey: admin.apiKey };
  const good = await rawCall(url, base, { secret: admin.secretKey });
  t.is(good.status, 200);
  t.is(good.body.count, 1);

  // values with spaces, '+', '*', '~' and non-ASCII are signed and verified
  for (const keyword of ['RO OT', 'a+b', 'x*y', 'ü~ñ', '名前', "it's (1)!"]) {
    const r = await rawCall(url, { ...base, keyword }, { secret: admin.secretKey });
    t.is(r.status, 200, `keyword ${keyword}: ${JSON.stringify(r.body)}`);
  }
  // mixed-case parameter names sign the same way (the string is lowercased)
  const mixed = await rawCall(url, { Command: 'listDomains', RESPONSE: 'json', apiKey: admin.apiKey, ListAll: 'true' }, { secret: admin.secretKey });
  t.is(mixed.status, 200, JSON.stringify(mixed.body));

  const wrong = await rawCall(url, base, { secret: 'not-the-secret' });
  t.is(wrong.status, 401);
  t.is(wrong.body.errorcode, 401);
  t.regex(wrong.body.errortext, /unable to verify user credentials/);

  const tampered = await rawCall(url, { ...base, listall: 'false' }, { secret: admin.secretKey, tamper: (p) => { p.listall = 'true'; } });
  t.is(tampered.status, 401);

  const unknownKey = await rawCall(url, { ...base, apiKey: 'nope' }, { secret: admin.secretKey });
  t.is(unknownKey.status, 401);

  const future = new Date(Date.now() + 600_000).toISOString().replace(/\.\d+Z$/, '+0000');
  const past = new Date(Date.now() - 60_000).toISOString().replace(/\.\d+Z$/, '+0000');
  t.is((await rawCall(url, { ...base, signatureVersion: '3', expires: future }, { secret: admin.secretKey })).status, 200);
  const expired = await rawCall(url, { ...base, signatureVersion: '3', expires: past }, { secret: admin.secretKey });
  t.is(expired.status, 401);
  t.regex(expired.body.errortext, /expired/);
  const noExpires = await rawCall(url, { ...base, signatureVersion: '3' }, { secret: admin.secretKey });
  t.is(noExpires.status, 401);
  // expires is signed: moving it later breaks the signature
  const moved = await rawCall(url, { ...base, signatureVersion: '3', expires: past }, { secret: admin.secretKey, tamper: (p) => { p.expires = future; } });
  t.is(moved.status, 401);

  // unsigned, no session
  t.is((await rawCall(url, base)).status, 401);
  // signature '+' sent unencoded arrives as a space and still verifies
  const plus = await (async () => {
    for (let i = 0; i < 50; i++) {
      const p: Record<string, string> = { ...base, keyword: `k${i}` };
      const canon = Object.keys(p).sort().map((k) => `${k}=${javaUrlEncode(p[k]!)}`).join('&').toLowerCase();
      const sig = createHmac('sha1', admin.secretKey).update(canon).digest('base64');
      if (!sig.includes('+')) continue;
      const qs = Object.entries(p).map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&') + `&signature=${sig}`;
      const res = await fetch(`${url}/client/api?${qs}`);
      return res.status;
    }
    return 200;
  })();
  t.is(plus, 200);
});

eachDialect('sessions: login, sessionkey parameter with its JSESSIONID cookie, logout, bad password, disabled account', async (t, dialect) => {
  const { url, admin } = await startManager(t, dialect);
  const bad = await loginSession(url, 'admin', 'wrong');
  t.is(bad.status, 531);
  t.is((await loginSession(url, 'nobody', 'x')).status, 531);
  const s = await loginSession(url, 'admin', ADMIN_PASSWORD, '/');
  t.is(s.status, 200);
  t.is(s.body.username, 'admin');
  t.is(s.body.type, '1');
  t.is(s.body.account, 'admin');
  t.regex(s.cookie, /JSESSIONID=/);
  t.regex(s.cookie, /sessionkey=/);
  // the parameter with the session's cookies
  const byParam = await fetch(`${url}/client/api?command=listDomains&response=json&sessionkey=${encodeURIComponent(s.sessionkey)}`, { headers: { cookie: s.cookie } });
  t.is(byParam.status, 200);
  // (cookie alone, parameter alone: guards.test.ts)
  // logout ends the session
  const out = await fetch(`${url}/client/api?command=logout&response=json&sessionkey=${encodeURIComponent(s.sessionkey)}`, { headers: { cookie: s.cookie } });
  t.is(out.status, 200);
  t.is((await fetch(`${url}/client/api?command=listDomains&response=json&sessionkey=${encodeURIComponent(s.sessionkey)}`, { headers: { cookie: s.cookie } })).status, 401);

  // a disabled account can neither log in nor use its keys
  const acc = (await admin.ok('createAccount', { username: 'u1', password: 'pw-u1', email: 'u1@example.org', firstname: 'U', lastname: 'One', accounttype: 0 })).account;
  t.is((await loginSession(url, 'u1', 'pw-u1')).status, 200);
  const job = await admin.job('disableAccount', { id: acc.id, lock: false });
  t.is(job.jobstatus, 1, JSON.stringify(job));
  t.is(job.jobresult.account.state, 'disabled');
  t.is((await loginSession(url, 'u1', 'pw-u1')).status, 531);
  await admin.ok('enableAccount', { id: acc.id });
  t.is((await loginSession(url, 'u1', 'pw-u1')).status, 200);
});

eachDialect('XML is the default answer format', async (t, dialect) => {
  const { url } = await startManager(t, dialect);
  const res = await fetch(`${url}/client/api?command=listZones`);
  t.is(res.status, 401);
  t.regex(res.headers.get('content-type') ?? '', /xml/);
  const text = await res.text();
  t.regex(text, /^<\?xml version="1.0" encoding="UTF-8"\?><listzonesresponse cloud-stack-version="[^"]+"><uuidList><\/uuidList>|<errorcode>401<\/errorcode>/);
  t.regex(text, /<errorcode>401<\/errorcode>/);
});

eachDialect('signed requests see a disabled account, a new key pair and a deleted account at once (API keys are cached)', async (t, dialect) => {
  const { url, admin } = await startManager(t, dialect);
  const acc = (await admin.ok('createAccount', { username: 'k1', password: 'pw-k1', email: 'k1@example.org', firstname: 'K', lastname: 'One', accounttype: 0 })).account;
  const userId = acc.user[0].id as string;
  const first = (await admin.ok('registerUserKeys', { id: userId })).userkeys;
  const k1 = signedClient(url, first.apikey, first.secretkey);
  // Twice: the second answer comes from the cached key.
  t.is((await k1.call('listZones')).status, 200);
  t.is((await k1.call('listZones')).status, 200);
  t.is((await k1.call('listZones', { signature: 'x' })).status, 401, 'a cached key still needs a valid signature');

  t.is((await admin.job('disableAccount', { id: acc.id, lock: false })).jobstatus, 1);
  t.is((await k1.call('listZones')).status, 401, 'disabled account refused on the next request');
  await admin.ok('enableAccount', { id: acc.id });
  t.is((await k1.call('listZones')).status, 200);

  const second = (await admin.ok('registerUserKeys', { id: userId })).userkeys;
  t.is((await k1.call('listZones')).status, 401, 'the replaced key is refused on the next request');
  const k2 = signedClient(url, second.apikey, second.secretkey);
  t.is((await k2.call('listZones')).status, 200);

  t.is((await admin.job('deleteAccount', { id: acc.id })).jobstatus, 1);
  t.is((await k2.call('listZones')).status, 401, 'deleted account refused on the next request');
});
