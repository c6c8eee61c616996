// An L2 network on the netns driver (real runc guests, a real VXLAN segment between two hosts):
// the VMs get a NIC on the segment and no address from Flotilla; addresses the guests give
// themselves reach each other across hosts, and nothing of another network's segment.
import test from 'ava';
import { Lab, kernelTestsUnavailable } from '../src/lab.ts';
import { addHost, createZone, netnsHosts, startCloud } from '../src/cloud.ts';

const skip = kernelTestsUnavailable();
const kernelTest = skip ? test.skip : test.serial;

kernelTest('L2 network on netns hosts: unaddressed NICs on one VXLAN segment; self-assigned addresses reach across hosts; another L2 network is another segment', async (t) => {
  const lab = Lab.create(t, 'l2');
  const cloud = await startCloud(t);
  const z = await createZone(cloud.admin);
  const hosts = await netnsHosts(lab, 2);
  for (const [i, h] of hosts.entries()) await addHost(t, cloud, z, { name: `l2host${i + 1}`, driver: h.driver, tag: h.tag, hostNs: h.hostNs });
  const l2 = (await cloud.admin.ok('listNetworkOfferings', { name: 'DefaultL2NetworkOffering' })).networkoffering[0];
  const seg = (await cloud.admin.ok('createNetwork', { name: 'seg', zoneid: z.zoneId, networkofferingid: l2.id })).network;
  const seg2 = (await cloud.admin.ok('createNetwork', { name: 'seg2', zoneid: z.zoneId, networkofferingid: l2.id })).network;
  const tpl = (await cloud.admin.ok('listTemplates', { templatefilter: 'featured', name: 'Flotilla netns guest' })).template[0];
  const so = (await cloud.admin.ok('listServiceOfferings', { name: 'Small Instance' })).serviceoffering[0];
  const listed = (await cloud.admin.ok('listHosts', { zoneid: z.zoneId })).host as Array<{ id: string; name: string }>;
  const hostIds: string[] = ['l2host1', 'l2host2'].map((n) => listed.find((h) => h.name === n)!.id);
  const deploy = async (name: string, net: string, hostid: string) => (await cloud.admin.jobOk('deployVirtualMachine', { zoneid: z.zoneId, serviceofferingid: so.id, templateid: tpl.id, networkids: net, name, hostid }, 120_000)).virtualmachine;
  const a = await deploy('l2a', seg.id, hostIds[0]!);
  const b = await deploy('l2b', seg.id, hostIds[1]!);
  const c = await deploy('l2c', seg2.id, hostIds[1]!);
  t.not(a.hostid, b.hostid, 'the two VMs of the segment are on different hosts');
  for (const vm of [a, b, c]) t.false('ipaddress' in vm.nic[0], 'Flotilla gives an L2 NIC no address');

  const driverOf = (vm: any) => hosts[hostIds.indexOf(vm.hostid)]!.driver;
  const ns = (vm: any) => driverOf(vm).names.vmNamespace(vm.instancename);
  // The guests configure themselves (as a tenant's own DHCP or static config would).
  await lab.exec(ns(a), ['ip', 'addr', 'add', '10.77.0.1/24', 'dev', 'eth0']);
  await lab.exec(ns(b), ['ip', 'addr', 'add', '10.77.0.2/24', 'dev', 'eth0']);
  await lab.exec(ns(c), ['ip', 'addr', 'add', '10.77.0.3/24', 'dev', 'eth0']);
  const ping = async (from: any, to: string) => (await lab.tryExec(ns(from), ['ping', '-c', '2', '-W', '2', to])).code === 0;
  let ok = false;
  for (let i = 0; i < 10 && !ok; i++) ok = await ping(a, '10.77.0.2');
  t.true(ok, 'a reaches b across hosts on the segment');
  t.true(await ping(b, '10.77.0.1'));
  t.false(await ping(c, '10.77.0.2'), 'another L2 network is another segment');
  const nets = (await cloud.admin.ok('listNetworks', { listall: true, type: 'L2' })).network;
  const vnis = nets.map((n: any) => n.vlan);
  t.is(new Set(vnis).size, 2, 'each L2 network has its own VNI');
});
