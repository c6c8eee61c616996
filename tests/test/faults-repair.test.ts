// Issue 16, item 2: the repair loop (manager/src/orchestrator/repair.ts) brings every Implemented
// network back to its desired state and says so in a NETWORK.REPAIR event of the network's owner.
// Each case leaves what a manager killed at one instant leaves (a row committed whose push never
// happened, a router left Starting, a router in Error gone from its host) and runs one pass.
// A simulator host in-process: its driver keeps the spec each router applied, so the test reads
// what the router enforces, not what the database says.
import test from 'ava';
import { repairNetworks } from '@flotilla/manager/orchestrator/repair';
import { cloudOn, tenant } from '../src/clients.ts';
import { addHost, createZone, simulatorDriver } from '../src/cloud.ts';

/** A pglite cloud with one Simulator zone and host, a public range, and the catalog ids tests use. */
async function simCloud(t: Parameters<typeof cloudOn>[0], zone: string, tag: string) {
  const cloud = await cloudOn(t, 'pglite');
  const { admin } = cloud;
  const z = await createZone(admin, zone, 'Simulator');
  const driver = simulatorDriver();
  await addHost(t, cloud, z, { name: `${zone}-sim`, driver, tag });
  await admin.jobOk('addTrafficType', { physicalnetworkid: z.physicalNetworkId, traffictype: 'Public' });
  await admin.ok('createVlanIpRange', { zoneid: z.zoneId, physicalnetworkid: z.physicalNetworkId, forvirtualnetwork: true, vlan: 'untagged', gateway: '203.0.113.1', netmask: '255.255.255.0', startip: '203.0.113.10', endip: '203.0.113.20' });
  const iso = (await admin.ok('listNetworkOfferings', { name: 'DefaultIsolatedNetworkOfferingWithSourceNatService' })).networkoffering[0].id as string;
  const so = (await admin.ok('listServiceOfferings', { name: 'Small Instance' })).serviceoffering[0].id as string;
  const tpl = (await admin.ok('listTemplates', { templatefilter: 'featured' })).template[0].id as string;
  return { cloud, admin, z, driver, iso, so, tpl };
}

