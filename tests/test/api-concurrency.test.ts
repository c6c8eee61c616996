// Concurrent deploys and address allocations on one zone (found by bench:scale: on PostgreSQL,
// 16 deploys into 16 new isolated networks at once picked the same VNI or the same source-NAT
// address, and the losers failed with a 530 from the unique index). Every one must succeed with
// its own VNI and addresses, on PGlite (one connection) and on a PostgreSQL server.
import test from 'ava';
import { DIALECTS, cloudOn, simZone, tenant } from '../src/clients.ts';

const N = 12;

for (const dialect of DIALECTS) {
  test(`${N} deploys into ${N} new isolated networks at once, and ${N} associateIpAddress on one network at once, all succeed with distinct VNIs and addresses [${dialect}]`, async (t) => {
    const cloud = await cloudOn(t, dialect);
    const z = await simZone(t, cloud, 'conc');
    const api = await tenant(cloud, 'conc');
    const offering = (await api.ok('listNetworkOfferings', { name: 'DefaultIsolatedNetworkOfferingWithSourceNatService' })).networkoffering[0];
    const so = (await api.ok('listServiceOfferings', { name: 'Small Instance' })).serviceoffering[0];
    const tpl = (await api.ok('listTemplates', { templatefilter: 'featured', name: 'Flotilla netns guest' })).template[0];
    const nets = await Promise.all(Array.from({ length: N }, async (_, i) =>
      (await api.ok('createNetwork', { name: `conc-${i}`, displaytext: `conc ${i}`, zoneid: z.zoneId, networkofferingid: offering.id })).network));
    const jobs = await Promise.all(nets.map((n, i) => api.job('deployVirtualMachine', { zoneid: z.zoneId, serviceofferingid: so.id, templateid: tpl.id, networkids: n.id, name: `conc-vm-${i}` }, 120_000)));
    t.deepEqual(jobs.map((j) => j.jobstatus), jobs.map(() => 1), JSON.stringify(jobs.filter((j) => j.jobstatus !== 1).map((j) => j.jobresult)));
    const listed = (await cloud.admin.ok('listNetworks', { listall: true, zoneid: z.zoneId })).network;
    const vlans = listed.map((n: any) => n.vlan);
    t.is(new Set(vlans).size, N, `distinct VNIs: ${vlans}`);
    const snat = (await api.ok('listPublicIpAddresses', { issourcenat: true })).publicipaddress.map((p: any) => p.ipaddress);
    t.is(new Set(snat).size, N, `distinct source NAT addresses: ${snat}`);

    const ips = await Promise.all(Array.from({ length: N }, () => api.job('associateIpAddress', { networkid: nets[0].id }, 120_000)));
    t.deepEqual(ips.map((j) => j.jobstatus), ips.map(() => 1), JSON.stringify(ips.filter((j) => j.jobstatus !== 1).map((j) => j.jobresult)));
    const addresses = ips.map((j) => j.jobresult.ipaddress.ipaddress);
    t.is(new Set([...addresses, ...snat]).size, 2 * N, 'every associated address is new');
  });
}
