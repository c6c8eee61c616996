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

for (const dialect of DIALECTS) {
  test(`projects: a tenant works inside a project — networks, VMs, IPs and key pairs owned by the project, listed by projectid and -1, members only [${dialect}]`, async (t) => {
    const cloud = await cloudOn(t, dialect);
    const z = await simZone(t, cloud, 'prz');
    const [alice, bob, carol] = [await tenant(cloud, 'alice'), await tenant(cloud, 'bob'), await tenant(cloud, 'carol')];
    const A = (args: string[]) => csCli(alice, args);
    const B = (args: string[]) => csCli(bob, args);
    const C = (args: string[]) => csCli(carol, args);

    const p = (await A(['createProject', 'name=web', 'displaytext=Web team'])).project;
    t.like(p, { name: 'web', displaytext: 'Web team', state: 'Active', vmtotal: 0, vmlimit: 'Unlimited' });
    t.deepEqual(p.owner, [{ account: 'alice' }]);
    t.regex(p.projectaccountname, /^PrjAcct-web-/);
    t.is(failure(await A(['createProject', 'name=WEB', 'displaytext=again'])).errorcode, 431, 'names are unique in a domain');
    t.deepEqual((await B(['listProjects'])).project ?? [], [], 'not a member: not listed');
    const iso = (await B(['listNetworkOfferings', 'name=DefaultIsolatedNetworkOfferingWithSourceNatService'])).networkoffering[0];
    const notMember = failure(await B(['createNetwork', 'name=pn', `zoneid=${z.zoneId}`, `networkofferingid=${iso.id}`, `projectid=${p.id}`]));
    t.is(notMember.errorcode, 531);
    // Refused by the dispatcher's one ownership check (projectid names an owned project), before any job.
    t.regex(notMember.errortext, new RegExp(`Account bob does not have permission to operate with project id=${p.id}`));

    // Invitations are off (project.invite.required=false): the account is added at once.
    t.true((await A(['addAccountToProject', `projectid=${p.id}`, 'account=bob'])).success);
    t.is(failure(await A(['addAccountToProject', `projectid=${p.id}`, 'account=bob'])).errorcode, 431);
    t.deepEqual((await B(['listProjectAccounts', `projectid=${p.id}`])).projectaccount.map((m: any) => [m.account, m.role]), [['alice', 'Admin'], ['bob', 'Regular']]);
    t.deepEqual((await B(['listProjects'])).project.map((x: any) => x.id), [p.id]);

    // bob works in the project: everything he makes belongs to it, not to him.
    const net = (await B(['createNetwork', 'name=pn', `zoneid=${z.zoneId}`, `networkofferingid=${iso.id}`, `projectid=${p.id}`])).network;
    t.like(net, { projectid: p.id, project: 'web' });
    t.false('account' in net, 'a project\'s object shows its project, not its account');
    const kp = (await B(['createSSHKeyPair', 'name=deploy', `projectid=${p.id}`])).keypair;
    t.like(kp, { projectid: p.id, project: 'web' });
    const so = (await B(['listServiceOfferings', 'name=Small Instance'])).serviceoffering[0];
    const tpl = (await B(['listTemplates', 'templatefilter=featured', 'name=Flotilla netns guest'])).template[0];
    const vm = (await B(['deployVirtualMachine', `zoneid=${z.zoneId}`, `serviceofferingid=${so.id}`, `templateid=${tpl.id}`, `networkids=${net.id}`, `projectid=${p.id}`, 'keypair=deploy', 'name=pvm'])).virtualmachine;
    t.like(vm, { state: 'Running', projectid: p.id, project: 'web', keypair: 'deploy' });
    const ip = (await A(['associateIpAddress', `networkid=${net.id}`, `projectid=${p.id}`])).ipaddress;
    t.like(ip, { projectid: p.id, project: 'web', associatednetworkid: net.id });

    // Lists: without projectid a member's own objects only; projectid=P and -1 the project's.
    t.deepEqual((await B(['listNetworks'])).network ?? [], []);
    t.deepEqual((await B(['listNetworks', `projectid=${p.id}`])).network.map((n: any) => n.id), [net.id]);
    t.deepEqual((await A(['listNetworks', 'projectid=-1'])).network.map((n: any) => n.id), [net.id]);
    t.deepEqual((await B(['listVirtualMachines', 'projectid=-1'])).virtualmachine.map((v: any) => v.id), [vm.id]);
    // The VM's root volume is the project's, and says so (CloudStack's populateOwner).
    t.like((await B(['listVolumes', `projectid=${p.id}`, `virtualmachineid=${vm.id}`])).volume[0], { type: 'ROOT', projectid: p.id, project: 'web' });
    t.deepEqual((await B(['listVirtualMachines'])).virtualmachine ?? [], []);
    t.deepEqual((await B(['listSSHKeyPairs', `projectid=${p.id}`])).sshkeypair.map((k: any) => k.name), ['deploy']);
    const ips = (await A(['listPublicIpAddresses', `projectid=${p.id}`])).publicipaddress;
    t.true(ips.some((x: any) => x.id === ip.id) && ips.some((x: any) => x.issourcenat), 'the project network\'s source NAT and associated IPs');
    t.is(failure(await C(['listVirtualMachines', `projectid=${p.id}`])).errorcode, 531, 'a non-member may not list a project');
    t.deepEqual((await C(['listVirtualMachines', 'projectid=-1'])).virtualmachine ?? [], []);
    t.is((await C(['listProjects', `id=${p.id}`])).project?.length ?? 0, 0);
    t.like((await cloud.admin.ok('listProjects', { id: p.id })).project[0], { vmtotal: 1, networktotal: 1, vmrunning: 1 });

    // Project limits (updateResourceLimit projectid=…, by a root admin through cs): enforced on a
    // deploy, a network and a public IP in the project, with CloudStack's 535 text.
    const ADM = (args: string[]) => csCli(cloud.admin, args);
    t.like((await ADM(['updateResourceLimit', `projectid=${p.id}`, 'resourcetype=0', 'max=1'])).resourcelimit,
      { projectid: p.id, project: 'web', resourcetype: '0', resourcetypename: 'user_vm', max: 1 });
    await ADM(['updateResourceLimit', `projectid=${p.id}`, 'resourcetype=6', 'max=1']);
    await ADM(['updateResourceLimit', `projectid=${p.id}`, 'resourcetype=1', 'max=2']);
    t.deepEqual((await B(['listResourceLimits', `projectid=${p.id}`, 'resourcetype=0'])).resourcelimit.map((l: any) => [l.project, l.max]), [['web', 1]]);
    t.is(failure(await B(['updateResourceLimit', `projectid=${p.id}`, 'resourcetype=0', 'max=5'])).errorcode, 432, 'a user may not change limits');
    const overVm = failure(await B(['deployVirtualMachine', `zoneid=${z.zoneId}`, `serviceofferingid=${so.id}`, `templateid=${tpl.id}`, `networkids=${net.id}`, `projectid=${p.id}`, 'name=pvm2']));
    t.is(overVm.errorcode, 535, JSON.stringify(overVm));
    t.regex(overVm.errortext, /^Maximum amount of resources of Type = 'user_vm' for Project Name = web in Domain Id = \S+ is exceeded: Account Resource Limit = 1, Current Account Resource Amount = 1, Requested Resource Amount = 1\.$/);
    t.is(failure(await B(['createNetwork', 'name=pn2', `zoneid=${z.zoneId}`, `networkofferingid=${iso.id}`, `projectid=${p.id}`])).errorcode, 535);
    const overIp = failure(await A(['associateIpAddress', `networkid=${net.id}`, `projectid=${p.id}`]));
    t.is(overIp.errorcode, 535, JSON.stringify(overIp));
    t.regex(overIp.errortext, /Type = 'public_ip' for Project Name = web/);
    t.like((await cloud.admin.ok('listProjects', { id: p.id })).project[0], { vmlimit: '1', vmavailable: '0', networklimit: '1', iplimit: '2', iptotal: 2 });
    t.is((await B(['listVirtualMachines', `projectid=${p.id}`])).count, 1, 'the refused deploy left nothing');
    // CPU cores and memory count the offerings of the project's VMs; the root volume counts as a volume.
    await ADM(['updateResourceLimit', `projectid=${p.id}`, 'resourcetype=0', 'max=5']);
    for (const [type, name, max] of [['8', 'cpu', so.cpunumber], ['9', 'memory', so.memory], ['2', 'volume', 1]] as const) {
      await ADM(['updateResourceLimit', `projectid=${p.id}`, `resourcetype=${type}`, `max=${max}`]);
      const over = failure(await B(['deployVirtualMachine', `zoneid=${z.zoneId}`, `serviceofferingid=${so.id}`, `templateid=${tpl.id}`, `networkids=${net.id}`, `projectid=${p.id}`, `name=pvm-${name}`]));
      t.is(over.errorcode, 535, JSON.stringify(over));
      t.regex(over.errortext, new RegExp(`Type = '${name}' for Project Name = web .* Account Resource Limit = ${max}, Current Account Resource Amount = ${max}, Requested Resource Amount = ${name === 'volume' ? 1 : max}\\.$`));
      await ADM(['updateResourceLimit', `projectid=${p.id}`, `resourcetype=${type}`, 'max=-1']);
    }
    await ADM(['updateResourceLimit', `projectid=${p.id}`, 'resourcetype=0', 'max=1']);
    t.is((await B(['listVirtualMachines', `projectid=${p.id}`])).count, 1, 'the refused deploys left nothing');
    // bob's own account is not bound by the project's limits.
    const ownNet = (await B(['createNetwork', 'name=own', `zoneid=${z.zoneId}`, `networkofferingid=${iso.id}`])).network;
    t.is((await B(['deleteNetwork', `id=${ownNet.id}`])).success, true);
    t.false(((await cloud.admin.ok('listAccounts', { listall: true })).account as any[]).some((x) => x.name.startsWith('PrjAcct-')), 'a project\'s account is not listed');

    // Only the project's Admin manages it; a suspended project takes no new resources.
    t.is(failure(await B(['suspendProject', `id=${p.id}`])).errorcode, 531);
    t.is((await A(['suspendProject', `id=${p.id}`])).project.state, 'Suspended');
    t.is(failure(await B(['createSSHKeyPair', 'name=late', `projectid=${p.id}`])).errorcode, 534);
    t.is((await A(['activateProject', `id=${p.id}`])).project.state, 'Active');
    t.is((await A(['updateProject', `id=${p.id}`, 'displaytext=Web and API'])).project.displaytext, 'Web and API');
    t.regex(failure(await A(['deleteAccountFromProject', `projectid=${p.id}`, 'account=alice'])).errortext, /is the owner of the project/);

    // Removed from the project, bob no longer reaches its objects.
    t.true((await A(['deleteAccountFromProject', `projectid=${p.id}`, 'account=bob'])).success);
    t.is(failure(await B(['listNetworks', `projectid=${p.id}`])).errorcode, 531);
    t.is(failure(await B(['destroyVirtualMachine', `id=${vm.id}`])).errorcode, 531);

    // deleteProject refuses while the project owns resources; then it is gone.
    t.is(failure(await A(['deleteProject', `id=${p.id}`])).errorcode, 536);
    await A(['destroyVirtualMachine', `id=${vm.id}`, 'expunge=true']);
    t.true((await A(['deleteNetwork', `id=${net.id}`])).success);
    t.true((await A(['deleteProject', `id=${p.id}`])).success);
    t.deepEqual((await A(['listProjects'])).project ?? [], []);
  });
}

