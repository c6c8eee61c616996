// Network and service offerings over real HTTP with signed requests, on PGlite and PostgreSQL:
// CloudStack's seeded defaults, answer shapes, map parameters, and every refusal leaving the
// database as it was.
import type { ExecutionContext } from 'ava';
import { eachDialect, makeAccount, startManager, type Api } from './helpers.ts';
import type { Sql } from '../src/db/sql.ts';

type Params = Record<string, string | number | boolean>;

async function refused(t: ExecutionContext, api: Api, command: string, params: Params, code: number, text: RegExp): Promise<void> {
  const r = await api.call(command, params);
  t.is(r.status, code, `${command} ${JSON.stringify(params)} → ${JSON.stringify(r.body)}`);
  t.is(r.body.errorcode, code);
  t.regex(String(r.body.errortext), text, `${command} ${JSON.stringify(params)}`);
}

/** A digest of the offerings tables, to prove a refused call wrote nothing. */
async function offeringsDigest(sql: Sql): Promise<string> {
  const parts: string[] = [];
  for (const table of ['network_offerings', 'service_offerings', 'configurations']) {
    const r = await sql.query(`SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) AS h, count(*) AS n FROM ${table} t`);
    parts.push(`${table}:${JSON.stringify(r[0])}`);
  }
  return parts.join(' ');
}

const byName = (list: any[], name: string) => list.find((o) => o.name === name);
const servicesOf = (o: any) => Object.fromEntries((o.service ?? []).map((s: any) => [s.name, s.provider.map((p: any) => p.name).join(',')]));

eachDialect('seeded defaults: CloudStack names, texts, services and flags; idempotent across restarts', async (t, dialect) => {
  const { admin, db } = await startManager(t, dialect);
  const list = (await admin.ok('listNetworkOfferings')).networkoffering as any[];
  t.deepEqual(list.map((o) => o.name), [
    'DefaultSharedNetworkOffering', 'DefaultIsolatedNetworkOfferingWithSourceNatService', 'DefaultIsolatedNetworkOffering',
    'DefaultIsolatedNetworkOfferingForVpcNetworks', 'DefaultIsolatedNetworkOfferingForVpcNetworksNoLB', 'QuickCloudNoServices',
    'DefaultL2NetworkOffering', 'DefaultL2NetworkOfferingVlan',
  ]);
  const snat = byName(list, 'DefaultIsolatedNetworkOfferingWithSourceNatService');
  t.is(snat.displaytext, 'Offering for Isolated networks with Source Nat service enabled');
  t.like(snat, { traffictype: 'Guest', guestiptype: 'Isolated', availability: 'Required', state: 'Enabled', isdefault: true, specifyvlan: false,
    specifyipranges: false, conservemode: true, forvpc: false, egressdefaultpolicy: false, networkrate: 200, internetprotocol: 'IPv4' });
  t.deepEqual(servicesOf(snat), { Dhcp: 'VirtualRouter', Dns: 'VirtualRouter', UserData: 'VirtualRouter', Firewall: 'VirtualRouter', Lb: 'VirtualRouter',
    SourceNat: 'VirtualRouter', StaticNat: 'VirtualRouter', PortForwarding: 'VirtualRouter', Vpn: 'VirtualRouter' }, 'Gateway is not shown, as in CloudStack');
  const snatCaps = snat.service.find((s: any) => s.name === 'SourceNat').capability;
  t.deepEqual(snatCaps, [{ name: 'SupportedSourceNatTypes', value: 'peraccount' }, { name: 'RedundantRouter', value: 'false' }]);
  t.regex(snat.created, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0000$/);
  const shared = byName(list, 'DefaultSharedNetworkOffering');
  t.like(shared, { displaytext: 'Offering for Shared networks', guestiptype: 'Shared', specifyvlan: true, specifyipranges: true, availability: 'Optional' });
  t.deepEqual(servicesOf(shared), { Dhcp: 'VirtualRouter', Dns: 'VirtualRouter', UserData: 'VirtualRouter' });
  const vpc = byName(list, 'DefaultIsolatedNetworkOfferingForVpcNetworks');
  t.like(vpc, { displaytext: 'Offering for Isolated Vpc networks with Source Nat service enabled', forvpc: true, conservemode: false });
  t.deepEqual(Object.keys(servicesOf(vpc)).sort(), ['Dhcp', 'Dns', 'Lb', 'NetworkACL', 'PortForwarding', 'SourceNat', 'StaticNat', 'UserData', 'Vpn']);
  t.true(Object.values(servicesOf(vpc)).every((p) => p === 'VPCVirtualRouter'));
  t.false('Lb' in servicesOf(byName(list, 'DefaultIsolatedNetworkOfferingForVpcNetworksNoLB')));

  const sos = (await admin.ok('listServiceOfferings')).serviceoffering as any[];
  t.deepEqual(sos.map((o) => o.name), ['Small Instance', 'Medium Instance'], 'system offerings are listed only with issystem=true');
  t.like(byName(sos, 'Small Instance'), { displaytext: 'Small Instance', cpunumber: 1, cpuspeed: 500, memory: 512, issystem: false, iscustomized: false, storagetype: 'shared' });
  t.like(byName(sos, 'Medium Instance'), { cpunumber: 1, cpuspeed: 1000, memory: 1024 });
  const sys = (await admin.ok('listServiceOfferings', { issystem: true })).serviceoffering as any[];
  const router = byName(sys, 'System Offering For Software Router');
  t.like(router, { issystem: true, systemvmtype: 'domainrouter', defaultuse: true, offerha: true, cpunumber: 1, memory: 256, storagetype: 'shared' });
  t.like(byName(sys, 'System Offering For Software Router - Local Storage'), { storagetype: 'local', systemvmtype: 'domainrouter' });
  t.true(list.every((o) => o.serviceofferingid === router.id), 'offerings without their own router offering show the default one');

  // A second manager on the same database seeds again: nothing is duplicated or reset.
  await admin.ok('updateNetworkOffering', { id: shared.id, displaytext: 'edited by the admin' });
  const before = await offeringsDigest(db);
  const second = await startManager(t, dialect, {}, db);
  t.is(await offeringsDigest(db), before);
  t.is(byName((await second.admin.ok('listNetworkOfferings')).networkoffering, 'DefaultSharedNetworkOffering').displaytext, 'edited by the admin');
});

