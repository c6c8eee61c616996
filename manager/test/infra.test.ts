// The infra area over real HTTP with signed requests, on PGlite and PostgreSQL: CloudStack's
// answer shapes, the happy path of every command, conflicts and in-use deletes.
import { eachDialect, makeAccount, startManager } from './helpers.ts';
import { buildZone, jobOk, jobRefused, refused, snapshot } from './infra-helpers.ts';
import { USAGE_CHECKS } from '../src/commands/infra/usage.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

eachDialect('zones: create, list in admin and user views, update, delete', async (t, dialect) => {
  const { admin, url } = await startManager(t, dialect);
  t.deepEqual(await admin.ok('listZones'), {}, 'no zones: CloudStack answers an empty object');

  const z = (await admin.ok('createZone', {
    name: 'local', dns1: '192.0.2.53', dns2: '192.0.2.54', ip6dns1: '2001:db8::53', internaldns1: '192.168.56.2', networktype: 'advanced',
    guestcidraddress: '10.1.1.0/24', domain: 'cloud.example', localstorageenabled: true,
  })).zone;
  t.regex(z.id, UUID);
  t.like(z, {
    name: 'local', dns1: '192.0.2.53', dns2: '192.0.2.54', ip6dns1: '2001:db8::53', internaldns1: '192.168.56.2', networktype: 'Advanced',
    guestcidraddress: '10.1.1.0/24', domain: 'cloud.example', allocationstate: 'Disabled', securitygroupsenabled: false, localstorageenabled: true,
    dhcpprovider: 'VirtualRouter', type: 'Core',
  });
  t.regex(z.zonetoken, UUID);

  const raw = await (await fetch(`${url}/client/api?command=listZones&response=json`)).json() as Record<string, unknown>;
  t.truthy(raw.listzonesresponse, 'unsigned answer keyed listzonesresponse');
  const list = await admin.ok('listZones');
  t.is(list.count, 1);
  t.deepEqual(list.zone[0], z);
  t.is((await admin.ok('listZones', { name: 'LOCAL' })).count, 1);
  t.is((await admin.ok('listZones', { keyword: 'oca' })).count, 1);
  t.deepEqual(await admin.ok('listZones', { networktype: 'Basic' }), {});

  // A user sees only enabled zones, and without the admin-only fields.
  const user = await makeAccount(admin, url, { name: 'alice' });
  t.deepEqual(await user.api.ok('listZones'), {}, 'a disabled zone is invisible to users');
  const up = (await admin.ok('updateZone', { id: z.id, allocationstate: 'Enabled', name: 'local-1', dns1: '192.0.2.99', domain: 'other.example' })).zone;
  t.like(up, { name: 'local-1', dns1: '192.0.2.99', allocationstate: 'Enabled', domain: 'other.example' });
  const seen = (await user.api.ok('listZones')).zone[0];
  t.like(seen, { id: z.id, name: 'local-1', networktype: 'Advanced', allocationstate: 'Enabled' });
  for (const hidden of ['dns1', 'dns2', 'ip6dns1', 'internaldns1', 'guestcidraddress', 'zonetoken']) t.false(hidden in seen, `${hidden} hidden from users`);

  // A zone dedicated to another domain is invisible to a user outside it.
  const d = (await admin.ok('createDomain', { name: 'tenants' })).domain;
  const z2 = (await admin.ok('createZone', { name: 'dedicated', dns1: '192.0.2.53', networktype: 'Advanced', domainid: d.id, allocationstate: 'Enabled' })).zone;
  t.like(z2, { domainid: d.id, domainname: 'tenants' });
  t.deepEqual((await user.api.ok('listZones')).zone.map((x: any) => x.name), ['local-1']);
  const bob = await makeAccount(admin, url, { name: 'bob', domainid: d.id });
  t.deepEqual((await bob.api.ok('listZones')).zone.map((x: any) => x.name).sort(), ['dedicated', 'local-1']);

  await refused(t, admin, 'createZone', { name: 'LOCAL-1', dns1: '192.0.2.53', networktype: 'Advanced' }, 431, /A zone with name LOCAL-1 already exists/);
  await refused(t, admin, 'updateZone', { id: z2.id, name: 'local-1' }, 431, /already exists/);

  t.deepEqual(await admin.ok('deleteZone', { id: z2.id }), { success: true });
  await refused(t, admin, 'deleteZone', { id: z2.id }, 431, new RegExp(`Invalid parameter id value=${z2.id} due to incorrect long value format, or entity does not exist`));
  t.is((await admin.ok('listZones')).count, 1);

  // Every mutation left an audit event with CloudStack's type.
  const types = (await admin.ok('listEvents', { pagesize: 100 })).event.map((e: any) => e.type);
  for (const ty of ['ZONE.CREATE', 'ZONE.EDIT', 'ZONE.DELETE']) t.true(types.includes(ty), ty);
});

