// Isolated networks end to end: through the API only (a tenant's signed client), then from
// inside the namespaces. The manager implements the network at the first deploy (VNI, source
// NAT IP, router system VM on a host running the real router appliance); guests get their
// reserved address by busybox udhcpc, resolve each other through the router's DNS, and reach a
// server in the uplink namespace through source NAT.
import test from 'ava';
import { kernelTestsUnavailable } from '../src/lab.ts';
import { waitFor } from '../src/cloud.ts';
import { Agent } from '@flotilla/agent';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

const skip = kernelTestsUnavailable();
const kernelTest = skip ? test.skip : test.serial;
export { ask, blocked, deploy, echoPeer, isolatedOffering, leased, nsOf, tenant, world, type World } from '../src/router-world.ts';
import { ask, blocked, deploy, echoPeer, isolatedOffering, leased, nsOf, tenant, world } from '../src/router-world.ts';

kernelTest('isolated network: implemented at first deploy, guests lease by DHCP, resolve each other, reach the uplink through source NAT', async (t) => {
  const w = await world(t, 'rtr');
  const { api } = await tenant(w.cloud, 'alice');
  const offering = await isolatedOffering(w.cloud, 'iso-allow', true);
  const net = (await api.ok('createNetwork', { name: 'net1', zoneid: w.z.zoneId, networkofferingid: offering })).network;
  t.is(net.state, 'Allocated');
  t.is(net.type, 'Isolated');
  t.is(net.cidr, '10.1.0.0/16');
  t.is(net.gateway, '10.1.0.1');

  // Two deploys at once into the Allocated network: it is implemented once, one router.
  const [vm1, vm2] = await Promise.all([deploy(w, api, 'vm1', net.id), deploy(w, api, 'vm2', net.id)]);
  t.not(vm1.nic[0].ipaddress, vm2.nic[0].ipaddress);
  t.truthy(vm1.password, 'a password-enabled template gets a password at deploy');
  const implemented = (await api.ok('listNetworks', { id: net.id })).network[0];
  t.is(implemented.state, 'Implemented');
  const snat = (await api.ok('listPublicIpAddresses', { associatednetworkid: net.id, issourcenat: true })).publicipaddress[0];
  t.regex(snat.ipaddress, /^203\.0\.113\.\d+$/);

  // The manager records the applied generation when the appliance's answer (or its next report)
  // reaches it, a moment after the deploy's job ends.
  await waitFor(async () => { const [x] = (await w.cloud.admin.ok('listRouters', { networkid: net.id })).router; return x.appliedgeneration === x.generation; }, 'applied generation recorded', 15_000);
  const routers = (await w.cloud.admin.ok('listRouters', { networkid: net.id })).router;
  t.is(routers.length, 1);
  t.like(routers[0], { state: 'Running', publicip: snat.ipaddress, guestipaddress: '10.1.0.1', guestnetworkid: net.id, role: 'VIRTUAL_ROUTER', requiresupgrade: false });
  t.regex(routers[0].name, /^r-\d+-VM$/);
  t.regex(routers[0].linklocalip, /^169\.254\./);
  t.is(routers[0].appliedgeneration, routers[0].generation);
  // The tenant sees its own router's state, generation and health, not where it runs; another
  // tenant sees none; only admins act on routers or list them by host.
  const mine = (await api.ok('listRouters', { networkid: net.id })).router;
  t.like(mine[0], { id: routers[0].id, state: 'Running', generation: routers[0].generation, guestnetworkid: net.id });
  for (const k of ['hostid', 'hostname', 'podid', 'linklocalip']) t.is(mine[0][k], undefined, k);
  t.is((await api.call('listRouters', { hostid: routers[0].hostid })).status, 431);
  t.is((await api.call('stopRouter', { id: routers[0].id })).status, 432);
  const { api: eve } = await tenant(w.cloud, 'eve');
  t.deepEqual((await eve.ok('listRouters', {})).router ?? [], []);

  const ns1 = await nsOf(w, vm1.id);
  const ns2 = await nsOf(w, vm2.id);
  const ip1 = vm1.nic[0].ipaddress;
  const ip2 = vm2.nic[0].ipaddress;
  await leased(w, ns1, ip1);
  await leased(w, ns2, ip2);
  // Names through the router's DNS (search domain from DHCP).
  t.truthy(implemented.networkdomain);
  const look = await w.lab.exec(ns1, ['busybox', 'nslookup', `vm2.${implemented.networkdomain}`, '10.1.0.1']);
  t.true(look.stdout.includes(ip2), look.stdout);
  // Out through source NAT: the server sees the source NAT address.
  echoPeer(w, w.uplink, 9000);
  t.is(await ask(w, ns1, w.gateway, 9000), snat.ipaddress);
  t.is(await ask(w, ns2, w.gateway, 9000), snat.ipaddress);
  const fw = await w.cloud.admin.ok('listRouters', { networkid: net.id, fetchhealthcheckresults: true });
  t.true(fw.router[0].healthcheckresults.length > 0);
  t.false(fw.router[0].healthchecksfailed, JSON.stringify(fw.router[0].healthcheckresults));

  // Router lifecycle: stop (no way out), start and reboot (the same router, back with its spec).
  const r = routers[0];
  t.is((await w.cloud.admin.jobOk('stopRouter', { id: r.id })).router.state, 'Stopped');
  t.true(await blocked(w, ns1, w.gateway, 9000));
  // A stopped router cannot be stopped again or rebooted: 431 at once, no job.
  for (const cmd of ['stopRouter', 'rebootRouter']) {
    const refused = await w.cloud.admin.call(cmd, { id: r.id });
    t.is(refused.status, 431, cmd);
    t.is(refused.body.jobid, undefined, cmd);
  }
  t.is((await w.cloud.admin.jobOk('startRouter', { id: r.id })).router.state, 'Running');
  t.is(await ask(w, ns1, w.gateway, 9000), snat.ipaddress);
  const rebooted = (await w.cloud.admin.jobOk('rebootRouter', { id: r.id })).router;
  t.like(rebooted, { id: r.id, state: 'Running', publicip: snat.ipaddress });
  t.is(await ask(w, ns2, w.gateway, 9000), snat.ipaddress);
  // updateNetwork renames; restartNetwork without cleanup re-applies the same generation.
  t.is((await api.jobOk('updateNetwork', { id: net.id, name: 'renamed' })).network.name, 'renamed');
  await api.jobOk('restartNetwork', { id: net.id });
  t.is(await ask(w, ns1, w.gateway, 9000), snat.ipaddress);

  // deleteNetwork: refused while VMs use it; then the router and the addresses go with it.
  t.is((await api.job('deleteNetwork', { id: net.id })).jobresult.errorcode, 536);
  for (const v of [vm1, vm2]) await api.jobOk('destroyVirtualMachine', { id: v.id, expunge: true });
  await api.jobOk('deleteNetwork', { id: net.id });
  t.deepEqual(await w.cloud.admin.ok('listRouters', { listall: true }), {});
  t.deepEqual(await api.ok('listPublicIpAddresses', {}), {});
  t.false((await w.driver.listState({})).vms.some((v) => v.name === r.name), 'the router VM is gone from its host');
});

