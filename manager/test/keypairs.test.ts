// SSH key pairs through the API, checked against OpenSSH's own tools: ssh-keygen makes the keys
// we register and computes the fingerprints we must match, derives the public key from the
// private key createSSHKeyPair answers, and openssl decrypts what getVMPassword would carry.
import test from 'ava';
import { execFile } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { eachDialect, makeAccount, startManager } from './helpers.ts';
import { cs } from './real-clients.ts';
import { encryptPassword, generateSshKeyPair, md5Fingerprint, parsePublicKey } from '../src/commands/ssh/keys.ts';
import { routerSpecOf, type RouterInput } from '../src/orchestrator/router.ts';
import type { Sql } from '../src/db/sql.ts';

const run = promisify(execFile);

/** A scratch directory for key files, removed when the test ends. */
async function scratch(t: { teardown(fn: () => unknown): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'flt-keys-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A key made by ssh-keygen: its .pub line and ssh-keygen's MD5 fingerprint of it. */
async function sshKeygen(dir: string, name: string, type: string, bits?: number): Promise<{ pub: string; md5: string; file: string }> {
  const file = join(dir, name);
  await run('ssh-keygen', ['-q', '-t', type, ...(bits ? ['-b', String(bits)] : []), '-N', '', '-C', `${name}@flotilla test`, '-f', file]);
  const pub = (await readFile(`${file}.pub`, 'utf8')).trim();
  const md5 = (await run('ssh-keygen', ['-l', '-E', 'md5', '-f', `${file}.pub`])).stdout.split(' ')[1]!.replace(/^MD5:/, '');
  return { pub, md5, file };
}

const countKeyPairs = async (sql: Sql) => Number((await sql.query<{ n: string }>('SELECT count(*) AS n FROM ssh_keypairs'))[0]!.n);

eachDialect('createSSHKeyPair answers a private key OpenSSH reads; register, list (filters, paging) and delete', async (t, dialect) => {
  const { admin, db } = await startManager(t, dialect);
  const { api } = await makeAccount(admin, admin.url, { name: 'alice' });
  const dir = await scratch(t);

  const created = (await api.ok('createSSHKeyPair', { name: 'made' })).keypair;
  t.is(created.name, 'made');
  t.is(created.account, 'alice');
  t.regex(created.privatekey, /^-----BEGIN RSA PRIVATE KEY-----\n[\s\S]+\n-----END RSA PRIVATE KEY-----\n?$/);
  t.regex(created.fingerprint, /^([0-9a-f]{2}:){15}[0-9a-f]{2}$/);
  await writeFile(join(dir, 'made'), created.privatekey, { mode: 0o600 });
  const derived = (await run('ssh-keygen', ['-y', '-f', join(dir, 'made')])).stdout.trim();
  t.regex(derived, /^ssh-rsa /);
  t.is((await run('ssh-keygen', ['-b', '2048', '-l', '-f', join(dir, 'made')])).stdout.split(' ')[0], '2048', 'an RSA 2048 key');
  await writeFile(join(dir, 'made.pub'), `${derived}\n`);
  t.is((await run('ssh-keygen', ['-l', '-E', 'md5', '-f', join(dir, 'made.pub')])).stdout.split(' ')[1], `MD5:${created.fingerprint}`, 'fingerprint as ssh-keygen -E md5 computes it');
  // Only the public key is kept.
  const stored = await db.query<Record<string, unknown>>('SELECT * FROM ssh_keypairs WHERE id = $1', [created.id]);
  t.is(stored[0]!.public_key, derived);
  t.false(JSON.stringify(stored).includes('PRIVATE'));

  const keys = { rsa: await sshKeygen(dir, 'rsa', 'rsa', 3072), ed: await sshKeygen(dir, 'ed', 'ed25519'), ec: await sshKeygen(dir, 'ec', 'ecdsa', 384) };
  for (const [name, k] of Object.entries(keys)) {
    const r = (await api.ok('registerSSHKeyPair', { name, publickey: k.pub })).keypair;
    t.like(r, { name, fingerprint: k.md5, account: 'alice' }, name);
    t.is(r.privatekey, undefined);
  }
  // CloudStack also takes the whole line base64-encoded.
  const k2 = await sshKeygen(dir, 'b64', 'ed25519');
  t.is((await api.ok('registerSSHKeyPair', { name: 'b64', publickey: Buffer.from(k2.pub).toString('base64') })).keypair.fingerprint, k2.md5);

  const all = await api.ok('listSSHKeyPairs', {});
  t.is(all.count, 5);
  t.deepEqual(all.sshkeypair.map((k: any) => k.name), ['made', 'rsa', 'ed', 'ec', 'b64']);
  t.false(JSON.stringify(all).includes('privatekey'));
  t.deepEqual((await api.ok('listSSHKeyPairs', { name: 'ED' })).sshkeypair.map((k: any) => k.name), ['ed']);
  t.deepEqual((await api.ok('listSSHKeyPairs', { fingerprint: keys.ec.md5 })).sshkeypair.map((k: any) => k.name), ['ec']);
  t.deepEqual((await api.ok('listSSHKeyPairs', { keyword: keys.rsa.md5.slice(0, 11) })).sshkeypair.map((k: any) => k.name), ['rsa']);
  // three letters never occur in a colon-separated hex fingerprint
  t.deepEqual((await api.ok('listSSHKeyPairs', { keyword: 'B64' })).sshkeypair.map((k: any) => k.name), ['b64']);
  t.deepEqual((await api.ok('listSSHKeyPairs', { id: created.id })).sshkeypair.map((k: any) => k.name), ['made']);
  const page2 = await api.ok('listSSHKeyPairs', { page: 2, pagesize: 2 });
  t.is(page2.count, 5);
  t.deepEqual(page2.sshkeypair.map((k: any) => k.name), ['ed', 'ec']);
  t.deepEqual(await api.ok('listSSHKeyPairs', { name: 'none' }), {});

  t.deepEqual(await api.ok('deleteSSHKeyPair', { name: 'Rsa' }), { success: true });
  t.is((await api.ok('listSSHKeyPairs', {})).count, 4);
  const again = await api.call('deleteSSHKeyPair', { name: 'rsa' });
  t.is(again.status, 431);
  t.is(again.body.errortext, "A key pair with name 'rsa' does not exist for account alice in specified domain id");
  // Every change left its audit event.
  const events = (await db.query<{ type: string }>(`SELECT type FROM events WHERE command LIKE '%SSHKeyPair' AND result = 'SUCCESS' ORDER BY created`)).map((e) => e.type);
  t.deepEqual(events, ['CREATE.SSH.KEYPAIR', 'REGISTER.SSH.KEYPAIR', 'REGISTER.SSH.KEYPAIR', 'REGISTER.SSH.KEYPAIR', 'REGISTER.SSH.KEYPAIR', 'DELETE.SSH.KEYPAIR']);
});

/** Wire-format helpers to build malformed keys precisely. */
const str = (b: Buffer | string) => { const x = Buffer.from(b); const l = Buffer.alloc(4); l.writeUInt32BE(x.length); return Buffer.concat([l, x]); };
const line = (type: string, ...parts: Buffer[]) => `${type} ${Buffer.concat(parts).toString('base64')}`;

eachDialect('bad public keys and duplicate names or keys are refused with 431 and nothing is stored', async (t, dialect) => {
  const { admin, db } = await startManager(t, dialect);
  const { api } = await makeAccount(admin, admin.url, { name: 'alice' });
  const dir = await scratch(t);
  const ed = await sshKeygen(dir, 'ed', 'ed25519');
  const ec = await sshKeygen(dir, 'ec', 'ecdsa', 256);
  const edBlob = Buffer.from(ed.pub.split(' ')[1]!, 'base64');
  const ecBlob = Buffer.from(ec.pub.split(' ')[1]!, 'base64');
  const offCurve = Buffer.from(ecBlob); offCurve[offCurve.length - 1]! ^= 1;
  const weak = generateKeyPairSync('rsa', { modulusLength: 768 }).publicKey.export({ format: 'jwk' }) as { n: string; e: string };
  const fine = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' }) as { n: string; e: string };
  const mp = (b64u: string) => { const b = Buffer.from(b64u, 'base64url'); return str(b[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), b]) : b); };
  const bad: Array<[string, string, RegExp]> = [
    ['blank', '   ', /it is empty/],
    ['type only', 'ssh-ed25519', /"<type> <base64 key> \[comment\]"/],
    ['unknown type', `ssh-foo ${ed.pub.split(' ')[1]}`, /must start with the key type/],
    ['DSA', line('ssh-dss', str('ssh-dss'), str(Buffer.alloc(128, 1))), /DSA keys \(ssh-dss\) are not accepted/],
    ['authorized_keys options', `no-pty ${ed.pub}`, /must start with the key type/],
    ['two keys', `${ed.pub}\n${ec.pub}`, /single line/],
    ['private key', (await readFile(ed.file, 'utf8')).trim(), /PEM block|single line/],
    ['not base64', 'ssh-ed25519 AAAA$$$$', /not base64/],
    ['truncated', `ssh-ed25519 ${edBlob.subarray(0, edBlob.length - 4).toString('base64')}`, /longer than the blob/],
    ['trailing bytes', line('ssh-ed25519', edBlob, Buffer.from([0, 0, 0, 0])), /bytes after the key/],
    ['label and blob disagree', `ssh-rsa ${edBlob.toString('base64')}`, /of type ssh-ed25519, not ssh-rsa/],
    ['ecdsa point off its curve', `ecdsa-sha2-nistp256 ${offCurve.toString('base64')}`, /not on its curve/],
    ['weak RSA', line('ssh-rsa', str('ssh-rsa'), mp(weak.e), mp(weak.n)), /768 bits; at least 1024/],
    ['even RSA exponent', line('ssh-rsa', str('ssh-rsa'), str(Buffer.from([2])), mp(fine.n)), /public exponent/],
    ['RSA modulus with a sign byte too many', line('ssh-rsa', str('ssh-rsa'), mp(fine.e), str(Buffer.concat([Buffer.from([0, 0]), Buffer.from(fine.n, 'base64url')]))), /not minimally encoded/],
  ];
  for (const [why, publickey, text] of bad) {
    const r = await api.call('registerSSHKeyPair', { name: `k-${why}`, publickey });
    t.is(r.status, 431, why);
    t.is(r.body.cserrorcode, 4350, why);
    t.regex(r.body.errortext, /^Public key is invalid: /, why);
    t.regex(r.body.errortext, text, `${why}: ${r.body.errortext}`);
  }
  t.is(await countKeyPairs(db), 0);

  t.is((await api.call('createSSHKeyPair', { name: '  ' })).status, 431);
  const comma = await api.call('registerSSHKeyPair', { name: 'a,b', publickey: ed.pub });
  t.is(comma.status, 431);
  t.regex(comma.body.errortext, /Invalid parameter name value=a,b due to a key pair name cannot contain a comma/);
  await api.ok('registerSSHKeyPair', { name: 'mine', publickey: ed.pub });
  await api.ok('createSSHKeyPair', { name: 'made' });
  const dupRegister = await api.call('registerSSHKeyPair', { name: 'MINE', publickey: ec.pub });
  t.is(dupRegister.status, 431);
  t.is(dupRegister.body.errortext, "A key pair with name 'MINE' already exists for this account.");
  const dupCreate = await api.call('createSSHKeyPair', { name: 'made' });
  t.is(dupCreate.status, 431);
  t.is(dupCreate.body.errortext, "A key pair with name 'made' already exists.");
  t.is((await api.call('createSSHKeyPair', { name: 'mine' })).status, 431);
  // The same key under another name (the comment does not make it another key).
  const sameKey = await api.call('registerSSHKeyPair', { name: 'other', publickey: `${ed.pub.split(' ').slice(0, 2).join(' ')} another comment` });
  t.is(sameKey.status, 431);
  t.regex(sameKey.body.errortext, /^A key pair with key 'ssh-ed25519 \S+' already exists for this account \(key pair mine\)\.$/);
  // Concurrent registrations of one name: exactly one wins, the rest get the 431 (no 530).
  const race = await Promise.all(Array.from({ length: 4 }, async (_, i) => api.call('registerSSHKeyPair', { name: 'raced', publickey: (await sshKeygen(dir, `race${i}`, 'ed25519')).pub })));
  t.deepEqual(race.map((r) => r.status).sort(), [200, 431, 431, 431]);
  t.is(await countKeyPairs(db), 3);
  // The largest RSA key OpenSSH takes (16384 bits: its line outgrows a btree entry, so the
  // uniqueness index is on its digest), once; one bit more is refused.
  const rsaLine = (bytes: number) => { const n = randomBytes(bytes); n[0] = 0x80 | n[0]!; n[bytes - 1] = n[bytes - 1]! | 1; return line('ssh-rsa', str('ssh-rsa'), str(Buffer.from([1, 0, 1])), str(Buffer.concat([Buffer.from([0]), n]))); };
  const huge = rsaLine(2048);
  t.true(huge.length > 2700);
  t.is((await api.call('registerSSHKeyPair', { name: 'huge', publickey: huge })).status, 200);
  t.regex((await api.call('registerSSHKeyPair', { name: 'huge2', publickey: huge })).body.errortext, /^A key pair with key 'ssh-rsa \S+' already exists for this account \(key pair huge\)\.$/);
  t.regex((await api.call('registerSSHKeyPair', { name: 'huger', publickey: rsaLine(2049) })).body.errortext, /16392 bits; at most 16384/);
  t.is(await countKeyPairs(db), 4);
});

