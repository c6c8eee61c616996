// What CloudStack's own clients rely on beyond the shapes (issue 9, "semantics"): async creates
// answer {id, jobid} at once and the id is the created object's; openfirewall; the exact
// not-found text Terraform matches; errorresponse for unknown commands; uuidList objects; the
// account's default network when deployVirtualMachine has no networkids and associateIpAddress
// no networkid; a chosen public address; Boolean.parseBoolean. Driven by Debian's `cs` CLI and
// signed requests against a manager with a Simulator host, on both database dialects.
import test, { type ExecutionContext } from 'ava';
import { randomUUID } from 'node:crypto';
import type { Api } from '@flotilla/manager/client';
import type { Cloud } from '../src/cloud.ts';
import { cloudOn, csCli, simZone, tenant } from '../src/clients.ts';

const PG_URL = process.env.FLOTILLA_TEST_PG_URL;
const DIALECTS = PG_URL ? ['pglite', 'postgres'] as const : ['pglite'] as const;

/** Runs an async create; checks the immediate answer is {id, jobid} and that id is the created object's. */
async function createdAtOnce(t: ExecutionContext, api: Api, command: string, params: Record<string, string | number | boolean>, key: string): Promise<any> {
  const first = await api.ok(command, params);
  t.deepEqual(Object.keys(first).sort(), ['id', 'jobid'], `${command} answers {id, jobid} at once`);
  let q: any;
  for (let i = 0; i < 600; i++) {
    q = await api.ok('queryAsyncJobResult', { jobid: first.jobid });
    if (q.jobstatus !== 0) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  t.is(q.jobstatus, 1, `${command}: ${JSON.stringify(q.jobresult)}`);
  t.is(q.jobresult[key].id, first.id, `${command}: the immediate id is the created ${key}'s`);
  t.is(q.jobinstanceid, first.id);
  return q.jobresult[key];
}

for (const dialect of DIALECTS) {
  test(`async creates answer {id, jobid}; openfirewall; default networks; chosen public IP; CloudStack's not-found text, errorresponse, uuidList, booleans [${dialect}]`, async (t) => {
    const cloud = await cloudOn(t, dialect);
    const admin = cloud.admin;
    const z = await simZone(t, cloud, 'sem');
    // Admin async creates (the Terraform provider and cs_physical_network read the immediate id).
    const z2 = (await admin.ok('createZone', { name: 'sem2', networktype: 'Advanced', dns1: '192.0.2.53' })).zone;
    const pn = await createdAtOnce(t, admin, 'createPhysicalNetwork', { zoneid: z2.id, name: 'second', isolationmethods: 'VXLAN', vlan: '7000-7099' }, 'physicalnetwork');
    await createdAtOnce(t, admin, 'addTrafficType', { physicalnetworkid: pn.id, traffictype: 'Management' }, 'traffictype');

    const api = await tenant(cloud, 'sam');
    const eve = await tenant(cloud, 'eve');
    const cs = (args: string[]) => csCli(api, args);
    const so = (await api.ok('listServiceOfferings', { name: 'Small Instance' })).serviceoffering[0];
    const tpl = (await api.ok('listTemplates', { templatefilter: 'featured', name: 'Flotilla netns guest' })).template[0];

    // No isolated network in the zone yet: associateIpAddress without networkid says so.
    const noNet = await api.call('associateIpAddress', { zoneid: z.zoneId });
    t.is(noNet.status, 200);
    const noNetJob = await api.job('associateIpAddress', { zoneid: z.zoneId });
    t.is(noNetJob.jobresult.errorcode, 431);
    t.regex(noNetJob.jobresult.errortext, /doesn't have virtual networks in zone=sem/);

    // deployVirtualMachine without networkids: the account's default network is made for it.
    const vm = await createdAtOnce(t, api, 'deployVirtualMachine', { zoneid: z.zoneId, serviceofferingid: so.id, templateid: tpl.id, name: 'web' }, 'virtualmachine');
    t.is(vm.state, 'Running');
    const nets = (await api.ok('listNetworks', {})).network;
    t.deepEqual(nets.map((n: any) => [n.name, n.type]), [['sam-network', 'Isolated']]);
    t.is(vm.nic[0].networkid, nets[0].id);
    // A second VM joins the same default network (no second one is made).
    const vm2 = (await cs(['deployVirtualMachine', `zoneid=${z.zoneId}`, `serviceofferingid=${so.id}`, `templateid=${tpl.id}`, 'name=db'])).virtualmachine;
    t.is(vm2.nic[0].networkid, nets[0].id);
    t.is((await api.ok('listNetworks', {})).count, 1);

    // associateIpAddress without networkid: the account's isolated network of the zone; and a chosen address.
    const ip = await createdAtOnce(t, api, 'associateIpAddress', { zoneid: z.zoneId }, 'ipaddress');
    t.is(ip.associatednetworkid, nets[0].id);
    const chosen = (await cs(['associateIpAddress', `networkid=${nets[0].id}`, 'ipaddress=203.0.113.42'])).ipaddress;
    t.is(chosen.ipaddress, '203.0.113.42');
    const taken = await api.job('associateIpAddress', { networkid: nets[0].id, ipaddress: '203.0.113.42' });
    t.is(taken.jobresult.errorcode, 533);
    t.regex(taken.jobresult.errortext, /203\.0\.113\.42 is already allocated/);
    const outside = await api.job('associateIpAddress', { networkid: nets[0].id, ipaddress: '198.18.0.1' });
    t.is(outside.jobresult.errorcode, 533);

    // Port forwarding: openfirewall defaults to true — a firewall rule for its public ports,
    // shown by listFirewallRules and deleted with the forward.
    const pf = await createdAtOnce(t, api, 'createPortForwardingRule', { ipaddressid: ip.id, protocol: 'tcp', publicport: 2222, privateport: 22, virtualmachineid: vm.id }, 'portforwardingrule');
    const fw = (await api.ok('listFirewallRules', { ipaddressid: ip.id })).firewallrule;
    t.is(fw.length, 1);
    t.like(fw[0], { protocol: 'tcp', startport: 2222, endport: 2222, ipaddressid: ip.id, cidrlist: '0.0.0.0/0' });
    // openfirewall=false (what Terraform's cloudstack_port_forward always sends): no firewall rule.
    const closed = (await cs(['createPortForwardingRule', `ipaddressid=${ip.id}`, 'protocol=tcp', 'publicport=8080', 'privateport=80', `virtualmachineid=${vm.id}`, 'openfirewall=false'])).portforwardingrule;
    t.is((await api.ok('listFirewallRules', { ipaddressid: ip.id })).firewallrule.length, 1, 'openfirewall=false adds no firewall rule');
    // The router's spec: forwards open nothing themselves; the firewall rule opens 2222 only.
    const spec = await routerFirewall(cloud, nets[0].id);
    const pub = spec.publicIps.find((p: any) => p.address === ip.ipaddress);
    t.true(pub.portForwards.every((f: any) => f.open === false));
    t.deepEqual(pub.rules.map((r: any) => r.ports), [{ start: 2222, end: 2222 }]);
    // A user's own firewall rule and egress rule: async creates too.
    const own = await createdAtOnce(t, api, 'createFirewallRule', { ipaddressid: ip.id, protocol: 'tcp', startport: 8080, endport: 8080, cidrlist: '192.0.2.0/24' }, 'firewallrule');
    const egress = await createdAtOnce(t, api, 'createEgressFirewallRule', { networkid: nets[0].id, protocol: 'tcp', startport: 443, endport: 443 }, 'firewallrule');
    // Duplicates are refused with CloudStack's own texts (FirewallManagerImpl.detectRulesConflict), and nothing is kept.
    const dupFw = await api.job('createFirewallRule', { ipaddressid: ip.id, protocol: 'tcp', startport: 8080, endport: 8080, cidrlist: '192.0.2.0/24' });
    t.is(dupFw.jobresult.errorcode, 537, JSON.stringify(dupFw.jobresult));
    t.is(dupFw.jobresult.errortext, `The range specified, 8080-8080, conflicts with rule ${own.id} which has 8080-8080`);
    const dupPf = await api.job('createPortForwardingRule', { ipaddressid: ip.id, protocol: 'tcp', publicport: 2222, privateport: 2022, virtualmachineid: vm.id });
    t.is(dupPf.jobresult.errorcode, 537, JSON.stringify(dupPf.jobresult));
    t.is(dupPf.jobresult.errortext, `The range specified, 2222-2222, conflicts with rule ${pf.id} which has 2222-2222`);
    const dupEgress = await api.job('createEgressFirewallRule', { networkid: nets[0].id, protocol: 'tcp', startport: 443, endport: 443 });
    t.is(dupEgress.jobresult.errortext, `The range specified, 443-443, conflicts with rule ${egress.id} which has 443-443`);
    await createdAtOnce(t, api, 'createEgressFirewallRule', { networkid: nets[0].id, protocol: 'all' }, 'firewallrule');
    const dupAll = await api.job('createEgressFirewallRule', { networkid: nets[0].id, protocol: 'all' });
    t.is(dupAll.jobresult.errorcode, 537, JSON.stringify(dupAll.jobresult));
    t.is(dupAll.jobresult.errortext, 'There is already a firewall rule specified with protocol = all and no ports');
    t.is((await api.ok('listEgressFirewallRules', { networkid: nets[0].id })).count, 2, 'the refused duplicates were not kept');
    t.is((await api.ok('listPortForwardingRules', { ipaddressid: ip.id })).count, 2);
    await api.jobOk('deletePortForwardingRule', { id: pf.id });
    t.deepEqual((await api.ok('listFirewallRules', { ipaddressid: ip.id })).firewallrule.map((r: any) => r.id), [own.id], 'the forward\'s firewall rule went with it');
    await api.jobOk('deletePortForwardingRule', { id: closed.id });

    // Static NAT as CloudStack also shows it: ip forwarding rules on a static NAT IP (libcloud's list_nodes reads them).
    const natIp = (await cs(['associateIpAddress', `networkid=${nets[0].id}`])).ipaddress;
    const noNat = await api.job('createIpForwardingRule', { ipaddressid: natIp.id, protocol: 'tcp', startport: 22 });
    t.is(noNat.jobresult.errorcode, 431);
    t.regex(noNat.jobresult.errortext, /static NAT is not enabled/);
    t.deepEqual(await cs(['enableStaticNat', `ipaddressid=${natIp.id}`, `virtualmachineid=${vm.id}`]), { success: true });
    const nat = await createdAtOnce(t, api, 'createIpForwardingRule', { ipaddressid: natIp.id, protocol: 'tcp', startport: 22, endport: 23 }, 'ipforwardingrule');
    t.like(nat, { protocol: 'tcp', startport: 22, endport: 23, ipaddressid: natIp.id, ipaddress: natIp.ipaddress, virtualmachineid: vm.id, virtualmachinename: 'web', state: 'Active' });
    const natOnly = (await cs(['createIpForwardingRule', `ipaddressid=${natIp.id}`, 'protocol=udp', 'startport=53', 'openfirewall=false'])).ipforwardingrule;
    t.deepEqual((await cs(['listIpForwardingRules', `virtualmachineid=${vm.id}`])).ipforwardingrule.map((r: any) => r.id), [nat.id, natOnly.id]);
    t.deepEqual((await api.ok('listFirewallRules', { ipaddressid: natIp.id })).firewallrule.map((r: any) => [r.protocol, r.startport, r.endport]), [['tcp', 22, 23]], 'openfirewall made one firewall rule');
    await api.jobOk('deleteIpForwardingRule', { id: nat.id });
    t.deepEqual(await api.ok('listFirewallRules', { ipaddressid: natIp.id }), {}, 'its firewall rule went with it');
    await api.jobOk('disableStaticNat', { ipaddressid: natIp.id });
    t.deepEqual(await api.ok('listIpForwardingRules', {}), {}, 'disabling static NAT removes its rules');
    t.is((await eve.call('listIpForwardingRules', { ipaddressid: natIp.id })).status, 531);

    // A deleted (or never existing) id: CloudStack's exact text, which Terraform matches on destroy.
    // Answered by the dispatcher's one check, before any job (as CloudStack's ParamProcessWorker).
    const gone = await api.call('deletePortForwardingRule', { id: pf.id });
    t.is(gone.status, 431);
    t.true(gone.body.errortext.includes(`Invalid parameter id value=${pf.id} due to incorrect long value format, or entity does not exist`), gone.body.errortext);
    const ghost = randomUUID();
    for (const [cmd, key] of [['listVirtualMachines', 'id'], ['listNics', 'virtualmachineid']] as const) {
      const r = await api.call(cmd, { [key]: ghost, ...(cmd === 'listVirtualMachines' ? { id: ghost } : {}) });
      if (cmd === 'listVirtualMachines') { t.deepEqual(r.body, {}); continue; }
      t.is(r.status, 431);
      t.is(r.body.errortext, `Unable to execute API command listnics due to invalid value. Invalid parameter virtualmachineid value=${ghost} due to incorrect long value format, or entity does not exist or due to incorrect parameter annotation for the field in api cmd class.`);
    }

    // Unknown commands answer under errorresponse (cs prints it).
    const unknown = await cs(['launchRockets']);
    t.is(unknown.errorresponse?.errorcode, 432, JSON.stringify(unknown));

    // uuidList items are {uuid, description} (another tenant may not touch the VM).
    const denied = await eve.call('updateVirtualMachine', { id: vm.id, displayname: 'mine' });
    t.is(denied.status, 531);
    t.deepEqual(denied.body.uuidList, [{ uuid: vm.id, description: 'id' }]);

    // Booleans as Boolean.parseBoolean: libcloud's forced=None is false, TRUE is true.
    const stopped = await api.jobOk('stopVirtualMachine', { id: vm2.id, forced: 'None' });
    t.is(stopped.virtualmachine.state, 'Stopped');
    t.is((await api.ok('listVirtualMachines', { listall: 'yes' })).count, 2, 'listall=yes is false: own VMs');
    const expunged = await api.jobOk('destroyVirtualMachine', { id: vm2.id, expunge: 'TRUE' });
    t.is(expunged.virtualmachine.state, 'Expunging');
  });
}

/** The firewall part of the network's router spec as the manager builds it now. */
async function routerFirewall(cloud: Cloud, networkId: string): Promise<any> {
  const { netInfo, networkIps, networkRules, firewallOf } = await import('@flotilla/manager/orchestrator/router');
  const db = cloud.m.services.db;
  return firewallOf(await netInfo(db, networkId), await networkIps(db, networkId), await networkRules(db, networkId));
}
