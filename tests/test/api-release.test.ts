// Releasing a public IP (disassociateIpAddress) takes its load-balancer rules with it, as
// CloudStack revokes every rule of an address on release — members, stickiness and health-check
// policies included (the UI's tests found a 530 here: the rules' foreign key held the address).
// A destroyed VM leaves the rules it was a member of, and deleteNetwork takes the network's rules
// with it (the kill harness found 530s on both once its workload carried LB rules and volumes).
import test, { type ExecutionContext } from 'ava';
import { DIALECTS, cloudOn, simZone, tenant } from '../src/clients.ts';

/** A simulator zone, a tenant, and the catalog ids its networks and VMs need. */
async function setUp(t: ExecutionContext, dialect: (typeof DIALECTS)[number], name: string) {
  const cloud = await cloudOn(t, dialect);
  const z = await simZone(t, cloud, name);
  const api = await tenant(cloud, name);
  const offering = (await api.ok('listNetworkOfferings', { name: 'DefaultIsolatedNetworkOfferingWithSourceNatService' })).networkoffering[0];
  const so = (await api.ok('listServiceOfferings', { name: 'Small Instance' })).serviceoffering[0];
  const tpl = (await api.ok('listTemplates', { templatefilter: 'featured', name: 'Flotilla netns guest' })).template[0];
  return { z, api, offering, so, tpl };
}

for (const dialect of DIALECTS) {
  test(`disassociateIpAddress releases an address carrying a load-balancer rule with members and policies [${dialect}]`, async (t) => {
    const { z, api, offering, so, tpl } = await setUp(t, dialect, 'rel');
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

  test(`destroying an LB member VM drops its membership; deleteNetwork takes the network's LB rules [${dialect}]`, async (t) => {
    const { z, api, offering, so, tpl } = await setUp(t, dialect, 'rel2');
    const disk = ((await api.ok('listDiskOfferings', {})).diskoffering as any[]).find((d) => !d.iscustomized);
    const net = (await api.ok('createNetwork', { name: 'rel2', displaytext: 'rel2', zoneid: z.zoneId, networkofferingid: offering.id })).network;
    const [a, b] = [(await api.jobOk('deployVirtualMachine', { zoneid: z.zoneId, serviceofferingid: so.id, templateid: tpl.id, networkids: net.id, name: 'rel2-a' })).virtualmachine,
      (await api.jobOk('deployVirtualMachine', { zoneid: z.zoneId, serviceofferingid: so.id, templateid: tpl.id, networkids: net.id, name: 'rel2-b' })).virtualmachine];
    const ip = (await api.jobOk('associateIpAddress', { networkid: net.id })).ipaddress;
    const rule = (await api.jobOk('createLoadBalancerRule', { publicipid: ip.id, name: 'web', algorithm: 'roundrobin', publicport: 8080, privateport: 80 })).loadbalancer;
    await api.jobOk('assignToLoadBalancerRule', { id: rule.id, virtualmachineids: `${a.id},${b.id}` });
    const vol = (await api.jobOk('createVolume', { name: 'rel2-d', zoneid: z.zoneId, diskofferingid: disk.id })).volume;
    await api.jobOk('attachVolume', { id: vol.id, virtualmachineid: a.id });
    const members = async () => ((await api.ok('listLoadBalancerRuleInstances', { id: rule.id })).loadbalancerruleinstance ?? []).map((v: any) => v.name).sort();
    t.deepEqual(await members(), ['rel2-a', 'rel2-b']);

    const destroyed = await api.job('destroyVirtualMachine', { id: a.id, expunge: true });
    t.is(destroyed.jobstatus, 1, JSON.stringify(destroyed.jobresult));
    t.deepEqual(await members(), ['rel2-b'], 'the expunged VM is no member any more');
    t.like((await api.ok('listVolumes', { id: vol.id })).volume[0], { state: 'Ready' }, 'its data volume stays, detached');
    t.falsy((await api.ok('listVolumes', { id: vol.id })).volume[0].virtualmachineid);
    const destroyedB = await api.job('destroyVirtualMachine', { id: b.id });
    t.is(destroyedB.jobstatus, 1, JSON.stringify(destroyedB.jobresult));
    t.deepEqual(await members(), [], 'a destroyed (not expunged) VM leaves the rule too: its address is released');

    const deleted = await api.job('deleteNetwork', { id: net.id });
    t.is(deleted.jobstatus, 1, JSON.stringify(deleted.jobresult));
    t.deepEqual(await api.ok('listLoadBalancerRules', {}), {}, 'the rule went with its network');
  });
}
