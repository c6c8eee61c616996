// Isolated networks end to end: through the API only (a tenant's signed client), then from
// inside the namespaces. The manager implements the network at the first deploy (VNI, source
// NAT IP, router system VM on a host running the real router appliance); guests get their
// reserved address by busybox udhcpc, resolve each other through the router's DNS, and reach a
// server in the uplink namespace through source NAT.
import test, { type ExecutionContext } from 'ava';
import { Lab, kernelTestsUnavailable } from '../src/lab.ts';
import { addHost, addUplink, createZone, netnsHosts, startCloud, waitFor, type Cloud, type Zone } from '../src/cloud.ts';
import { signedClient, type Api } from '@flotilla/manager/client';
import type { NetnsDriver } from '@flotilla/agent';

const skip = kernelTestsUnavailable();
const kernelTest = skip ? test.skip : test.serial;

export async function tenant(cloud: Cloud, name: string): Promise<{ api: Api; accountId: string }> {
  const acc = (await cloud.admin.ok('createAccount', {
    username: name, account: name, password: `pw-${name}-1`, email: `${name}@example.org`, firstname: name, lastname: 'Tenant', accounttype: 0,
  })).account;
  const keys = (await cloud.admin.ok('registerUserKeys', { id: acc.user[0].id })).userkeys;
  return { api: signedClient(cloud.url, keys.apikey, keys.secretkey), accountId: acc.id };
}

/** An isolated offering with source NAT, static NAT, port forwarding and firewall; egress as asked. */
export async function isolatedOffering(cloud: Cloud, name: string, egressAllow: boolean): Promise<string> {
  const services = ['Dhcp', 'Dns', 'UserData', 'Firewall', 'SourceNat', 'StaticNat', 'PortForwarding'];
  const params: Record<string, string | boolean> = {
    name, displaytext: name, guestiptype: 'Isolated', traffictype: 'Guest', supportedservices: services.join(','), egressdefaultpolicy: egressAllow, enable: true,
  };
  services.forEach((s, i) => { params[`serviceproviderlist[${i}].service`] = s; params[`serviceproviderlist[${i}].provider`] = 'VirtualRouter'; });
  return (await cloud.admin.ok('createNetworkOffering', params)).networkoffering.id;
}

export interface World { lab: Lab; cloud: Cloud; z: Zone; driver: NetnsDriver; uplink: string; gateway: string }

export async function world(t: ExecutionContext, tag: string): Promise<World> {
  const lab = Lab.create(t, tag);
  const cloud = await startCloud(t);
  const z = await createZone(cloud.admin);
  const [h1] = await netnsHosts(lab, 1);
  await addHost(t, cloud, z, { name: 'host1', driver: h1!.driver, tag: h1!.tag, hostNs: h1!.hostNs });
  const up = await addUplink(lab, cloud, z, [h1!]);
  return { lab, cloud, z, driver: h1!.driver, uplink: up.ns, gateway: up.gateway };
}

export async function deploy(w: World, api: Api, name: string, networkid: string, extra: Record<string, string> = {}) {
  const so = (await api.ok('listServiceOfferings', { name: 'Small Instance' })).serviceoffering[0];
  const tpl = (await api.ok('listTemplates', { templatefilter: 'featured', name: 'Flotilla netns guest' })).template[0];
  const j = await api.job('deployVirtualMachine', { zoneid: w.z.zoneId, serviceofferingid: so.id, templateid: tpl.id, networkids: networkid, name, ...extra }, 120_000);
  if (j.jobstatus !== 1) throw new Error(`deploy ${name}: ${JSON.stringify(j.jobresult)}`);
  return j.jobresult.virtualmachine;
}

/** The VM's namespace (instance names are shown to admins only). */
export async function nsOf(w: World, vmId: string): Promise<string> {
  const v = (await w.cloud.admin.ok('listVirtualMachines', { id: vmId, listall: true })).virtualmachine[0];
  return w.driver.names.vmNamespace(v.instancename);
}

/** Waits until the guest's DHCP client has put `ip` on eth0. */
export async function leased(w: World, ns: string, ip: string): Promise<void> {
  await waitFor(async () => (await w.lab.exec(ns, ['ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0'])).stdout.includes(`inet ${ip}/`), `DHCP lease ${ip} in ${ns}`, 30_000);
}

/** A TCP server in a namespace answering each connection with the address it sees. */
export function echoPeer(w: World, ns: string, port: number): void {
  w.lab.spawn(ns, ['socat', `TCP-LISTEN:${port},reuseaddr,fork`, 'SYSTEM:echo $SOCAT_PEERADDR']);
}
export async function ask(w: World, ns: string, host: string, port: number, timeoutMs = 15_000): Promise<string> {
  let last = '';
  await waitFor(async () => {
    const r = await w.lab.tryExec(ns, ['socat', '-T', '2', '-', `TCP:${host}:${port},connect-timeout=2`], { timeoutMs: 5000 });
    last = r.stdout.trim();
    return last !== '';
  }, `${host}:${port} from ${ns}`, timeoutMs);
  return last;
}
/** True when a TCP connection from ns to host:port does not get through within 2 s. */
export async function blocked(w: World, ns: string, host: string, port: number): Promise<boolean> {
  const r = await w.lab.tryExec(ns, ['socat', '-T', '2', '-', `TCP:${host}:${port},connect-timeout=2`], { timeoutMs: 5000 });
  return r.stdout.trim() === '';
}

kernelTest('isolated network: implemented at first deploy, guests lease by DHCP, resolve each other, reach the uplink through source NAT', async (t) => {
  const w = await world(t, 'rtr');
  const { api } = await tenant(w.cloud, 'alice');
  const offering = await isolatedOffering(w.cloud, 'iso-allow', true);
  const net = (await api.ok('createNetwork', { name: 'net1', zoneid: w.z.zoneId, networkofferingid: offering })).network;
  t.is(net.state, 'Allocated');
  t.is(net.type, 'Isolated');
  t.is(net.cidr, '10.1.0.0/16');
  t.is(net.gateway, '10.1.0.1');

  const vm1 = await deploy(w, api, 'vm1', net.id);
  const vm2 = await deploy(w, api, 'vm2', net.id);
  t.truthy(vm1.password, 'a password-enabled template gets a password at deploy');
  const implemented = (await api.ok('listNetworks', { id: net.id })).network[0];
  t.is(implemented.state, 'Implemented');
  const snat = (await api.ok('listPublicIpAddresses', { associatednetworkid: net.id, issourcenat: true })).publicipaddress[0];
  t.regex(snat.ipaddress, /^203\.0\.113\.\d+$/);

  const routers = (await w.cloud.admin.ok('listRouters', { networkid: net.id })).router;
  t.is(routers.length, 1);
  t.like(routers[0], { state: 'Running', publicip: snat.ipaddress, guestipaddress: '10.1.0.1', guestnetworkid: net.id, role: 'VIRTUAL_ROUTER', requiresupgrade: false });
  t.regex(routers[0].name, /^r-\d+-VM$/);
  t.regex(routers[0].linklocalip, /^169\.254\./);
  t.is(routers[0].appliedgeneration, routers[0].generation);
  // A user may not list routers (root and domain admins only, as in CloudStack).
  t.is((await api.call('listRouters', {})).status, 432);

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
});
