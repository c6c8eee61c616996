// Hosts and VMs end to end: the API, the manager's gateway, real agents with the netns driver
// in lab namespaces, real VXLAN between two hosts, real traffic between VMs.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { Lab, kernelTestsUnavailable } from '../src/lab.ts';
import { addHost, createZone, netnsHosts, startCloud, waitFor, type Cloud, type Zone } from '../src/cloud.ts';

const skip = kernelTestsUnavailable();
const kernelTest = skip ? test.skip : test.serial;

async function sharedNetwork(cloud: Cloud, z: Zone, name: string, vni: number, prefix: string): Promise<string> {
  const off = (await cloud.admin.ok('listNetworkOfferings', { name: 'DefaultSharedNetworkOffering' })).networkoffering[0];
  const n = await cloud.admin.ok('createNetwork', {
    name, zoneid: z.zoneId, networkofferingid: off.id, vlan: `vxlan://${vni}`, gateway: `${prefix}.1`, netmask: '255.255.255.0', startip: `${prefix}.10`, endip: `${prefix}.99`,
  });
  return n.network.id;
}

async function deploy(cloud: Cloud, z: Zone, o: { name: string; networkids: string; hostid?: string; ipaddress?: string }) {
  const so = (await cloud.admin.ok('listServiceOfferings', { name: 'Small Instance' })).serviceoffering[0];
  const tpl = (await cloud.admin.ok('listTemplates', { templatefilter: 'featured', name: 'Flotilla netns guest' })).template[0];
  return cloud.admin.job('deployVirtualMachine', { zoneid: z.zoneId, serviceofferingid: so.id, templateid: tpl.id, ...o }, 120_000);
}

kernelTest('VMs of one network on two hosts reach each other over VXLAN; another network is isolated', async (t) => {
  const lab = Lab.create(t, 'hst');
  const cloud = await startCloud(t);
  const z = await createZone(cloud.admin);
  const [h1, h2] = await netnsHosts(lab, 2);
  const host1 = await addHost(t, cloud, z, { name: 'host1', driver: h1!.driver, tag: h1!.tag, hostNs: h1!.hostNs });
  const host2 = await addHost(t, cloud, z, { name: 'host2', driver: h2!.driver, tag: h2!.tag, hostNs: h2!.hostNs });
  const hosts = (await cloud.admin.ok('listHosts', { zoneid: z.zoneId })).host;
  t.deepEqual(hosts.map((h: any) => [h.name, h.state, h.hypervisor]).sort(), [['host1', 'Up', 'LXC'], ['host2', 'Up', 'LXC']]);

  const netA = await sharedNetwork(cloud, z, 'net-a', 6100, '10.77.0');
  // Same addresses on another VNI: only L2 isolation can keep them apart.
  const netB = await sharedNetwork(cloud, z, 'net-b', 6200, '10.77.0');
  const a1 = await deploy(cloud, z, { name: 'a1', networkids: netA, hostid: host1.hostId });
  t.is(a1.jobstatus, 1, JSON.stringify(a1.jobresult));
  const a2 = await deploy(cloud, z, { name: 'a2', networkids: netA, hostid: host2.hostId });
  t.is(a2.jobstatus, 1, JSON.stringify(a2.jobresult));
  const b1 = await deploy(cloud, z, { name: 'b1', networkids: netB, hostid: host2.hostId, ipaddress: '10.77.0.50' });
  t.is(b1.jobstatus, 1, JSON.stringify(b1.jobresult));
  const vm = (j: any) => j.jobresult.virtualmachine;
  t.is(vm(a1).state, 'Running');
  t.is(vm(a1).hostid, host1.hostId);
  t.is(vm(a2).hostid, host2.hostId);
  t.is(vm(b1).nic[0].ipaddress, '10.77.0.50');

  const ns = (h: typeof h1, j: any) => h!.driver.names.vmNamespace(vm(j).instancename);
  const a2ip = vm(a2).nic[0].ipaddress;
  // a1 (host1) → a2 (host2): the same network, across the fabric
  const ping = await lab.tryExec(ns(h1, a1), ['ping', '-c', '2', '-W', '2', a2ip]);
  t.is(ping.code, 0, ping.stdout + ping.stderr);
  const http = await lab.tryExec(ns(h1, a1), ['curl', '-sS', '--max-time', '5', `http://${a2ip}/`]);
  t.is(http.code, 0, http.stderr);
  t.is(http.stdout.trim(), 'a2');
  // a1 → b1's address: another VNI, unreachable although the subnet is the same
  const blocked = await lab.tryExec(ns(h1, a1), ['ping', '-c', '2', '-W', '1', '10.77.0.50']);
  t.not(blocked.code, 0);
  const nics = await cloud.admin.ok('listNics', { virtualmachineid: vm(a1).id });
  t.is(nics.nic[0].networkid, netA);

  // destroying removes every object of the VM on its host
  const d = await cloud.admin.job('destroyVirtualMachine', { id: vm(a2).id, expunge: true });
  t.is(d.jobstatus, 1, JSON.stringify(d.jobresult));
  const left = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  t.false(left.includes(ns(h2, a2)), 'the VM namespace is gone');
  const links = execFileSync('ip', ['netns', 'exec', h2!.hostNs, 'ip', '-o', 'link'], { encoding: 'utf8' });
  t.false(links.includes(h2!.driver.names.vethStem(vm(a2).instancename)), 'its veth is gone');
});

