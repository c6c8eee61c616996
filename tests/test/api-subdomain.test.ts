// subdomainaccess of shared networks (CloudStack's isNetworkAvailableInDomain): false keeps a
// domain's shared network to accounts of that very domain; true (the default) opens it to its
// subdomains too. A user of a child domain deploys (cs CLI) and lists accordingly; so does the
// root admin deploying for that user's account (the VM's owner decides, as in CloudStack).
import test from 'ava';
import { signedClient } from '@flotilla/manager/client';
import { DIALECTS, cloudOn, csCli, simZone } from '../src/clients.ts';

for (const dialect of DIALECTS) {
  test(`a shared network with subdomainaccess=false is refused to subdomain accounts; true lets them in [${dialect}]`, async (t) => {
    const cloud = await cloudOn(t, dialect);
    const admin = cloud.admin;
    const z = await simZone(t, cloud, 'sub');
    const child = (await admin.ok('createDomain', { name: 'child' })).domain;
    const off = (await admin.ok('listNetworkOfferings', { name: 'DefaultSharedNetworkOffering' })).networkoffering[0];
    const shared = (name: string, vni: number, third: number, sub: boolean) => admin.ok('createNetwork', {
      name, zoneid: z.zoneId, networkofferingid: off.id, vlan: `vxlan://${vni}`, gateway: `10.${third}.0.1`, netmask: '255.255.255.0',
      startip: `10.${third}.0.10`, endip: `10.${third}.0.99`, acltype: 'Domain', subdomainaccess: sub });
    const closed = (await shared('root-only', 4301, 51, false)).network;
    const open = (await shared('root-and-below', 4302, 52, true)).network;
    t.is(closed.subdomainaccess, false);

    const user = async (name: string, domainid?: string) => {
      const acc = (await admin.ok('createAccount', { username: name, account: name, password: `pw-${name}-1`, email: `${name}@example.org`, firstname: name, lastname: 'T', accounttype: 0, ...(domainid ? { domainid } : {}) })).account;
      const keys = (await admin.ok('registerUserKeys', { id: acc.user[0].id })).userkeys;
      return signedClient(cloud.url, keys.apikey, keys.secretkey);
    };
    const kid = await user('kid', child.id);
    const rooted = await user('rooted');
    const so = (await kid.ok('listServiceOfferings', { name: 'Small Instance' })).serviceoffering[0];
    const tpl = (await kid.ok('listTemplates', { templatefilter: 'featured', name: 'Flotilla netns guest' })).template[0];
    const deploy = (api: typeof kid, net: string, name: string) => csCli(api, ['deployVirtualMachine', `zoneid=${z.zoneId}`, `serviceofferingid=${so.id}`, `templateid=${tpl.id}`, `networkids=${net}`, `name=${name}`]);

    t.deepEqual((await kid.ok('listNetworks', {})).network.map((n: any) => n.name), ['root-and-below'], 'the child sees only the network open to subdomains');
    const refused = await deploy(kid, closed.id, 'k1');
    // Refused by the dispatcher's ownership check, before any job is queued.
    t.is(refused.deployvirtualmachineresponse?.errorcode ?? refused.errorcode, 531, JSON.stringify(refused));
    t.is((await deploy(kid, open.id, 'k2')).virtualmachine.state, 'Running');
    t.is((await deploy(rooted, closed.id, 'r1')).virtualmachine.state, 'Running', 'accounts of the network\'s own domain use it');
    t.is((await kid.ok('listVirtualMachines', {})).count, 1, 'the refused deploy left nothing');

    // The VM's owner counts, not only the caller: the root admin deploying FOR the child's
    // account is refused the closed network too (CloudStack's checkNetworkPermissions(owner)),
    // and may deploy it into the open one.
    const forKid = (net: string, name: string) => admin.job('deployVirtualMachine', { zoneid: z.zoneId, serviceofferingid: so.id, templateid: tpl.id, networkids: net, name, account: 'kid', domainid: child.id });
    const refusedFor = await forKid(closed.id, 'k3');
    t.is(refusedFor.jobstatus, 2, JSON.stringify(refusedFor));
    t.is(refusedFor.jobresult.errorcode, 531);
    t.regex(refusedFor.jobresult.errortext, /Account kid does not have permission to access network/);
    const allowedFor = await forKid(open.id, 'k4');
    t.is(allowedFor.jobstatus, 1, JSON.stringify(allowedFor.jobresult));
    t.is(allowedFor.jobresult.virtualmachine.account, 'kid');
    t.is((await kid.ok('listVirtualMachines', {})).count, 2, 'only the allowed deploy made a VM for the child');
    // The root admin's own VM may go anywhere.
    t.is((await admin.job('deployVirtualMachine', { zoneid: z.zoneId, serviceofferingid: so.id, templateid: tpl.id, networkids: closed.id, name: 'root1' })).jobstatus, 1);
  });
}
