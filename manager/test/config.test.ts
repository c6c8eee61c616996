// listConfigurations / updateConfiguration: typed validation, refusals that change nothing, and
// proof that each key Flotilla lists is really read (changing it changes what the API answers).
import { eachDialect, makeAccount, startManager } from './helpers.ts';

const byName = (list: any[], name: string) => list.find((o) => o.name === name);

eachDialect('listConfigurations shows the keys Flotilla reads, with CloudStack fields', async (t, dialect) => {
  const { admin } = await startManager(t, dialect);
  const all = (await admin.ok('listConfigurations')).configuration as any[];
  t.deepEqual(all.map((c) => c.name), ['consoleproxy.key.rotation.interval', 'consoleproxy.session.max', 'consoleproxy.session.timeout', 'consoleproxy.url.domain', 'consoleproxy.url.path', 'consoleproxy.url.scheme', 'consoleproxy.vm.enabled', 'cpu.overprovisioning.factor', 'incorrect.login.attempts.allowed', 'mem.overprovisioning.factor', 'network.loadbalancer.haproxy.max.conn', 'network.throttling.rate',
    'remote.access.vpn.client.iprange', 'remote.access.vpn.user.limit', 'remote.access.vpn.wireguard.port', 'router.service.offering', 'secondary.storage.vm']);
  t.deepEqual(byName(all, 'network.throttling.rate'), {
    category: 'Network', name: 'network.throttling.rate', value: '200', defaultvalue: '200', isdynamic: true, type: 'Number',
    description: 'Default data transfer rate in megabits per second allowed in network.', displaytext: 'Network Throttling Rate',
  });
  t.like(byName(all, 'router.service.offering'), { category: 'Advanced', value: '', type: 'String' });
  t.deepEqual((await admin.ok('listConfigurations', { category: 'advanced' })).configuration.map((c: any) => c.name), ['cpu.overprovisioning.factor', 'incorrect.login.attempts.allowed', 'mem.overprovisioning.factor', 'router.service.offering', 'secondary.storage.vm']);
  t.deepEqual((await admin.ok('listConfigurations', { name: 'throttling' })).configuration.map((c: any) => c.name), ['network.throttling.rate']);
  t.deepEqual((await admin.ok('listConfigurations', { keyword: 'haproxy' })).configuration.map((c: any) => c.name), ['network.loadbalancer.haproxy.max.conn']);
  t.deepEqual(await admin.ok('listConfigurations', { name: 'no.such.key' }), {});
});

