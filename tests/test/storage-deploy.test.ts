// A VM from a registered template on a real host (netns driver, runc): the template is a
// busybox root filesystem tarball served by an HTTP server on loopback, registered with its
// SHA-256 checksum, downloaded by the zone's storage service; the host fetches it once (signed
// URL), caches it, and both VMs boot from it (they serve a file only the template has). The
// built-in guest template reaches the host the same way, from the same store.
import test from 'ava';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve } from '@flotilla/storage/testing';
import { Lab, kernelTestsUnavailable } from '../src/lab.ts';
import { addHost, createZone, netnsHosts, startCloud, waitFor } from '../src/cloud.ts';
import { guestTemplateTar } from '../src/template-tar.ts';

const skip = kernelTestsUnavailable();
const kernelTest = skip ? test.skip : test.serial;
if (skip) test.skip(`storage deploy: ${skip}`, () => undefined);

kernelTest('deploy VMs from a registered TAR template: fetched once by the host, both VMs boot from it', async (t) => {
  const lab = Lab.create(t, 'tpl');
  const cloud = await startCloud(t);
  const z = await createZone(cloud.admin);
  const [h1] = await netnsHosts(lab, 1);
  await addHost(t, cloud, z, { name: 'host1', driver: h1!.driver, tag: h1!.tag, hostNs: h1!.hostNs });
  const off = (await cloud.admin.ok('listNetworkOfferings', { name: 'DefaultSharedNetworkOffering' })).networkoffering[0];
  const net = (await cloud.admin.ok('createNetwork', {
    name: 'tplnet', zoneid: z.zoneId, networkofferingid: off.id, vlan: 'vxlan://6510', gateway: '10.82.0.1', netmask: '255.255.255.0', startip: '10.82.0.10', endip: '10.82.0.99',
  })).network.id;
  const dir = mkdtempSync(join(tmpdir(), 'flt-store-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  await cloud.admin.ok('addImageStore', { provider: 'Local', name: 'tplstore', url: `file://${dir}`, zoneid: z.zoneId });

  const tar = await guestTemplateTar({ files: { 'var/www/marker.txt': 'from the registered template\n' } });
  const web = await serve({ 'guest.tar': tar });
  t.teardown(() => web.close());
  const sum = createHash('sha256').update(tar).digest('hex');
  const tpl = (await cloud.admin.ok('registerTemplate', { name: 'bbx', displaytext: 'busybox', format: 'TAR', hypervisor: 'LXC', zoneid: z.zoneId, url: `${web.url}/guest.tar`, checksum: `{SHA-256}${sum}` })).template[0];
  await waitFor(async () => (await cloud.admin.ok('listTemplates', { templatefilter: 'all', id: tpl.id })).template[0].isready, 'template ready', 60_000);

  const small = (await cloud.admin.ok('listServiceOfferings', { name: 'Small Instance' })).serviceoffering[0];
  const deploy = async (name: string) => (await cloud.admin.jobOk('deployVirtualMachine', { zoneid: z.zoneId, serviceofferingid: small.id, templateid: tpl.id, networkids: net, name }, 120_000)).virtualmachine;
  const [a, b] = await Promise.all([deploy('tpla'), deploy('tplb')]);
  t.is(a.templateid, tpl.id);
  const get = async (from: string, ip: string, path: string) => (await lab.tryExec(h1!.driver.names.vmNamespace(from), ['curl', '-sS', '--max-time', '3', `http://${ip}/${path}`])).stdout.trim();
  // (a VM of a stored template is Running once its init and console are up; its HTTP server
  // follows within moments)
  await waitFor(async () => (await get(b.instancename, a.nic[0].ipaddress, 'marker.txt')) === 'from the registered template', 'marker from tpla', 10_000);
  await waitFor(async () => (await get(a.instancename, b.nic[0].ipaddress, '')) === 'tplb', 'tplb answers', 10_000);
  t.is(await get(a.instancename, b.nic[0].ipaddress, ''), 'tplb');
  // One cached copy on the host for both VMs.
  const cached = readdirSync(join(h1!.driver.stateDir, 'templates')).filter((d) => d.startsWith(`img-${tpl.id}`));
  t.deepEqual(cached, [`img-${tpl.id}-${sum.slice(0, 16)}`]);
  // A stop/start keeps running from the cache.
  await cloud.admin.jobOk('stopVirtualMachine', { id: a.id }, 120_000);
  await cloud.admin.jobOk('startVirtualMachine', { id: a.id }, 120_000);
  await waitFor(async () => (await get(b.instancename, a.nic[0].ipaddress, 'marker.txt')) === 'from the registered template', 'tpla after restart', 10_000);
  t.deepEqual(readdirSync(join(h1!.driver.stateDir, 'templates')).filter((d) => d.startsWith(`img-${tpl.id}`)), cached);

  // The built-in guest template comes the same way: the store built it at its first start (from
  // the host's busybox) and serves it; the host fetched it like the registered one and never
  // built its own tree (that is only for zones without an image store).
  const builtin = (await cloud.admin.ok('listTemplates', { templatefilter: 'featured', name: 'Flotilla netns guest' })).template[0];
  const c = (await cloud.admin.jobOk('deployVirtualMachine', { zoneid: z.zoneId, serviceofferingid: small.id, templateid: builtin.id, networkids: net, name: 'tplc' }, 120_000)).virtualmachine;
  t.is(c.templateid, builtin.id);
  t.is(await get(a.instancename, c.nic[0].ipaddress, ''), 'tplc'); // the built-in template is Running once it serves HTTP
  const stored = createHash('sha256').update(readFileSync(join(dir, 'templates', builtin.id, 'image'))).digest('hex');
  const templates = readdirSync(join(h1!.driver.stateDir, 'templates'));
  t.deepEqual(templates.filter((d) => d.startsWith(`img-${builtin.id}`)), [`img-${builtin.id}-${stored.slice(0, 16)}`]);
  t.deepEqual(templates.filter((d) => d.startsWith('guest-')), []);
});
