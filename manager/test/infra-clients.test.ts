// An operator builds a zone with a real CloudStack client, Debian's `cs` CLI (python3-cs): no
// code of ours signs, sends or polls. The same sequence CloudStack's zone wizard runs.
import { eachDialect, startManager } from './helpers.ts';
import { cs } from './real-clients.ts';

eachDialect('the cs CLI builds a zone: pod, cluster, physical network, traffic, providers, public range', async (t, dialect) => {
  const { url, admin } = await startManager(t, dialect);
  const c = (...args: string[]) => cs(url, admin.apiKey, admin.secretKey, args);
  const ok = async (...args: string[]) => { const r = await c(...args); t.is(r.code, 0, `${args[0]}: ${r.err} ${JSON.stringify(r.out)}`); return r.out; };

  const zone = (await ok('createZone', 'name=edge 1', 'networktype=Advanced', 'dns1=192.0.2.53', 'guestcidraddress=10.1.0.0/16')).zone;
  const pod = (await ok('createPod', 'name=pod 1', `zoneid=${zone.id}`, 'gateway=192.168.56.1', 'netmask=255.255.255.0', 'startip=192.168.56.10', 'endip=192.168.56.99')).pod;
  const cluster = (await ok('addCluster', 'clustername=c1', `zoneid=${zone.id}`, `podid=${pod.id}`, 'hypervisor=KVM', 'clustertype=CloudManaged')).cluster[0];
  t.is(cluster.podid, pod.id);
  // async: cs polls queryAsyncJobResult itself and prints the job's result
  const pn = (await ok('createPhysicalNetwork', 'name=pn 1', `zoneid=${zone.id}`, 'isolationmethods=VXLAN', 'vlan=5000-5999')).physicalnetwork;
  t.like(pn, { zoneid: zone.id, vlan: '5000-5999', isolationmethods: 'VXLAN', state: 'Disabled' });
  for (const tt of ['Public', 'Guest', 'Management']) {
    const r = (await ok('addTrafficType', `physicalnetworkid=${pn.id}`, `traffictype=${tt}`, 'kvmnetworklabel=cloudbr0')).traffictype;
    t.is(r.traffictype, tt);
  }
  const vr = (await ok('listNetworkServiceProviders', `physicalnetworkid=${pn.id}`, 'name=VirtualRouter')).networkserviceprovider[0];
  const el = (await ok('listVirtualRouterElements', `nspid=${vr.id}`)).virtualrouterelement[0];
  t.true((await ok('configureVirtualRouterElement', `id=${el.id}`, 'enabled=true')).virtualrouterelement.enabled);
  t.is((await ok('updateNetworkServiceProvider', `id=${vr.id}`, 'state=Enabled')).networkserviceprovider.state, 'Enabled');
  t.is((await ok('updatePhysicalNetwork', `id=${pn.id}`, 'state=Enabled')).physicalnetwork.state, 'Enabled');
  const range = (await ok('createVlanIpRange', `zoneid=${zone.id}`, 'vlan=untagged', 'gateway=203.0.113.1', 'netmask=255.255.255.0', 'startip=203.0.113.10', 'endip=203.0.113.99', 'forvirtualnetwork=true')).vlan;
  t.like(range, { vlan: 'vlan://untagged', physicalnetworkid: pn.id, cidr: '203.0.113.0/24' });
  t.is((await ok('updateZone', `id=${zone.id}`, 'allocationstate=Enabled')).zone.allocationstate, 'Enabled');

  // What the client shows for refusals: the 431 with its text, as it received it.
  const overlap = await c('createVlanIpRange', `zoneid=${zone.id}`, 'vlan=untagged', 'gateway=203.0.113.1', 'netmask=255.255.255.0', 'startip=203.0.113.50', 'endip=203.0.113.120');
  t.is(overlap.out?.createvlaniprangeresponse?.errorcode, 431, JSON.stringify(overlap));
  t.regex(overlap.out.createvlaniprangeresponse.errortext, new RegExp(`The IP range 203\\.0\\.113\\.50-203\\.0\\.113\\.120 \\(startip, endip\\) overlaps with range 203\\.0\\.113\\.10-203\\.0\\.113\\.99 \\(id ${range.id}\\) of zone edge 1`));
  // an async command's refusal arrives through the job; cs reports it and fails
  const vni = await c('createPhysicalNetwork', 'name=pn 2', `zoneid=${zone.id}`, 'isolationmethods=VXLAN', 'vlan=5500');
  t.regex(vni.err, /CloudStack error: Job failure/);
  t.like(vni.out?.queryasyncjobresultresponse, { jobstatus: 2, jobresultcode: 531, cmd: 'createPhysicalNetwork' });
  t.regex(vni.out.queryasyncjobresultresponse.jobresult.errortext, /Cannot create PhysicalNetwork since the Zone is currently enabled, zone: edge 1/);
  const inUse = await c('deleteZone', `id=${zone.id}`);
  t.is(inUse.out?.deletezoneresponse?.errorcode, 536, JSON.stringify(inUse));
  t.regex(inUse.out.deletezoneresponse.errortext, /The zone edge 1 \(id .*\) is not deletable because it still has 1 pod\(s\)/);
});