eachDialect('updateConfiguration: values take effect where they are read; bad values refused, nothing changed', async (t, dialect) => {
  const { admin, url, db } = await startManager(t, dialect);
  const rateOf = async () => (await admin.ok('listNetworkOfferings', { name: 'DefaultSharedNetworkOffering' })).networkoffering[0];

  // network.throttling.rate → networkrate of offerings without their own rate (0 = unlimited, shown -1)
  const upd = (await admin.ok('updateConfiguration', { name: 'network.throttling.rate', value: '150' })).configuration;
  t.like(upd, { name: 'network.throttling.rate', value: '150', defaultvalue: '200' });
  t.is((await rateOf()).networkrate, 150);
  await admin.ok('updateConfiguration', { name: 'network.throttling.rate', value: '0' });
  t.is((await rateOf()).networkrate, -1);

  // network.loadbalancer.haproxy.max.conn → maxconnections of an offering given LB capabilities
  await admin.ok('updateConfiguration', { name: 'network.loadbalancer.haproxy.max.conn', value: '1234' });
  const lb = (await admin.ok('createNetworkOffering', {
    name: 'lb', guestiptype: 'Isolated', traffictype: 'Guest', supportedservices: 'Dhcp,Dns,Lb,SourceNat',
    'servicecapabilitylist[0].service': 'Lb', 'servicecapabilitylist[0].capabilitytype': 'SupportedLBIsolation', 'servicecapabilitylist[0].capabilityvalue': 'dedicated',
  })).networkoffering;
  t.is(lb.maxconnections, 1234);

  // router.service.offering → serviceofferingid shown for offerings without their own; protects the offering named
  const bigRouter = (await admin.ok('createServiceOffering', { name: 'Big router', cpunumber: 2, cpuspeed: 1000, memory: 1024, issystem: true, systemvmtype: 'domainrouter' })).serviceoffering;
  const small = (await admin.ok('listServiceOfferings', { name: 'Small Instance' })).serviceoffering[0];
  const stockRouter = (await rateOf()).serviceofferingid;
  t.not(stockRouter, bigRouter.id);
  await admin.ok('updateConfiguration', { name: 'router.service.offering', value: bigRouter.id.toUpperCase() });
  t.is((await rateOf()).serviceofferingid, bigRouter.id);
  const del = await admin.call('deleteServiceOffering', { id: bigRouter.id });
  t.is(del.status, 536);
  t.regex(del.body.errortext, /router\.service\.offering/);
  const inactive = await admin.call('updateServiceOffering', { id: bigRouter.id, state: 'Inactive' });
  t.is(inactive.status, 536);
  await admin.ok('updateConfiguration', { name: 'router.service.offering', value: 'NULL' });
  t.is((await rateOf()).serviceofferingid, stockRouter);

  const snapshot = async () => JSON.stringify((await admin.ok('listConfigurations')).configuration);
  const before = await snapshot();
  for (const [p, text] of [
    [{ name: 'network.throttling.rate', value: 'fast' }, /not a whole number/],
    [{ name: 'network.throttling.rate', value: '-1' }, /less than 0/],
    [{ name: 'network.throttling.rate', value: '99999999999' }, /not a whole number|greater than/],
    [{ name: 'network.throttling.rate' }, /empty value is not allowed/],
    [{ name: 'network.throttling.rate', value: 'NULL' }, /not a whole number/],
    [{ name: 'network.loadbalancer.haproxy.max.conn', value: '0' }, /less than 1/],
    [{ name: 'router.service.offering', value: small.id }, /not a system offering for virtual routers/],
    [{ name: 'router.service.offering', value: 'Big router' }, /not the id of a service offering/],
    [{ name: 'router.service.offering', value: '6f0d1a3e-0000-4000-8000-00000000dead' }, /no service offering has id/],
    [{ name: 'no.such.key', value: '1' }, /Config parameter with name no\.such\.key doesn't exist/],
    [{ name: 'network.throttling.rate', value: '10', zoneid: '6f0d1a3e-0000-4000-8000-00000000dead' }, /Invalid parameter zoneid: Flotilla keeps global configuration values only/],
    [{ name: 'network.throttling.rate', value: 'x'.repeat(4097) }, /max allowed length 4096 for param: value/],
    [{ value: '10' }, /missing parameter name/],
  ] as Array<[Record<string, string>, RegExp]>) {
    const r = await admin.call('updateConfiguration', p);
    t.is(r.status, 431, JSON.stringify(p));
    t.regex(String(r.body.errortext), text);
  }
  const scoped = await admin.call('listConfigurations', { accountid: '6f0d1a3e-0000-4000-8000-00000000dead' });
  t.is(scoped.status, 431);
  t.is(await snapshot(), before);

  const user = await makeAccount(admin, url, { name: 'carol' });
  t.is((await user.api.call('listConfigurations')).status, 432);
  const events = (await admin.ok('listEvents', { type: 'CONFIGURATION.VALUE.EDIT' })).event ?? [];
  t.true(events.length >= 5, 'configuration changes are audited');
  // (its own admin keys replace the first manager's) A restart re-seeds definitions but keeps the values set.
  const again = await startManager(t, dialect, {}, db);
  t.is(byName((await again.admin.ok('listConfigurations')).configuration, 'network.throttling.rate').value, '0');
});
