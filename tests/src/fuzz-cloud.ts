// The simulator cloud the API fuzzer runs against (tests/src/fuzz.ts): an in-process manager on
// embedded PGlite, a Simulator zone with a host and a public range, and real objects of each kind
// (a tenant's network, VM, addresses and rules; a victim account, domain and role to be acted on)
// so the fuzzer's calls carry real ids beside the hostile value.
import type { ExecutionContext } from 'ava';
import { buildRegistry } from '@flotilla/manager/commands/index';
import type { Api } from '@flotilla/manager/client';
import type { Database } from '@flotilla/manager/db/sql';
import { cloudOn, simZone, tenant as makeTenant } from './clients.ts';
import type { Fixtures } from './fuzz.ts';

export interface FuzzCloud { admin: Api; tenant: Api; db: Database; fixtures: Fixtures }

export async function fuzzCloud(t: ExecutionContext, dialect: 'pglite' | 'postgres' = 'pglite'): Promise<FuzzCloud> {
  const cloud = await cloudOn(t, dialect);
  const { admin } = cloud;
  const z = await simZone(t, cloud, 'fz');
  const ten = await makeTenant(cloud, 'fuzzten');
  const first = async (cmd: string, key: string, params: Record<string, string> = {}) => (await admin.ok(cmd, params))[key]?.[0]?.id as string | undefined;
  const iso = (await admin.ok('listNetworkOfferings', { name: 'DefaultIsolatedNetworkOfferingWithSourceNatService' })).networkoffering[0].id;
  const so = (await admin.ok('listServiceOfferings', { name: 'Small Instance' })).serviceoffering[0].id;
  const tpl = (await admin.ok('listTemplates', { templatefilter: 'featured' })).template[0].id;
  const net = (await ten.ok('createNetwork', { zoneid: z.zoneId, name: 'fuzznet', displaytext: 'fuzz', networkofferingid: iso })).network.id;
  const vm = (await ten.jobOk('deployVirtualMachine', { zoneid: z.zoneId, serviceofferingid: so, templateid: tpl, networkids: net, name: 'fuzzvm' })).virtualmachine.id;
  const ip = (await ten.jobOk('associateIpAddress', { networkid: net })).ipaddress.id;
  const ip2 = (await ten.jobOk('associateIpAddress', { networkid: net })).ipaddress.id;
  const fw = (await ten.jobOk('createFirewallRule', { ipaddressid: ip, protocol: 'tcp', startport: '22', endport: '22', cidrlist: '192.0.2.0/24' })).firewallrule.id;
  const pf = (await ten.jobOk('createPortForwardingRule', { ipaddressid: ip, protocol: 'tcp', publicport: '80', privateport: '80', virtualmachineid: vm, openfirewall: 'false' })).portforwardingrule.id;
  const lb = (await ten.jobOk('createLoadBalancerRule', { publicipid: ip2, name: 'fuzzlb', algorithm: 'roundrobin', publicport: '8080', privateport: '8080', networkid: net })).loadbalancer.id;
  const victim = (await admin.ok('createAccount', { username: 'fuzzvictim', account: 'fuzzvictim', password: 'pw-victim-1', email: 'v@example.org', firstname: 'v', lastname: 'v', accounttype: '0' })).account;
  const domain = (await admin.ok('createDomain', { name: 'fuzzdom' })).domain.id;
  const role = (await admin.ok('createRole', { name: 'fuzzrole', type: 'User' })).role.id;
  const ids: Record<string, string | undefined> = {
    zone: z.zoneId, pod: z.podId, cluster: z.clusterId, physicalnetwork: z.physicalNetworkId, host: await first('listHosts', 'host', { zoneid: z.zoneId }),
    network: net, networkoffering: iso, serviceoffering: so, template: tpl, diskoffering: await first('listDiskOfferings', 'diskoffering'),
    virtualmachine: vm, ipaddress: ip, publicip: ip2, firewallrule: fw, portforwardingrule: pf, lbrule: lb,
    account: victim.id, user: victim.user[0].id, domain, role, volume: await first('listVolumes', 'volume', { listall: 'true' }),
    router: await first('listRouters', 'router', { listall: 'true' }), vlan: await first('listVlanIpRanges', 'vlaniprange'),
  };
  const fixtures: Fixtures = {
    ids: Object.fromEntries(Object.entries(ids).filter((e): e is [string, string] => typeof e[1] === 'string')),
    names: { account: 'fuzzvictim', name: 'fuzzname', displaytext: 'fuzz', username: 'fuzzuser' },
  };
  return { admin, tenant: ten, db: cloud.m.services.db, fixtures };
}

/** Every registered command, or those matching FLT_FUZZ_ONLY (a regular expression). */
export function fuzzCommands() {
  const only = process.env.FLT_FUZZ_ONLY ? new RegExp(process.env.FLT_FUZZ_ONLY) : undefined;
  return buildRegistry().all().filter((c) => !only || only.test(c.name));
}
