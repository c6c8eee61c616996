// Helpers of the LB end-to-end test (the same as router.test.ts's: importing that file would
// run its tests too).
import type { ExecutionContext } from 'ava';
import { Lab } from '../src/lab.ts';
import { addHost, addUplink, createZone, netnsHosts, startCloud, waitFor, type Cloud, type Host, type Zone } from '../src/cloud.ts';
import { signedClient, type Api } from '@flotilla/manager/client';
import type { NetnsDriver } from '@flotilla/agent';

export async function tenant(cloud: Cloud, name: string): Promise<{ api: Api; accountId: string }> {
  const acc = (await cloud.admin.ok('createAccount', {
    username: name, account: name, password: `pw-${name}-1`, email: `${name}@example.org`, firstname: name, lastname: 'Tenant', accounttype: 0,
  })).account;
  const keys = (await cloud.admin.ok('registerUserKeys', { id: acc.user[0].id })).userkeys;
  return { api: signedClient(cloud.url, keys.apikey, keys.secretkey), accountId: acc.id };
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

