// A guest container that runs out of memory, end to end: deployed through the API on a real
// agent with the netns driver (runc), a process in it allocating past its offering's memory is
// OOM-killed inside its container; the manager's VM sync records the VM Stopped (its remains on
// the host removed), the neighbour VM keeps answering, and the VM starts again. With HA on its
// offering the manager starts it again by itself.
import test from 'ava';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { Lab, kernelTestsUnavailable } from '../src/lab.ts';
import { addHost, createZone, netnsHosts, startCloud, waitFor } from '../src/cloud.ts';

const skip = kernelTestsUnavailable();
const kernelTest = skip ? test.skip : test.serial;

/** Types a line on a VM's console pty (the container's terminal) and leaves it running. */
function typeOnConsole(path: string, line: string): () => void {
  const child = spawn('socat', ['-', `${path},rawer`], { stdio: ['pipe', 'ignore', 'ignore'] });
  child.stdin.write(`${line}\n`);
  return () => child.kill('SIGKILL');
}

kernelTest('a guest that exceeds its memory is OOM-killed in its container and recorded Stopped; the neighbour is untouched; HA restarts', async (t) => {
  const lab = Lab.create(t, 'oom');
  const cloud = await startCloud(t, { vmCheckMs: 500 });
  const z = await createZone(cloud.admin);
  const [h1] = await netnsHosts(lab, 1);
  await addHost(t, cloud, z, { name: 'host1', driver: h1!.driver, tag: h1!.tag, hostNs: h1!.hostNs });
  const off = (await cloud.admin.ok('listNetworkOfferings', { name: 'DefaultSharedNetworkOffering' })).networkoffering[0];
  const net = (await cloud.admin.ok('createNetwork', {
    name: 'oomnet', zoneid: z.zoneId, networkofferingid: off.id, vlan: 'vxlan://6500', gateway: '10.81.0.1', netmask: '255.255.255.0', startip: '10.81.0.10', endip: '10.81.0.99',
  })).network.id;
  const tpl = (await cloud.admin.ok('listTemplates', { templatefilter: 'featured', name: 'Flotilla netns guest' })).template[0];
  const tiny = (await cloud.admin.ok('createServiceOffering', { name: 'tiny', displaytext: 'tiny', cpunumber: 1, cpuspeed: 500, memory: 32 })).serviceoffering;
  const tinyHa = (await cloud.admin.ok('createServiceOffering', { name: 'tiny-ha', displaytext: 'tiny HA', cpunumber: 1, cpuspeed: 500, memory: 32, offerha: true })).serviceoffering;
  const small = (await cloud.admin.ok('listServiceOfferings', { name: 'Small Instance' })).serviceoffering[0];
  const deploy = async (name: string, so: string) => (await cloud.admin.jobOk('deployVirtualMachine', { zoneid: z.zoneId, serviceofferingid: so, templateid: tpl.id, networkids: net, name }, 120_000)).virtualmachine;
  const hog = await deploy('hog', tiny.id);
  const calm = await deploy('calm', small.id);
  const answer = async (vm: { instancename: string; nic: Array<{ ipaddress: string }> }, from = calm.instancename) =>
    (await lab.tryExec(h1!.driver.names.vmNamespace(from), ['curl', '-sS', '--max-time', '3', `http://${vm.nic[0]!.ipaddress}/`])).stdout.trim();
  t.is(await answer(hog), 'hog');

  const consoleOf = async (name: string) => (await h1!.driver.vmState(name)).consoles.serial!;
  const hogNs = h1!.driver.names.vmNamespace(hog.instancename);
  const stop1 = typeOnConsole(await consoleOf(hog.instancename), 'x=$(head -c 100000000 /dev/zero | tr "\\0" x)');
  t.teardown(stop1);
  await waitFor(async () => (await cloud.admin.ok('listVirtualMachines', { id: hog.id })).virtualmachine[0].state === 'Stopped', 'hog Stopped', 30_000);
  stop1();
  // Its remains are gone from the host; the neighbour answers; the host's agent is fine.
  await waitFor(async () => !existsSync(`/run/netns/${hogNs}`), 'hog namespace removed', 10_000);
  t.is(await answer(calm, calm.instancename), 'calm');
  t.is((await cloud.admin.ok('listHosts', { zoneid: z.zoneId })).host[0].state, 'Up');
  // A stopped VM starts again.
  const again = await cloud.admin.jobOk('startVirtualMachine', { id: hog.id }, 120_000);
  t.is(again.virtualmachine.state, 'Running');
  t.is(await answer(hog), 'hog');

  // HA on the offering: the manager starts it again by itself.
  const ha = await deploy('hahog', tinyHa.id);
  const init1 = (await h1!.driver.listState({})).vms.find((v) => v.name === ha.instancename)!;
  t.is(init1.state, 'Running');
  const stop2 = typeOnConsole(init1.consoles.serial!, 'x=$(head -c 100000000 /dev/zero | tr "\\0" x)');
  t.teardown(stop2);
  // The VM is restarted: a fresh container (a new console relay) that answers again.
  const relay1 = (await h1!.driver.hostSidePids(ha.instancename))[0];
  t.truthy(relay1);
  await waitFor(async () => {
    const st = (await h1!.driver.listState({})).vms.find((v) => v.name === ha.instancename);
    const relay = (await h1!.driver.hostSidePids(ha.instancename))[0];
    return st?.state === 'Running' && relay !== undefined && relay !== relay1 && (await answer(ha)) === 'hahog';
  }, 'HA restart', 40_000);
  stop2();
  const vm = (await cloud.admin.ok('listVirtualMachines', { id: ha.id })).virtualmachine[0];
  t.is(vm.state, 'Running');
  t.is(await answer(ha), 'hahog');
});
