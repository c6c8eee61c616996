// Remote-access VPN end to end: CloudStack's VPN commands through a tenant's signed client; the
// router runs wireguard-go; client namespaces of the test's own (wireguard-go + wg, on the
// uplink like any outside machine) connect to the router's public IP with the configuration the
// API answered and reach a guest VM's HTTP by its private address. Users come and go one peer at
// a time; errors are CloudStack's; a destroyed and re-created router takes the same client
// configuration.
import test, { type ExecutionContext } from 'ava';
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab, kernelTestsUnavailable } from '../src/lab.ts';
import { addHost, addUplink, createZone, netnsHosts, startCloud, waitFor, type Cloud, type Host, type Zone } from '../src/cloud.ts';
import { keysFor, signedClient, type Api } from '@flotilla/manager/client';
import { createManager } from '@flotilla/manager/app';
import { createLogger } from '@flotilla/manager/log';
import { openDatabase } from '@flotilla/manager/db/index';
import { openPostgres } from '@flotilla/manager/db/postgres';
import type { NetnsDriver } from '@flotilla/agent';
import { vpnInterfaceOf } from '@flotilla/manager/commands/vpn/spec';

const skip = kernelTestsUnavailable();
const kernelTest = skip ? test.skip : test.serial;
const PG_URL = process.env.FLOTILLA_TEST_PG_URL;
const DIALECTS = PG_URL ? ['pglite', 'postgres'] as const : ['pglite'] as const;

/** A manager on a fresh database of the dialect (PostgreSQL: a throwaway database, dropped after). */
async function cloudOn(t: ExecutionContext, dialect: 'pglite' | 'postgres'): Promise<Cloud> {
  if (dialect === 'pglite') return startCloud(t);
  const name = `flt_vpn_${randomBytes(6).toString('hex')}`;
  const server = await openPostgres(PG_URL!);
  await server.query(`CREATE DATABASE ${name}`);
  const u = new URL(PG_URL!); u.pathname = `/${name}`;
  const db = await openDatabase({ url: u.toString() });
  t.teardown(async () => {
    await db.close().catch(() => undefined);
    await server.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => undefined);
    await server.close();
  });
  const m = await createManager({
    settings: { port: 0, host: '127.0.0.1', dataDir: '', sessionTimeout: 1800, jobDelayMs: 0 },
    db, memory: true, adminPassword: 'e2e-admin', log: createLogger('silent'), env: { FLOTILLA_SYSTEM_VMS: 'off' },
  });
  t.teardown(() => m.close());
  const url = await m.app.listen({ port: 0, host: '127.0.0.1' });
  return { m, url, admin: await keysFor(url, 'admin', 'e2e-admin'), wsUrl: `${url.replace(/^http/, 'ws')}/agent` };
}

interface World { lab: Lab; cloud: Cloud; z: Zone; driver: NetnsDriver; uplink: string; host: Host; stateDir: string }

async function world(t: ExecutionContext, dialect: 'pglite' | 'postgres'): Promise<World> {
  const lab = Lab.create(t, 'vpn');
  const cloud = await cloudOn(t, dialect);
  const z = await createZone(cloud.admin);
  const [h1] = await netnsHosts(lab, 1);
  const host = await addHost(t, cloud, z, { name: 'host1', driver: h1!.driver, tag: h1!.tag, hostNs: h1!.hostNs });
  const up = await addUplink(lab, cloud, z, [h1!]);
  return { lab, cloud, z, driver: h1!.driver, uplink: up.ns, host, stateDir: h1!.driver.stateDir };
}

async function tenant(cloud: Cloud, name: string): Promise<{ api: Api; accountId: string; domainId: string }> {
  const acc = (await cloud.admin.ok('createAccount', {
    username: name, account: name, password: `pw-${name}-1`, email: `${name}@example.org`, firstname: name, lastname: 'Tenant', accounttype: 0,
  })).account;
  const keys = (await cloud.admin.ok('registerUserKeys', { id: acc.user[0].id })).userkeys;
  return { api: signedClient(cloud.url, keys.apikey, keys.secretkey), accountId: acc.id, domainId: acc.domainid };
}

