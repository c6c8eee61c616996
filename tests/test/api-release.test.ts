// Releasing a public IP (disassociateIpAddress) takes its load-balancer rules with it, as
// CloudStack revokes every rule of an address on release — members, stickiness and health-check
// policies included (the UI's tests found a 530 here: the rules' foreign key held the address).
import test from 'ava';
import { DIALECTS, cloudOn, simZone, tenant } from '../src/clients.ts';

for (const dialect of DIALECTS) {
  test(`disassociateIpAddress releases an address carrying a load-balancer rule with members and policies [${dialect}]`, async (t) => {
    const cloud = await cloudOn(t, dialect);
    const z = await simZone(t, cloud, 'rel');
    const api = await tenant(cloud, 'rel');
    const offering = (await api.ok('listNetworkOfferings', { name: 'DefaultIsolatedNetworkOfferingWithSourceNatService' })).networkoffering[0];
    const so = (await api.ok('listServiceOfferings', { name: 'Small Instance' })).serviceoffering[0];
    const tpl = (await api.ok('listTemplates', { templatefilter: 'featured', name: 'Flotilla netns guest' })).template[0];
    const net = (await api.ok('createNetwork', { name: 'rel', displaytext: 'rel', zoneid: z.zoneId, networkofferingid: offering.id })).network;
    const vm = (await api.jobOk('deployVirtualMachine', { zoneid: z.zoneId, serviceofferingid: so.id, templateid: tpl.id, networkids: net.id, name: 'rel-vm' })).virtualmachine;
    const ip = (await api.jobOk('associateIpAddress', { networkid: net.id })).ipaddress;
    const rule = (await api.jobOk('createLoadBalancerRule', { publicipid: ip.id, name: 'web', algorithm: 'roundrobin', publicport: 80, privateport: 80 })).loadbalancer;
    await api.jobOk('assignToLoadBalancerRule', { id: rule.id, virtualmachineids: vm.id });
    await api.jobOk('createLBStickinessPolicy', { lbruleid: rule.id, name: 'sticky', methodname: 'SourceBased' });
    await api.jobOk('createLBHealthCheckPolicy', { lbruleid: rule.id, pingpath: '/' });

    const released = await api.job('disassociateIpAddress', { id: ip.id });
    t.is(released.jobstatus, 1, JSON.stringify(released.jobresult));
    t.deepEqual(await api.ok('listLoadBalancerRules', {}), {}, 'the rule went with its address');
    t.is((await api.ok('listPublicIpAddresses', { id: ip.id })).count ?? 0, 0);
    // The address can be associated again and carry a new rule (nothing was left behind).
    const again = (await api.jobOk('associateIpAddress', { networkid: net.id })).ipaddress;
    t.truthy((await api.jobOk('createLoadBalancerRule', { publicipid: again.id, name: 'web', algorithm: 'source', publicport: 80, privateport: 80 })).loadbalancer.id);
  });
}