for (const dialect of DIALECTS) {
  test(`dedication: a public IP range and a guest VLAN range dedicated to an account — its network takes from them first, others never [${dialect}]`, async (t) => {
    const cloud = await cloudOn(t, dialect);
    const z = await simZone(t, cloud, 'dedz');
    const [ded, other] = [await tenant(cloud, 'ded'), await tenant(cloud, 'other')];
    const admin = (args: string[]) => csCli(cloud.admin, args);
    const root = (await admin(['listDomains', 'name=ROOT'])).domain[0];

    // A second range in the same public subnet and VLAN, dedicated to ded.
    const r2 = (await admin(['createVlanIpRange', `zoneid=${z.zoneId}`, `physicalnetworkid=${z.physicalNetworkId}`, 'forvirtualnetwork=true', 'vlan=untagged',
      'gateway=203.0.113.1', 'netmask=255.255.255.0', 'startip=203.0.113.60', 'endip=203.0.113.70'])).vlan;
    const dedicated = (await admin(['dedicatePublicIpRange', `id=${r2.id}`, 'account=ded', `domainid=${root.id}`])).vlan;
    t.like(dedicated, { id: r2.id, account: 'ded', domainid: root.id, startip: '203.0.113.60' });
    t.regex(failure(await admin(['dedicatePublicIpRange', `id=${r2.id}`, 'account=other', `domainid=${root.id}`])).errortext, /has already been dedicated to account ded/);
    t.is(failure(await admin(['dedicatePublicIpRange', `id=${r2.id}`, 'account=nobody', `domainid=${root.id}`])).errorcode, 431);

    // A guest VNI range of the physical network (6000-6999), dedicated to ded.
    const g = (await admin(['dedicateGuestVlanRange', 'vlanrange=6500-6509', `physicalnetworkid=${z.physicalNetworkId}`, 'account=ded', `domainid=${root.id}`])).dedicatedguestvlanrange;
    t.like(g, { guestvlanrange: '6500-6509', account: 'ded', domainid: root.id });
    t.regex(failure(await admin(['dedicateGuestVlanRange', 'vlanrange=6505-6520', `physicalnetworkid=${z.physicalNetworkId}`, 'account=other', `domainid=${root.id}`])).errortext, /overlaps the range 6500-6509 already dedicated to account ded/);
    t.regex(failure(await admin(['dedicateGuestVlanRange', 'vlanrange=7000-7001', `physicalnetworkid=${z.physicalNetworkId}`, 'account=other', `domainid=${root.id}`])).errortext, /not within the vlan range 6000-6999/);
    t.deepEqual((await admin(['listDedicatedGuestVlanRanges', `physicalnetworkid=${z.physicalNetworkId}`])).dedicatedguestvlanrange.map((x: any) => x.id), [g.id]);
    t.deepEqual((await admin(['listDedicatedGuestVlanRanges', 'account=other', `domainid=${root.id}`])).dedicatedguestvlanrange ?? [], []);

    const so = (await ded.ok('listServiceOfferings', { name: 'Small Instance' })).serviceoffering[0];
    const tpl = (await ded.ok('listTemplates', { templatefilter: 'featured', name: 'Flotilla netns guest' })).template[0];
    const deploy = async (api: typeof ded, name: string) => (await csCli(api, ['deployVirtualMachine', `zoneid=${z.zoneId}`, `serviceofferingid=${so.id}`, `templateid=${tpl.id}`, `name=${name}`])).virtualmachine;

    // The other account deploys first: it gets neither ded's addresses nor ded's VNIs.
    const ovm = await deploy(other, 'o1');
    const onet = (await csCli(other, ['listNetworks'])).network[0];
    const osnat = (await csCli(other, ['listPublicIpAddresses', 'issourcenat=true'])).publicipaddress[0];
    t.is(osnat.ipaddress, '203.0.113.10', 'the system pool');
    t.is((await admin(['listNetworks', `id=${onet.id}`, 'listall=true'])).network[0].vlan, '6000');
    t.is(failure(await csCli(other, ['associateIpAddress', `networkid=${onet.id}`, 'ipaddress=203.0.113.65'])).errorcode, 533, 'a range dedicated to another account is never used');

    // ded's default network (deploy without networkids): source NAT and new IPs from its range, its VNI from its VLAN range.
    const vm = await deploy(ded, 'd1');
    t.is(vm.state, 'Running');
    const dnet = (await csCli(ded, ['listNetworks'])).network[0];
    const snat = (await csCli(ded, ['listPublicIpAddresses', 'issourcenat=true'])).publicipaddress[0];
    t.is(snat.ipaddress, '203.0.113.60', 'source NAT from the dedicated range');
    const ip = (await csCli(ded, ['associateIpAddress', `networkid=${dnet.id}`])).ipaddress;
    t.is(ip.ipaddress, '203.0.113.61', 'associateIpAddress from the dedicated range first');
    t.is((await admin(['listNetworks', `id=${dnet.id}`, 'listall=true'])).network[0].vlan, '6500', 'the VNI from the dedicated guest VLAN range');

    // Released: the range is back in the system pool (its addresses in use stay with ded).
    t.true((await admin(['releasePublicIpRange', `id=${r2.id}`])).success);
    t.is(failure(await admin(['releasePublicIpRange', `id=${r2.id}`])).errorcode, 431);
    const back = (await admin(['listVlanIpRanges', `id=${r2.id}`])).vlaniprange[0];
    t.is(back.account, 'system');
    t.is((await csCli(other, ['associateIpAddress', `networkid=${onet.id}`, 'ipaddress=203.0.113.65'])).ipaddress.ipaddress, '203.0.113.65');
    t.true((await admin(['releaseDedicatedGuestVlanRange', `id=${g.id}`])).success);
    t.deepEqual((await admin(['listDedicatedGuestVlanRanges'])).dedicatedguestvlanrange ?? [], []);
    t.truthy(ovm.id);
  });
}