eachDialect('key pairs are scoped to their account: users see and delete only their own; admins act for others', async (t, dialect) => {
  const { admin, db } = await startManager(t, dialect);
  const alice = await makeAccount(admin, admin.url, { name: 'alice' });
  const bob = await makeAccount(admin, admin.url, { name: 'bob' });
  const dir = await scratch(t);
  const a = await sshKeygen(dir, 'a', 'ed25519');
  const b = await sshKeygen(dir, 'b', 'ed25519');
  // One name in two accounts is two key pairs; one key too.
  await alice.api.ok('registerSSHKeyPair', { name: 'k', publickey: a.pub });
  await bob.api.ok('registerSSHKeyPair', { name: 'k', publickey: b.pub });
  await bob.api.ok('registerSSHKeyPair', { name: 'shared', publickey: a.pub });
  t.deepEqual((await alice.api.ok('listSSHKeyPairs', {})).sshkeypair.map((k: any) => [k.name, k.fingerprint]), [['k', a.md5]]);
  t.deepEqual((await alice.api.ok('listSSHKeyPairs', { listall: true })).sshkeypair.map((k: any) => k.name), ['k']);
  t.is((await alice.api.ok('listSSHKeyPairs', { fingerprint: b.md5 })).count, undefined, 'another account\'s key is not found by fingerprint');
  const peek = await alice.api.call('listSSHKeyPairs', { account: 'bob', domainid: bob.domainId });
  t.is(peek.status, 531);
  const steal = await alice.api.call('deleteSSHKeyPair', { name: 'shared', account: 'bob', domainid: bob.domainId });
  t.is(steal.status, 531);
  t.is((await alice.api.call('deleteSSHKeyPair', { name: 'shared' })).status, 431, 'alice has no key pair named shared');
  t.is((await alice.api.call('createSSHKeyPair', { name: 'x', account: 'bob', domainid: bob.domainId })).status, 531);
  t.is(await countKeyPairs(db), 3);

  // Admins: their own list by default, everything with listall, one account with account+domainid.
  t.deepEqual(await admin.ok('listSSHKeyPairs', {}), {});
  t.is((await admin.ok('listSSHKeyPairs', { listall: true })).count, 3);
  t.deepEqual((await admin.ok('listSSHKeyPairs', { account: 'bob', domainid: bob.domainId })).sshkeypair.map((k: any) => k.name), ['k', 'shared']);
  const forBob = (await admin.ok('createSSHKeyPair', { name: 'from-admin', account: 'bob', domainid: bob.domainId })).keypair;
  t.is(forBob.account, 'bob');
  t.is((await admin.call('createSSHKeyPair', { name: 'half', account: 'bob' })).status, 431);
  t.is((await admin.call('createSSHKeyPair', { name: 'proj', projectid: '00000000-0000-4000-8000-000000000000' })).status, 431);
  t.deepEqual(await admin.ok('deleteSSHKeyPair', { name: 'k', account: 'alice', domainid: alice.domainId }), { success: true });
  t.deepEqual(await alice.api.ok('listSSHKeyPairs', {}), {});
  t.is((await bob.api.ok('listSSHKeyPairs', {})).count, 3, 'bob\'s key pair of the same name stays');
  // An account's key pairs go with it.
  await admin.jobOk('deleteAccount', { id: bob.accountId });
  t.is(await countKeyPairs(db), 0);
});

