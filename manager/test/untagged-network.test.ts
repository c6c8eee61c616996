// Issue 18 (1): "one untagged network per physical network" counts only untagged *shared*
// networks. An isolated network has no VNI until it is implemented; it used to count as the
// untagged network and made every later untagged shared network a wrong 431 (and, during the
// local cloud's set-up, the manager's death).
import { eachDialect, makeAccount, startManager } from './helpers.ts';
import { buildZone, jobOk, refused } from './infra-helpers.ts';

eachDialect('an untagged shared network is refused only because of another untagged shared network', async (t, dialect) => {
  const { admin, url, db } = await startManager(t, dialect);
  const z = await buildZone(t, admin, 'u');
  const tenant = await makeAccount(admin, url, { name: 'ut' });
  const iso = (await admin.ok('listNetworkOfferings', { name: 'DefaultIsolatedNetworkOfferingWithSourceNatService' })).networkoffering[0].id;
  const shared = (await admin.ok('listNetworkOfferings', { name: 'DefaultSharedNetworkOffering' })).networkoffering[0].id;

  // A tenant may not act in a disabled zone (CloudStack: PermissionDeniedException, 531).
  await refused(t, tenant.api, 'createNetwork', { zoneid: z.zoneId, name: 'early', displaytext: 'early', networkofferingid: iso }, 531, /Zone is currently disabled/);
  await admin.ok('updateZone', { id: z.zoneId, allocationstate: 'Enabled' });

  // Isolated networks (no VNI yet) of a tenant and of the admin, and a tagged shared network.
  const tnet = (await tenant.api.ok('createNetwork', { zoneid: z.zoneId, name: 'early', displaytext: 'early', networkofferingid: iso })).network;
  await admin.ok('createNetwork', { zoneid: z.zoneId, name: 'admin-iso', displaytext: 'admin-iso', networkofferingid: iso });
  t.is((await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM networks WHERE physical_network_id = $1 AND vni IS NULL AND guest_type = 'Isolated'`, [z.pnetId]))[0]!.n, 2);
  await admin.ok('createNetwork', { zoneid: z.zoneId, name: 'tagged', displaytext: 'tagged', networkofferingid: shared, vlan: '150',
    gateway: '192.0.2.1', netmask: '255.255.255.0', startip: '192.0.2.10', endip: '192.0.2.20' });

  // None of them holds the uplink: the first untagged shared network is made.
  const flat = { zoneid: z.zoneId, networkofferingid: shared, vlan: 'untagged', gateway: '198.51.100.1', netmask: '255.255.255.0', startip: '198.51.100.10', endip: '198.51.100.250' };
  const first = (await admin.ok('createNetwork', { ...flat, name: 'flat1', displaytext: 'flat1' })).network;
  t.is(first.type, 'Shared');

  // A second one is refused, naming the first, and nothing is written.
  const before = (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM networks'))[0]!.n;
  await refused(t, admin, 'createNetwork', { ...flat, name: 'flat2', displaytext: 'flat2' }, 431, /Physical network u-pn1 already has the untagged network flat1$/);
  t.is((await db.query<{ n: number }>('SELECT count(*)::int AS n FROM networks'))[0]!.n, before);

  // The isolated networks still work as before, and once flat1 is gone the slot is free again.
  t.is((await tenant.api.ok('listNetworks', { id: tnet.id })).network[0].name, 'early');
  await jobOk(t, admin, 'deleteNetwork', { id: first.id });
  t.is((await admin.ok('createNetwork', { ...flat, name: 'flat2', displaytext: 'flat2' })).network.name, 'flat2');
});