for (const dialect of DIALECTS) {
  test(`regions (the local region 1 seeded; add, list, update, remove) and moveUser within a domain [${dialect}]`, async (t) => {
    const cloud = await cloudOn(t, dialect);
    const admin = (args: string[]) => csCli(cloud.admin, args);
    const user = await tenant(cloud, 'ru');
    t.deepEqual((await csCli(user, ['listRegions'])).region, [{ id: 1, name: 'Local', endpoint: 'http://localhost:8080/client/', gslbserviceenabled: true, portableipserviceenabled: false }]);
    t.like((await admin(['addRegion', 'id=2', 'name=East', 'endpoint=https://east.example.org:8443/client/'])).region, { id: 2, name: 'East' });
    t.regex(failure(await admin(['addRegion', 'id=2', 'name=West', 'endpoint=https://west.example.org/client/'])).errortext, /Region with id: 2 already exists/);
    t.regex(failure(await admin(['addRegion', 'id=3', 'name=east', 'endpoint=https://west.example.org/client/'])).errortext, /Region with name: east already exists/);
    t.is(failure(await admin(['addRegion', 'id=3', 'name=West', 'endpoint=ftp://west'])).errorcode, 431);
    t.is(failure(await csCli(user, ['addRegion', 'id=3', 'name=West', 'endpoint=https://west.example.org/client/'])).errorcode, 432, 'root admins only');
    t.like((await admin(['updateRegion', 'id=2', 'name=East-1'])).region, { id: 2, name: 'East-1', endpoint: 'https://east.example.org:8443/client/' });
    t.deepEqual((await admin(['listRegions', 'name=east-1'])).region.map((r: any) => r.id), [2]);
    t.is(failure(await admin(['removeRegion', 'id=1'])).errorcode, 536, 'the local region stays');
    t.true((await admin(['removeRegion', 'id=2'])).success);
    t.deepEqual((await admin(['listRegions'])).region.map((r: any) => r.id), [1]);

    // moveUser: a user of ru moves to another account of the same domain; its keys now act as that account.
    const acc = (await cloud.admin.ok('createAccount', { username: 'second', account: 'team', password: 'pw-team-1', email: 't@example.org', firstname: 'T', lastname: 'T', accounttype: 0 })).account;
    const u = (await cloud.admin.ok('createUser', { account: 'ru', domainid: acc.domainid, username: 'mover', password: 'pw-mover-1', email: 'm@example.org', firstname: 'M', lastname: 'M' })).user;
    t.true((await admin(['moveUser', `id=${u.id}`, 'account=team'])).success);
    t.like((await admin(['listUsers', `id=${u.id}`])).user[0], { account: 'team', accountid: acc.id });
    t.regex(failure(await admin(['moveUser', `id=${u.id}`, `accountid=${acc.id}`])).errortext, /already in account team/);
    t.is(failure(await admin(['moveUser', `id=${u.id}`, 'account=nosuch'])).errorcode, 431);
    t.is(failure(await csCli(user, ['moveUser', `id=${u.id}`, 'account=ru'])).errorcode, 432, 'users may not move users');
  });
}