eachDialect('the cs CLI creates, registers, lists and deletes key pairs', async (t, dialect) => {
  const { admin } = await startManager(t, dialect);
  const { api } = await makeAccount(admin, admin.url, { name: 'carol' });
  const dir = await scratch(t);
  const k = await sshKeygen(dir, 'cli', 'ecdsa', 521);
  const c = (args: string[]) => cs(api.url, api.apiKey, api.secretKey, args);
  const created = await c(['createSSHKeyPair', 'name=from cs']);
  t.is(created.code, 0, created.err);
  t.regex(created.out.keypair.privatekey, /BEGIN RSA PRIVATE KEY/);
  const reg = await c(['registerSSHKeyPair', 'name=cli', `publickey=${k.pub}`]);
  t.is(reg.code, 0, reg.err);
  t.is(reg.out.keypair.fingerprint, k.md5);
  const listed = await c(['listSSHKeyPairs']);
  t.is(listed.code, 0, listed.err);
  t.deepEqual(listed.out.sshkeypair.map((x: any) => x.name).sort(), ['cli', 'from cs']);
  const bad = await c(['registerSSHKeyPair', 'name=bad', 'publickey=ssh-rsa AAAA']);
  t.is(bad.out?.registersshkeypairresponse?.errorcode, 431, JSON.stringify(bad.out));
  const del = await c(['deleteSSHKeyPair', 'name=from cs']);
  t.is(del.code, 0, del.err);
  t.deepEqual(del.out, { success: true });
  t.deepEqual((await c(['listSSHKeyPairs'])).out.sshkeypair.map((x: any) => x.name), ['cli']);
});

