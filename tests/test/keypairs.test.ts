// SSH key pairs end to end: a tenant drives the real `cs` CLI (python3-cs) to create a key pair,
// deploy a VM with it and read back getVMPassword's encrypted password, which openssl decrypts
// with the private key createSSHKeyPair answered (as CloudStack's docs tell users to). Hosts run
// real agents (the Simulator driver on both database dialects; the netns driver and the real
// router appliance in the kernel test, where the guest reads its public keys from the router's
// metadata service).
import test, { type ExecutionContext } from 'ava';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { signedClient, type Api } from '@flotilla/manager/client';
import { Lab, kernelTestsUnavailable } from '../src/lab.ts';
import { DIALECTS, cloudOn as clientsCloudOn } from '../src/clients.ts';
import { addHost, addUplink, createZone, netnsHosts, simulatorDriver, startCloud, waitFor, type Cloud } from '../src/cloud.ts';

const run = promisify(execFile);
const skip = kernelTestsUnavailable();
const kernelTest = skip ? test.skip : test.serial;
/** A manager on a fresh database of the dialect, without system VMs (these tests own the zone's addresses). */
const cloudOn = (t: ExecutionContext, dialect: 'pglite' | 'postgres') => clientsCloudOn(t, dialect, { FLOTILLA_SYSTEM_VMS: 'off' });

/** `cs <args>` (Debian's python3-cs) as the given API client's user; the parsed JSON it printed. */
async function cs(api: Api, args: string[]): Promise<any> {
  try {
    const r = await run('/usr/bin/python3', ['-m', 'cs', ...args], {
      env: { PATH: process.env.PATH, HOME: '/nonexistent', CLOUDSTACK_ENDPOINT: `${api.url}/client/api`, CLOUDSTACK_KEY: api.apiKey, CLOUDSTACK_SECRET: api.secretKey }, timeout: 120_000,
    });
    return JSON.parse(r.stdout);
  } catch (e) {
    const x = e as { stdout?: string; stderr?: string };
    try { return JSON.parse(x.stdout ?? ''); } catch { throw new Error(`cs ${args[0]} failed: ${x.stderr ?? x.stdout}`); }
  }
}

async function tenant(cloud: Cloud, name: string): Promise<Api> {
  const acc = (await cloud.admin.ok('createAccount', { username: name, account: name, password: `pw-${name}-1`, email: `${name}@example.org`, firstname: name, lastname: 'Tenant', accounttype: 0 })).account;
  const keys = (await cloud.admin.ok('registerUserKeys', { id: acc.user[0].id })).userkeys;
  return signedClient(cloud.url, keys.apikey, keys.secretkey);
}