kernelTest('port forwarding from the rule\'s CIDR only, static NAT, firewall rules that open and close with counters; conflicts 537; another tenant can neither see nor change them nor reach the network', async (t) => {
  const w = await world(t, 'rul');
  const { api } = await tenant(w.cloud, 'alice');
  const offering = await isolatedOffering(w.cloud, 'iso-allow', true);
  const net = (await api.ok('createNetwork', { name: 'net1', zoneid: w.z.zoneId, networkofferingid: offering })).network;
  const vm1 = await deploy(w, api, 'vm1', net.id);
  const vm2 = await deploy(w, api, 'vm2', net.id);
  const ns2 = await nsOf(w, vm2.id);
  await leased(w, ns2, vm2.nic[0].ipaddress);
  const snat = (await api.ok('listPublicIpAddresses', { associatednetworkid: net.id, issourcenat: true })).publicipaddress[0];
  // A second outside address in the uplink, outside the rule's CIDR.
  await w.lab.exec(w.uplink, ['ip', 'addr', 'add', '203.0.113.2/24', 'dev', 'br0']);
  const http = (from: string, url: string) => w.lab.tryExec(w.uplink, ['curl', '-sS', '--max-time', '2', '--interface', from, url], { timeoutMs: 5000 });

  // Port forwarding: source NAT IP :8080 → vm1:80, only from 203.0.113.1/32.
  const pf = await api.jobOk('createPortForwardingRule', { ipaddressid: snat.id, protocol: 'tcp', publicport: 8080, privateport: 80, virtualmachineid: vm1.id, cidrlist: '203.0.113.1/32' });
  t.like(pf.portforwardingrule, { publicport: '8080', privateport: '80', protocol: 'tcp', virtualmachineid: vm1.id, cidrlist: '203.0.113.1/32', state: 'Active' });
  t.is((await http('203.0.113.1', `http://${snat.ipaddress}:8080/`)).stdout.trim(), 'vm1');
  t.not((await http('203.0.113.2', `http://${snat.ipaddress}:8080/`)).stdout.trim(), 'vm1', 'outside the rule\'s CIDR nothing answers');
  const pfList = (await api.ok('listPortForwardingRules', { ipaddressid: snat.id })).portforwardingrule;
  t.is(pfList.length, 1);
  t.true(pfList[0].packets >= 1, JSON.stringify(pfList[0]));
  // An overlapping forward on the same IP and protocol is a conflict.
  const dup = await api.job('createPortForwardingRule', { ipaddressid: snat.id, protocol: 'tcp', publicport: 8080, privateport: 81, virtualmachineid: vm2.id });
  t.is(dup.jobresult.errorcode, 537, JSON.stringify(dup.jobresult));

  // Static NAT: a new IP, one-to-one to vm2, filtered by its firewall rules.
  const pub2 = (await api.jobOk('associateIpAddress', { networkid: net.id })).ipaddress;
  t.false(pub2.issourcenat);
  await api.ok('enableStaticNat', { ipaddressid: pub2.id, virtualmachineid: vm2.id });
  const listed = (await api.ok('listPublicIpAddresses', { id: pub2.id })).publicipaddress[0];
  t.like(listed, { isstaticnat: true, virtualmachineid: vm2.id, vmipaddress: vm2.nic[0].ipaddress });
  t.true(await blocked(w, w.uplink, pub2.ipaddress, 80), 'closed until a firewall rule opens it');
  const fw = (await api.jobOk('createFirewallRule', { ipaddressid: pub2.id, protocol: 'tcp', startport: 80, endport: 80, cidrlist: '0.0.0.0/0' })).firewallrule;
  t.is((await http('203.0.113.2', `http://${pub2.ipaddress}/`)).stdout.trim(), 'vm2');
  t.is((await http('203.0.113.1', `http://${pub2.ipaddress}/`)).stdout.trim(), 'vm2');
  const counted = (await api.ok('listFirewallRules', { ipaddressid: pub2.id })).firewallrule[0];
  t.is(counted.id, fw.id);
  t.true(counted.packets >= 2, JSON.stringify(counted));
  t.true(await blocked(w, w.uplink, pub2.ipaddress, 22), 'other ports stay closed');
  // vm2 leaves through its static NAT address, not the source NAT one.
  echoPeer(w, w.uplink, 9000);
  t.is(await ask(w, ns2, w.gateway, 9000), pub2.ipaddress);
  // Conflicts: an overlapping firewall rule; port forwarding on a static NAT IP.
  const over = await api.job('createFirewallRule', { ipaddressid: pub2.id, protocol: 'tcp', startport: 70, endport: 90, cidrlist: '0.0.0.0/0' });
  t.is(over.jobresult.errorcode, 537, JSON.stringify(over.jobresult));
  const pfOnNat = await api.job('createPortForwardingRule', { ipaddressid: pub2.id, protocol: 'tcp', publicport: 2222, privateport: 22, virtualmachineid: vm2.id });
  t.is(pfOnNat.jobresult.errorcode, 537, JSON.stringify(pfOnNat.jobresult));
  t.is((await api.ok('listFirewallRules', { ipaddressid: pub2.id })).firewallrule.length, 1, 'refused rules left nothing behind');

  // Another tenant: sees none of it, changes none of it, cannot reach the network.
  const bob = await tenant(w.cloud, 'bob');
  t.deepEqual(await bob.api.ok('listFirewallRules', {}), {});
  t.deepEqual(await bob.api.ok('listPortForwardingRules', {}), {});
  t.deepEqual(await bob.api.ok('listPublicIpAddresses', {}), {});
  t.is((await bob.api.call('listFirewallRules', { ipaddressid: pub2.id })).status, 531);
  // Refused by the dispatcher's ownership check, before any job is queued.
  t.is((await bob.api.call('deleteFirewallRule', { id: fw.id })).status, 531);
  t.is((await bob.api.call('createFirewallRule', { ipaddressid: pub2.id, protocol: 'tcp', startport: 22, endport: 22 })).status, 531);
  t.is((await bob.api.call('deletePortForwardingRule', { id: pf.portforwardingrule.id })).status, 531);
  t.is((await bob.api.call('enableStaticNat', { ipaddressid: snat.id, virtualmachineid: vm1.id })).status, 531);
  const bobOff = (await bob.api.ok('listNetworkOfferings', { name: 'iso-allow' })).networkoffering[0];
  const bobNet = (await bob.api.ok('createNetwork', { name: 'bobnet', zoneid: w.z.zoneId, networkofferingid: bobOff.id, gateway: '10.2.0.1', netmask: '255.255.255.0' })).network;
  const bvm = await deploy(w, bob.api, 'bvm', bobNet.id);
  const bns = await nsOf(w, bvm.id);
  await leased(w, bns, bvm.nic[0].ipaddress);
  t.is(await ask(w, bns, w.gateway, 9000), (await bob.api.ok('listPublicIpAddresses', { issourcenat: true })).publicipaddress[0].ipaddress, 'bob\'s VM is up and out');
  t.true(await blocked(w, bns, vm1.nic[0].ipaddress, 80), 'alice\'s VM is unreachable from bob\'s network');
  const intrude = await bob.api.call('deployVirtualMachine', { zoneid: w.z.zoneId, networkids: net.id, serviceofferingid: vm1.serviceofferingid, templateid: vm1.templateid });
  t.is(intrude.status, 531, 'bob cannot deploy into alice\'s network');

  // Closing: the firewall rule goes, the port closes; disabling static NAT frees the IP's VM.
  await api.jobOk('deleteFirewallRule', { id: fw.id });
  t.true(await blocked(w, w.uplink, pub2.ipaddress, 80), 'closed again');
  await api.jobOk('disableStaticNat', { ipaddressid: pub2.id });
  t.is(await ask(w, ns2, w.gateway, 9000), snat.ipaddress, 'back to source NAT');
  await api.jobOk('deletePortForwardingRule', { id: pf.portforwardingrule.id });
  t.not((await http('203.0.113.1', `http://${snat.ipaddress}:8080/`)).stdout.trim(), 'vm1');
});