test('encryptPassword is RSA PKCS#1 v1.5 under the first key: openssl decrypts it with the private key', async (t) => {
  const dir = await scratch(t);
  const { publicKey, privateKey } = await generateSshKeyPair();
  await writeFile(join(dir, 'id'), privateKey, { mode: 0o600 });
  const other = await sshKeygen(dir, 'other', 'ed25519');
  const password = randomBytes(6).toString('hex');
  const enc = encryptPassword(`${publicKey.text}\n${other.pub}`, password);
  await writeFile(join(dir, 'enc'), Buffer.from(enc, 'base64'));
  t.is(Buffer.from(enc, 'base64').length, 256);
  const out = await run('openssl', ['pkeyutl', '-decrypt', '-pkeyopt', 'rsa_padding_mode:pkcs1', '-inkey', join(dir, 'id'), '-in', join(dir, 'enc')]);
  t.is(out.stdout, password);
  t.not(encryptPassword(publicKey.text, password), enc, 'random padding: each encryption differs');
  t.throws(() => encryptPassword(other.pub, password), { message: /only RSA public keys/ });
  t.is(md5Fingerprint(Buffer.from('')), 'd4:1d:8c:d9:8f:00:b2:04:e9:80:09:98:ec:f8:42:7e');
  t.is(parsePublicKey(`${publicKey.text} a comment`).text, publicKey.text);
});