eachDialect('createNetworkOffering with map parameters, listing filters, enabling, deleting', async (t, dialect) => {
  const { admin } = await startManager(t, dialect);
  const created = (await admin.ok('createNetworkOffering', {
    name: 'Flt Isolated', guestiptype: 'isolated', traffictype: 'GUEST', supportedservices: 'Dhcp,Dns,SourceNat,PortForwarding,Lb,UserData',
    'serviceproviderlist[0].service': 'Dhcp', 'serviceproviderlist[0].provider': 'VirtualRouter',
    'serviceproviderlist[1].service': 'SourceNat', 'serviceproviderlist[1].provider': 'VirtualRouter',
    'servicecapabilitylist[0].service': 'SourceNat', 'servicecapabilitylist[0].capabilitytype': 'SupportedSourceNatTypes', 'servicecapabilitylist[0].capabilityvalue': 'peraccount',
    'servicecapabilitylist[1].service': 'SourceNat', 'servicecapabilitylist[1].capabilitytype': 'RedundantRouter', 'servicecapabilitylist[1].capabilityvalue': 'true',
    'servicecapabilitylist[2].service': 'Lb', 'servicecapabilitylist[2].capabilitytype': 'SupportedLBIsolation', 'servicecapabilitylist[2].capabilityvalue': 'dedicated',
    egressdefaultpolicy: false, networkrate: 50, tags: ' a, ,b ',
  })).networkoffering;
  t.like(created, { name: 'Flt Isolated', displaytext: 'Flt Isolated', guestiptype: 'Isolated', traffictype: 'Guest', state: 'Disabled', isdefault: false,
    egressdefaultpolicy: false, networkrate: 50, tags: 'a,b', availability: 'Optional', forvpc: false, conservemode: true, maxconnections: 4096 });
  t.deepEqual(servicesOf(created), { Dhcp: 'VirtualRouter', Dns: 'VirtualRouter', SourceNat: 'VirtualRouter', PortForwarding: 'VirtualRouter',
    Lb: 'VirtualRouter', UserData: 'VirtualRouter', Firewall: 'VirtualRouter' }, 'unnamed providers default to the router; Firewall comes with PortForwarding');
  t.deepEqual(created.service.find((s: any) => s.name === 'SourceNat').capability, [
    { name: 'SupportedSourceNatTypes', value: 'peraccount' }, { name: 'RedundantRouter', value: 'true' }]);

  const vpc = (await admin.ok('createNetworkOffering', {
    name: 'Flt VPC tier', guestiptype: 'Isolated', traffictype: 'Guest', supportedservices: 'Dhcp,Dns,NetworkACL,SourceNat', enable: true, networkrate: -5,
  })).networkoffering;
  t.like(vpc, { forvpc: true, state: 'Enabled', networkrate: -1 });
  t.true(Object.values(servicesOf(vpc)).every((p) => p === 'VPCVirtualRouter'), 'NetworkACL makes it a VPC offering served by the VPC router');

  const shared = (await admin.ok('createNetworkOffering', {
    name: 'Flt Shared', displaytext: 'shared one', guestiptype: 'Shared', traffictype: 'Guest', specifyipranges: true, specifyvlan: true, supportedservices: 'Dhcp,Dns',
  })).networkoffering;
  t.like(shared, { displaytext: 'shared one', specifyipranges: true, specifyvlan: true });

  const names = async (p: Params) => ((await admin.ok('listNetworkOfferings', p)).networkoffering ?? []).map((o: any) => o.name);
  t.deepEqual(await names({ name: 'flt isolated' }), ['Flt Isolated']);
  t.deepEqual(await names({ id: vpc.id }), ['Flt VPC tier']);
  t.deepEqual(await names({ keyword: 'FLT', forvpc: true }), ['Flt VPC tier']);
  t.deepEqual(await names({ keyword: 'flt', state: 'disabled' }), ['Flt Isolated', 'Flt Shared']);
  t.deepEqual(await names({ keyword: 'flt', guestiptype: 'shared' }), ['Flt Shared']);
  t.deepEqual(await names({ keyword: 'flt', supportedservices: 'Lb,SourceNat' }), ['Flt Isolated']);
  t.deepEqual(await names({ keyword: 'flt', sourcenatsupported: false }), ['Flt Shared']);
  t.deepEqual(await names({ tags: 'a,b' }), ['Flt Isolated']);
  t.deepEqual(await names({ isdefault: true, availability: 'Required' }), ['DefaultIsolatedNetworkOfferingWithSourceNatService']);
  t.deepEqual(await names({ displaytext: 'SHARED ONE' }), ['Flt Shared']);
  const page = await admin.ok('listNetworkOfferings', { page: 2, pagesize: 4 });
  t.is(page.count, 11);
  t.is(page.networkoffering.length, 4);

  const updated = (await admin.ok('updateNetworkOffering', { id: created.id, state: 'enabled', name: 'Flt Isolated 2', displaytext: 'renamed', sortkey: -1, maxconnections: 100 })).networkoffering;
  t.like(updated, { state: 'Enabled', name: 'Flt Isolated 2', displaytext: 'renamed', maxconnections: 100 });
  t.is((await admin.ok('listNetworkOfferings')).networkoffering[0].name, 'Flt Isolated 2', 'sortkey orders the list');

  t.deepEqual(await admin.ok('deleteNetworkOffering', { id: shared.id }), { success: true });
  t.deepEqual(await names({ id: shared.id }), []);
  const ev = (await admin.ok('listEvents', { type: 'NETWORK.OFFERING.CREATE' })).event ?? [];
  t.true(ev.length >= 3, 'creations are audited');
});