async function vpnOffering(cloud: Cloud): Promise<string> {
  const services = ['Dhcp', 'Dns', 'UserData', 'Firewall', 'SourceNat', 'StaticNat', 'PortForwarding', 'Vpn'];
  const params: Record<string, string | boolean> = {
    name: 'iso-vpn', displaytext: 'iso-vpn', guestiptype: 'Isolated', traffictype: 'Guest', supportedservices: services.join(','), egressdefaultpolicy: true, enable: true,
  };
  services.forEach((s, i) => { params[`serviceproviderlist[${i}].service`] = s; params[`serviceproviderlist[${i}].provider`] = 'VirtualRouter'; });
  return (await cloud.admin.ok('createNetworkOffering', params)).networkoffering.id;
}

async function deploy(w: World, api: Api, name: string, networkid: string) {
  const so = (await api.ok('listServiceOfferings', { name: 'Small Instance' })).serviceoffering[0];
  const tpl = (await api.ok('listTemplates', { templatefilter: 'featured', name: 'Flotilla netns guest' })).template[0];
  const j = await api.job('deployVirtualMachine', { zoneid: w.z.zoneId, serviceofferingid: so.id, templateid: tpl.id, networkids: networkid, name }, 120_000);
  if (j.jobstatus !== 1) throw new Error(`deploy ${name}: ${JSON.stringify(j.jobresult)}`);
  return j.jobresult.virtualmachine;
}

/** A failed async job's error (CloudStack's jobresult). */
async function jobError(api: Api, command: string, params: Record<string, string | boolean>): Promise<{ errorcode: number; errortext: string }> {
  const j = await api.job(command, params);
  if (j.jobstatus !== 2) throw new Error(`${command} was expected to fail: ${JSON.stringify(j.jobresult)}`);
  return j.jobresult;
}

/** A WireGuard client: its own namespace on the uplink, wireguard-go with a unique interface,
 *  configured from a wg-quick file as wg-quick would (wg setconf, address, routes). */
async function client(w: World, name: string, ip: string, config: string, extraAllowed: string[] = []): Promise<{ ns: string; iface: string }> {
  const ns = await w.lab.netns(name);
  await w.lab.veth(ns, 'eth0', w.uplink, `${name}u`);
  await w.lab.exec(w.uplink, ['ip', 'link', 'set', `${name}u`, 'master', 'br0']);
  await w.lab.exec(ns, ['ip', 'addr', 'add', `${ip}/24`, 'dev', 'eth0']);
  const iface = `wgc${randomBytes(5).toString('hex')}`;
  w.lab.spawn(ns, ['wireguard-go', '-f', iface], { env: { ...process.env, WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD: '1' } });
  // The lab kills it with SIGKILL, which leaves its socket in the shared /var/run/wireguard.
  w.lab.onCleanup(() => rmSync(`/var/run/wireguard/${iface}.sock`, { force: true }));
  await waitFor(async () => existsSync(`/var/run/wireguard/${iface}.sock`), `client ${iface} socket`, 10_000);
  const address = /^Address = (.+)$/m.exec(config)![1]!;
  let wgConf = config.split('\n').filter((l) => !/^(Address|DNS) =/.test(l)).join('\n');
  if (extraAllowed.length) wgConf = wgConf.replace(/^AllowedIPs = (.+)$/m, (_m, a: string) => `AllowedIPs = ${[a, ...extraAllowed].join(', ')}`);
  const dir = mkdtempSync(join(tmpdir(), 'flt-wgc-'));
  w.lab.onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'wg.conf'), wgConf, { mode: 0o600 });
  await w.lab.exec(ns, ['wg', 'setconf', iface, join(dir, 'wg.conf')]);
  for (const a of address.split(',').map((s) => s.trim())) await w.lab.exec(ns, ['ip', 'addr', 'add', a, 'dev', iface]);
  await w.lab.exec(ns, ['ip', 'link', 'set', iface, 'up']);
  const allowed = /^AllowedIPs = (.+)$/m.exec(wgConf)![1]!.split(',').map((s) => s.trim());
  for (const a of allowed) await w.lab.exec(ns, ['ip', 'route', 'add', a, 'dev', iface]);
  return { ns, iface };
}