for (const dialect of DIALECTS) {
  test(`scope as CloudStack has it: root admin list id= finds any account's object, listRouters account= without domainid, egress 0.0.0.0/0 is the network's CIDR, listServiceOfferings domainid=D [${dialect}]`, async (t) => {
    const cloud = await cloudOn(t, dialect);
    const z = await simZone(t, cloud, 'scz');
    const api = await tenant(cloud, 'scope1');
    const admin = (args: string[]) => csCli(cloud.admin, args);
    const so = (await api.ok('listServiceOfferings', { name: 'Small Instance' })).serviceoffering[0];
    const tpl = (await api.ok('listTemplates', { templatefilter: 'featured', name: 'Flotilla netns guest' })).template[0];
    const vm = (await csCli(api, ['deployVirtualMachine', `zoneid=${z.zoneId}`, `serviceofferingid=${so.id}`, `templateid=${tpl.id}`, 'name=s1'])).virtualmachine;
    const net = (await csCli(api, ['listNetworks'])).network[0];

    t.deepEqual((await admin(['listVirtualMachines'])).virtualmachine ?? [], [], 'without listall or id: the admin\'s own');
    t.deepEqual((await admin(['listVirtualMachines', `id=${vm.id}`])).virtualmachine.map((v: any) => v.id), [vm.id], 'by id: any account\'s');
    t.is((await admin(['listPublicIpAddresses', 'issourcenat=true', `associatednetworkid=${net.id}`, 'listall=true'])).publicipaddress.length, 1);
    const snatId = (await admin(['listPublicIpAddresses', 'issourcenat=true', `associatednetworkid=${net.id}`, 'listall=true'])).publicipaddress[0].id;
    t.deepEqual((await admin(['listPublicIpAddresses', `id=${snatId}`])).publicipaddress.map((p: any) => p.id), [snatId]);
    const other = await tenant(cloud, 'scope2');
    t.deepEqual((await csCli(other, ['listVirtualMachines', `id=${vm.id}`])).virtualmachine ?? [], [], 'a user\'s id= stays within its own account');

    const routers = (await admin(['listRouters', 'account=scope1'])).router;
    t.is(routers.length, 1);
    t.is(routers[0].guestnetworkid, net.id);
    t.is(failure(await admin(['listRouters', 'account=nosuch'])).errorcode, 431);

    const egress = (await csCli(api, ['createEgressFirewallRule', `networkid=${net.id}`, 'protocol=tcp', 'startport=80', 'endport=80', 'cidrlist=0.0.0.0/0'])).firewallrule;
    t.is(egress.cidrlist, net.cidr, '0.0.0.0/0 as source is the network\'s CIDR');

    const d = (await admin(['createDomain', 'name=offd'])).domain;
    const mine = (await admin(['createServiceOffering', 'name=d-only', 'displaytext=d-only', 'cpunumber=1', 'cpuspeed=500', 'memory=256', `domainid=${d.id}`])).serviceoffering;
    t.deepEqual((await admin(['listServiceOfferings', `domainid=${d.id}`])).serviceoffering.map((o: any) => o.id), [mine.id], 'only the offerings of that domain');
    t.true((await admin(['listServiceOfferings'])).serviceoffering.some((o: any) => o.name === 'Small Instance'));
  });
}

