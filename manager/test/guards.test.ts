// Issue 16 (5, 6): CloudStack's session and signature guards, and hostile input refused at the
// door. Real HTTP on loopback; every guard is checked both ways (the honest request passes).
import { ADMIN_PASSWORD, eachDialect, loginSession, makeAccount, startManager } from './helpers.ts';
import { createManager } from '../src/app.ts';
import { createLogger } from '../src/log.ts';
import { openDatabase } from '../src/db/index.ts';
import { keysFor } from '../src/client.ts';
import { buildZone, refused } from './infra-helpers.ts';
import test from 'ava';

const api = (url: string, qs: Record<string, string>, init: RequestInit = {}) => fetch(`${url}/client/api?${new URLSearchParams({ response: 'json', ...qs })}`, init);
const cookieOf = (res: Response) => (res.headers.getSetCookie?.() ?? []);

eachDialect('sessions: the sessionkey parameter and its JSESSIONID cookie are both required; cookies HttpOnly; login by POST only', async (t, dialect) => {
  const { url } = await startManager(t, dialect);
  const raw = await fetch(`${url}/client/api`, { method: 'POST', body: new URLSearchParams({ command: 'login', username: 'admin', password: ADMIN_PASSWORD, response: 'json' }) });
  t.is(raw.status, 200);
  const set = cookieOf(raw);
  t.is(set.length, 2);
  for (const c of set) t.regex(c, /; HttpOnly/i, c);
  const s = await loginSession(url, 'admin', ADMIN_PASSWORD);
  const key = s.sessionkey;
  const jsession = /JSESSIONID=([^;]+)/.exec(s.cookie)![1]!;

  // A cross-site link carries the cookies but cannot know the key: refused, nothing changed.
  const csrf = await api(url, { command: 'createDomain', name: 'csrf' }, { headers: { cookie: s.cookie } });
  t.is(csrf.status, 401);
  t.regex(((await csrf.json()) as any).createdomainresponse.errortext, /unable to verify user credentials/);
  // The key without the session's cookie, or with another session's cookie: refused.
  t.is((await api(url, { command: 'listDomains', sessionkey: key })).status, 401);
  const other = await loginSession(url, 'admin', ADMIN_PASSWORD);
  const otherJsession = /JSESSIONID=([^;]+)/.exec(other.cookie)![1]!;
  t.not(otherJsession, jsession);
  t.is((await api(url, { command: 'listDomains', sessionkey: key }, { headers: { cookie: `JSESSIONID=${otherJsession}` } })).status, 401);
  // The key and its own JSESSIONID: served.
  t.is((await api(url, { command: 'listDomains', sessionkey: key }, { headers: { cookie: `JSESSIONID=${jsession}` } })).status, 200);
  const made = await api(url, { command: 'createDomain', name: 'honest', sessionkey: key }, { headers: { cookie: s.cookie } });
  t.is(made.status, 200);

  // login by GET (the password in a URL, in logs and history): 405, no session made.
  const get = await api(url, { command: 'login', username: 'admin', password: ADMIN_PASSWORD });
  t.is(get.status, 405);
  t.is(((await get.json()) as any).loginresponse.errortext, 'Please use HTTP POST to authenticate using this API');
  t.deepEqual(cookieOf(get), []);
});

