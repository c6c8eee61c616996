// Real CloudStack clients create offerings with map parameters (`name[0].key=value`), which each
// client flattens and signs its own way: Debian's `cs` CLI and the `csclient` npm package.
import { eachDialect, startManager } from './helpers.ts';
import { cs, CloudStackClient } from './real-clients.ts';

const servicesOf = (o: any) => Object.fromEntries((o.service ?? []).map((s: any) => [s.name, s.provider.map((p: any) => p.name).join(',')]));

eachDialect('the cs CLI creates a network offering with provider and capability maps and sees a refusal', async (t, dialect) => {
  const { url, admin } = await startManager(t, dialect);
  const created = await cs(url, admin.apiKey, admin.secretKey, [
    'createNetworkOffering', 'name=cs offering', 'guestiptype=Isolated', 'traffictype=Guest', 'supportedservices=Dhcp,Dns,SourceNat,StaticNat',
    'serviceproviderlist[0].service=Dhcp', 'serviceproviderlist[0].provider=VirtualRouter',
    'serviceproviderlist[1].service=SourceNat', 'serviceproviderlist[1].provider=VirtualRouter',
    'servicecapabilitylist[0].service=SourceNat', 'servicecapabilitylist[0].capabilitytype=SupportedSourceNatTypes', 'servicecapabilitylist[0].capabilityvalue=peraccount',
    'servicecapabilitylist[1].service=SourceNat', 'servicecapabilitylist[1].capabilitytype=RedundantRouter', 'servicecapabilitylist[1].capabilityvalue=true',
  ]);
  t.is(created.code, 0, `${created.err} ${JSON.stringify(created.out)}`);
  t.is(created.out.networkoffering.name, 'cs offering');
  t.deepEqual(created.out.networkoffering.service.find((x: any) => x.name === 'SourceNat').capability,
    [{ name: 'SupportedSourceNatTypes', value: 'peraccount' }, { name: 'RedundantRouter', value: 'true' }], 'the capability map arrived');
  t.deepEqual(servicesOf(created.out.networkoffering), { Dhcp: 'VirtualRouter', Dns: 'VirtualRouter', SourceNat: 'VirtualRouter', StaticNat: 'VirtualRouter', Firewall: 'VirtualRouter' });
  const bad = await cs(url, admin.apiKey, admin.secretKey, [
    'createNetworkOffering', 'name=cs bad', 'guestiptype=Isolated', 'traffictype=Guest', 'supportedservices=Dhcp',
    'serviceproviderlist[0].service=Dhcp', 'serviceproviderlist[0].provider=Netscaler',
  ]);
  // cs prints CloudStack's error object as it got it
  t.is(bad.out?.createnetworkofferingresponse?.errorcode, 431, JSON.stringify(bad));
  t.regex(String(bad.out?.createnetworkofferingresponse?.errortext), /Provider Netscaler is not supported by Flotilla/);
  const listed = await cs(url, admin.apiKey, admin.secretKey, ['listNetworkOfferings', 'name=cs offering']);
  t.is(listed.out.count, 1);
});

eachDialect('the csclient npm package creates and enables a network offering with a provider map', async (t, dialect) => {
  const { url, admin } = await startManager(t, dialect);
  const client = new CloudStackClient({ apiKey: admin.apiKey, secretKey: admin.secretKey, baseUrl: `${url}/client/api?`, pollingTime: 100, pollingNumber: 100, singleExecutor: true });
  await new Promise<void>((resolve, reject) => { client.once('ready', resolve); client.once('error', reject); });
  const exec = (cmd: string, params: Record<string, unknown>) => new Promise<any>((resolve, reject) =>
    client.execute(cmd, params, (err: any, res: any) => (err ? reject(err) : resolve(res))));
  const created = (await exec('createNetworkOffering', {
    name: 'npm offering', guestiptype: 'Isolated', traffictype: 'Guest', supportedservices: 'Dhcp,Dns,UserData',
    'serviceproviderlist[0].service': 'UserData', 'serviceproviderlist[0].provider': 'VirtualRouter',
  })).createnetworkofferingresponse.networkoffering;
  t.deepEqual(servicesOf(created), { Dhcp: 'VirtualRouter', Dns: 'VirtualRouter', UserData: 'VirtualRouter' });
  const enabled = (await exec('updateNetworkOffering', { id: created.id, state: 'Enabled' })).updatenetworkofferingresponse.networkoffering;
  t.is(enabled.state, 'Enabled');
  const err = await exec('updateNetworkOffering', { id: created.id, state: 'Sleeping' }).then(() => undefined, (e) => e);
  t.is(err?.code, 431);
  t.regex(String(err?.message), /Incorrect state value: Sleeping/);
});