async function scratch(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'flt-keys-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** What a user does with getVMPassword's answer: base64-decode it, decrypt with the private key. */
async function decrypt(dir: string, privateKey: string, encrypted: string): Promise<string> {
  const key = join(dir, `id-${randomBytes(4).toString('hex')}`);
  await writeFile(key, privateKey, { mode: 0o600 });
  await writeFile(`${key}.enc`, Buffer.from(encrypted, 'base64'));
  return (await run('openssl', ['pkeyutl', '-decrypt', '-pkeyopt', 'rsa_padding_mode:pkcs1', '-inkey', key, '-in', `${key}.enc`])).stdout;
}

for (const dialect of DIALECTS) {
  test(`cs creates a key pair, deploys a VM with it; getVMPassword decrypts to the deploy password; reset of password and keys [${dialect}]`, async (t) => {
    const cloud = await cloudOn(t, dialect);
    const z = await createZone(cloud.admin, 'keys', 'Simulator');
    await addHost(t, cloud, z, { name: 'sim1', driver: simulatorDriver(), tag: 'sim1' });
    const off = (await cloud.admin.ok('listNetworkOfferings', { name: 'DefaultSharedNetworkOffering' })).networkoffering[0];
    const net = (await cloud.admin.ok('createNetwork', { name: 'shared', zoneid: z.zoneId, networkofferingid: off.id, vlan: 'vxlan://4242', gateway: '10.42.0.1', netmask: '255.255.255.0', startip: '10.42.0.10', endip: '10.42.0.99' })).network;
    const api = await tenant(cloud, 'dora');
    const dir = await scratch(t);
    const so = (await api.ok('listServiceOfferings', { name: 'Small Instance' })).serviceoffering[0];
    const tpl = (await api.ok('listTemplates', { templatefilter: 'featured', name: 'Flotilla netns guest' })).template[0];
    t.true(tpl.passwordenabled);
    const base = [`zoneid=${z.zoneId}`, `serviceofferingid=${so.id}`, `templateid=${tpl.id}`, `networkids=${net.id}`];
    const vmCount = async () => (await cloud.admin.ok('listVirtualMachines', { listall: true })).count ?? 0;

    const kp = (await cs(api, ['createSSHKeyPair', 'name=deploy-key'])).keypair;
    t.regex(kp.privatekey, /BEGIN RSA PRIVATE KEY/);

    // Refusals before anything is written: no such key pair; a non-RSA key cannot encrypt the password.
    // (cs prints the failed job's queryAsyncJobResult answer.)
    const failed = async (args: string[]) => { const o = await cs(api, args); return o.queryasyncjobresultresponse?.jobresult ?? o; };
    const missing = await failed(['deployVirtualMachine', ...base, 'name=nokey', 'keypair=nope']);
    t.is(missing.errorcode, 431, JSON.stringify(missing));
    t.regex(missing.errortext, /A key pair with name 'nope' was not found for account dora/);
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'dora@laptop', '-f', join(dir, 'ed')]);
    const edPub = (await readFile(join(dir, 'ed.pub'), 'utf8')).trim();
    t.is((await cs(api, ['registerSSHKeyPair', 'name=ed', `publickey=${edPub}`])).keypair.name, 'ed');
    const edFirst = await failed(['deployVirtualMachine', ...base, 'name=edkey', 'keypair=ed']);
    t.is(edFirst.errorcode, 431, JSON.stringify(edFirst));
    t.regex(edFirst.errortext, /Only RSA public keys can be used to encrypt a vm password/);
    // Keys beyond what the router's metadata field carries: refused at deploy, not by the router.
    // (Random odd 16384-bit moduli: public keys need no primes, and real ones take minutes to make.)
    const str = (b: Buffer) => { const l = Buffer.alloc(4); l.writeUInt32BE(b.length); return Buffer.concat([l, b]); };
    const big = Array.from({ length: 24 }, () => { const n = randomBytes(2048); n[0] = 0x80 | n[0]!; n[2047] = n[2047]! | 1; return `ssh-rsa ${Buffer.concat([str(Buffer.from('ssh-rsa')), str(Buffer.from([1, 0, 1])), str(Buffer.concat([Buffer.from([0]), n]))]).toString('base64')}`; });
    for (const [i, publickey] of big.entries()) await api.ok('registerSSHKeyPair', { name: `big${i}`, publickey });
    const tooMany = await api.job('deployVirtualMachine', { zoneid: z.zoneId, serviceofferingid: so.id, templateid: tpl.id, networkids: net.id, name: 'many', keypairs: big.map((_, i) => `big${i}`).join(',') });
    t.is(tooMany.jobresult.errorcode, 431);
    t.regex(tooMany.jobresult.errortext, /take \d+ characters; a VM's keys may take at most 65536/);
    t.is(await vmCount(), 0, 'a refused deploy leaves no VM');

    // Deploy with the key pair (cs waits for the job); the answer shows the password once.
    const vm = (await cs(api, ['deployVirtualMachine', ...base, 'name=withkey', 'keypair=deploy-key'])).virtualmachine;
    t.is(vm.state, 'Running');
    t.is(vm.keypair, 'deploy-key');
    t.is(vm.keypairs, 'deploy-key');
    t.regex(vm.password, /^[A-Za-z0-9]{10}$/);
    const got = (await cs(api, ['getVMPassword', `id=${vm.id}`])).password;
    t.is(await decrypt(dir, kp.privatekey, got.encryptedpassword), vm.password);
    t.is((await api.ok('listVirtualMachines', { id: vm.id })).virtualmachine[0].keypair, 'deploy-key');

    // A VM keeps its keys when the key pair is deleted (its own copy, as in CloudStack).
    await cs(api, ['deleteSSHKeyPair', 'name=deploy-key']);
    t.is(await decrypt(dir, kp.privatekey, (await api.ok('getVMPassword', { id: vm.id })).password.encryptedpassword), vm.password);

    // Another account can neither read the password nor use the key pair name.
    const eve = await tenant(cloud, 'eve');
    t.is((await eve.call('getVMPassword', { id: vm.id })).status, 531);

    // resetPasswordForVirtualMachine: the new password is kept encrypted under the same key.
    await api.jobOk('stopVirtualMachine', { id: vm.id });
    const reset = (await api.jobOk('resetPasswordForVirtualMachine', { id: vm.id })).virtualmachine;
    t.not(reset.password, vm.password);
    t.is(await decrypt(dir, kp.privatekey, (await api.ok('getVMPassword', { id: vm.id })).password.encryptedpassword), reset.password);

    // resetSSHKeyForVirtualMachine: stopped VMs only; new keys, a new password under the first.
    const k2 = (await api.ok('createSSHKeyPair', { name: 'second' })).keypair;
    await api.jobOk('startVirtualMachine', { id: vm.id });
    const running = await api.job('resetSSHKeyForVirtualMachine', { id: vm.id, keypair: 'second' });
    t.is(running.jobresult.errorcode, 431);
    t.regex(running.jobresult.errortext, /should be stopped to do SSH Key reset/);
    await api.jobOk('stopVirtualMachine', { id: vm.id });
    t.is((await api.job('resetSSHKeyForVirtualMachine', { id: vm.id, keypairs: 'ed,second' })).jobresult.errorcode, 431, 'the first key must be RSA to carry the password');
    const rekeyed = (await cs(api, ['resetSSHKeyForVirtualMachine', `id=${vm.id}`, 'keypairs=second,ed'])).virtualmachine;
    t.is(rekeyed.keypairs, 'second,ed');
    t.deepEqual((await api.ok('listVirtualMachines', { keypair: 'ED' })).virtualmachine.map((v: any) => v.id), [vm.id]);
    t.deepEqual(await api.ok('listVirtualMachines', { keypair: 'deploy-key' }), {}, 'the old key pair is gone from the VM');
    t.not(rekeyed.password, reset.password);
    t.is(await decrypt(dir, k2.privatekey, (await api.ok('getVMPassword', { id: vm.id })).password.encryptedpassword), rekeyed.password);
    const stored = await cloud.m.services.db.query<{ ssh_public_keys: string }>('SELECT ssh_public_keys FROM vm_instances WHERE id = $1', [vm.id]);
    t.deepEqual(stored[0]!.ssh_public_keys.split('\n').map((l) => l.split(' ')[0]), ['ssh-rsa', 'ssh-ed25519']);
    t.is(stored[0]!.ssh_public_keys.split('\n')[1], edPub.split(' ').slice(0, 2).join(' '), 'the comment is not kept');
  });
}

