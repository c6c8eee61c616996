// Resource tags as CloudStack's clients use them (Ansible's cs_* modules read `tags` of every
// resource, Terraform's provider sets them with createTags and filters lists by them): driven
// by Debian's `cs` CLI and signed requests against a manager with a Simulator host.
import test from 'ava';
import { randomUUID } from 'node:crypto';
import { DIALECTS, cloudOn, csCli, simZone, tenant } from '../src/clients.ts';

for (const dialect of DIALECTS) {
  test(`createTags/deleteTags/listTags; every taggable answer carries tags; tags[n] filters lists; refusals [${dialect}]`, async (t) => {
    const cloud = await cloudOn(t, dialect);
    const z = await simZone(t, cloud, 'tags');
    const api = await tenant(cloud, 'tia');
    const cs = (args: string[]) => csCli(api, args);
    const so = (await api.ok('listServiceOfferings', { name: 'Small Instance' })).serviceoffering[0];
    const tpl = (await api.ok('listTemplates', { templatefilter: 'featured', name: 'Flotilla netns guest' })).template[0];
    t.deepEqual(tpl.tags, [], 'an untagged template answers tags: []');
    const base = [`zoneid=${z.zoneId}`, `serviceofferingid=${so.id}`, `templateid=${tpl.id}`];
    const web = (await cs(['deployVirtualMachine', ...base, 'name=web'])).virtualmachine;
    const db = (await cs(['deployVirtualMachine', ...base, 'name=db'])).virtualmachine;
    t.deepEqual(web.tags, [], 'a new VM answers tags: []');
    const net = (await api.ok('listNetworks', {})).network[0];
    const ip = (await cs(['associateIpAddress', `networkid=${net.id}`])).ipaddress;
    t.deepEqual(ip.tags, []);
    const pf = (await cs(['createPortForwardingRule', `ipaddressid=${ip.id}`, 'protocol=tcp', 'publicport=22', 'privateport=22', `virtualmachineid=${web.id}`])).portforwardingrule;
    const fw = (await api.ok('listFirewallRules', { ipaddressid: ip.id })).firewallrule[0];
    const eg = (await cs(['createEgressFirewallRule', `networkid=${net.id}`, 'protocol=udp', 'startport=53', 'endport=53'])).firewallrule;

    // Tag one of each type; cs waits for the async job and prints {success: true}.
    const tag = async (type: string, id: string, pairs: Record<string, string>) => {
      const args = ['createTags', `resourcetype=${type}`, `resourceids=${id}`];
      Object.entries(pairs).forEach(([k, v], i) => args.push(`tags[${i}].key=${k}`, `tags[${i}].value=${v}`));
      const r = await cs(args);
      t.deepEqual(r, { success: true }, `${type}: ${JSON.stringify(r)}`);
    };
    await tag('UserVm', web.id, { env: 'prod', role: 'web' });
    await tag('uservm', db.id, { env: 'test' });
    await tag('Network', net.id, { env: 'prod' });
    await tag('PublicIpAddress', ip.id, { dns: 'www.example.org' });
    await tag('PortForwardingRule', pf.id, { svc: 'ssh' });
    await tag('FirewallRule', fw.id, { svc: 'ssh' });
    await tag('FirewallRule', eg.id, { svc: 'dns' });

    // Every answer of a taggable resource carries its tags.
    const vm = (await api.ok('listVirtualMachines', { id: web.id })).virtualmachine[0];
    t.deepEqual(vm.tags.map((x: any) => [x.key, x.value]).sort(), [['env', 'prod'], ['role', 'web']]);
    t.like(vm.tags[0], { resourcetype: 'UserVm', resourceid: web.id, account: 'tia', domain: 'ROOT' });
    t.truthy(vm.tags[0].domainid);
    t.deepEqual((await api.ok('listNetworks', { id: net.id })).network[0].tags.map((x: any) => x.key), ['env']);
    t.deepEqual((await api.ok('listPublicIpAddresses', { id: ip.id })).publicipaddress[0].tags.map((x: any) => x.value), ['www.example.org']);
    t.deepEqual((await api.ok('listPortForwardingRules', { id: pf.id })).portforwardingrule[0].tags.map((x: any) => x.value), ['ssh']);
    t.deepEqual((await api.ok('listFirewallRules', { id: fw.id })).firewallrule[0].tags.map((x: any) => x.value), ['ssh']);
    t.deepEqual((await api.ok('listEgressFirewallRules', { id: eg.id })).firewallrule[0].tags.map((x: any) => x.value), ['dns']);
    // …also an async answer (a stopped VM's job result).
    t.is((await api.jobOk('stopVirtualMachine', { id: db.id })).virtualmachine.tags[0].value, 'test');

    // tags[n].key/value filter lists (CloudStack ORs the pairs).
    const names = async (params: Record<string, string>) => ((await api.ok('listVirtualMachines', params)).virtualmachine ?? []).map((v: any) => v.name).sort();
    t.deepEqual(await names({ 'tags[0].key': 'env', 'tags[0].value': 'prod' }), ['web']);
    t.deepEqual(await names({ 'tags[0].key': 'env', 'tags[0].value': 'test' }), ['db']);
    t.deepEqual(await names({ 'tags[0].key': 'env', 'tags[0].value': 'prod', 'tags[1].key': 'env', 'tags[1].value': 'test' }), ['db', 'web']);
    t.deepEqual(await names({ 'tags[0].key': 'env', 'tags[0].value': 'nope' }), []);
    const viaCs = await cs(['listVirtualMachines', 'tags[0].key=role', 'tags[0].value=web']);
    t.deepEqual(viaCs.virtualmachine.map((v: any) => v.id), [web.id]);
    t.is((await api.ok('listNetworks', { 'tags[0].key': 'env', 'tags[0].value': 'prod' })).count, 1);
    t.deepEqual(await api.ok('listNetworks', { 'tags[0].key': 'env', 'tags[0].value': 'dev' }), {});

    // listTags with its filters.
    const listed = (await cs(['listTags', 'resourcetype=UserVm'])).tag;
    t.is(listed.length, 3);
    t.deepEqual((await api.ok('listTags', { key: 'svc' })).tag.map((x: any) => x.resourcetype).sort(), ['FirewallRule', 'FirewallRule', 'PortForwardingRule']);
    t.deepEqual((await api.ok('listTags', { resourceid: web.id, value: 'web' })).tag.map((x: any) => x.key), ['role']);

    // Refusals, nothing written: bad type, unknown resource, another account's resource,
    // a key twice on one resource, an empty value.
    const tagCount = async () => (await cloud.admin.ok('listTags', { listall: true })).count ?? 0;
    const before = await tagCount();
    const refused = async (params: Record<string, string>, code: number, re: RegExp) => {
      const r = await api.call('createTags', params);
      const q = r.status === 200 ? await api.job('createTags', params) : undefined;
      const err = q ? q.jobresult : r.body;
      t.is(err.errorcode, code, JSON.stringify(err));
      t.regex(err.errortext, re);
    };
    await refused({ resourcetype: 'Spaceship', resourceids: web.id, 'tags[0].key': 'a', 'tags[0].value': 'b' }, 431, /Invalid resource type Spaceship/);
    await refused({ resourcetype: 'UserVm', resourceids: randomUUID(), 'tags[0].key': 'a', 'tags[0].value': 'b' }, 431, /Unable to find resource by id .* and type UserVm/);
    await refused({ resourcetype: 'UserVm', resourceids: web.id, 'tags[0].key': 'env', 'tags[0].value': 'again' }, 431, /A tag with key env already exists/);
    await refused({ resourcetype: 'UserVm', resourceids: web.id, 'tags[0].key': 'empty' }, 431, /Value for the key empty is either null or empty/);
    await refused({ resourcetype: 'Zone', resourceids: z.zoneId, 'tags[0].key': 'a', 'tags[0].value': 'b' }, 531, /does not have permission/);
    await refused({ resourcetype: 'UserVm', resourceids: web.id }, 431, /missing parameter tags/);
    const eve = await tenant(cloud, 'eve');
    // Refused by the dispatcher's ownership check (by resourcetype), before any job is queued.
    const foreign = await eve.call('createTags', { resourcetype: 'UserVm', resourceids: web.id, 'tags[0].key': 'mine', 'tags[0].value': 'x' });
    t.is(foreign.status, 531);
    t.deepEqual(await eve.ok('listTags', {}), {}, 'another tenant sees none of them');
    t.deepEqual(await eve.ok('listVirtualMachines', { 'tags[0].key': 'env', 'tags[0].value': 'prod' }), {});
    t.is(await tagCount(), before);

    // A root admin tags a zone; zones answer their tags.
    t.deepEqual((await csCli(cloud.admin, ['createTags', 'resourcetype=Zone', `resourceids=${z.zoneId}`, 'tags[0].key=region', 'tags[0].value=lab'])), { success: true });
    t.deepEqual((await api.ok('listZones', { id: z.zoneId })).zone[0].tags.map((x: any) => [x.key, x.value]), [['region', 'lab']]);

    // deleteTags: by key (any value), by key and value, all of a resource; nothing matching is a 431.
    t.deepEqual(await cs(['deleteTags', 'resourcetype=UserVm', `resourceids=${web.id}`, 'tags[0].key=role']), { success: true });
    t.deepEqual((await api.ok('listVirtualMachines', { id: web.id })).virtualmachine[0].tags.map((x: any) => x.key), ['env']);
    const miss = await api.job('deleteTags', { resourcetype: 'UserVm', resourceids: web.id, 'tags[0].key': 'env', 'tags[0].value': 'test' });
    t.is(miss.jobresult.errorcode, 431);
    t.regex(miss.jobresult.errortext, /Unable to find any tags which conform to specified delete parameters/);
    await api.jobOk('deleteTags', { resourcetype: 'UserVm', resourceids: `${web.id},${db.id}` });
    t.deepEqual((await api.ok('listVirtualMachines', {})).virtualmachine.map((v: any) => v.tags), [[], []]);

    // A deleted resource's tags are gone from listTags.
    await api.jobOk('deletePortForwardingRule', { id: pf.id });
    t.deepEqual((await api.ok('listTags', { key: 'svc' })).tag.map((x: any) => x.resourceid), [eg.id]);
  });
}