eachDialect('failed logins answer 531 and lock the user after incorrect.login.attempts.allowed; a success resets the count', async (t, dialect) => {
  const { url, admin, db } = await startManager(t, dialect);
  await makeAccount(admin, url, { name: 'victim' });
  await makeAccount(admin, url, { name: 'other' });
  await admin.ok('updateConfiguration', { name: 'incorrect.login.attempts.allowed', value: '3' });
  const bad = await loginSession(url, 'victim', 'nope');
  t.is(bad.status, 531);
  t.is(bad.body.errortext, 'Failed to authenticate user victim in domain /; please provide valid credentials');
  // Two failures, then a success: the count starts again.
  await loginSession(url, 'victim', 'nope');
  t.is((await loginSession(url, 'victim', 'pw-victim')).status, 200);
  t.is((await db.query<{ login_attempts: number }>(`SELECT login_attempts FROM users WHERE username = 'victim'`))[0]!.login_attempts, 0);
  // Three in a row, in parallel: every one is counted and the user is locked.
  const tries = await Promise.all([1, 2, 3].map(() => loginSession(url, 'victim', 'nope')));
  t.deepEqual(tries.map((r) => r.status), [531, 531, 531]);
  t.is((await admin.ok('listUsers', { username: 'victim', listall: true })).user[0].state, 'locked');
  const locked = await loginSession(url, 'victim', 'pw-victim');
  t.is(locked.status, 531);
  t.regex(locked.body.errortext, /is disabled\/locked/);
  // Others are not affected; nor is the default admin, however often its password is guessed.
  t.is((await loginSession(url, 'other', 'pw-other')).status, 200);
  for (let i = 0; i < 4; i++) t.is((await loginSession(url, 'admin', 'guess')).status, 531);
  t.is((await loginSession(url, 'admin', ADMIN_PASSWORD)).status, 200);
  // The key is a configuration key with CloudStack's name, validated as a number.
  await refused(t, admin, 'updateConfiguration', { name: 'incorrect.login.attempts.allowed', value: '0' }, 431);
});

eachDialect('v3 signatures: expires at most an hour ahead', async (t, dialect) => {
  const { admin } = await startManager(t, dialect);
  const at = (s: number) => new Date(Date.now() + s * 1000).toISOString().replace(/\.\d+Z$/, '+0000');
  t.is((await admin.call('listZones', { signatureVersion: '3', expires: at(3000) })).status, 200);
  const far = await admin.call('listZones', { signatureVersion: '3', expires: at(10 * 365 * 86400) });
  t.is(far.status, 401);
  t.regex(far.body.errortext, /too far ahead: at most 3600 seconds/);
  t.is((await admin.call('listZones', { signatureVersion: '3', expires: at(3700) })).status, 401);
});

test('v3 signatures: the bound is configurable (FLOTILLA_SIGNATURE_MAX_EXPIRES)', async (t) => {
  const { settingsFromEnv } = await import('../src/app.ts');
  const settings = { ...settingsFromEnv({ FLOTILLA_SIGNATURE_MAX_EXPIRES: '60' }), port: 0, host: '127.0.0.1', dataDir: '' };
  t.is(settings.signatureMaxExpiresSeconds, 60);
  t.throws(() => settingsFromEnv({ FLOTILLA_SIGNATURE_MAX_EXPIRES: '-1' }));
  const m = await createManager({ settings, db: await openDatabase({ memory: true }), memory: true, adminPassword: ADMIN_PASSWORD, log: createLogger('silent'), env: {} });
  t.teardown(() => m.close());
  const url = await m.app.listen({ port: 0, host: '127.0.0.1' });
  const admin = await keysFor(url, 'admin', ADMIN_PASSWORD);
  const at = (s: number) => new Date(Date.now() + s * 1000).toISOString().replace(/\.\d+Z$/, '+0000');
  t.is((await admin.call('listZones', { signatureVersion: '3', expires: at(30) })).status, 200);
  t.is((await admin.call('listZones', { signatureVersion: '3', expires: at(300) })).status, 401);
});

