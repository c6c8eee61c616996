#!/usr/bin/env node
// Prints shell exports for CloudStack clients (cs, CloudMonkey's env, …): logs in with a
// password, registers API keys for that user, and prints CLOUDSTACK_ENDPOINT/KEY/SECRET.
// Usage: eval "$(node scripts/cs-env.mjs <username> <password> [http://localhost:8080] [domain path])"
// Registering keys replaces the user's previous keys.
const [username, password, base = `http://localhost:${process.env.PORT ?? 8080}`, domain = '/'] = process.argv.slice(2);
if (!username || !password) {
  process.stderr.write('usage: node scripts/cs-env.mjs <username> <password> [manager URL] [domain path]\n');
  process.exit(2);
}
const api = `${base.replace(/\/+$/, '')}/client/api`;
const login = await fetch(api, { method: 'POST', body: new URLSearchParams({ command: 'login', username, password, domain, response: 'json' }) });
const session = (await login.json()).loginresponse;
if (login.status !== 200) { process.stderr.write(`login failed: ${session?.errortext ?? login.status}\n`); process.exit(1); }
const cookie = (login.headers.getSetCookie?.() ?? []).map((c) => c.split(';')[0]).join('; ');
const reg = await fetch(`${api}?${new URLSearchParams({ command: 'registerUserKeys', id: session.userid, response: 'json', sessionkey: session.sessionkey })}`, { headers: { cookie } });
const keys = (await reg.json()).registeruserkeysresponse;
if (reg.status !== 200) { process.stderr.write(`registerUserKeys failed: ${keys?.errortext ?? reg.status}\n`); process.exit(1); }
const q = (s) => `'${String(s).replace(/'/g, `'\\''`)}'`;
process.stdout.write(`export CLOUDSTACK_ENDPOINT=${q(api)} CLOUDSTACK_KEY=${q(keys.userkeys.apikey)} CLOUDSTACK_SECRET=${q(keys.userkeys.secretkey)}\n`);