/** `cs <args>` (Debian's python3-cs, which waits for async jobs) as the API client's user. */
async function cs(api: Api, args: string[]): Promise<any> {
  const r = await promisify(execFile)('/usr/bin/python3', ['-m', 'cs', ...args], {
    env: { PATH: process.env.PATH, HOME: '/nonexistent', CLOUDSTACK_ENDPOINT: `${api.url}/client/api`, CLOUDSTACK_KEY: api.apiKey, CLOUDSTACK_SECRET: api.secretKey }, timeout: 120_000,
  }).catch((e: { stdout?: string; stderr?: string }) => ({ stdout: e.stdout ?? '', stderr: e.stderr ?? '' }));
  try { return JSON.parse(r.stdout); } catch { throw new Error(`cs ${args[0]}: ${r.stderr || r.stdout}`); }
}

async function http(w: World, ns: string, url: string, timeoutS = 2): Promise<string> {
  const r = await w.lab.tryExec(ns, ['curl', '-s', '--max-time', String(timeoutS), url], { timeoutMs: (timeoutS + 3) * 1000 });
  return r.code === 0 ? r.stdout.trim() : '';
}

for (const dialect of DIALECTS) kernelTest(`remote-access VPN on WireGuard (${dialect}): CloudStack commands, clients reach a guest by its private address, users removed one by one, errors, tenant isolation, egress rules, router re-created with the same key and peers`, async (t) => {
  const w = await world(t, dialect);
  const alice = await tenant(w.cloud, 'alice');
  const bob = await tenant(w.cloud, 'bob');
  const offering = await vpnOffering(w.cloud);
  const net = (await alice.api.ok('createNetwork', { name: 'net1', zoneid: w.z.zoneId, networkofferingid: offering })).network;
  const vm1 = await deploy(w, alice.api, 'vm1', net.id);
  const vmIp = vm1.nic[0].ipaddress as string;
  const snat = (await alice.api.ok('listPublicIpAddresses', { associatednetworkid: net.id, issourcenat: true })).publicipaddress[0];

  // ---- refusals before anything exists ----
  t.is((await bob.api.call('createRemoteAccessVpn', { publicipid: snat.id, iprange: '10.8.0.1-10.8.0.20' })).status, 531, "bob cannot put a VPN on alice's IP (refused before any job)");
  const overlap = await jobError(alice.api, 'createRemoteAccessVpn', { publicipid: snat.id, iprange: '10.1.200.1-10.1.200.9' });
  t.is(overlap.errorcode, 431);
  t.regex(overlap.errortext, /iprange.*overlaps.*10\.1\.0\.0\/16/);
  const bad = await alice.api.call('createRemoteAccessVpn', { publicipid: snat.id, iprange: '10.8.0.9-10.8.0.1' });
  t.is(bad.status, 431, 'a malformed range is refused before a job is queued');
  t.regex(JSON.stringify(bad.body), /iprange/);
  const extra = await alice.api.jobOk('associateIpAddress', { networkid: net.id });
  t.like(await jobError(alice.api, 'createRemoteAccessVpn', { publicipid: extra.ipaddress.id, iprange: '10.8.0.1-10.8.0.20' }), { errorcode: 431 }, 'only the source NAT IP');
  t.deepEqual(await alice.api.ok('listRemoteAccessVpns', {}), {}, 'nothing persisted by the refusals');

  // ---- the VPN ----
  const created = await alice.api.ok('createRemoteAccessVpn', { publicipid: snat.id, iprange: '10.8.0.1-10.8.0.20' });
  t.truthy(created.id, 'an async create answers the id at once');
  await waitFor(async () => (await alice.api.ok('queryAsyncJobResult', { jobid: created.jobid })).jobstatus !== 0, 'createRemoteAccessVpn job');
  const listed = (await alice.api.ok('listRemoteAccessVpns', { publicipid: snat.id })).remoteaccessvpn;
  t.is(listed.length, 1);
  t.like(listed[0], { id: created.id, publicipid: snat.id, publicip: snat.ipaddress, iprange: '10.8.0.1-10.8.0.20', state: 'Running', account: 'alice', wireguardport: 51820, fordisplay: true });
  t.regex(listed[0].wireguardpublickey, /^[A-Za-z0-9+/]{43}=$/);
  t.deepEqual(await bob.api.ok('listRemoteAccessVpns', {}), {}, 'bob sees no VPN of alice');
  t.like(await jobError(alice.api, 'createRemoteAccessVpn', { publicipid: snat.id, iprange: '10.9.0.1-10.9.0.20' }), { errorcode: 431 }, 'one VPN per IP');

  // ---- users ----
  const u1 = await alice.api.jobOk('addVpnUser', { username: 'carol', password: 'secret-1' });
  t.like(u1.vpnuser, { username: 'carol', state: 'Active', account: 'alice', wireguardaddress: '10.8.0.2' });
  const conf1 = u1.vpnuser.wireguardconfig as string;
  t.regex(conf1, /^\[Interface\]\nPrivateKey = .{44}\nAddress = 10\.8\.0\.2\/32\n/);
  t.true(conf1.includes(`Endpoint = ${snat.ipaddress}:51820`) && conf1.includes(`PublicKey = ${listed[0].wireguardpublickey}`));
  const daveKey = execFileSync('wg', ['genkey']).toString().trim();
  const davePub = execFileSync('wg', ['pubkey'], { input: daveKey + '\n' }).toString().trim();
  const u2 = await alice.api.jobOk('addVpnUser', { username: 'dave', password: 'secret-2', publickey: davePub });
  t.like(u2.vpnuser, { username: 'dave', wireguardpublickey: davePub, wireguardaddress: '10.8.0.3' });
  t.is(u2.vpnuser.wireguardconfig, undefined, 'no private key of ours to hand out');
  // A one-user change reaches the router as a delta of its peers, not the whole spec
  // (manager/src/commands/vpn/push.ts): its generation's hash names the delta.
  const pushedAs = async () => (await w.cloud.m.services.db.query<{ spec_hash: string; generation: number; applied_generation: number }>('SELECT spec_hash, generation, applied_generation FROM routers WHERE network_id = $1', [net.id]))[0]!;
  const pushed = await pushedAs();
  t.regex(pushed.spec_hash, /^delta:/);
  t.is(pushed.applied_generation, pushed.generation);
  /** The router's live peers (wg show over wireguard-go's UAPI socket in /var/run/wireguard). */
  const livePeers = async () => (await promisify(execFile)('wg', ['show', vpnInterfaceOf(net.id), 'allowed-ips'])).stdout;
  t.true((await livePeers()).includes(`${davePub}\t10.8.0.3/32`));
  const users = (await alice.api.ok('listVpnUsers', {})).vpnuser;
  t.deepEqual(users.map((u: { username: string }) => u.username), ['carol', 'dave']);
  t.false(JSON.stringify(users).includes('PrivateKey'), 'the generated private key is answered once, never listed');
  t.deepEqual(await bob.api.ok('listVpnUsers', {}), {});

  // Wrong keys are refused before a job is queued; duplicates and other tenants' accounts in the job.
  for (const k of ['not-a-key', Buffer.alloc(31).toString('base64'), Buffer.alloc(33).toString('base64')]) {
    const r = await alice.api.call('addVpnUser', { username: 'eve', password: 'secret-3', publickey: k });
    t.is(r.status, 431, k);
    t.regex(JSON.stringify(r.body), /publickey/);
  }
  t.like(await jobError(alice.api, 'addVpnUser', { username: 'eve', password: 'secret-3', publickey: davePub }), { errorcode: 431 }, 'duplicate key');
  t.like(await jobError(alice.api, 'addVpnUser', { username: 'dave', password: 'secret-3' }), { errorcode: 431 }, 'duplicate user name');
  t.is((await alice.api.call('addVpnUser', { username: 'x', password: 'secret-3' })).status, 431, "CloudStack's user name rule");
  const steal = await jobError(bob.api, 'addVpnUser', { username: 'mallory', password: 'secret-4', account: 'alice', domainid: alice.domainId });
  t.is(steal.errorcode, 531, "bob cannot add users to alice's VPN");
  t.is((await jobError(bob.api, 'removeVpnUser', { username: 'carol' })).errorcode, 431, "bob has no user carol; alice's stays");
  t.is((await alice.api.ok('listVpnUsers', {})).count, 2);

  // ---- clients on the uplink reach the guest by its private address ----
  const daveConf = conf1.replace(/^PrivateKey = .+$/m, `PrivateKey = ${daveKey}`).replace('10.8.0.2/32', '10.8.0.3/32');
  const c1 = await client(w, 'c1', '203.0.113.201', conf1);
  const c2 = await client(w, 'c2', '203.0.113.202', daveConf, ['203.0.113.1/32']);
  await waitFor(async () => (await http(w, c1.ns, `http://${vmIp}/`)) === 'vm1', 'carol reaches vm1 through the tunnel', 30_000);
  await waitFor(async () => (await http(w, c2.ns, `http://${vmIp}/`)) === 'vm1', 'dave reaches vm1 through the tunnel', 30_000);
  // Without the tunnel the private address is not reachable from the uplink at all.
  const plain = await w.lab.netns('c3');
  await w.lab.veth(plain, 'eth0', w.uplink, 'c3u');
  await w.lab.exec(w.uplink, ['ip', 'link', 'set', 'c3u', 'master', 'br0']);
  await w.lab.exec(plain, ['ip', 'addr', 'add', '203.0.113.203/24', 'dev', 'eth0']);
  await w.lab.exec(plain, ['ip', 'route', 'add', '10.1.0.0/16', 'via', snat.ipaddress]);
  t.is(await http(w, plain, `http://${vmIp}/`), '', 'no tunnel, no way in');

  // ---- egress of VPN clients follows the network's egress rules ----
  w.lab.spawn(w.uplink, ['socat', 'TCP-LISTEN:9000,reuseaddr,fork', 'SYSTEM:echo $SOCAT_PEERADDR']);
  const askUplink = async () => (await w.lab.tryExec(c2.ns, ['socat', '-T', '2', '-', 'TCP:203.0.113.1:9000,connect-timeout=2'], { timeoutMs: 5000 })).stdout.trim();
  await waitFor(async () => (await askUplink()) === snat.ipaddress, 'dave out through the tunnel, source NAT to the public IP', 15_000);
  const eg = await alice.api.jobOk('createEgressFirewallRule', { networkid: net.id, protocol: 'tcp', startport: 9000, endport: 9000 });
  t.truthy(eg.firewallrule.id);
  t.is(await askUplink(), '', 'the egress rule (deny under an allow-by-default offering) holds for VPN clients too');
  await alice.api.jobOk('deleteEgressFirewallRule', { id: eg.firewallrule.id });
  t.is(await askUplink(), snat.ipaddress);

  // ---- removing a user stops its tunnel within 2 s; the other keeps working ----
  await alice.api.jobOk('removeVpnUser', { username: 'carol' });
  // The peer is gone from the router when the job answers: the very next request (2 s limit) fails.
  t.is(await http(w, c1.ns, `http://${vmIp}/`, 2), '', "carol's tunnel is gone within 2 s");
  t.is(await http(w, c2.ns, `http://${vmIp}/`), 'vm1', "dave's keeps working");
  t.deepEqual((await alice.api.ok('listVpnUsers', {})).vpnuser.map((u: { username: string }) => u.username), ['dave']);

  // ---- the router destroyed and re-created: same key, same peers, the same client config reconnects ----
  const before = (await w.cloud.admin.ok('listRouters', { networkid: net.id })).router[0];
  await w.cloud.admin.jobOk('destroyRouter', { id: before.id });
  t.is(await http(w, c2.ns, `http://${vmIp}/`), '', 'no router, no tunnel');
  await alice.api.jobOk('restartNetwork', { id: net.id });
  const after = (await w.cloud.admin.ok('listRouters', { networkid: net.id })).router[0];
  t.not(after.id, before.id);
  t.is((await alice.api.ok('listRemoteAccessVpns', {})).remoteaccessvpn[0].wireguardpublickey, listed[0].wireguardpublickey);
  await waitFor(async () => (await http(w, c2.ns, `http://${vmIp}/`)) === 'vm1', 'the same client configuration reconnects to the re-created router', 60_000);
  // The router keeps what it applied under the network's state key, which outlives router VMs.
  const journal = join(w.stateDir, 'kept', net.id, 'vpn-journal.jsonl');
  t.true(existsSync(journal));
  t.true(readFileSync(journal, 'utf8').includes(davePub));

  // ---- a real CloudStack client: Debian's cs lists, adds a user and deletes the VPN ----
  const csList = await cs(alice.api, ['listRemoteAccessVpns']);
  t.like(csList.remoteaccessvpn[0], { publicip: snat.ipaddress, wireguardport: 51820, state: 'Running' });
  // A peer written to the database without a sync naming it (drift): the next user's delta sees
  // the peer count differ and the whole spec goes instead, carrying both.
  const ghost = execFileSync('wg', ['pubkey'], { input: execFileSync('wg', ['genkey']) }).toString().trim();
  const ghostId = '0e0e0e0e-0000-4000-8000-000000000001';
  await w.cloud.m.services.db.query(`INSERT INTO vpn_users (id, username, account_id, domain_id, password_hash, public_key, state) VALUES ($1, 'ghost', $2, $3, 'x', $4, 'Active')`, [ghostId, alice.accountId, alice.domainId, ghost]);
  await w.cloud.m.services.db.query(`INSERT INTO vpn_user_addresses (vpn_id, user_id, address) VALUES ($1, $2, '10.8.0.9')`, [listed[0].id, ghostId]);
  const csUser = await cs(alice.api, ['addVpnUser', 'username=erin', 'password=secret-5']);
  t.notRegex((await pushedAs()).spec_hash, /^delta:/, 'the whole spec was sent');
  t.true((await livePeers()).includes(`${ghost}\t10.8.0.9/32`));
  t.true((await livePeers()).includes(`${csUser.vpnuser.wireguardpublickey}\t10.8.0.2/32`));
  await alice.api.jobOk('removeVpnUser', { username: 'ghost' });
  t.regex((await pushedAs()).spec_hash, /^delta:/, 'and deltas again after it');
  t.false((await livePeers()).includes(ghost));
  t.regex(csUser.vpnuser.wireguardconfig, /^\[Interface\]\nPrivateKey = /);
  t.is(csUser.vpnuser.wireguardaddress, '10.8.0.2', "carol's freed address is given again");
  // remote.access.vpn.user.limit holds (CloudStack's AccountLimitException: 532).
  await w.cloud.admin.ok('updateConfiguration', { name: 'remote.access.vpn.user.limit', value: '2' });
  t.like(await jobError(alice.api, 'addVpnUser', { username: 'frank', password: 'secret-6' }), { errorcode: 532 });
  // updateRemoteAccessVpn: the owner may, another tenant may not.
  const upd = await alice.api.jobOk('updateRemoteAccessVpn', { id: listed[0].id, fordisplay: false });
  t.like(upd.remoteaccessvpn, { id: listed[0].id, fordisplay: false, wireguardpublickey: listed[0].wireguardpublickey });
  t.is((await bob.api.call('updateRemoteAccessVpn', { id: listed[0].id, fordisplay: true })).status, 531);
  const csDel = await cs(alice.api, ['deleteRemoteAccessVpn', `publicipid=${snat.id}`]);
  t.true(csDel.success === true || csDel.success === 'true', JSON.stringify(csDel));
  t.deepEqual(await alice.api.ok('listRemoteAccessVpns', {}), {});
  t.is(await http(w, c2.ns, `http://${vmIp}/`), '', 'no VPN, no tunnel');
  t.is((await alice.api.ok('listVpnUsers', {})).count, 2, 'users belong to the account and stay');
});