eachDialect('bad input stops at the door: control characters, echoed names, guest CIDRs, malformed CIDR lists', async (t, dialect) => {
  const { url, admin, db } = await startManager(t, dialect);
  // NUL in login's username (the HTTP layer's own command) and in an unknown parameter: 431 naming it.
  const nul = await fetch(`${url}/client/api`, { method: 'POST', body: new URLSearchParams({ command: 'login', username: 'ad\u0000min', password: 'x', response: 'json' }) });
  t.is(nul.status, 431);
  t.regex(((await nul.json()) as any).loginresponse.errortext, /Invalid parameter username value=ad\\u0000min due to control characters/);
  const ctl = await admin.call('listZones', { whatever: 'a\u0007b' });
  t.is(ctl.status, 431);
  t.regex(ctl.body.errortext, /Invalid parameter whatever/);
  // The command name is never echoed as markup: an unknown one answers <errorresponse>.
  const evil = '<script>alert(1)</script><x';
  const xml = await (await fetch(`${url}/client/api?command=${encodeURIComponent(evil)}`)).text();
  t.regex(xml, /^<\?xml version="1.0" encoding="UTF-8"\?><errorresponse cloud-stack-version="[^"]+">/);
  t.false(xml.includes('<script>'));
  t.true(xml.endsWith('</errorresponse>'));
  const known = await (await fetch(`${url}/client/api?command=listZones`)).text();
  t.regex(known, /^<\?xml[^>]*><listzonesresponse /);
  // Echoed values are escaped in XML (and JSON by construction).
  const echoed = await (await fetch(`${url}/client/api?command=listZones&id=${encodeURIComponent('"><b>x</b>')}`)).text();
  t.false(echoed.includes('<b>'));

  // Guest CIDRs: private only, and never on the zone's public subnets.
  const z = await buildZone(t, admin, 'g');
  await admin.ok('createVlanIpRange', { zoneid: z.zoneId, vlan: '51', gateway: '100.64.7.1', netmask: '255.255.255.0', startip: '100.64.7.10', endip: '100.64.7.50', forvirtualnetwork: true });
  await admin.ok('updateZone', { id: z.zoneId, allocationstate: 'Enabled' });
  const tenant = await makeAccount(admin, url, { name: 'cidr' });
  const iso = (await admin.ok('listNetworkOfferings', { name: 'DefaultIsolatedNetworkOfferingWithSourceNatService' })).networkoffering[0].id;
  const net = (gateway: string, netmask = '255.255.255.0') => ({ zoneid: z.zoneId, name: `n-${gateway}`, displaytext: 'n', networkofferingid: iso, gateway, netmask });
  const before = (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM networks'))[0]!.n;
  await refused(t, tenant.api, 'createNetwork', net('203.0.113.1'), 431, /^Virtual Guest Cidr 203\.0\.113\.0\/24 is not RFC 1918 or 6598 compliant$/);
  await refused(t, tenant.api, 'createNetwork', net('8.8.8.1'), 431, /not RFC 1918 or 6598 compliant/);
  await refused(t, tenant.api, 'createNetwork', net('100.64.7.1'), 431, /overlaps the subnet 100\.64\.7\.0\/24 of public IP range 100\.64\.7\.10-100\.64\.7\.50/);
  await refused(t, tenant.api, 'createNetwork', net('100.64.0.1', '255.255.0.0'), 431, /overlaps the subnet 100\.64\.7\.0\/24/);
  t.is((await db.query<{ n: number }>('SELECT count(*)::int AS n FROM networks'))[0]!.n, before);
  const ok = (await tenant.api.ok('createNetwork', net('100.64.8.1'))).network;
  t.is(ok.cidr, '100.64.8.0/24');
  t.is((await tenant.api.ok('createNetwork', net('192.168.50.1'))).network.cidr, '192.168.50.0/24');

  // cidrlist=10.0.0.0/8/8 is refused before any job is queued.
  const jobs = (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM async_jobs'))[0]!.n;
  const fw = await admin.call('createEgressFirewallRule', { networkid: ok.id, protocol: 'tcp', startport: 80, endport: 80, cidrlist: '10.0.0.0/8/8' });
  t.is(fw.status, 431, JSON.stringify(fw.body));
  t.regex(fw.body.errortext, /Invalid parameter cidrlist value=10\.0\.0\.0\/8\/8 due to 10\.0\.0\.0\/8\/8 is not an IPv4 CIDR/);
  t.is((await db.query<{ n: number }>('SELECT count(*)::int AS n FROM async_jobs'))[0]!.n, jobs);
});