test('the router spec carries a VM\'s public keys as metadata public-keys, and none for a VM without', (t) => {
  const net = { id: 'n1', name: 'net', zone_id: 'z1', zone_name: 'zone', cidr: '10.1.0.0/24', gateway: '10.1.0.1', vni: 5, physical_network_id: null, network_domain: 'x.internal', dns1: null, dns2: null, zone_dns1: '192.0.2.53', zone_dns2: null, egress_allow: true, account_id: 'a', domain_id: 'd', state: 'Implemented', guest_type: 'Isolated' };
  const vm = (id: string, ip: string, keys: string | null) => ({ vm_id: id, vm_uuid: id, name: id, instance_name: `i-${id}-VM`, mac: `02:00:00:00:00:0${id}`, ip4: ip, user_data: null, password_enc: null, ssh_public_keys: keys, offering_name: 'Small', state: 'Running' });
  const input = {
    net, router: { vm_id: 'r', network_id: 'n1', instance_name: 'r-1-VM', guest_mac: '02:00:00:00:01:01', public_mac: '02:00:00:00:01:02', control_mac: '02:00:00:00:01:03', link_local_ip: '169.254.0.5' },
    ips: [], rules: [], vms: [vm('1', '10.1.0.10', 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA==\nssh-rsa AAAAB3NzaC1yc2E='), vm('2', '10.1.0.11', null)], passwords: new Map(),
  } as unknown as RouterInput;
  const spec = routerSpecOf(input);
  const [v1, v2] = spec.guestNetworks[0]!.vms;
  t.is(v1!.metadata['public-keys'], 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA==\nssh-rsa AAAAB3NzaC1yc2E=');
  t.false('public-keys' in v2!.metadata);
});
