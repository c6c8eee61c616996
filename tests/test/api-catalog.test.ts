// What clients list and call on their way (Ansible's cs_instance reads OS types, affinity and
// security groups, instance groups; Terraform's provider lists projects, scales and expunges
// instances; libcloud reads hypervisors and limits): Debian's `cs` CLI against a manager with
// a Simulator host.
import test from 'ava';
import { DIALECTS, cloudOn, csCli, simZone, tenant } from '../src/clients.ts';

for (const dialect of DIALECTS) {
  test(`OS types and categories, hypervisors, empty projects/affinity/security/instance groups, limits; expunge, recover, change of offering [${dialect}]`, async (t) => {
    const cloud = await cloudOn(t, dialect);
    const z = await simZone(t, cloud, 'cat');
    const api = await tenant(cloud, 'cleo');
    const cs = (args: string[]) => csCli(api, args);

    const cats = (await cs(['listOsCategories'])).oscategory;
    t.true(cats.some((c: any) => c.name === 'Debian'));
    const debian12 = (await cs(['listOsTypes', 'description=Debian GNU/Linux 12 (64-bit)'])).ostype;
    t.is(debian12.length, 1);
    t.is(debian12[0].oscategoryid, cats.find((c: any) => c.name === 'Debian').id);
    t.is((await cs(['listOsTypes', `oscategoryid=${debian12[0].oscategoryid}`])).count, 3);
    const tpl = (await api.ok('listTemplates', { templatefilter: 'featured', name: 'Flotilla netns guest' })).template[0];
    const osOfTpl = (await api.ok('listOsTypes', { id: tpl.ostypeid })).ostype[0];
    t.is(osOfTpl.description, tpl.ostypename, 'templates carry ostypeid');
    const reg = (await api.ok('registerTemplate', { name: 'deb', format: 'QCOW2', hypervisor: 'LXC', url: 'http://192.0.2.1/deb.qcow2', zoneid: z.zoneId, ostypeid: debian12[0].id })).template[0];
    t.like(reg, { ostypeid: debian12[0].id, ostypename: 'Debian GNU/Linux 12 (64-bit)' });
    t.is((await api.call('registerTemplate', { name: 'x', format: 'QCOW2', hypervisor: 'LXC', url: 'http://192.0.2.1/x', zoneid: z.zoneId, ostypeid: '00000000-0000-4000-8000-000000000000' })).status, 431);

    t.deepEqual((await cs(['listHypervisors', `zoneid=${z.zoneId}`])).hypervisor, [{ name: 'Simulator' }]);
    t.true((await cs(['listHypervisors'])).hypervisor.some((h: any) => h.name === 'LXC'));
    for (const cmd of ['listProjects', 'listAffinityGroups', 'listSecurityGroups', 'listInstanceGroups']) t.deepEqual(await cs([cmd]), {}, cmd);
    const limits = (await cs(['listResourceLimits'])).resourcelimit;
    t.is(limits.length, 12);
    t.like(limits[0], { account: 'cleo', resourcetype: '0', resourcetypename: 'user_vm', max: -1 });
    t.deepEqual((await cs(['listResourceLimits', 'resourcetype=8'])).resourcelimit.map((l: any) => l.resourcetypename), ['cpu']);

    // A VM: change of offering (stopped only), destroy, recover (same address), expunge.
    const small = (await api.ok('listServiceOfferings', { name: 'Small Instance' })).serviceoffering[0];
    const medium = (await api.ok('listServiceOfferings', { name: 'Medium Instance' })).serviceoffering[0];
    const vm = (await cs(['deployVirtualMachine', `zoneid=${z.zoneId}`, `serviceofferingid=${small.id}`, `templateid=${tpl.id}`, 'name=cat1'])).virtualmachine;
    const running = await api.call('changeServiceForVirtualMachine', { id: vm.id, serviceofferingid: medium.id });
    t.is(running.status, 431);
    t.regex(running.body.errortext, /stop it first/);
    await api.jobOk('stopVirtualMachine', { id: vm.id });
    t.is((await cs(['changeServiceForVirtualMachine', `id=${vm.id}`, `serviceofferingid=${medium.id}`])).virtualmachine.serviceofferingname, 'Medium Instance');
    t.is((await cs(['scaleVirtualMachine', `id=${vm.id}`, `serviceofferingid=${small.id}`])).virtualmachine.serviceofferingname, 'Small Instance');
    t.is((await api.job('expungeVirtualMachine', { id: vm.id })).jobresult.errorcode, 431, 'only a destroyed VM is expunged');
    await api.jobOk('destroyVirtualMachine', { id: vm.id });
    const recovered = (await cs(['recoverVirtualMachine', `id=${vm.id}`])).virtualmachine;
    t.is(recovered.state, 'Stopped');
    t.is(recovered.nic[0].ipaddress, vm.nic[0].ipaddress, 'its address back');
    t.is((await api.jobOk('startVirtualMachine', { id: vm.id })).virtualmachine.state, 'Running');
    await api.jobOk('destroyVirtualMachine', { id: vm.id });
    t.deepEqual(await cs(['expungeVirtualMachine', `id=${vm.id}`]), { success: true });
    t.deepEqual(await cloud.admin.ok('listVirtualMachines', { listall: true, id: vm.id }), {});
    t.deepEqual(await api.ok('listVolumes', {}), {}, 'its ROOT volume went with it');
  });
}