kernelTest('the real router serves a VM\'s key pairs as metadata public-keys; resetSSHKeyForVirtualMachine changes them', async (t) => {
  const lab = Lab.create(t, 'key');
  const cloud = await startCloud(t);
  const z = await createZone(cloud.admin);
  const [h1] = await netnsHosts(lab, 1);
  await addHost(t, cloud, z, { name: 'host1', driver: h1!.driver, tag: h1!.tag, hostNs: h1!.hostNs });
  await addUplink(lab, cloud, z, [h1!]);
  const api = await tenant(cloud, 'erin');
  const dir = await scratch(t);
  await run('ssh-keygen', ['-q', '-t', 'ecdsa', '-N', '', '-C', 'erin@laptop', '-f', join(dir, 'ec')]);
  const ecPub = (await readFile(join(dir, 'ec.pub'), 'utf8')).trim();
  await api.ok('registerSSHKeyPair', { name: 'laptop', publickey: ecPub });
  const made = (await api.ok('createSSHKeyPair', { name: 'made' })).keypair;
  const madePub = (await run('ssh-keygen', ['-y', '-f', await (async () => { const f = join(dir, 'made'); await writeFile(f, made.privatekey, { mode: 0o600 }); return f; })()])).stdout.trim();

  const off = (await api.ok('listNetworkOfferings', { name: 'DefaultIsolatedNetworkOfferingWithSourceNatService' })).networkoffering[0];
  const net = (await api.ok('createNetwork', { name: 'net1', zoneid: z.zoneId, networkofferingid: off.id })).network;
  const so = (await api.ok('listServiceOfferings', { name: 'Small Instance' })).serviceoffering[0];
  const tpl = (await api.ok('listTemplates', { templatefilter: 'featured', name: 'Flotilla netns guest' })).template[0];
  const vm = (await api.jobOk('deployVirtualMachine', { zoneid: z.zoneId, serviceofferingid: so.id, templateid: tpl.id, networkids: net.id, name: 'vm1', keypairs: 'made,laptop' }, 120_000)).virtualmachine;
  const ip = vm.nic[0].ipaddress;
  const nsOf = async () => h1!.driver.names.vmNamespace((await cloud.admin.ok('listVirtualMachines', { id: vm.id, listall: true })).virtualmachine[0].instancename);
  const leased = async (ns: string) => waitFor(async () => (await lab.exec(ns, ['ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0'])).stdout.includes(`inet ${ip}/`), `DHCP lease ${ip}`, 30_000);
  let ns = await nsOf();
  await leased(ns);
  const get = async (path: string) => (await lab.exec(ns, ['curl', '-sS', '--max-time', '5', `http://${net.gateway}${path}`])).stdout;
  t.true((await get('/latest/meta-data/')).split('\n').includes('public-keys'));
  t.is((await get('/latest/meta-data/public-keys')).trim(), `${madePub}\n${ecPub.split(' ').slice(0, 2).join(' ')}`);
  t.is(await decrypt(dir, made.privatekey, (await api.ok('getVMPassword', { id: vm.id })).password.encryptedpassword), vm.password);

  await api.jobOk('stopVirtualMachine', { id: vm.id });
  const rekeyed = (await api.jobOk('resetSSHKeyForVirtualMachine', { id: vm.id, keypair: 'made' })).virtualmachine;
  await api.jobOk('startVirtualMachine', { id: vm.id });
  ns = await nsOf();
  await leased(ns);
  t.is((await get('/latest/meta-data/public-keys')).trim(), madePub);
  t.is((await lab.exec(ns, ['curl', '-sS', '--max-time', '5', '-H', 'DomU_Request: send_my_password', `http://${net.gateway}:8080/`])).stdout.trim(), rekeyed.password);
});