kernelTest('egress under the deny-by-default offering, user data, metadata and passwords from the router; destroyRouter + restartNetwork and a router dying behind the manager\'s back come back identical, renewals ACKed', async (t) => {
  const w = await world(t, 'egr', 1000);
  const { api } = await tenant(w.cloud, 'carol');
  const off = (await api.ok('listNetworkOfferings', { name: 'DefaultIsolatedNetworkOfferingWithSourceNatService' })).networkoffering[0];
  t.false(off.egressdefaultpolicy, 'the default isolated offering denies egress by default');
  const net = (await api.ok('createNetwork', { name: 'net1', zoneid: w.z.zoneId, networkofferingid: off.id })).network;
  const userdata = '#cloud-config\nhostname: vm1\n';
  const vm1 = await deploy(w, api, 'vm1', net.id, { userdata: Buffer.from(userdata).toString('base64') });
  const ns1 = await nsOf(w, vm1.id);
  const ip1 = vm1.nic[0].ipaddress;
  await leased(w, ns1, ip1);
  const snat = (await api.ok('listPublicIpAddresses', { associatednetworkid: net.id, issourcenat: true })).publicipaddress[0];

  // Egress: nothing leaves until a rule names the destination; then only that destination.
  await w.lab.exec(w.uplink, ['ip', 'addr', 'add', '203.0.113.3/24', 'dev', 'br0']);
  echoPeer(w, w.uplink, 9000);
  echoPeer(w, w.uplink, 9001);
  t.true(await blocked(w, ns1, w.gateway, 9000), 'denied by default');
  const eg = (await api.jobOk('createEgressFirewallRule', { networkid: net.id, protocol: 'tcp', startport: 9000, endport: 9000, destcidrlist: '203.0.113.1/32' })).firewallrule;
  t.is(eg.destcidrlist, '203.0.113.1/32');
  t.is(await ask(w, ns1, w.gateway, 9000), snat.ipaddress);
  t.true(await blocked(w, ns1, w.gateway, 9001), 'another port of the destination stays closed');
  t.true(await blocked(w, ns1, '203.0.113.3', 9000), 'another destination stays closed');
  const egList = (await api.ok('listEgressFirewallRules', { networkid: net.id })).firewallrule;
  t.is(egList.length, 1);
  t.true(egList[0].packets >= 1, JSON.stringify(egList[0]));

  // User data and metadata over HTTP from the router; the password service (DomU_Request).
  const get = async (path: string, headers: string[] = []) => (await w.lab.exec(ns1, ['curl', '-sS', '--max-time', '5', ...headers.flatMap((h) => ['-H', h]), `http://10.1.0.1${path}`])).stdout;
  t.is(await get('/latest/user-data'), userdata);
  t.is((await get('/latest/meta-data/local-ipv4')).trim(), ip1);
  t.is((await get('/latest/meta-data/local-hostname')).trim(), 'vm1');
  t.is((await get('/latest/meta-data/public-ipv4')).trim(), snat.ipaddress);
  t.is((await get('/latest/meta-data/vm-id')).trim(), vm1.id);
  t.is((await get('/latest/meta-data/availability-zone')).trim(), 'e2e');
  t.is((await get(':8080/', ['DomU_Request: send_my_password'])).trim(), vm1.password);
  t.is((await get(':8080/', ['DomU_Request: saved_password'])).trim(), 'saved_password');
  t.is((await get(':8080/', ['DomU_Request: send_my_password'])).trim(), 'saved_password', 'served once');
  // updateVirtualMachine: new user data on the router at once.
  await api.ok('updateVirtualMachine', { id: vm1.id, userdata: Buffer.from('#!/bin/sh\necho v2\n').toString('base64'), displayname: 'first' });
  t.is(await get('/latest/user-data'), '#!/bin/sh\necho v2\n');
  // resetPasswordForVirtualMachine: stopped VM; the guest fetches the new one at its next boot.
  t.is((await api.job('resetPasswordForVirtualMachine', { id: vm1.id })).jobresult.errorcode, 431, 'a running VM is refused');
  await api.jobOk('stopVirtualMachine', { id: vm1.id });
  const reset = await api.jobOk('resetPasswordForVirtualMachine', { id: vm1.id });
  t.truthy(reset.virtualmachine.password);
  t.not(reset.virtualmachine.password, vm1.password);
  await api.jobOk('startVirtualMachine', { id: vm1.id });
  const ns1b = await nsOf(w, vm1.id);
  await leased(w, ns1b, ip1);
  t.is((await get(':8080/', ['DomU_Request: send_my_password'])).trim(), reset.virtualmachine.password);
  const gp = await api.call('getVMPassword', { id: vm1.id });
  t.is(gp.status, 431, 'no SSH key pair: nothing encrypted to return');

  // destroyRouter, then restartNetwork: a new router with the same rules, addresses and data.
  const before = (await w.cloud.admin.ok('listRouters', { networkid: net.id })).router[0];
  await w.cloud.admin.jobOk('destroyRouter', { id: before.id });
  t.deepEqual(await w.cloud.admin.ok('listRouters', { networkid: net.id }), {});
  t.true(await blocked(w, ns1, w.gateway, 9000), 'no router, no way out');
  await api.jobOk('restartNetwork', { id: net.id });
  const after = (await w.cloud.admin.ok('listRouters', { networkid: net.id })).router[0];
  t.not(after.id, before.id);
  t.like(after, { state: 'Running', publicip: snat.ipaddress, guestipaddress: '10.1.0.1' });
  t.is(await ask(w, ns1, w.gateway, 9000), snat.ipaddress, 'the egress rule is back');
  t.true(await blocked(w, ns1, w.gateway, 9001));
  t.is(await get('/latest/user-data'), '#!/bin/sh\necho v2\n');
  // The guest renews its lease with the new router: ACK, not NAK.
  // (the guest is a container: its DHCP client logs to its own /var/log, read through its root)
  const vm1Name = (await w.cloud.admin.ok('listVirtualMachines', { id: vm1.id, listall: true })).virtualmachine[0].instancename;
  const log = `/proc/${await w.driver.guestInit(vm1Name)}/root/var/log/udhcpc-eth0.log`;
  const renewals = async () => ((await readFile(log, 'utf8')).match(/obtained/g) ?? []).length;
  const n0 = await renewals();
  // SIGUSR1 makes busybox udhcpc renew now (a unicast REQUEST to the router, as at T1).
  const [pid] = await w.driver.guestProcesses(vm1Name, ['udhcpc', '-i', 'eth0']);
  process.kill(pid!, 'SIGUSR1');
  await waitFor(async () => (await renewals()) > n0, 'lease renewal', 15_000);
  const text = await readFile(log, 'utf8');
  t.false(/NAK/i.test(text), text);
  const tail = text.trimEnd().split('\n').slice(-2);
  t.regex(tail[0]!, /sending renew to server 10\.1\.0\.1/, text);
  t.true(tail[1]!.toLowerCase().includes(`lease of ${ip1} obtained`), text);

  // A router that dies behind the manager's back is re-created, same name, same state.
  await w.driver.destroyVm({ name: after.name });
  await waitFor(async () => (await w.driver.listState({})).vms.some((v) => v.name === after.name && v.state === 'Running'), 'router re-created', 30_000);
  t.is(await ask(w, ns1, w.gateway, 9000), snat.ipaddress, 'rules back after re-creation');
  const again = (await w.cloud.admin.ok('listRouters', { networkid: net.id })).router[0];
  t.is(again.id, after.id);
  t.is(again.appliedgeneration, again.generation);
});