kernelTest('a lost agent marks its host Disconnected; on return it reconciles VMs and strays', async (t) => {
  const lab = Lab.create(t, 'rec');
  const cloud = await startCloud(t);
  const z = await createZone(cloud.admin);
  const [h1] = await netnsHosts(lab, 1);
  const host = await addHost(t, cloud, z, { name: 'host1', driver: h1!.driver, tag: h1!.tag, hostNs: h1!.hostNs });
  const net = await sharedNetwork(cloud, z, 'net', 6300, '10.78.0');
  const keep = (await deploy(cloud, z, { name: 'keep', networkids: net })).jobresult.virtualmachine;
  const gone = (await deploy(cloud, z, { name: 'gone', networkids: net })).jobresult.virtualmachine;

  await host.agent.stop();
  await waitFor(async () => (await cloud.admin.ok('listHosts', { id: host.hostId })).host[0].state === 'Disconnected', 'host Disconnected', 15_000);
  // While it is away: one VM is destroyed in the manager (the host still has it: a stray on
  // return), and the other VM's namespace dies on the host (it must be restarted on return).
  const d = await cloud.admin.job('destroyVirtualMachine', { id: gone.id, expunge: true });
  t.is(d.jobstatus, 1);
  await h1!.driver.destroyVm({ name: keep.instancename });
  t.false(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).includes(h1!.driver.names.vmNamespace(keep.instancename)));

  const { Agent } = await import('@flotilla/agent');
  const again = new Agent({ url: cloud.wsUrl, token: host.token, driver: h1!.driver, hostName: 'host1', backoff: { initialMs: 100, maxMs: 1000 } });
  t.teardown(() => again.stop());
  again.start();
  await waitFor(async () => (await cloud.admin.ok('listHosts', { id: host.hostId })).host[0].state === 'Up', 'host Up again');
  await waitFor(async () => {
    const st = await h1!.driver.listState({});
    return st.vms.some((v) => v.name === keep.instancename && v.state === 'Running') && !st.vms.some((v) => v.name === gone.instancename);
  }, 'reconciliation', 30_000);
  const http = await lab.tryExec(h1!.driver.names.vmNamespace(keep.instancename), ['curl', '-sS', '--max-time', '5', `http://${keep.nic[0].ipaddress}/`]);
  t.is(http.stdout.trim(), 'keep');
});