for (const dialect of DIALECTS) {
  test(`deleteAccount of an account with VMs, networks and IPs cleans them up as CloudStack does [${dialect}]`, async (t) => {
    const cloud = await cloudOn(t, dialect);
    const z = await simZone(t, cloud, 'delz');
    const api = await tenant(cloud, 'gone');
    const so = (await api.ok('listServiceOfferings', { name: 'Small Instance' })).serviceoffering[0];
    const tpl = (await api.ok('listTemplates', { templatefilter: 'featured', name: 'Flotilla netns guest' })).template[0];
    const vm = (await csCli(api, ['deployVirtualMachine', `zoneid=${z.zoneId}`, `serviceofferingid=${so.id}`, `templateid=${tpl.id}`, 'name=g1'])).virtualmachine;
    const net = (await csCli(api, ['listNetworks'])).network[0];
    const ip = (await csCli(api, ['associateIpAddress', `networkid=${net.id}`])).ipaddress;
    await csCli(api, ['createSSHKeyPair', 'name=k1']);
    const acc = (await cloud.admin.ok('listAccounts', { name: 'gone' })).account[0];
    t.true((await csCli(cloud.admin, ['deleteAccount', `id=${acc.id}`])).success);
    t.deepEqual((await cloud.admin.ok('listAccounts', { name: 'gone' })).account ?? [], []);
    t.deepEqual((await cloud.admin.ok('listVirtualMachines', { id: vm.id })).virtualmachine ?? [], []);
    t.deepEqual((await cloud.admin.ok('listNetworks', { id: net.id, listall: true })).network ?? [], []);
    t.deepEqual((await cloud.admin.ok('listPublicIpAddresses', { id: ip.id })).publicipaddress ?? [], []);
    t.deepEqual((await cloud.admin.ok('listRouters', { listall: true })).router ?? [], [], 'its router is gone too');
    // The addresses are free again: another account gets the first one.
    const next = await tenant(cloud, 'next');
    await csCli(next, ['deployVirtualMachine', `zoneid=${z.zoneId}`, `serviceofferingid=${so.id}`, `templateid=${tpl.id}`, 'name=n1']);
    t.is((await csCli(next, ['listPublicIpAddresses', 'issourcenat=true'])).publicipaddress[0].ipaddress, '203.0.113.10');
  });
}