eachDialect('bad input for network offerings: precise 431/536 and nothing written', async (t, dialect) => {
  const { admin, db } = await startManager(t, dialect);
  const ok: Params = { name: 'bad-probe', guestiptype: 'Isolated', traffictype: 'Guest' };
  const small = byName((await admin.ok('listServiceOfferings')).serviceoffering, 'Small Instance');
  const shared = byName((await admin.ok('listNetworkOfferings')).networkoffering, 'DefaultSharedNetworkOffering');
  const before = await offeringsDigest(db);
  const cases: Array<[Params, number, RegExp]> = [
    [{ guestiptype: 'Isolated', traffictype: 'Guest' }, 431, /missing parameter name/],
    [{ name: 'x', traffictype: 'Guest' }, 431, /missing parameter guestiptype/],
    [{ ...ok, traffictype: 'Bogus' }, 431, /Invalid value for traffictype/],
    [{ ...ok, traffictype: 'Public' }, 431, /Only traffic type Guest is supported/],
    [{ ...ok, guestiptype: 'Bridged' }, 431, /can have Shared, Isolated and L2 values/],
    [{ ...ok, guestiptype: 'L2', supportedservices: 'Dhcp' }, 431, /An L2 network offering cannot have services/],
    [{ ...ok, name: 'x'.repeat(256) }, 431, /max allowed length 255 for param: name/],
    [{ ...ok, name: 'bad\u0007name' }, 431, /Invalid parameter name .*control characters/],
    [{ ...ok, networkrate: 'fast' }, 431, /Invalid parameter networkrate/],
    [{ ...ok, supportedservices: 'Dhcp,Teleport' }, 431, /Invalid service Teleport/],
    [{ ...ok, supportedservices: 'Dhcp,Gateway' }, 431, /Invalid service Gateway/],
    [{ ...ok, supportedservices: 'Dhcp,SecurityGroup' }, 431, /Service SecurityGroup is not supported by Flotilla/],
    [{ ...ok, supportedservices: 'Dhcp', 'serviceproviderlist[0].service': 'Dhcp', 'serviceproviderlist[0].provider': 'Acme' }, 431, /Invalid service provider: Acme/],
    [{ ...ok, supportedservices: 'Dhcp', 'serviceproviderlist[0].service': 'Dhcp', 'serviceproviderlist[0].provider': 'Netscaler' }, 431, /Provider Netscaler is not supported by Flotilla/],
    [{ ...ok, supportedservices: 'Dhcp', 'serviceproviderlist[0].service': 'Dns', 'serviceproviderlist[0].provider': 'VirtualRouter' }, 431, /Service Dns is not enabled for the network offering/],
    [{ ...ok, supportedservices: 'Dhcp', 'serviceproviderlist[0].service': 'Dhcp' }, 431, /serviceproviderlist\[0\]\.provider is missing/],
    [{ ...ok, supportedservices: 'NetworkACL', 'serviceproviderlist[0].service': 'NetworkACL', 'serviceproviderlist[0].provider': 'VirtualRouter' }, 431, /Provider VirtualRouter doesn't support service NetworkACL/],
    [{ ...ok, supportedservices: 'Dhcp', 'serviceproviderlist[0].service': 'Dhcp', 'serviceproviderlist[0].provider': 'VPCVirtualRouter', forvpc: false }, 431, /can be used only by an offering for VPC networks/],
    [{ ...ok, supportedservices: 'UserData', 'serviceproviderlist[0].service': 'UserData', 'serviceproviderlist[0].provider': 'VirtualRouter' }, 431, /Please select VR as DHCP provider/],
    [{ ...ok, supportedservices: 'SourceNat', 'servicecapabilitylist[0].service': 'SourceNat', 'servicecapabilitylist[0].capabilitytype': 'SupportedSourceNatTypes', 'servicecapabilitylist[0].capabilityvalue': 'perzone' }, 431, /SupportedSourceNatTypes with value perzone is not supported/],
    [{ ...ok, supportedservices: 'SourceNat', 'servicecapabilitylist[0].service': 'SourceNat', 'servicecapabilitylist[0].capabilitytype': 'Warp', 'servicecapabilitylist[0].capabilityvalue': 'true' }, 431, /Only SupportedSourceNatTypes, RedundantRouter capabilities can be specified for SourceNat service/],
    [{ ...ok, supportedservices: 'Dhcp', 'servicecapabilitylist[0].service': 'Lb', 'servicecapabilitylist[0].capabilitytype': 'ElasticLb', 'servicecapabilitylist[0].capabilityvalue': 'false' }, 431, /Capabilities for Lb service can be specified only when Lb service is enabled/],
    [{ ...ok, guestiptype: 'Shared' }, 431, /SpecifyIpRanges should always be true for Shared network offerings/],
    [{ ...ok, supportedservices: 'SourceNat', specifyipranges: true }, 431, /SpecifyIpRanges can only be true for Shared network offerings and Isolated with no SourceNat/],
    [{ ...ok, guestiptype: 'Shared', specifyipranges: true, ispersistent: true }, 431, /isPersistent should be false/],
    [{ ...ok, supportedservices: 'SourceNat', availability: 'Required' }, 431, /System already has network offering id=.* with availability Required/],
    [{ ...ok, availability: 'Required' }, 431, /Availability can be Required only for networkOfferings of type Isolated and with SourceNat/],
    [{ ...ok, availability: 'Sometimes' }, 431, /Invalid value for Availability/],
    [{ ...ok, name: 'defaultsharednetworkoffering' }, 431, /Network offering with name defaultsharednetworkoffering already exists/],
    [{ ...ok, domainid: '6f0d1a3e-0000-4000-8000-00000000dead' }, 431, /Please specify a valid domain id/],
    [{ ...ok, zoneid: '6f0d1a3e-0000-4000-8000-00000000dead' }, 431, /Please specify a valid zone id/],
    [{ ...ok, domainid: 'ROOT' }, 431, /Invalid parameter domainid/],
    [{ ...ok, serviceofferingid: small.id }, 431, /is not a system offering with systemvmtype domainrouter/],
    [{ ...ok, fornsx: true }, 431, /NSX offerings are not supported/],
    [{ ...ok, supportedservices: 'Dhcp', maxconnections: 10 }, 431, /maxconnections can be given only when the Lb service is enabled/],
    [{ ...ok, internetprotocol: 'ipv5' }, 431, /Invalid value for internetprotocol/],
  ];
  for (const [p, code, text] of cases) await refused(t, admin, 'createNetworkOffering', p, code, text);
  await refused(t, admin, 'updateNetworkOffering', { id: shared.id, state: 'Sleeping' }, 431, /Incorrect state value: Sleeping/);
  await refused(t, admin, 'updateNetworkOffering', { id: shared.id, availability: 'Required' }, 431, /Availability can be Required only/);
  await refused(t, admin, 'updateNetworkOffering', { id: shared.id, name: 'DefaultIsolatedNetworkOffering' }, 431, /already exists/);
  await refused(t, admin, 'updateNetworkOffering', { id: shared.id, maxconnections: 5 }, 431, /maxconnections can be given only/);
  await refused(t, admin, 'updateNetworkOffering', { id: shared.id, zoneid: 'everywhere' }, 431, /Invalid parameter zoneid/);
  await refused(t, admin, 'updateNetworkOffering', { id: shared.id, name: 'new', domainid: '6f0d1a3e-0000-4000-8000-00000000dead' }, 431, /valid domain id/);
  await refused(t, admin, 'updateNetworkOffering', { name: 'new' }, 431, /missing parameter id/);
  await refused(t, admin, 'updateNetworkOffering', { id: '6f0d1a3e-0000-4000-8000-00000000dead', name: 'x' }, 431, /unable to find network offering/);
  await refused(t, admin, 'deleteNetworkOffering', { id: shared.id }, 431, /Default network offering can't be deleted/);
  await refused(t, admin, 'deleteNetworkOffering', { id: '6f0d1a3e-0000-4000-8000-00000000dead' }, 431, /unable to find network offering/);
  await refused(t, admin, 'listNetworkOfferings', { supportedservices: 'Teleport' }, 431, /Invalid service specified Teleport/);
  await refused(t, admin, 'listNetworkOfferings', { zoneid: '6f0d1a3e-0000-4000-8000-00000000dead' }, 431, /Unable to find the zone/);
  t.is(await offeringsDigest(db), before, 'a refused call changed an offering');

  // In use: a network (the networks table belongs to another area; a minimal one stands in
  // where it does not exist yet) keeps its offering alive.
  const mine = (await admin.ok('createNetworkOffering', { ...ok, supportedservices: 'Dhcp,Dns' })).networkoffering;
  const hasNetworks = (await db.query(`SELECT to_regclass('networks') AS r`))[0] as { r: string | null };
  if (!hasNetworks.r) await db.query('CREATE TABLE networks (id uuid PRIMARY KEY, network_offering_id uuid NOT NULL)');
  const cols = await db.query<{ column_name: string; is_nullable: string; column_default: string | null }>(
    `SELECT column_name, is_nullable, column_default FROM information_schema.columns WHERE table_name = 'networks'`);
  if (cols.every((c) => c.column_name === 'id' || c.column_name === 'network_offering_id' || c.is_nullable === 'YES' || c.column_default !== null)) {
    await db.query(`INSERT INTO networks (id, network_offering_id) VALUES ('6f0d1a3e-0000-4000-8000-0000000000aa', $1)`, [mine.id]);
    await refused(t, admin, 'deleteNetworkOffering', { id: mine.id }, 536, /as its used by 1 networks\. To make the network offering unavailable, disable it/);
    t.is((await admin.ok('listNetworkOfferings', { id: mine.id })).count, 1);
  } else {
    t.log('networks table of the networks area has required columns; in-use check covered by its own tests');
  }
});

eachDialect('users list only enabled offerings they may use and get 432 for admin commands', async (t, dialect) => {
  const { admin, url } = await startManager(t, dialect);
  const child = (await admin.ok('createDomain', { name: 'tenants' })).domain;
  const other = (await admin.ok('createDomain', { name: 'others' })).domain;
  const user = await makeAccount(admin, url, { name: 'alice', domainid: child.id });
  const outsider = await makeAccount(admin, url, { name: 'bob', domainid: other.id });
  await admin.ok('createNetworkOffering', { name: 'disabled one', guestiptype: 'Isolated', traffictype: 'Guest', supportedservices: 'Dhcp' });
  await admin.ok('createNetworkOffering', { name: 'tenants only', guestiptype: 'Isolated', traffictype: 'Guest', supportedservices: 'Dhcp', enable: true, domainid: child.id });
  const dedicated = (await admin.ok('createServiceOffering', { name: 'tenant size', cpunumber: 2, cpuspeed: 1000, memory: 2048, domainid: child.id })).serviceoffering;
  t.is(dedicated.domainid, child.id);
  t.is(dedicated.domain, 'tenants');

  const names = async (api: Api, cmd: string, p: Params = {}) => {
    const r = await api.ok(cmd, p);
    return (r.networkoffering ?? r.serviceoffering ?? []).map((o: any) => o.name);
  };
  const seen = await names(user.api, 'listNetworkOfferings');
  t.true(seen.includes('tenants only'));
  t.false(seen.includes('disabled one'), 'users do not see disabled offerings');
  t.false((await names(user.api, 'listNetworkOfferings', { state: 'Disabled' })).includes('disabled one'));
  t.false((await names(outsider.api, 'listNetworkOfferings')).includes('tenants only'), 'dedicated to another domain');
  t.true((await names(user.api, 'listServiceOfferings')).includes('tenant size'));
  t.false((await names(outsider.api, 'listServiceOfferings')).includes('tenant size'));
  t.true((await names(admin, 'listNetworkOfferings', { domainid: child.id })).includes('tenants only'));
  t.false((await names(admin, 'listNetworkOfferings', { domainid: other.id })).includes('tenants only'));
  await refused(t, user.api, 'listServiceOfferings', { issystem: true }, 431, /Only ROOT admins can access system's offering/);

  const anyId = dedicated.id;
  for (const [cmd, p] of [
    ['createNetworkOffering', { name: 'x', guestiptype: 'Isolated', traffictype: 'Guest' }], ['updateNetworkOffering', { id: anyId }],
    ['deleteNetworkOffering', { id: anyId }], ['createServiceOffering', { name: 'x' }], ['updateServiceOffering', { id: anyId }],
    ['deleteServiceOffering', { id: anyId }], ['listConfigurations', {}], ['updateConfiguration', { name: 'network.throttling.rate', value: '1' }],
  ] as Array<[string, Params]>) {
    await refused(t, user.api, cmd, p, 432, /does not exist or it is not available/);
  }
});

eachDialect('service offerings: create, list filters, update, delete, refusals', async (t, dialect) => {
  const { admin, db } = await startManager(t, dialect);
  const fixed = (await admin.ok('createServiceOffering', { name: 'Large', cpunumber: 4, cpuspeed: 2000, memory: 8192, offerha: true, storagetype: 'LOCAL', tags: 'ssd', hosttags: 'fast' })).serviceoffering;
  t.like(fixed, { name: 'Large', displaytext: 'Large', cpunumber: 4, cpuspeed: 2000, memory: 8192, offerha: true, storagetype: 'local', storagetags: 'ssd',
    hosttags: 'fast', issystem: false, iscustomized: false, state: 'Active', provisioningtype: 'thin' });
  const custom = (await admin.ok('createServiceOffering', { name: 'Custom', displaytext: 'any size' })).serviceoffering;
  t.like(custom, { iscustomized: true, displaytext: 'any size' });
  t.false('cpunumber' in custom);
  const router = (await admin.ok('createServiceOffering', { name: 'Big router', cpunumber: 2, cpuspeed: 1000, memory: 1024, issystem: true, networkrate: 1000 })).serviceoffering;
  t.like(router, { issystem: true, systemvmtype: 'domainrouter', networkrate: 1000, defaultuse: false });

  const names = async (p: Params) => ((await admin.ok('listServiceOfferings', p)).serviceoffering ?? []).map((o: any) => o.name);
  t.deepEqual(await names({ cpunumber: 4 }), ['Large', 'Custom']);
  t.deepEqual(await names({ storagetype: 'local' }), ['Large']);
  t.deepEqual(await names({ keyword: 'any' }), ['Custom']);
  t.true((await names({ issystem: true, systemvmtype: 'domainrouter' })).includes('Big router'));

  await admin.ok('updateServiceOffering', { id: custom.id, state: 'Inactive', name: 'Custom 2' });
  t.false((await names({})).includes('Custom 2'), 'inactive offerings are hidden by default');
  t.true((await names({ state: 'all' })).includes('Custom 2'));
  t.deepEqual(await names({ state: 'inactive' }), ['Custom 2']);

  const defaultRouter = byName((await admin.ok('listServiceOfferings', { issystem: true })).serviceoffering, 'System Offering For Software Router');
  const no = (await admin.ok('createNetworkOffering', { name: 'uses big router', guestiptype: 'Isolated', traffictype: 'Guest', supportedservices: 'Dhcp', serviceofferingid: router.id })).networkoffering;
  t.is(no.serviceofferingid, router.id);

  const before = await offeringsDigest(db);
  const cases: Array<[string, Params, number, RegExp]> = [
    ['createServiceOffering', { name: 'm', cpunumber: 1, memory: 16 }, 431, /Invalid parameter memory .*less than 32/],
    ['createServiceOffering', { name: 'c', cpunumber: 0, memory: 512 }, 431, /Invalid parameter cpunumber/],
    ['createServiceOffering', { name: 'c', cpunumber: 'two', memory: 512 }, 431, /Invalid parameter cpunumber/],
    ['createServiceOffering', { name: 's', storagetype: 'ssd' }, 431, /Invalid storage type ssd specified, valid types are: 'local' and 'shared'/],
    ['createServiceOffering', { name: 's', provisioningtype: 'thick' }, 431, /Invalid provisioning type thick/],
    ['createServiceOffering', { name: 's', systemvmtype: 'domainrouter' }, 431, /systemvmtype can be given only for a system offering/],
    ['createServiceOffering', { name: 's', issystem: true, cpunumber: 1, memory: 256, systemvmtype: 'toaster' }, 431, /Invalid system vm type/],
    ['createServiceOffering', { name: 's', issystem: true, cpunumber: 1, memory: 256, systemvmtype: 'consoleproxy', networkrate: 10 }, 431, /Network rate can be specified only/],
    ['createServiceOffering', { name: 's', issystem: true }, 431, /A system offering needs cpunumber and memory/],
    ['createServiceOffering', { name: '   ' }, 431, /offering name has not been specified/],
    ['createServiceOffering', { name: 's', customized: false, cpunumber: 1 }, 431, /fixed compute offering/],
    ['createServiceOffering', { name: 's', zoneid: '6f0d1a3e-0000-4000-8000-00000000dead' }, 431, /Please specify a valid zone id/],
    ['createServiceOffering', { name: 'x'.repeat(256) }, 431, /max allowed length 255 for param: name/],
    ['updateServiceOffering', { id: fixed.id, state: 'Gone' }, 431, /Invalid state value: Gone/],
    ['updateServiceOffering', { id: '6f0d1a3e-0000-4000-8000-00000000dead', name: 'x' }, 431, /unable to find service offering/],
    ['deleteServiceOffering', { id: defaultRouter.id }, 431, /Default service offerings cannot be deleted/],
    ['deleteServiceOffering', { id: router.id }, 536, /used by 1 network offerings/],
    ['listServiceOfferings', { state: 'sleeping' }, 431, /Invalid state value: sleeping/],
    ['listServiceOfferings', { domainid: '6f0d1a3e-0000-4000-8000-00000000dead' }, 431, /Unable to find the domain/],
  ];
  for (const [cmd, p, code, text] of cases) await refused(t, admin, cmd, p, code, text);
  t.is(await offeringsDigest(db), before, 'a refused call changed an offering');

  await admin.ok('deleteNetworkOffering', { id: no.id });
  t.deepEqual(await admin.ok('deleteServiceOffering', { id: router.id }), { success: true });
  t.deepEqual(await admin.ok('deleteServiceOffering', { id: byName((await admin.ok('listServiceOfferings')).serviceoffering, 'Small Instance').id }), { success: true },
    'the stock instance offerings are not default-use in CloudStack either');
  t.false((await names({ issystem: true })).includes('Big router'));
});
