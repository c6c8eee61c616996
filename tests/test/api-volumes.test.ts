// Volumes as CloudStack's clients use them (Terraform's cloudstack_instance reads the ROOT
// volume with listVolumes type=ROOT; cs_volume creates, attaches, resizes, detaches, deletes):
// Debian's `cs` CLI and signed requests against a manager whose Simulator host records each
// volume's file (the netns driver's real sparse files are tested in agent/test/volumes.test.ts).
import test from 'ava';
import { randomUUID } from 'node:crypto';
import { SimulatorDriver } from '@flotilla/agent';
import { addHost, createZone } from '../src/cloud.ts';
import { DIALECTS, cloudOn, csCli, tenant } from '../src/clients.ts';

const GiB = 1024 ** 3;

for (const dialect of DIALECTS) {
  test(`ROOT volumes with VMs, disk offerings, create/attach/resize/detach/delete volumes with files on the host; refusals [${dialect}]`, async (t) => {
    const cloud = await cloudOn(t, dialect);
    const z = await createZone(cloud.admin, 'vols', 'Simulator');
    const driver = new SimulatorDriver({ capacity: { cpus: 16, cpuMhz: 2000, memoryMb: 65536 } });
    await addHost(t, cloud, z, { name: 'vols-sim', driver, tag: 'sim1' });
    const off = (await cloud.admin.ok('listNetworkOfferings', { name: 'DefaultSharedNetworkOffering' })).networkoffering[0];
    const net = (await cloud.admin.ok('createNetwork', { name: 'shared', zoneid: z.zoneId, networkofferingid: off.id, vlan: 'vxlan://4243', gateway: '10.43.0.1', netmask: '255.255.255.0', startip: '10.43.0.10', endip: '10.43.0.99' })).network;
    const api = await tenant(cloud, 'val');
    const cs = (args: string[]) => csCli(api, args);

    // CloudStack's default disk offerings.
    const offerings = (await cs(['listDiskOfferings'])).diskoffering;
    t.deepEqual(offerings.map((o: any) => [o.name, o.disksize, o.iscustomized]), [['Small', 5, false], ['Medium', 20, false], ['Large', 100, false], ['Custom', 0, true]]);
    const small = offerings[0];
    const custom = offerings[3];

    // A VM's ROOT volume: made with it, its file on the VM's host, listed by type=ROOT and virtualmachineid.
    const so = (await api.ok('listServiceOfferings', { name: 'Small Instance' })).serviceoffering[0];
    const tpl = (await api.ok('listTemplates', { templatefilter: 'featured', name: 'Flotilla netns guest' })).template[0];
    const vm = (await cs(['deployVirtualMachine', `zoneid=${z.zoneId}`, `serviceofferingid=${so.id}`, `templateid=${tpl.id}`, `networkids=${net.id}`, 'name=vol1', 'rootdisksize=8'])).virtualmachine;
    const roots = (await cs(['listVolumes', `virtualmachineid=${vm.id}`, 'type=ROOT'])).volume;
    t.is(roots.length, 1);
    t.like(roots[0], { type: 'ROOT', virtualmachineid: vm.id, vmname: 'vol1', vmstate: 'Running', state: 'Ready', size: 8 * GiB, deviceid: 0, templateid: tpl.id, account: 'val' });
    t.deepEqual(roots[0].tags, []);
    t.is(driver.volumes.get(roots[0].path), 8 * GiB, 'the host has the ROOT volume file');
    const tooSmall = await api.job('deployVirtualMachine', { zoneid: z.zoneId, serviceofferingid: so.id, templateid: tpl.id, networkids: net.id, name: 'tiny', rootdisksize: 1 });
    t.is(tooSmall.jobresult.errorcode, 431);
    t.regex(tooSmall.jobresult.errortext, /rootdisksize of 1 GB is smaller than template size/);

    // A data volume: Allocated (no file) until attached to a VM on a host.
    const data = (await cs(['createVolume', 'name=data1', `zoneid=${z.zoneId}`, `diskofferingid=${small.id}`])).volume;
    t.like(data, { name: 'data1', type: 'DATADISK', state: 'Allocated', size: 5 * GiB, diskofferingname: 'Small' });
    t.is(driver.volumes.get(data.path), undefined);
    const first = await api.ok('createVolume', { name: 'data2', zoneid: z.zoneId, diskofferingid: custom.id, size: 3 });
    t.deepEqual(Object.keys(first).sort(), ['id', 'jobid'], 'createVolume answers {id, jobid} at once');
    let q: any;
    for (let i = 0; i < 400 && (q = await api.ok('queryAsyncJobResult', { jobid: first.jobid })).jobstatus === 0; i++) await new Promise((r) => setTimeout(r, 50));
    t.is(q.jobresult.volume.id, first.id, 'the immediate id is the created volume\'s');
    t.is(q.jobresult.volume.size, 3 * GiB);
    const attached = (await cs(['attachVolume', `id=${data.id}`, `virtualmachineid=${vm.id}`])).volume;
    t.like(attached, { virtualmachineid: vm.id, deviceid: 1, state: 'Ready' });
    t.is(driver.volumes.get(data.path), 5 * GiB, 'attached to a running VM: its file is made on the VM\'s host');
    t.deepEqual((await api.ok('listVolumes', { virtualmachineid: vm.id })).volume.map((v: any) => v.type), ['ROOT', 'DATADISK']);
    t.deepEqual((await api.ok('listVolumes', { type: 'DATADISK' })).volume.map((v: any) => v.name).sort(), ['data1', 'data2']);

    // Resize: a fixed offering's volume moves to another offering; custom ones take a size; shrinking needs shrinkok.
    const medium = offerings[1];
    t.is((await cs(['resizeVolume', `id=${data.id}`, `diskofferingid=${medium.id}`])).volume.size, 20 * GiB);
    t.is(driver.volumes.get(data.path), 20 * GiB, 'resized on the host');
    const fixed = await api.job('resizeVolume', { id: data.id, size: 30 });
    t.is(fixed.jobresult.errorcode, 431);
    const shrink = await api.job('resizeVolume', { id: roots[0].id, size: 4 });
    t.is(shrink.jobresult.errorcode, 431);
    t.regex(shrink.jobresult.errortext, /would shrink the volume/);
    t.is((await api.jobOk('resizeVolume', { id: roots[0].id, size: 10 })).volume.size, 10 * GiB);
    t.is(driver.volumes.get(roots[0].path), 10 * GiB);

    // Refusals: ROOT cannot be detached or deleted, an attached volume cannot be deleted,
    // another tenant cannot touch it, unknown ids answer CloudStack's text.
    t.is((await api.job('detachVolume', { id: roots[0].id })).jobresult.errorcode, 431);
    const attachedDelete = await api.call('deleteVolume', { id: data.id });
    t.is(attachedDelete.status, 431);
    t.regex(attachedDelete.body.errortext, /not attached to any VM/);
    const eve = await tenant(cloud, 'eve');
    t.is((await eve.call('deleteVolume', { id: data.id })).status, 531);
    t.is((await eve.call('attachVolume', { id: data.id, virtualmachineid: vm.id })).status, 531, 'refused before any job is queued');
    t.deepEqual(await eve.ok('listVolumes', {}), {});
    const ghost = randomUUID();
    const gone = await api.call('deleteVolume', { id: ghost });
    t.is(gone.status, 431);
    t.true(gone.body.errortext.includes(`Invalid parameter id value=${ghost} due to incorrect long value format, or entity does not exist`));
    t.is((await api.job('createVolume', { name: 'x', zoneid: z.zoneId, diskofferingid: custom.id })).jobresult.errorcode, 431, 'a custom offering needs size');
    t.is((await api.job('createVolume', { name: 'x', zoneid: z.zoneId, diskofferingid: small.id, size: 7 })).jobresult.errorcode, 431, 'a fixed offering takes no other size');
    t.is((await api.ok('listVolumes', { listall: true })).count, 3, 'refusals created nothing');

    // Detach (by VM and device id as well), then delete: the file goes from the host.
    const detached = (await cs(['detachVolume', `virtualmachineid=${vm.id}`, 'deviceid=1'])).volume;
    t.is(detached.virtualmachineid, undefined);
    t.deepEqual(await cs(['deleteVolume', `id=${data.id}`]), { success: true });
    t.is(driver.volumes.get(data.path), undefined, 'the file is removed');

    // Tags work on volumes too.
    await api.jobOk('createTags', { resourcetype: 'Volume', resourceids: roots[0].id, 'tags[0].key': 'disk', 'tags[0].value': 'root' });
    t.deepEqual((await api.ok('listVolumes', { 'tags[0].key': 'disk', 'tags[0].value': 'root' })).volume.map((v: any) => v.id), [roots[0].id]);

    // Expunging the VM removes its ROOT volume and its file.
    await api.jobOk('destroyVirtualMachine', { id: vm.id, expunge: true });
    t.deepEqual((await api.ok('listVolumes', { type: 'ROOT' })), {});
    t.is(driver.volumes.get(roots[0].path), undefined);

    // Disk offerings: root admins create and delete them; others may not.
    const made = (await csCli(cloud.admin, ['createDiskOffering', 'name=Huge', 'displaytext=Huge disk', 'disksize=500'])).diskoffering;
    t.like(made, { name: 'Huge', disksize: 500, iscustomized: false });
    t.is((await api.call('createDiskOffering', { name: 'Mine', disksize: 1 })).status, 432);
    t.is((await cloud.admin.call('createDiskOffering', { name: 'NoSize' })).status, 431);
    t.deepEqual(await csCli(cloud.admin, ['deleteDiskOffering', `id=${made.id}`]), { success: true });
    t.false((await api.ok('listDiskOfferings', {})).diskoffering.some((o: any) => o.name === 'Huge'));
  });
}
