// The isolated-network world kernel tests share (moved out of router.test.ts so other test files
// can use it without importing, and so re-registering, that file's tests): a manager, a zone, one
// netns host running the real router appliance, an uplink namespace; tenants, an isolated
// offering, deploys, and what a guest sees.
import type { ExecutionContext } from 'ava';
import { Lab } from './lab.ts';
import { addHost, addUplink, createZone, netnsHosts, startCloud, waitFor, type Cloud, type Host, type Zone } from './cloud.ts';
import { signedClient, type Api } from '@flotilla/manager/client';
import type { NetnsDriver } from '@flotilla/agent';
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

export interface World { lab: Lab; cloud: Cloud; z: Zone; driver: NetnsDriver; uplink: string; gateway: string; host: Host }

export async function world(t: ExecutionContext, tag: string, routerCheckMs?: number): Promise<World> {
  const lab = Lab.create(t, tag);
  const cloud = await startCloud(t, routerCheckMs ? { routerCheckMs } : {});
  const z = await createZone(cloud.admin);
  const [h1] = await netnsHosts(lab, 1);
  const host = await addHost(t, cloud, z, { name: 'host1', driver: h1!.driver, tag: h1!.tag, hostNs: h1!.hostNs });
  const up = await addUplink(lab, cloud, z, [h1!]);
  return { lab, cloud, z, driver: h1!.driver, uplink: up.ns, gateway: up.gateway, host };
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