test('the repair loop re-sends a spec the database outgrew, finishes a router left Starting, restarts one in Error or stopped by no admin; events say what', async (t) => {
  const { cloud, admin, z, driver, iso, so, tpl } = await simCloud(t, 'rz', 'rep1');
  const ten = await tenant(cloud, 'repairten');
  const net = (await ten.ok('createNetwork', { zoneid: z.zoneId, name: 'repnet', displaytext: 'repnet', networkofferingid: iso })).network.id;
  await ten.jobOk('deployVirtualMachine', { zoneid: z.zoneId, serviceofferingid: so, templateid: tpl, networkids: net, name: 'repvm' });
  const ip = (await ten.jobOk('associateIpAddress', { networkid: net })).ipaddress.id;
  const fw = (await ten.jobOk('createFirewallRule', { ipaddressid: ip, protocol: 'tcp', startport: '22', endport: '22', cidrlist: '192.0.2.0/24' })).firewallrule.id;
  const router = (await admin.ok('listRouters', { listall: true, networkid: net })).router[0];
  const rules = () => new Set(((driver.appliedSpecs.get(router.name) as any)?.firewall?.publicIps ?? []).flatMap((p: any) => p.rules.map((r: any) => r.id)));
  t.true(rules().has(fw), 'the router enforces the rule');
  const db = cloud.m.services.db;
  const events = async () => ((await ten.ok('listEvents', { type: 'NETWORK.REPAIR' })).event ?? []) as Array<{ description: string }>;

  // Nothing to repair: no event.
  t.deepEqual(await repairNetworks(cloud.m.services), []);

  // 1. deleteFirewallRule killed after its commit, before its push: the generations agree, the
  //    router still enforces the deleted rule.
  await db.query('DELETE FROM network_rules WHERE id = $1', [fw]);
  t.true(rules().has(fw));
  const first = await repairNetworks(cloud.m.services);
  t.is(first.length, 1, JSON.stringify(first));
  t.regex(first[0]!, /database changed/);
  t.false(rules().has(fw), 'the router still enforces a deleted rule');
  t.regex((await events())[0]?.description ?? '', /Network repnet repaired: router .* was sent its spec/);
  t.deepEqual(await repairNetworks(cloud.m.services), [], 'a second pass repairs nothing');

  // 2. A manager killed between placing the router and marking it Running.
  await db.query(`UPDATE vm_instances SET state = 'Starting' WHERE id = $1`, [router.id]);
  const second = await repairNetworks(cloud.m.services);
  t.regex(second[0] ?? '', /left Starting .* marked Running/);
  t.is((await admin.ok('listRouters', { listall: true, networkid: net })).router[0].state, 'Running');

  // 3. A router in Error that its host no longer runs.
  await driver.destroyVm({ name: router.name });
  await db.query(`UPDATE vm_instances SET state = 'Error' WHERE id = $1`, [router.id]);
  const third = await repairNetworks(cloud.m.services);
  t.regex(third[0] ?? '', /was in Error: started again/);
  t.is((await admin.ok('listRouters', { listall: true, networkid: net })).router[0].state, 'Running');
  t.true((await driver.listState({})).vms.some((v) => v.name === router.name && v.state === 'Running'), 'the host runs the router again');
  t.true(driver.appliedSpecs.has(router.name));

  // 4. Stopped without an admin's stopRouter (a start that failed and rolled back; a kill between
  //    rebootRouter's stop and start): started again.
  await driver.destroyVm({ name: router.name });
  await db.query(`UPDATE vm_instances SET state = 'Stopped', host_id = NULL WHERE id = $1`, [router.id]);
  const fourth = await repairNetworks(cloud.m.services);
  t.regex(fourth[0] ?? '', /Stopped without an admin's stopRouter: started again/);
  t.is((await admin.ok('listRouters', { listall: true, networkid: net })).router[0].state, 'Running');
  t.is((await events()).length, 4);

  // 5. An admin's stopRouter is intent: left stopped.
  await admin.jobOk('stopRouter', { id: router.id });
  t.deepEqual(await repairNetworks(cloud.m.services), []);
  t.is((await admin.ok('listRouters', { listall: true, networkid: net })).router[0].state, 'Stopped');
});

test('a resumed delete whose object its interrupted run already deleted succeeds; a first run that finds nothing still fails 431', async (t) => {
  const { cloud, admin, z, iso } = await simCloud(t, 'dz', 'rep2');
  const net = (await admin.ok('createNetwork', { zoneid: z.zoneId, name: 'delnet', displaytext: 'delnet', networkofferingid: iso })).network.id;
  const ip = (await admin.jobOk('associateIpAddress', { networkid: net })).ipaddress.id;
  const fws = [];
  for (const port of ['22', '23']) fws.push((await admin.jobOk('createFirewallRule', { ipaddressid: ip, protocol: 'tcp', startport: port, endport: port, cidrlist: '192.0.2.0/24' })).firewallrule.id);
  const db = cloud.m.services.db;
  const admUser = (await db.query<{ id: string; account_id: string; domain_id: string }>(`SELECT id, account_id, domain_id FROM users WHERE username = 'admin'`))[0]!;
  // What a kill leaves: the rule's row deleted (committed), the job still pending, claimed once
  // (attempts = 1) or never (attempts = 0: a first run).
  const queued = async (fw: string, attempts: number) => {
    const id = crypto.randomUUID();
    await db.query('DELETE FROM network_rules WHERE id = $1', [fw]);
    await db.query(`INSERT INTO async_jobs (id, user_id, account_id, domain_id, command, params, instance_type, instance_id, attempts) VALUES ($1,$2,$3,$4,'deleteFirewallRule',$5,'FirewallRule',$6,$7)`,
      [id, admUser.id, admUser.account_id, admUser.domain_id, JSON.stringify({ id: fw }), fw, attempts]);
    cloud.m.services.jobs.start(id);
    await cloud.m.services.jobs.idle();
    return (await admin.ok('queryAsyncJobResult', { jobid: id }));
  };
  const resumed = await queued(fws[0]!, 1);
  t.is(resumed.jobstatus, 1, JSON.stringify(resumed));
  t.deepEqual(resumed.jobresult, { success: true });
  const first = await queued(fws[1]!, 0);
  t.is(first.jobstatus, 2, JSON.stringify(first));
  t.is(first.jobresult.errorcode, 431);
});

test('a resumed removeVpnUser whose interrupted run removed the user succeeds and the router loses the peer; a first run that finds no user still fails 431', async (t) => {
  const { cloud, admin, z, driver, iso, so, tpl } = await simCloud(t, 'vz', 'rep3');
  const ten = await tenant(cloud, 'vpnresten');
  const net = (await ten.ok('createNetwork', { zoneid: z.zoneId, name: 'vpnnet', displaytext: 'vpnnet', networkofferingid: iso })).network.id;
  await ten.jobOk('deployVirtualMachine', { zoneid: z.zoneId, serviceofferingid: so, templateid: tpl, networkids: net, name: 'vpnvm' });
  const snat = (await ten.ok('listPublicIpAddresses', { associatednetworkid: net, issourcenat: 'true' })).publicipaddress[0].id;
  await ten.jobOk('createRemoteAccessVpn', { publicipid: snat, iprange: '192.168.250.1-192.168.250.20' });
  const user = (await ten.jobOk('addVpnUser', { username: 'ru1', password: 'pw-ru1-secret' })).vpnuser;
  await ten.jobOk('addVpnUser', { username: 'ru2', password: 'pw-ru2-secret' });
  const router = (await admin.ok('listRouters', { listall: true, networkid: net })).router[0];
  const peers = () => ((driver.appliedSpecs.get(router.name) as any)?.vpn?.peers ?? []).map((p: any) => p.publicKey ?? p.public_key);
  const key = (await cloud.m.services.db.query<{ public_key: string }>('SELECT public_key FROM vpn_users WHERE id = $1', [user.id]))[0]!.public_key;
  t.true(peers().includes(key), 'the router has the peer');
  const db = cloud.m.services.db;
  const owner = (await db.query<{ id: string; account_id: string; domain_id: string }>(`SELECT u.id, u.account_id, u.domain_id FROM users u JOIN accounts a ON a.id = u.account_id WHERE a.name = 'vpnresten'`))[0]!;
  // What a kill leaves: the user's rows deleted (committed) before the push, the job still pending
  // with the user recorded as its instance by the interrupted run, claimed once (attempts = 1).
  await db.query('DELETE FROM vpn_user_addresses WHERE user_id = $1', [user.id]);
  await db.query('DELETE FROM vpn_users WHERE id = $1', [user.id]);
  t.true(peers().includes(key), 'the push never happened');
  const queued = async (instance: string | null, attempts: number) => {
    const id = crypto.randomUUID();
    await db.query(`INSERT INTO async_jobs (id, user_id, account_id, domain_id, command, params, instance_type, instance_id, attempts) VALUES ($1,$2,$3,$4,'removeVpnUser',$5,'VpnUser',$6,$7)`,
      [id, owner.id, owner.account_id, owner.domain_id, JSON.stringify({ username: 'ru1' }), instance, attempts]);
    cloud.m.services.jobs.start(id);
    await cloud.m.services.jobs.idle();
    return (await ten.ok('queryAsyncJobResult', { jobid: id }));
  };
  const resumed = await queued(user.id, 1);
  t.is(resumed.jobstatus, 1, JSON.stringify(resumed));
  t.false(peers().includes(key), 'the resumed run pushed the VPN without the removed peer');
  t.is(((await ten.ok('listVpnUsers', {})).vpnuser ?? []).length, 1);
  // A first run for a name nobody has: 431, nothing changed.
  const first = await queued(null, 0);
  t.is(first.jobstatus, 2, JSON.stringify(first));
  t.is(first.jobresult.errorcode, 431);
  t.regex(first.jobresult.errortext, /Unable to find vpn user ru1/);
  // An ordinary remove records the user as the job's instance (what a resumed run relies on).
  const done = await ten.jobOk('removeVpnUser', { username: 'ru2' });
  t.deepEqual(done, { success: true });
  t.is(((await ten.ok('listVpnUsers', {})).vpnuser ?? []).length, 0);
});