kernelTest('refused deployments leave nothing behind: full host, maintenance, missing template or network', async (t) => {
  const lab = Lab.create(t, 'bad');
  const cloud = await startCloud(t);
  const z = await createZone(cloud.admin);
  const [h1] = await netnsHosts(lab, 1);
  const host = await addHost(t, cloud, z, { name: 'host1', driver: h1!.driver, tag: h1!.tag, hostNs: h1!.hostNs });
  const net = await sharedNetwork(cloud, z, 'net', 6400, '10.79.0');
  const vmNamespaces = () => execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').filter((l) => l.startsWith(h1!.driver.names.vmPrefix()));
  const countVms = async () => (await cloud.admin.ok('listVirtualMachines', { listall: true })).count ?? 0;

  // a service offering bigger than the host (8 GiB, 4 × 2000 MHz)
  const big = (await cloud.admin.ok('createServiceOffering', { name: 'huge', displaytext: 'huge', cpunumber: 8, cpuspeed: 2000, memory: 65536 })).serviceoffering;
  const tpl = (await cloud.admin.ok('listTemplates', { templatefilter: 'featured', name: 'Flotilla netns guest' })).template[0];
  const full = await cloud.admin.job('deployVirtualMachine', { zoneid: z.zoneId, serviceofferingid: big.id, templateid: tpl.id, networkids: net });
  t.is(full.jobstatus, 2);
  t.is(full.jobresult.errorcode, 533);
  t.regex(full.jobresult.errortext, /not enough (CPU|memory)/);
  // The planner reads the overprovisioning factors: with them the same VM fits.
  await cloud.admin.ok('updateConfiguration', { name: 'cpu.overprovisioning.factor', value: '2' });
  await cloud.admin.ok('updateConfiguration', { name: 'mem.overprovisioning.factor', value: '8.5' });
  const fits = await cloud.admin.job('deployVirtualMachine', { zoneid: z.zoneId, serviceofferingid: big.id, templateid: tpl.id, networkids: net, name: 'big' });
  t.is(fits.jobstatus, 1, JSON.stringify(fits.jobresult));
  await cloud.admin.jobOk('destroyVirtualMachine', { id: fits.jobresult.virtualmachine.id, expunge: true });
  await cloud.admin.ok('updateConfiguration', { name: 'cpu.overprovisioning.factor', value: '1' });
  await cloud.admin.ok('updateConfiguration', { name: 'mem.overprovisioning.factor', value: '1' });

  const so = (await cloud.admin.ok('listServiceOfferings', { name: 'Small Instance' })).serviceoffering[0];
  // A missing id is refused by the dispatcher's one check, at once and before any job (decision 0900).
  const noTpl = await cloud.admin.call('deployVirtualMachine', { zoneid: z.zoneId, serviceofferingid: so.id, templateid: '00000000-0000-4000-8000-000000000000', networkids: net });
  t.is(noTpl.status, 431);
  t.regex(noTpl.body.errortext, /Invalid parameter templateid value=\S+ due to incorrect long value format, or entity does not exist/);
  const noNet = await cloud.admin.call('deployVirtualMachine', { zoneid: z.zoneId, serviceofferingid: so.id, templateid: tpl.id, networkids: '00000000-0000-4000-8000-000000000000' });
  t.is(noNet.status, 431);
  t.regex(noNet.body.errortext, /Invalid parameter networkids value=\S+ due to incorrect long value format, or entity does not exist/);

  const maint = await cloud.admin.job('prepareHostForMaintenance', { id: host.hostId });
  t.is(maint.jobstatus, 1, JSON.stringify(maint.jobresult));
  t.is(maint.jobresult.host.resourcestate, 'Maintenance');
  const inMaint = await deploy(cloud, z, { name: 'y', networkids: net });
  t.is(inMaint.jobresult.errorcode, 533);
  t.regex(inMaint.jobresult.errortext, /resource state Maintenance/);

  t.is(await countVms(), 0);
  t.deepEqual(vmNamespaces(), [], 'no VM namespace was left behind');
  const st = await h1!.driver.listState({});
  t.deepEqual(st.vms, []);
  t.deepEqual(st.networks, [], 'networks are released once no VM uses them');
});