eachDialect('pods, clusters and hosts; in-use deletes answer 536', async (t, dialect) => {
  const { admin, db } = await startManager(t, dialect);
  const env = await buildZone(t, admin);
  const pods = await admin.ok('listPods', { zoneid: env.zoneId });
  t.is(pods.count, 1);
  t.like(pods.pod[0], { id: env.podId, name: 'local-pod1', zoneid: env.zoneId, zonename: 'local', gateway: '192.168.56.1', netmask: '255.255.255.0', allocationstate: 'Enabled' });
  t.deepEqual(pods.pod[0].startip, ['192.168.56.10']);
  t.deepEqual(pods.pod[0].endip, ['192.168.56.50']);
  t.like(pods.pod[0].ipranges[0], { startip: '192.168.56.10', endip: '192.168.56.50' });

  const cl = await admin.ok('listClusters', { podid: env.podId });
  t.is(cl.count, 1);
  t.like(cl.cluster[0], { id: env.clusterId, name: 'local-c1', podid: env.podId, podname: 'local-pod1', zoneid: env.zoneId, zonename: 'local', hypervisortype: 'KVM', clustertype: 'CloudManaged', allocationstate: 'Enabled', managedstate: 'Managed', arch: 'x86_64' });
  t.deepEqual(await admin.ok('listClusters', { hypervisor: 'VMware' }), {});

  // A pod overlapping the first, or the guest CIDR, or a public range is refused.
  await refused(t, admin, 'createPod', { name: 'p2', zoneid: env.zoneId, gateway: '192.168.56.1', netmask: '255.255.255.0', startip: '192.168.56.100', endip: '192.168.56.110' }, 431,
    new RegExp(`pod subnet 192\\.168\\.56\\.0/24 \\(gateway, netmask\\) overlaps with the subnet 192\\.168\\.56\\.0/24 of pod local-pod1 \\(id ${env.podId}\\) of zone local`));
  await refused(t, admin, 'createPod', { name: 'p2', zoneid: env.zoneId, gateway: '10.1.1.1', netmask: '255.255.255.0', startip: '10.1.1.100' }, 431, /guest CIDR 10\.1\.1\.0\/24 \(guestcidraddress\) of zone local/);
  await refused(t, admin, 'createPod', { name: 'p2', zoneid: env.zoneId, gateway: '203.0.113.1', netmask: '255.255.255.0', startip: '203.0.113.40', endip: '203.0.113.60' }, 431, new RegExp(`public IP range 203\\.0\\.113\\.10-203\\.0\\.113\\.50 \\(id ${env.rangeId}\\)`));
  await refused(t, admin, 'createPod', { name: 'LOCAL-POD1', zoneid: env.zoneId, gateway: '192.168.57.1', netmask: '255.255.255.0', startip: '192.168.57.10' }, 431, /A pod with name LOCAL-POD1 already exists in zone local/);
  await refused(t, admin, 'createPod', { name: 'p2', zoneid: env.zoneId, gateway: '192.168.57.1', netmask: '255.255.255.0', startip: '192.168.57.10', endip: '192.168.57.5' }, 431, /start IP 192\.168\.57\.10 \(startip\) is greater than the end IP 192\.168\.57\.5 \(endip\)/);
  const p2 = (await admin.ok('createPod', { name: 'p2', zoneid: env.zoneId, gateway: '192.168.57.1', netmask: '255.255.255.0', startip: '192.168.57.10' })).pod;
  t.deepEqual(p2.endip, ['192.168.57.10']);

  // addCluster: the pod must be in the zone; names unique per pod.
  const z2 = (await admin.ok('createZone', { name: 'other', dns1: '192.0.2.53', networktype: 'Advanced' })).zone;
  await refused(t, admin, 'addCluster', { clustername: 'c9', zoneid: z2.id, podid: env.podId, hypervisor: 'KVM', clustertype: 'CloudManaged' }, 431, /Pod local-pod1 .* does not belong to zone other/);
  await refused(t, admin, 'addCluster', { clustername: 'local-c1', zoneid: env.zoneId, podid: env.podId, hypervisor: 'KVM', clustertype: 'CloudManaged' }, 431, /cluster with name local-c1 already exists in pod local-pod1/);

  // listHosts: the table is filled by a later issue; a row put there is listed with CloudStack's fields.
  t.deepEqual(await admin.ok('listHosts'), {});
  await db.query(`INSERT INTO hosts (id, name, zone_id, pod_id, cluster_id, hypervisor, state, resource_state, ip_address, version, cpu_number, cpu_speed, memory)
    VALUES ('9c1d3c55-8f0e-4c1c-9a55-3b9f6b0f0001', 'kvm1', $1, $2, $3, 'KVM', 'Up', 'Enabled', '192.168.56.21', '4.20.0.0', 8, 2400, 17179869184)`, [env.zoneId, env.podId, env.clusterId]);
  const hosts = await admin.ok('listHosts', { zoneid: env.zoneId, type: 'routing', state: 'Up', hypervisor: 'kvm' });
  t.is(hosts.count, 1);
  t.like(hosts.host[0], {
    id: '9c1d3c55-8f0e-4c1c-9a55-3b9f6b0f0001', name: 'kvm1', state: 'Up', resourcestate: 'Enabled', type: 'Routing', hypervisor: 'KVM', cpunumber: 8, cpuspeed: 2400,
    memorytotal: 17179869184, version: '4.20.0.0', ipaddress: '192.168.56.21', zonename: 'local', podname: 'local-pod1', clustername: 'local-c1', clustertype: 'CloudManaged',
    cpuallocated: '0.00%', cpuallocatedvalue: 0, memoryallocated: 0, memoryallocatedpercentage: '0.00%', // no VM placed on it yet
  });
  t.deepEqual(await admin.ok('listHosts', { state: 'Disconnected' }), {});

  // In use: cluster with a host, pod with a cluster, zone with everything.
  const before = await snapshot(db);
  await refused(t, admin, 'deleteCluster', { id: env.clusterId }, 536, /The cluster local-c1 \(id .*\) cannot be deleted because it still has 1 host\(s\) \(kvm1\)/);
  await refused(t, admin, 'deletePod', { id: env.podId }, 536, /The pod local-pod1 \(id .*\) cannot be deleted because it still has 1 host\(s\) \(kvm1\), 1 cluster\(s\) \(local-c1\)/);
  const zt = await refused(t, admin, 'deleteZone', { id: env.zoneId }, 536, /The zone local \(id .*\) is not deletable because it still has 1 host\(s\)/);
  t.regex(zt, /2 pod\(s\) \(local-pod1 id .*, p2 id .*\)/);
  t.regex(zt, /1 physical network\(s\) \(local-pn1 id /);
  t.regex(zt, /1 VLAN IP range\(s\) \(203\.0\.113\.10-203\.0\.113\.50 id /);
  t.is(await snapshot(db), before, 'refused deletes changed nothing');
  const r = await admin.call('deleteZone', { id: env.zoneId });
  t.is(r.body.cserrorcode, 4525, 'ResourceInUseException');

  await db.query('DELETE FROM hosts');
  t.deepEqual(await admin.ok('deleteCluster', { id: env.clusterId }), { success: true });
  t.deepEqual(await admin.ok('deletePod', { id: p2.id }), { success: true });
  t.deepEqual(await admin.ok('deletePod', { id: env.podId }), { success: true });
  t.deepEqual(await admin.ok('listPods', { zoneid: env.zoneId }), {});
  // Still the physical network and the range.
  await refused(t, admin, 'deleteZone', { id: env.zoneId }, 536, /physical network\(s\).*VLAN IP range\(s\)/);
  await jobOk(t, admin, 'deletePhysicalNetwork', { id: env.pnetId });
  t.deepEqual(await admin.ok('deleteZone', { id: env.zoneId }), { success: true });
  t.is((await db.query('SELECT 1 FROM vlan_ip_ranges')).length, 0, 'the range went with its physical network');
});

eachDialect('physical networks: default providers, elements, traffic types, VLAN ranges', async (t, dialect) => {
  const { admin, db } = await startManager(t, dialect);
  const z = (await admin.ok('createZone', { name: 'z1', dns1: '192.0.2.53', networktype: 'Advanced' })).zone;
  const created = await admin.ok('createPhysicalNetwork', { name: 'pn1', zoneid: z.id, vlan: '300,100-199', isolationmethods: 'VLAN', tags: 'fast', networkspeed: '10G' });
  t.truthy(created.jobid, 'an async command answers with its jobid');
  t.regex(created.jobid, UUID);
  let q: Record<string, any> = {};
  for (let i = 0; i < 500 && !q.jobstatus; i++) { q = await admin.ok('queryAsyncJobResult', { jobid: created.jobid }); await new Promise((r) => setTimeout(r, 20)); }
  t.is(q.jobstatus, 1);
  t.is(q.jobresult.physicalnetwork.name, 'pn1');
  const res = (await admin.job('createPhysicalNetwork', { name: 'pn2', zoneid: z.id, vlan: '1000-1099', isolationmethods: 'VXLAN' }));
  t.is(res.jobstatus, 1);
  t.is(res.jobinstancetype, 'PhysicalNetwork');
  const pn2 = res.jobresult.physicalnetwork;
  t.is(res.jobinstanceid, pn2.id);
  t.like(pn2, { name: 'pn2', zoneid: z.id, zonename: 'z1', state: 'Disabled', vlan: '1000-1099', isolationmethods: 'VXLAN', broadcastdomainrange: 'ZONE' });

  const list = await admin.ok('listPhysicalNetworks', { zoneid: z.id });
  t.is(list.count, 2);
  const pn1 = list.physicalnetwork.find((n: any) => n.name === 'pn1');
  t.like(pn1, { vlan: '100-199,300-300', tags: 'fast', networkspeed: '10G', isolationmethods: 'VLAN', state: 'Disabled' });

  // Default providers, Disabled, with their services; VR elements not enabled.
  const nsps = await admin.ok('listNetworkServiceProviders', { physicalnetworkid: pn1.id });
  t.deepEqual(nsps.networkserviceprovider.map((p: any) => p.name), ['VirtualRouter', 'SecurityGroupProvider', 'VpcVirtualRouter', 'InternalLbVm', 'ConfigDrive']);
  for (const p of nsps.networkserviceprovider) t.is(p.state, 'Disabled');
  const vr = nsps.networkserviceprovider[0];
  t.like(vr, { physicalnetworkid: pn1.id, canenableindividualservice: true });
  t.true(vr.servicelist.includes('SourceNat') && vr.servicelist.includes('Dhcp'));
  t.is((await admin.ok('listNetworkServiceProviders')).count, 10);
  t.is((await admin.ok('listNetworkServiceProviders', { name: 'VirtualRouter' })).count, 2);
  const els = await admin.ok('listVirtualRouterElements', { nspid: vr.id });
  t.is(els.count, 1);
  t.like(els.virtualrouterelement[0], { nspid: vr.id, enabled: false, account: 'system' });
  t.is((await admin.ok('listVirtualRouterElements')).count, 4, 'VirtualRouter and VpcVirtualRouter on each');
  // The InternalLbVm provider has its own element, configured by its own command.
  const ilbNsp = nsps.networkserviceprovider.find((p: any) => p.name === 'InternalLbVm');
  const ilb = (await admin.ok('listInternalLoadBalancerElements', { nspid: ilbNsp.id })).internalloadbalancerelement;
  t.deepEqual(ilb.map((e: any) => e.enabled), [false]);
  await jobRefused(t, admin, 'updateNetworkServiceProvider', { id: ilbNsp.id, state: 'Enabled' }, 431, /InternalLbVm .* not ready.*configureInternalLoadBalancerElement/);
  await jobRefused(t, admin, 'configureVirtualRouterElement', { id: ilb[0].id, enabled: true }, 431, /Invalid parameter id value=\S+ due to incorrect long value format, or entity does not exist/);
  t.deepEqual((await jobOk(t, admin, 'configureInternalLoadBalancerElement', { id: ilb[0].id, enabled: true })).internalloadbalancerelement, { id: ilb[0].id, nspid: ilbNsp.id, enabled: true });
  t.is((await jobOk(t, admin, 'updateNetworkServiceProvider', { id: ilbNsp.id, state: 'Enabled' })).networkserviceprovider.state, 'Enabled');

  // Enabling the provider before its element: refused with the reason; then the right order.
  await jobRefused(t, admin, 'updateNetworkServiceProvider', { id: vr.id, state: 'Enabled' }, 431, /Provider VirtualRouter .* is not ready, cannot Enable the provider, please configure the provider first/);
  const el = (await jobOk(t, admin, 'configureVirtualRouterElement', { id: els.virtualrouterelement[0].id, enabled: true })).virtualrouterelement;
  t.is(el.enabled, true);
  const en = (await jobOk(t, admin, 'updateNetworkServiceProvider', { id: vr.id, state: 'Enabled' })).networkserviceprovider;
  t.is(en.state, 'Enabled');
  const svc = (await jobOk(t, admin, 'updateNetworkServiceProvider', { id: vr.id, servicelist: 'Dhcp,dns,UserData' })).networkserviceprovider;
  t.deepEqual(svc.servicelist, ['Dhcp', 'Dns', 'UserData']);
  await jobRefused(t, admin, 'updateNetworkServiceProvider', { id: vr.id, servicelist: 'Dhcp,NetworkACL' }, 431, /VirtualRouter Provider cannot provide this Service specified=NetworkACL/);
  await jobRefused(t, admin, 'updateNetworkServiceProvider', { id: vr.id, servicelist: 'Teleport' }, 431, /Invalid Network Service specified=Teleport/);
  const sg = nsps.networkserviceprovider.find((p: any) => p.name === 'SecurityGroupProvider');
  await jobRefused(t, admin, 'updateNetworkServiceProvider', { id: sg.id, servicelist: 'SecurityGroup' }, 431, /Cannot update set of Services for this Service Provider 'SecurityGroupProvider'/);
  await jobRefused(t, admin, 'updateNetworkServiceProvider', { id: vr.id, state: 'Shutdown' }, 431, /'Shutdown' is not supported/);
  t.deepEqual((await admin.ok('listNetworkServiceProviders', { state: 'Enabled' })).networkserviceprovider.map((p: any) => p.id), [vr.id, ilbNsp.id]);

  // VLAN overlap between physical networks of the zone (same isolation method) is refused.
  await jobRefused(t, admin, 'createPhysicalNetwork', { name: 'pn3', zoneid: z.id, vlan: '150-160', isolationmethods: 'VLAN' }, 431,
    new RegExp(`The VLAN range 150-160 \\(vlan\\) overlaps with ids 150-160 of physical network pn1 \\(id ${pn1.id}\\) of zone z1`));
  await jobRefused(t, admin, 'createPhysicalNetwork', { name: 'pn3', zoneid: z.id, vlan: '1050', isolationmethods: 'VXLAN' }, 431, /VXLAN range 1050-1050 \(vlan\) overlaps with VNIs 1050-1050 of physical network pn2/);
  await jobRefused(t, admin, 'createPhysicalNetwork', { name: 'pn3', zoneid: z.id, vlan: '4000-4095', isolationmethods: 'VLAN' }, 431, /4000-4095 is outside 1-4094/);
  await jobRefused(t, admin, 'createPhysicalNetwork', { name: 'pn3', zoneid: z.id, vlan: '20000', isolationmethods: 'VLAN' }, 431, /outside 1-4094/);
  await jobRefused(t, admin, 'createPhysicalNetwork', { name: 'pn3', zoneid: z.id, isolationmethods: 'VLAN,VXLAN' }, 431, /Only one isolationMethod/);
  await jobRefused(t, admin, 'createPhysicalNetwork', { name: 'pn3', zoneid: z.id, tags: 'a,b' }, 431, /Only one tag/);
  await jobRefused(t, admin, 'createPhysicalNetwork', { name: 'pn3', zoneid: z.id, isolationmethods: 'STT' }, 431, /isolationmethods value=STT .* must be one of VLAN, VXLAN, GRE, L3/);
  // A VLAN id on another physical network with another method does not collide.
  await jobOk(t, admin, 'createPhysicalNetwork', { name: 'pn3', zoneid: z.id, vlan: '150-160', isolationmethods: 'GRE' });

  // updatePhysicalNetwork: replaces the set, state, tags; overlap checked excluding itself.
  const upd = (await jobOk(t, admin, 'updatePhysicalNetwork', { id: pn1.id, vlan: '100-249', state: 'Enabled', tags: 'slow' })).physicalnetwork;
  t.like(upd, { vlan: '100-249', state: 'Enabled', tags: 'slow' });
  await jobRefused(t, admin, 'updatePhysicalNetwork', { id: pn2.id, vlan: '1-16777216' }, 431, /outside 1-16777215/);
  const pn2b = await admin.ok('listPhysicalNetworks', { id: pn2.id });
  t.is(pn2b.physicalnetwork[0].vlan, '1000-1099', 'a refused update changed nothing');

  // Traffic types.
  const tt = (await jobOk(t, admin, 'addTrafficType', { physicalnetworkid: pn1.id, traffictype: 'Public', kvmnetworklabel: 'cloudbr0', vlan: '42' })).traffictype;
  t.like(tt, { traffictype: 'Public', physicalnetworkid: pn1.id, kvmnetworklabel: 'cloudbr0', vlan: '42' });
  await jobOk(t, admin, 'addTrafficType', { physicalnetworkid: pn1.id, traffictype: 'Guest' });
  await jobOk(t, admin, 'addTrafficType', { physicalnetworkid: pn1.id, traffictype: 'Management' });
  await jobRefused(t, admin, 'addTrafficType', { physicalnetworkid: pn1.id, traffictype: 'Guest' }, 431, /already supports the traffic type: Guest/);
  await jobRefused(t, admin, 'addTrafficType', { physicalnetworkid: pn2.id, traffictype: 'Public' }, 431, /zone z1 already has a physical network with this traffic type: Public \(pn1, id /);
  // pn1 is tagged, pn2 is not: both may carry Guest; a third untagged one may not.
  await jobOk(t, admin, 'addTrafficType', { physicalnetworkid: pn2.id, traffictype: 'Guest' });
  const pn3 = (await admin.ok('listPhysicalNetworks', { name: 'pn3' })).physicalnetwork[0];
  await jobRefused(t, admin, 'addTrafficType', { physicalnetworkid: pn3.id, traffictype: 'Guest' }, 431, /more than 1 physical network without tags carrying Guest traffic in zone z1: pn2/);
  const tts = await admin.ok('listTrafficTypes', { physicalnetworkid: pn1.id });
  t.deepEqual(tts.traffictype.map((x: any) => x.traffictype), ['Public', 'Guest', 'Management']);

  // A public range on a VLAN inside the guest range is refused; outside it, accepted.
  await refused(t, admin, 'createVlanIpRange', { zoneid: z.id, vlan: '120', gateway: '198.51.100.1', netmask: '255.255.255.0', startip: '198.51.100.10' }, 431,
    new RegExp(`VLAN tag vlan://120 \\(vlan\\) is already being used for dynamic vlan allocation for the guest network of physical network pn1 \\(id ${pn1.id}`));
  const r = (await admin.ok('createVlanIpRange', { zoneid: z.id, vlan: '400', gateway: '198.51.100.1', netmask: '255.255.255.0', startip: '198.51.100.10', endip: '198.51.100.20' })).vlan;
  t.is(r.physicalnetworkid, pn1.id, 'defaults to the physical network carrying Public traffic');
  // Growing the guest range over a public VLAN is refused too.
  await jobRefused(t, admin, 'updatePhysicalNetwork', { id: pn1.id, vlan: '100-500' }, 431, new RegExp(`contains vlan://400, which public IP range id ${r.id}`));

  // The zone must be disabled to get a physical network.
  await admin.ok('updateZone', { id: z.id, allocationstate: 'Enabled' });
  await jobRefused(t, admin, 'createPhysicalNetwork', { name: 'pn4', zoneid: z.id }, 531, /Cannot create PhysicalNetwork since the Zone is currently enabled, zone: z1/);

  // Deleting a physical network cascades (CloudStack): providers, elements, traffic types, ranges.
  const before = await db.query<{ n: string }>('SELECT count(*) AS n FROM network_service_providers');
  const del = await admin.job('deletePhysicalNetwork', { id: pn1.id });
  t.is(del.jobstatus, 1);
  t.deepEqual(del.jobresult, { success: true });
  t.is(Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM network_service_providers'))[0]!.n), Number(before[0]!.n) - 5);
  t.is((await db.query('SELECT 1 FROM traffic_types WHERE physical_network_id = $1', [pn1.id])).length, 0);
  t.is((await db.query('SELECT 1 FROM virtual_router_elements e JOIN network_service_providers p ON p.id = e.nsp_id WHERE p.physical_network_id = $1', [pn1.id])).length, 0);
  t.deepEqual(await admin.ok('listVlanIpRanges', { zoneid: z.id }), {});
  await jobRefused(t, admin, 'deletePhysicalNetwork', { id: pn1.id }, 431, /Invalid parameter id value=\S+ due to incorrect long value format, or entity does not exist/);

  // Something a later area registers (a guest network) keeps it alive: 536.
  const check = async (_sql: unknown, id: string) => (id === pn2.id ? '2 guest network(s) (net-a, net-b)' : undefined);
  USAGE_CHECKS.physicalNetwork.push(check);
  t.teardown(() => { USAGE_CHECKS.physicalNetwork.splice(USAGE_CHECKS.physicalNetwork.indexOf(check), 1); });
  await jobRefused(t, admin, 'deletePhysicalNetwork', { id: pn2.id }, 536, /The Physical Network pn2 \(id .*\) is not deletable because it still has 2 guest network\(s\) \(net-a, net-b\)/);
  t.is((await admin.ok('listPhysicalNetworks', { id: pn2.id })).count, 1);

  const types = (await admin.ok('listEvents', { pagesize: 200 })).event.map((e: any) => e.type);
  for (const ty of ['PHYSICAL.NETWORK.CREATE', 'PHYSICAL.NETWORK.UPDATE', 'PHYSICAL.NETWORK.DELETE', 'TRAFFIC.TYPE.CREATE', 'SERVICE.PROVIDER.UPDATE', 'NETWORK.ELEMENT.CONFIGURE']) t.true(types.includes(ty), ty);
});

eachDialect('VLAN IP ranges: IPv4 and IPv6, overlaps, guest CIDR, dedication', async (t, dialect) => {
  const { admin, db, url } = await startManager(t, dialect);
  const env = await buildZone(t, admin);
  const list = await admin.ok('listVlanIpRanges', { zoneid: env.zoneId });
  t.is(list.count, 1);
  t.like(list.vlaniprange[0], {
    id: env.rangeId, forvirtualnetwork: true, zoneid: env.zoneId, vlan: 'vlan://50', gateway: '203.0.113.1', netmask: '255.255.255.0', cidr: '203.0.113.0/24',
    startip: '203.0.113.10', endip: '203.0.113.50', physicalnetworkid: env.pnetId, account: 'system', domain: 'ROOT', forsystemvms: false,
    description: '203.0.113.10-203.0.113.50',
  });

  const before = await snapshot(db);
  await refused(t, admin, 'createVlanIpRange', { zoneid: env.zoneId, vlan: '50', gateway: '203.0.113.1', netmask: '255.255.255.0', startip: '203.0.113.40', endip: '203.0.113.60' }, 431,
    new RegExp(`^The IP range 203\\.0\\.113\\.40-203\\.0\\.113\\.60 \\(startip, endip\\) overlaps with range 203\\.0\\.113\\.10-203\\.0\\.113\\.50 \\(id ${env.rangeId}\\) of zone local$`));
  await refused(t, admin, 'createVlanIpRange', { zoneid: env.zoneId, vlan: '51', gateway: '203.0.113.129', netmask: '255.255.255.128', startip: '203.0.113.130' }, 431, /subnet 203\.0\.113\.128\/25 .* overlaps with the subnet 203\.0\.113\.0\/24 of range id .* on vlan:\/\/50 of zone local/);
  await refused(t, admin, 'createVlanIpRange', { zoneid: env.zoneId, vlan: '50', gateway: '203.0.113.129', netmask: '255.255.255.128', startip: '203.0.113.130' }, 431, /already been added with the subnet 203\.0\.113\.0\/24 on vlan:\/\/50 of zone local .*Please specify its gateway\/netmask if you want to extend ip range/);
  await refused(t, admin, 'createVlanIpRange', { zoneid: env.zoneId, vlan: '60', gateway: '10.1.0.1', netmask: '255.255.0.0', startip: '10.1.100.1' }, 431, /overlaps with the guest CIDR 10\.1\.1\.0\/24 \(guestcidraddress\) of zone local/);
  await refused(t, admin, 'createVlanIpRange', { zoneid: env.zoneId, vlan: '60', gateway: '192.168.56.1', netmask: '255.255.255.0', startip: '192.168.56.40', endip: '192.168.56.60' }, 431, /management IP range 192\.168\.56\.10-192\.168\.56\.50 of pod local-pod1/);
  await refused(t, admin, 'createVlanIpRange', { zoneid: env.zoneId, vlan: '60', gateway: '198.51.100.1', netmask: '255.255.255.0', startip: '198.51.100.20', endip: '198.51.100.10' }, 431, /start IP 198\.51\.100\.20 \(startip\) is greater than the end IP/);
  await refused(t, admin, 'createVlanIpRange', { zoneid: env.zoneId, vlan: '60', gateway: '198.51.100.15', netmask: '255.255.255.0', startip: '198.51.100.10', endip: '198.51.100.20' }, 431, /gateway 198\.51\.100\.15 \(gateway\) is inside the IP range/);
  await refused(t, admin, 'createVlanIpRange', { zoneid: env.zoneId, vlan: '60', gateway: '198.51.100.1', netmask: '255.255.255.0', startip: '198.51.101.10' }, 431, /startip 198\.51\.101\.10 is not in the subnet 198\.51\.100\.0\/24/);
  await refused(t, admin, 'createVlanIpRange', { zoneid: env.zoneId, vlan: '60', gateway: '198.51.100.1', startip: '198.51.100.10' }, 431, /needs gateway, netmask and startip: missing netmask/);
  await refused(t, admin, 'createVlanIpRange', { zoneid: env.zoneId, vlan: '60' }, 431, /Please specify IPv4 \(gateway, netmask, startip\) or IPv6/);
  await refused(t, admin, 'createVlanIpRange', { zoneid: env.zoneId, vlan: '4095', gateway: '198.51.100.1', netmask: '255.255.255.0', startip: '198.51.100.10' }, 431, /Invalid parameter vlan value=4095 due to 4095 is outside 1-4094/);
  await refused(t, admin, 'createVlanIpRange', { zoneid: env.zoneId, vlan: '150', gateway: '198.51.100.1', netmask: '255.255.255.0', startip: '198.51.100.10' }, 431, /already being used for dynamic vlan allocation/);
  await refused(t, admin, 'createVlanIpRange', { zoneid: env.zoneId, vlan: '60', ip6gateway: '2001:db8:1::1', ip6cidr: '2001:db8:1::/80' }, 431, /at least \/64/);
  await refused(t, admin, 'createVlanIpRange', { zoneid: env.zoneId, vlan: '60', ip6gateway: '2001:db8:2::1', ip6cidr: '2001:db8:1::/64' }, 431, /ip6gateway 2001:db8:2::1 is not in the ip6cidr/);
  await refused(t, admin, 'createVlanIpRange', { zoneid: env.zoneId, networkid: '3a1f0c55-8f0e-4c1c-9a55-3b9f6b0f0001', gateway: '198.51.100.1', netmask: '255.255.255.0', startip: '198.51.100.10' }, 431, /Invalid parameter networkid value=\S+ due to incorrect long value format, or entity does not exist/);
  await refused(t, admin, 'createVlanIpRange', { physicalnetworkid: env.pnetId, zoneid: '3a1f0c55-8f0e-4c1c-9a55-3b9f6b0f0001', gateway: '198.51.100.1', netmask: '255.255.255.0', startip: '198.51.100.10' }, 431, /Invalid parameter zoneid value=\S+ due to incorrect long value format, or entity does not exist/);
  await refused(t, admin, 'createVlanIpRange', { zoneid: env.zoneId, podid: env.podId, gateway: '198.51.100.1', netmask: '255.255.255.0', startip: '198.51.100.10' }, 431, /podid can only be given for direct/);
  await refused(t, admin, 'createVlanIpRange', { zoneid: env.zoneId, forvirtualnetwork: false, gateway: '198.51.100.1', netmask: '255.255.255.0', startip: '198.51.100.10' }, 431, /networkid is required/);
  await refused(t, admin, 'createVlanIpRange', { zoneid: env.zoneId, vlan: '61', account: 'nobody', gateway: '198.51.100.1', netmask: '255.255.255.0', startip: '198.51.100.10' }, 431, /account must be specified with domainid/);
  t.is(await snapshot(db), before, 'refused ranges changed nothing');

  // Another range on the same VLAN and subnet, adjacent: fine. Dual-stack on another VLAN.
  const r2 = (await admin.ok('createVlanIpRange', { zoneid: env.zoneId, vlan: 'vlan://50', gateway: '203.0.113.1', netmask: '255.255.255.0', startip: '203.0.113.51', endip: '203.0.113.60' })).vlan;
  t.is(r2.vlan, 'vlan://50');
  // A second public subnet on the same VLAN (another gateway/netmask, not overlapping), as CloudStack accepts it.
  const second = (await admin.ok('createVlanIpRange', { zoneid: env.zoneId, vlan: '50', gateway: '192.0.2.1', netmask: '255.255.255.0', startip: '192.0.2.10', endip: '192.0.2.20', physicalnetworkid: env.pnetId })).vlan;
  t.like(second, { vlan: 'vlan://50', gateway: '192.0.2.1', netmask: '255.255.255.0', startip: '192.0.2.10', endip: '192.0.2.20' });
  t.is((await admin.ok('listVlanIpRanges', { vlan: '50' })).count, 3);
  t.deepEqual(await admin.ok('deleteVlanIpRange', { id: second.id }), { success: true });
  const acc = await makeAccount(admin, url, { name: 'carol' });
  const r3 = (await admin.ok('createVlanIpRange', {
    zoneid: env.zoneId, vlan: '70', gateway: '198.51.100.1', netmask: '255.255.255.0', startip: '198.51.100.10', endip: '198.51.100.20',
    ip6gateway: '2001:DB8:1::1', ip6cidr: '2001:db8:1::/64', startipv6: '2001:db8:1::100', endipv6: '2001:db8:1::1ff', account: 'carol', domainid: acc.domainId,
  })).vlan;
  t.like(r3, { vlan: 'vlan://70', ip6gateway: '2001:db8:1::1', ip6cidr: '2001:db8:1::/64', startipv6: '2001:db8:1::100', endipv6: '2001:db8:1::1ff', account: 'carol', domainid: acc.domainId });
  await refused(t, admin, 'createVlanIpRange', { zoneid: env.zoneId, vlan: '71', ip6gateway: '2001:db8:1::1', ip6cidr: '2001:db8:1::/64' }, 431, /IPv6 subnet 2001:db8:1::\/64 \(ip6cidr\) overlaps with the IPv6 subnet 2001:db8:1::\/64 of range id/);
  const v6only = (await admin.ok('createVlanIpRange', { zoneid: env.zoneId, vlan: '80', ip6gateway: '2001:db8:2::1', ip6cidr: '2001:db8:2::/64' })).vlan;
  t.like(v6only, { ip6cidr: '2001:db8:2::/64', vlan: 'vlan://80' });
  t.false('startip' in v6only);

  t.is((await admin.ok('listVlanIpRanges', { zoneid: env.zoneId })).count, 4);
  t.is((await admin.ok('listVlanIpRanges', { vlan: '50' })).count, 2);
  t.is((await admin.ok('listVlanIpRanges', { account: 'carol', domainid: acc.domainId })).count, 1);
  t.is((await admin.ok('listVlanIpRanges', { keyword: '2001:db8:2' })).count, 1);
  t.is((await admin.ok('listVlanIpRanges', { page: 2, pagesize: 3 })).vlaniprange.length, 1);

  // Changing the zone's guest CIDR onto a public range is refused.
  await refused(t, admin, 'updateZone', { id: env.zoneId, guestcidraddress: '198.51.0.0/16' }, 431, /RFC 1918/);
  await refused(t, admin, 'updateZone', { id: env.zoneId, guestcidraddress: '192.168.0.0/16' }, 431, /guest CIDR 192\.168\.0\.0\/16 \(guestcidraddress\) overlaps with the subnet 192\.168\.56\.0\/24 of pod local-pod1/);
  t.is((await admin.ok('updateZone', { id: env.zoneId, guestcidraddress: '10.2.0.0/16' })).zone.guestcidraddress, '10.2.0.0/16');

  // In use (a later area registers allocated addresses): 536; otherwise deleted.
  const check = async (_sql: unknown, id: string) => (id === r2.id ? '3 allocated public IP address(es)' : undefined);
  USAGE_CHECKS.vlanIpRange.push(check);
  t.teardown(() => { USAGE_CHECKS.vlanIpRange.splice(USAGE_CHECKS.vlanIpRange.indexOf(check), 1); });
  await refused(t, admin, 'deleteVlanIpRange', { id: r2.id }, 536, /The VLAN IP range 203\.0\.113\.51-203\.0\.113\.60 \(id .*\) cannot be deleted because it still has 3 allocated public IP address\(es\)/);
  t.deepEqual(await admin.ok('deleteVlanIpRange', { id: r3.id }), { success: true });
  t.is((await admin.ok('listVlanIpRanges', { zoneid: env.zoneId })).count, 3);
  // The account with a dedicated range could not have been deleted; now it can.
  const types = (await admin.ok('listEvents', { pagesize: 200 })).event.map((e: any) => e.type);
  for (const ty of ['VLAN.IP.RANGE.CREATE', 'VLAN.IP.RANGE.DELETE', 'POD.CREATE', 'CLUSTER.CREATE']) t.true(types.includes(ty), ty);
});

eachDialect('guest networks and any other reference keep infra alive: 536, never 530', async (t, dialect) => {
  const { admin, db } = await startManager(t, dialect);
  const env = await buildZone(t, admin);
  const off = (await db.query<{ id: string }>(`SELECT id FROM network_offerings ORDER BY created LIMIT 1`))[0]!;
  const root = (await db.query<{ id: string }>(`SELECT id FROM domains WHERE parent_id IS NULL`))[0]!;
  await db.query(`INSERT INTO networks (id, name, display_text, zone_id, physical_network_id, network_offering_id, guest_type, acl_type, domain_id, state, vni, cidr, gateway)
    VALUES ('5d2f0c55-8f0e-4c1c-9a55-3b9f6b0f0001', 'shared1', 'shared1', $1, $2, $3, 'Shared', 'Domain', $4, 'Setup', 120, '10.9.0.0/24', '10.9.0.1')`,
  [env.zoneId, env.pnetId, off.id, root.id]);
  await refused(t, admin, 'createVlanIpRange', { zoneid: env.zoneId, vlan: '120', gateway: '198.51.100.1', netmask: '255.255.255.0', startip: '198.51.100.9' }, 431,
    /The VLAN tag vlan:\/\/120 \(vlan\) is already (being used for dynamic vlan allocation|used by network shared1)/);
  await refused(t, admin, 'createVlanIpRange', { zoneid: env.zoneId, vlan: 'vxlan://120', gateway: '198.51.100.1', netmask: '255.255.255.0', startip: '198.51.100.9' }, 431,
    /The VLAN tag vxlan:\/\/120 \(vlan\) is already used by network shared1 \(id 5d2f0c55-8f0e-4c1c-9a55-3b9f6b0f0001\) of zone local/);
  const before = await snapshot(db);
  await jobRefused(t, admin, 'deletePhysicalNetwork', { id: env.pnetId }, 536,
    /The Physical Network local-pn1 \(id .*\) is not deletable because it still has 1 network\(s\) associated to this physical network \(shared1 id 5d2f0c55-8f0e-4c1c-9a55-3b9f6b0f0001\)/);
  const zt = await refused(t, admin, 'deleteZone', { id: env.zoneId }, 536);
  t.regex(zt, /1 network\(s\) \(shared1 id 5d2f0c55/);
  t.is(await snapshot(db), before);

  // Clear the zone of everything this area knows; a reference from a table nobody registered
  // (a template pinned to the zone) still answers 536 naming that table.
  await db.query('DELETE FROM networks');
  await jobOk(t, admin, 'deletePhysicalNetwork', { id: env.pnetId });
  await admin.ok('deleteCluster', { id: env.clusterId });
  await admin.ok('deletePod', { id: env.podId });
  await db.query(`INSERT INTO templates (id, name, display_text, kind, hypervisor, format, status, zone_id) VALUES ('6e3f0c55-8f0e-4c1c-9a55-3b9f6b0f0001', 't1', 't1', 'guest', 'KVM', 'TAR', 'Ready', $1)`, [env.zoneId]);
  await refused(t, admin, 'deleteZone', { id: env.zoneId }, 536, /The zone local \(id .*\) cannot be deleted because rows of templates still reference it/);
  t.is((await admin.ok('listZones', { id: env.zoneId })).count, 1);
  await db.query('DELETE FROM templates');
  t.deepEqual(await admin.ok('deleteZone', { id: env.zoneId }), { success: true });
});

eachDialect('racing conflicting mutations: exactly one wins, the others get the precise 431', async (t, dialect) => {
  const { admin, db } = await startManager(t, dialect);
  const env = await buildZone(t, admin);
  // Ten overlapping ranges at once (on PostgreSQL these run on separate connections).
  const tries = await Promise.all(Array.from({ length: 10 }, (_, i) => admin.call('createVlanIpRange', {
    zoneid: env.zoneId, vlan: '60', gateway: '198.51.100.1', netmask: '255.255.255.0', startip: `198.51.100.${10 + i}`, endip: `198.51.100.${100 + i}`,
  })));
  t.is(tries.filter((r) => r.status === 200).length, 1, JSON.stringify(tries.map((r) => r.status)));
  for (const r of tries.filter((x) => x.status !== 200)) {
    t.is(r.status, 431);
    t.regex(r.body.errortext, /The IP range 198\.51\.100\.\d+-198\.51\.100\.\d+ \(startip, endip\) overlaps with range/);
  }
  t.is((await db.query(`SELECT 1 FROM vlan_ip_ranges WHERE vlan = 'vlan://60'`)).length, 1);
  const zones = await Promise.all(Array.from({ length: 6 }, () => admin.call('createZone', { name: 'twin', dns1: '192.0.2.1', networktype: 'Advanced' })));
  t.deepEqual(zones.map((r) => r.status).sort(), [200, 431, 431, 431, 431, 431]);
  t.regex(zones.find((r) => r.status === 431)!.body.errortext, /A zone with name twin already exists/);
});

eachDialect('a Basic zone: one POD-wide physical network, direct untagged ranges per pod', async (t, dialect) => {
  const { admin } = await startManager(t, dialect);
  const z = (await admin.ok('createZone', { name: 'basic', dns1: '192.0.2.53', networktype: 'Basic', securitygroupenabled: true })).zone;
  t.like(z, { networktype: 'Basic', securitygroupsenabled: true });
  t.false('guestcidraddress' in z);
  await jobRefused(t, admin, 'createPhysicalNetwork', { name: 'pn', zoneid: z.id, vlan: '100-200' }, 431, /Can't add vnet range to the physical network in the Basic zone/);
  await jobRefused(t, admin, 'createPhysicalNetwork', { name: 'pn', zoneid: z.id, broadcastdomainrange: 'ZONE' }, 431, /Basic zone can have broadcast domain type of value POD only/);
  const pn = (await jobOk(t, admin, 'createPhysicalNetwork', { name: 'pn', zoneid: z.id })).physicalnetwork;
  t.is(pn.broadcastdomainrange, 'POD');
  await jobRefused(t, admin, 'createPhysicalNetwork', { name: 'pn2', zoneid: z.id }, 431, /there is a physical network already existing in this basic zone/);
  await jobOk(t, admin, 'addTrafficType', { physicalnetworkid: pn.id, traffictype: 'Guest' });
  await jobOk(t, admin, 'addTrafficType', { physicalnetworkid: pn.id, traffictype: 'Management' });
  const pod = (await admin.ok('createPod', { name: 'p1', zoneid: z.id, gateway: '192.168.10.1', netmask: '255.255.255.0', startip: '192.168.10.10', endip: '192.168.10.20' })).pod;
  await refused(t, admin, 'createVlanIpRange', { zoneid: z.id, gateway: '192.168.10.1', netmask: '255.255.255.0', startip: '192.168.10.100' }, 431, /Public \(forvirtualnetwork=true\) IP ranges cannot be added to zone basic: it is a Basic zone/);
  await refused(t, admin, 'createVlanIpRange', { zoneid: z.id, forvirtualnetwork: false, gateway: '192.168.10.1', netmask: '255.255.255.0', startip: '192.168.10.100' }, 431, /Pod id is required for Basic zone direct untagged ranges/);
  await refused(t, admin, 'createVlanIpRange', { podid: pod.id, forvirtualnetwork: false, vlan: '10', gateway: '192.168.10.1', netmask: '255.255.255.0', startip: '192.168.10.100' }, 431, /Basic zone direct ranges are untagged/);
  const r = (await admin.ok('createVlanIpRange', { podid: pod.id, forvirtualnetwork: false, gateway: '192.168.10.1', netmask: '255.255.255.0', startip: '192.168.10.100', endip: '192.168.10.200' })).vlan;
  t.like(r, { zoneid: z.id, podid: pod.id, podname: 'p1', forvirtualnetwork: false, vlan: 'vlan://untagged', physicalnetworkid: pn.id });
  await refused(t, admin, 'deletePod', { id: pod.id }, 536, /still has 1 VLAN IP range\(s\) \(192\.168\.10\.100-192\.168\.10\.200\)/);
  await refused(t, admin, 'updateZone', { id: z.id, guestcidraddress: '10.1.1.0/24' }, 431, /guestcidraddress can only be set on an Advanced zone/);
});

eachDialect('updates: pods (range re-checked), clusters, traffic types; deleting traffic types', async (t, dialect) => {
  const { admin, db } = await startManager(t, dialect);
  const env = await buildZone(t, admin);
  const p2 = (await admin.ok('createPod', { name: 'p2', zoneid: env.zoneId, gateway: '192.168.57.1', netmask: '255.255.255.0', startip: '192.168.57.10', endip: '192.168.57.20' })).pod;
  // Growing the first pod's range within its subnet is fine; the change is re-checked as a whole.
  const up = (await admin.ok('updatePod', { id: env.podId, endip: '192.168.56.99', name: 'pod-one', allocationstate: 'Disabled' })).pod;
  t.like(up, { name: 'pod-one', allocationstate: 'Disabled', gateway: '192.168.56.1' });
  t.deepEqual(up.endip, ['192.168.56.99']);
  const before = await snapshot(db);
  await refused(t, admin, 'updatePod', { id: env.podId, gateway: '192.168.57.1', startip: '192.168.57.100', endip: '192.168.57.110' }, 431, /pod subnet 192\.168\.57\.0\/24 .* overlaps with the subnet 192\.168\.57\.0\/24 of pod p2/);
  await refused(t, admin, 'updatePod', { id: env.podId, endip: '192.168.56.5' }, 431, /start IP 192\.168\.56\.10 \(startip\) is greater than the end IP 192\.168\.56\.5/);
  await refused(t, admin, 'updatePod', { id: env.podId, name: 'P2' }, 431, /A pod with name P2 already exists in zone local/);
  await refused(t, admin, 'updatePod', { id: p2.id, gateway: '203.0.113.1', startip: '203.0.113.2', endip: '203.0.113.20' }, 431, /public IP range 203\.0\.113\.10-203\.0\.113\.50/);
  t.is(await snapshot(db), before, 'refused pod updates changed nothing');

  const c = (await admin.ok('updateCluster', { id: env.clusterId, clustername: 'renamed', allocationstate: 'Disabled', managedstate: 'Unmanaged' })).cluster;
  t.like(c, { name: 'renamed', allocationstate: 'Disabled', managedstate: 'Unmanaged', hypervisortype: 'KVM' });
  await refused(t, admin, 'updateCluster', { id: env.clusterId, hypervisor: 'VMware' }, 431, /hypervisor type of cluster renamed cannot be changed \(it is KVM\)/);

  const tts = (await admin.ok('listTrafficTypes', { physicalnetworkid: env.pnetId })).traffictype;
  const pub = tts.find((x: any) => x.traffictype === 'Public');
  const guest = tts.find((x: any) => x.traffictype === 'Guest');
  t.is((await jobOk(t, admin, 'updateTrafficType', { id: pub.id, kvmnetworklabel: 'br-public', vmwarenetworklabel: 'vSwitch0,100,vmwaresvs' })).traffictype.kvmnetworklabel, 'br-public');
  await refused(t, admin, 'updateTrafficType', { id: pub.id, kvmnetworklabel: 'br public' }, 431, /kvmnetworklabel value=br public due to a Linux interface name/);
  await jobRefused(t, admin, 'deleteTrafficType', { id: pub.id }, 536, /The traffic type Public of physical network local-pn1 is not deletable because there are 1 public IP range\(s\) using it \(203\.0\.113\.10-203\.0\.113\.50\)/);
  t.deepEqual(await jobOk(t, admin, 'deleteTrafficType', { id: guest.id }), { success: true });
  t.deepEqual((await admin.ok('listTrafficTypes', { physicalnetworkid: env.pnetId })).traffictype.map((x: any) => x.traffictype), ['Public']);
  const types = (await admin.ok('listEvents', { pagesize: 200 })).event.map((e: any) => e.type);
  for (const ty of ['POD.EDIT', 'CLUSTER.UPDATE', 'TRAFFIC.TYPE.UPDATE', 'TRAFFIC.TYPE.DELETE']) t.true(types.includes(ty), ty);
});