kernelTest('a host that reconnects without its router gets it back from the manager, with its spec', async (t) => {
  // The periodic check is slowed right down: only the reconnect (onConnect) path may act here.
  const w = await world(t, 'rcn', 600_000);
  const { api } = await tenant(w.cloud, 'dave');
  const offering = await isolatedOffering(w.cloud, 'iso-allow', true);
  const net = (await api.ok('createNetwork', { name: 'net1', zoneid: w.z.zoneId, networkofferingid: offering })).network;
  const vm = await deploy(w, api, 'vm1', net.id);
  const ns = await nsOf(w, vm.id);
  await leased(w, ns, vm.nic[0].ipaddress);
  const snat = (await api.ok('listPublicIpAddresses', { associatednetworkid: net.id, issourcenat: true })).publicipaddress[0];
  await api.jobOk('createPortForwardingRule', { ipaddressid: snat.id, protocol: 'tcp', publicport: 8080, privateport: 80, virtualmachineid: vm.id });
  const r = (await w.cloud.admin.ok('listRouters', { networkid: net.id })).router[0];

  await w.host.agent.stop();
  await waitFor(async () => (await w.cloud.admin.ok('listHosts', { id: w.host.hostId })).host[0].state === 'Disconnected', 'host Disconnected', 15_000);
  await w.driver.destroyVm({ name: r.name });
  const again = new Agent({ url: w.cloud.wsUrl, token: w.host.token, driver: w.driver, hostName: 'host1', backoff: { initialMs: 100, maxMs: 1000 } });
  t.teardown(() => again.stop());
  again.start();
  await waitFor(async () => (await w.driver.listState({})).vms.some((v) => v.name === r.name && v.state === 'Running'), 'router re-created on reconnect', 30_000);
  const http = async () => (await w.lab.tryExec(w.uplink, ['curl', '-sS', '--max-time', '2', `http://${snat.ipaddress}:8080/`], { timeoutMs: 5000 })).stdout.trim();
  await waitFor(async () => (await http()) === 'vm1', 'port forward back', 15_000);
  // The rules go live when the appliance commits them; the manager records the generation when
  // the appliance's answer reaches it, a moment later.
  const routerNow = async () => (await w.cloud.admin.ok('listRouters', { networkid: net.id })).router[0];
  await waitFor(async () => { const x = await routerNow(); return x.appliedgeneration === x.generation; }, 'applied generation recorded', 10_000);
  t.like(await routerNow(), { id: r.id, state: 'Running' });
  echoPeer(w, w.uplink, 9000);
  t.is(await ask(w, ns, w.gateway, 9000), snat.ipaddress);
});
