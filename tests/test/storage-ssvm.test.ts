// The secondary storage VM serves the zone's image store (root, netns driver): templates are
// downloaded by the VM's appliance from an HTTP server inside the test's own uplink namespace
// (right and wrong checksums, a slow server whose progress listTemplates shows, a cut transfer),
// the files land in the store's directory on the host, a host fetches the template from the VM's
// control address and boots a VM from it, curl posts a signed upload and fetches an extract
// through the manager's /storage/ forward (a tampered signature or expiry refused), deleteTemplate
// removes the files; the manager runs no storage server of its own meanwhile.
import test from 'ava';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { md5, rootfsTar, serve } from '@flotilla/storage/testing';
import { Lab, kernelTestsUnavailable } from '../src/lab.ts';
import { addHost, addUplink, createZone, netnsHosts, startCloud, waitFor } from '../src/cloud.ts';
import { setConsoleNetns } from '@flotilla/manager/console/index';
import { guestTemplateTar } from '../src/template-tar.ts';

const sh = promisify(execFile);
const skip = kernelTestsUnavailable();
const kernelTest = skip ? test.skip : test.serial;
if (skip) test.skip(`storage VM: ${skip}`, () => undefined);

kernelTest('the secondary storage VM downloads, checks, stores and serves templates; uploads and extracts through the forward', async (t) => {
  const lab = Lab.create(t, 'ssv');
  const cloud = await startCloud(t, { systemVms: true, systemVmCheckMs: 1000 });
  const z = await createZone(cloud.admin, 'ssv');
  const [h1] = await netnsHosts(lab, 1);
  await addHost(t, cloud, z, { name: 'host1', driver: h1!.driver, tag: h1!.tag, hostNs: h1!.hostNs });
  const up = await addUplink(lab, cloud, z, [h1!]);
  await setConsoleNetns(cloud.m.services, up.ns);
  const db = cloud.m.services.db;
  const dir = mkdtempSync(join(tmpdir(), 'flt-ssvstore-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));

  // The file server lives in the uplink namespace (the storage VM's public side): a node server on
  // a unix socket of this test, bridged to 203.0.113.1:8080 there by socat.
  const tar = await guestTemplateTar({ files: { 'var/www/marker.txt': 'served by the storage VM\n' } });
  const big = rootfsTar(2_000_000);
  const sockDir = mkdtempSync(join(tmpdir(), 'flt-ssvweb-'));
  t.teardown(() => rmSync(sockDir, { recursive: true, force: true }));
  const fast = await serve({ 'g.tar': tar, 'big.tar': big }, { socket: join(sockDir, 'fast.sock') });
  const slow = await serve({ 'big.tar': big }, { socket: join(sockDir, 'slow.sock'), slowMs: 150 });
  const cut = await serve({ 'big.tar': big }, { socket: join(sockDir, 'cut.sock'), cutAfter: 700_000 });
  t.teardown(async () => { await fast.close(); await slow.close(); await cut.close(); });
  for (const [port, name] of [[8080, 'fast'], [8081, 'slow'], [8082, 'cut']] as const) {
    lab.spawn(up.ns, ['socat', `TCP-LISTEN:${port},bind=${up.gateway},fork,reuseaddr`, `UNIX-CONNECT:${join(sockDir, `${name}.sock`)}`], { stdio: 'ignore' });
  }
  const web = (port: number, f: string) => `http://${up.gateway}:${port}/${f}`;

  const ssvm = async () => {
    let vm: Record<string, any> | undefined;
    await waitFor(async () => { vm = ((await cloud.admin.ok('listSystemVms', { zoneid: z.zoneId, systemvmtype: 'secondarystoragevm' })).systemvm ?? []).find((v: any) => v.state === 'Running' && v.agentstate === 'Up'); return Boolean(vm); }, 'a Running storage VM', 90_000);
    return vm!;
  };
  const ss = await ssvm();
  // No image store yet: the VM answers its health only.
  t.like(JSON.parse((await lab.exec(up.ns, ['curl', '-sS', '--max-time', '10', `http://${ss.publicip}/health`])).stdout), { ok: true, role: 'storage', store: false });

  const store = (await cloud.admin.ok('addImageStore', { provider: 'Local', name: 'ssvstore', url: `file://${dir}`, zoneid: z.zoneId })).imagestore;
  // The VM serves it now (the manager re-configured it): the store's service URL is the VM's
  // control address and the manager runs no server of its own.
  await waitFor(async () => /^http:\/\/169\.254\./.test((await db.query<{ service_url: string | null }>('SELECT service_url FROM image_stores WHERE id = $1', [store.id]))[0]?.service_url ?? ''), 'the storage VM serves the store', 30_000);
  t.true(existsSync(join(dir, '.flotilla-image-store')));

  const register = async (name: string, url: string, checksum?: string) => (await cloud.admin.ok('registerTemplate', {
    name, displaytext: name, format: 'TAR', hypervisor: 'LXC', zoneid: z.zoneId, url, ...(checksum ? { checksum } : {}) })).template[0];
  const tpl = async (id: string) => (await cloud.admin.ok('listTemplates', { templatefilter: 'all', id })).template[0];
  const sum = createHash('sha256').update(tar).digest('hex');
  const good = await register('ssvgood', web(8080, 'g.tar'), `{SHA-256}${sum}`);
  const wrong = await register('ssvwrong', web(8080, 'big.tar'), '0'.repeat(32));
  const missing = await register('ssvmissing', web(8080, 'nope.tar'));
  const slowT = await register('ssvslow', web(8081, 'big.tar'), md5(big));
  const cutT = await register('ssvcut', web(8082, 'big.tar'));
  // Progress of the slow one, as CloudStack words it.
  const seen = new Set<string>();
  await waitFor(async () => { const s = (await tpl(slowT.id)).status as string; seen.add(s); return s === 'Download Complete'; }, 'slow download', 60_000);
  t.true([...seen].some((s) => /^([1-9]\d?)% Downloaded$/.test(s)), `progress seen: ${[...seen].join(' | ')}`);
  t.true((await tpl(slowT.id)).isready);
  await waitFor(async () => (await tpl(good.id)).isready, 'good ready', 30_000);
  t.like(await tpl(good.id), { status: 'Download Complete', isready: true });
  await waitFor(async () => /Failed/.test((await tpl(wrong.id)).status) && /Failed/.test((await tpl(missing.id)).status) && /Failed/.test((await tpl(cutT.id)).status), 'failures', 30_000);
  t.regex((await tpl(wrong.id)).status, /^Download Failed: checksum mismatch \(MD5 expected 0{32}, got [0-9a-f]{32}\)$/);
  t.regex((await tpl(missing.id)).status, /HTTP 404/);
  t.regex((await tpl(cutT.id)).status, /connection ended after \d+ of \d+ bytes/);
  for (const x of [wrong, missing, cutT]) t.false((await tpl(x.id)).isready);
  // Landed by the VM in the store's directory on the host; nothing of the failed ones.
  t.true(existsSync(join(dir, 'templates', good.id, 'image')));
  for (const x of [wrong, missing, cutT]) t.false(existsSync(join(dir, 'templates', x.id)));

  // A VM from it: the host fetches the template from the storage VM's control address.
  const off = (await cloud.admin.ok('listNetworkOfferings', { name: 'DefaultSharedNetworkOffering' })).networkoffering[0];
  const net = (await cloud.admin.ok('createNetwork', {
    name: 'ssvnet', zoneid: z.zoneId, networkofferingid: off.id, vlan: 'vxlan://6530', gateway: '10.84.0.1', netmask: '255.255.255.0', startip: '10.84.0.10', endip: '10.84.0.99',
  })).network.id;
  const small = (await cloud.admin.ok('listServiceOfferings', { name: 'Small Instance' })).serviceoffering[0];
  const vm = (await cloud.admin.jobOk('deployVirtualMachine', { zoneid: z.zoneId, serviceofferingid: small.id, templateid: good.id, networkids: net, name: 'ssvguest' }, 120_000)).virtualmachine;
  t.is(vm.state, 'Running');
  await waitFor(async () => (await lab.tryExec(h1!.hostNs, ['true'])).code === 0 && (await lab.tryExec(h1!.driver.names.vmNamespace(vm.instancename), ['curl', '-sS', '--max-time', '2', `http://${vm.nic[0].ipaddress}/marker.txt`])).stdout.trim() === 'served by the storage VM', 'the guest serves the template\'s file', 20_000);

  // A browser upload through the manager's forward (the VM's public address is in the uplink).
  const upl = (await cloud.admin.ok('getUploadParamsForTemplate', { name: 'ssvup', displaytext: 'up', format: 'TAR', hypervisor: 'LXC', zoneid: z.zoneId, ostypeid: good.ostypeid })).getuploadparams;
  t.regex(upl.postURL, new RegExp(`/storage/${store.id}/upload/${upl.id}$`));
  const file = join(sockDir, 'up.tar');
  writeFileSync(file, tar);
  const post = async (sig: string, expires = upl.expires) => (await sh('curl', ['-sS', '--max-time', '30', '-X', 'POST', '-H', `X-signature: ${sig}`, '-H', `X-metadata: ${upl.metadata}`, '-H', `X-expires: ${expires}`, '-F', `file=@${file}`, upl.postURL])).stdout;
  t.is(await post(`${upl.signature.slice(0, -4)}AAA=`), 'signature validation failed.');
  t.is(await post(upl.signature, new Date(Date.now() - 60_000).toISOString()), 'signature validation failed.');
  t.is(await post(upl.signature), 'upload successful.');
  await waitFor(async () => (await tpl(upl.id)).isready, 'uploaded template ready', 20_000);
  t.true(existsSync(join(dir, 'templates', upl.id, 'image')));

  // extractTemplate's URL, through the forward: the same bytes.
  const ex = (await cloud.admin.jobOk('extractTemplate', { id: good.id, mode: 'HTTP_DOWNLOAD' })).template;
  const out = join(sockDir, 'ex.tar');
  await sh('curl', ['-sS', '-f', '--max-time', '30', '-o', out, ex.url]);
  t.is(createHash('sha256').update(readFileSync(out)).digest('hex'), sum);
  const forged = ex.url.replace(/signature=[^&]+/, 'signature=AAAA');
  t.is((await sh('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '30', forged])).stdout, '403');

  // deleteTemplate removes the files (the VM deletes them).
  await cloud.admin.jobOk('destroyVirtualMachine', { id: vm.id, expunge: true }, 120_000);
  await cloud.admin.jobOk('deleteTemplate', { id: slowT.id });
  t.false(existsSync(join(dir, 'templates', slowT.id)));
});
