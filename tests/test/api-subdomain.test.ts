// subdomainaccess of shared networks (CloudStack's isNetworkAvailableInDomain): false keeps a
// domain's shared network to accounts of that very domain; true (the default) opens it to its
// subdomains too. A user of a child domain deploys (cs CLI) and lists accordingly.
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
    t.is(refused.queryasyncjobresultresponse?.jobresult?.errorcode ?? refused.errorcode, 531, JSON.stringify(refused));
    t.is((await deploy(kid, open.id, 'k2')).virtualmachine.state, 'Running');
    t.is((await deploy(rooted, closed.id, 'r1')).virtualmachine.state, 'Running', 'accounts of the network\'s own domain use it');
    t.is((await kid.ok('listVirtualMachines', {})).count, 1, 'the refused deploy left nothing');
  });
}
