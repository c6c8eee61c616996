// CloudStack's account and network model as its own integration tests use it (issue 17): L2
// networks, dedicated public IP and guest VLAN ranges, projects, regions — driven by Debian's
// `cs` CLI (real signing, real async-job polling) against a manager with a Simulator host.
import test from 'ava';
import { DIALECTS, cloudOn, csCli, simZone, tenant } from '../src/clients.ts';

/** The error in what `cs` printed for a failed call: a sync command's error answer, or the failed job's result. */
const failure = (o: any): { errorcode: number; errortext: string } => o.queryasyncjobresultresponse?.jobresult ?? (o.errorcode ? o : Object.values(o)[0]);

for (const dialect of DIALECTS) {
  test(`L2 networks: the default L2 offering, createNetwork with no router and no IPAM, a VM deployed into it [${dialect}]`, async (t) => {
    const cloud = await cloudOn(t, dialect);
    const z = await simZone(t, cloud, 'l2z');
    const api = await tenant(cloud, 'l2t');
    const cs = (args: string[]) => csCli(api, args);

    const offs = (await cs(['listNetworkOfferings', 'guestiptype=L2'])).networkoffering;
    t.deepEqual(offs.map((o: any) => o.name), ['DefaultL2NetworkOffering', 'DefaultL2NetworkOfferingVlan']);
    t.like(offs[0], { guestiptype: 'L2', specifyvlan: false, specifyipranges: false, state: 'Enabled', displaytext: 'Offering for L2 networks' });
    t.deepEqual(offs[0].service ?? [], [], 'an L2 offering has no services');

    // Refusals before anything is written.
    const withCidr = failure(await cs(['createNetwork', 'name=bad', `zoneid=${z.zoneId}`, `networkofferingid=${offs[0].id}`, 'gateway=10.9.0.1', 'netmask=255.255.255.0']));
    t.is(withCidr.errorcode, 431);
    t.regex(withCidr.errortext, /gateway can not be given for an L2 network/);
    const userVlan = failure(await cs(['createNetwork', 'name=bad', `zoneid=${z.zoneId}`, `networkofferingid=${offs[1].id}`, 'vlan=1234']));
    t.is(userVlan.errorcode, 531, 'only root admins give an L2 network its vlan');
    t.deepEqual((await cs(['listNetworks'])).network ?? [], []);

    const net = (await cs(['createNetwork', 'name=seg', 'displaytext=segment', `zoneid=${z.zoneId}`, `networkofferingid=${offs[0].id}`])).network;
    t.like(net, { name: 'seg', type: 'L2', state: 'Allocated', acltype: 'Account', account: 'l2t', networkofferingname: 'DefaultL2NetworkOffering' });
    for (const k of ['cidr', 'gateway', 'netmask']) t.false(k in net, `an L2 network has no ${k}`);
    t.deepEqual((await cs(['listNetworks', 'type=l2'])).network.map((n: any) => n.id), [net.id]);
    t.deepEqual((await cs(['listNetworks', 'type=isolated'])).network ?? [], []);

    const so = (await cs(['listServiceOfferings', 'name=Small Instance'])).serviceoffering[0];
    const tpl = (await cs(['listTemplates', 'templatefilter=featured', 'name=Flotilla netns guest'])).template[0];
    const withIp = failure(await cs(['deployVirtualMachine', `zoneid=${z.zoneId}`, `serviceofferingid=${so.id}`, `templateid=${tpl.id}`, `networkids=${net.id}`, 'ipaddress=10.0.0.5']));
    t.is(withIp.errorcode, 431);
    t.regex(withIp.errortext, /L2 network, without IP address management/);
    const vm = (await cs(['deployVirtualMachine', `zoneid=${z.zoneId}`, `serviceofferingid=${so.id}`, `templateid=${tpl.id}`, `networkids=${net.id}`, 'name=onl2'])).virtualmachine;
    t.is(vm.state, 'Running');
    t.is(vm.nic.length, 1);
    t.like(vm.nic[0], { networkid: net.id, type: 'L2', isdefault: true });
    for (const k of ['ipaddress', 'gateway', 'netmask']) t.false(k in vm.nic[0], `the NIC on an L2 network has no ${k}`);
    // Implemented by the deploy: a VNI of the physical network's range, and no router.
    const after = (await cloud.admin.ok('listNetworks', { id: net.id, listall: true })).network[0];
    t.is(after.state, 'Implemented');
    t.regex(after.broadcasturi, /^vxlan:\/\/\d+$/);
    t.deepEqual((await cloud.admin.ok('listRouters', { networkid: net.id, listall: true })).router ?? [], [], 'no router for an L2 network');
    const ip = failure(await cs(['associateIpAddress', `networkid=${net.id}`]));
    t.is(ip.errorcode, 431, 'no public IPs on an L2 network');

    // An admin's L2 network with the vlan given.
    const vlanNet = (await cloud.admin.ok('createNetwork', { name: 'seg-vlan', zoneid: z.zoneId, networkofferingid: offs[1].id, vlan: '3210' })).network;
    t.like(vlanNet, { type: 'L2', state: 'Setup', vlan: '3210', broadcasturi: 'vxlan://3210' });
    const dup = (await cloud.admin.call('createNetwork', { name: 'seg-dup', zoneid: z.zoneId, networkofferingid: offs[1].id, vlan: '3210' })).body;
    t.is(dup.errorcode, 431);

    // An admin's own L2 offering: services are refused.
    const bad = (await cloud.admin.call('createNetworkOffering', { name: 'l2svc', guestiptype: 'L2', traffictype: 'Guest', supportedservices: 'Dhcp' })).body;
    t.is(bad.errorcode, 431);
    t.regex(bad.errortext, /cannot have services/);
    const mine = (await cloud.admin.ok('createNetworkOffering', { name: 'myl2', guestiptype: 'L2', traffictype: 'Guest', enable: true })).networkoffering;
    t.like(mine, { guestiptype: 'L2', state: 'Enabled' });

    await cs(['destroyVirtualMachine', `id=${vm.id}`, 'expunge=true']);
    t.true((await cs(['deleteNetwork', `id=${net.id}`])).success);
  });
}
