// Bad input for every infra command, generated from the command declarations themselves (so a
// new parameter is covered the day it is declared): each missing required parameter, and each
// parameter wrong-typed, oversized, with control characters or malformed, answers 431 naming
// the parameter — and nothing changed. Then authorization: only root admins reach infra
// mutations and admin lists; every role may list zones.
import { randomUUID } from 'node:crypto';
import * as infra from '../src/commands/infra/index.ts';
import type { AnyCommand } from '../src/api/registry.ts';
import { eachDialect, makeAccount, startManager } from './helpers.ts';
import { buildZone, jobRefused, refused, snapshot } from './infra-helpers.ts';

const COMMANDS = Object.values(infra).filter((v): v is AnyCommand => typeof v === 'object' && v !== null && 'handler' in v && 'params' in v);

/** Parse-valid required parameters of each command, given the ids of a built zone. */
function base(env: Awaited<ReturnType<typeof buildZone>> & { nspId: string; elementId: string; trafficId: string }): Record<string, Record<string, string>> {
  return {
    createZone: { name: 'z2', dns1: '192.0.2.1', networktype: 'Advanced' },
    listZones: {},
    updateZone: { id: env.zoneId },
    deleteZone: { id: env.zoneId },
    createPod: { name: 'p2', zoneid: env.zoneId, startip: '192.168.70.10', netmask: '255.255.255.0', gateway: '192.168.70.1' },
    updatePod: { id: env.podId },
    listPods: {},
    deletePod: { id: env.podId },
    addCluster: { clustername: 'c2', clustertype: 'CloudManaged', hypervisor: 'KVM', podid: env.podId, zoneid: env.zoneId },
    updateCluster: { id: env.clusterId },
    listClusters: {},
    deleteCluster: { id: env.clusterId },
    listHosts: {},
    createPhysicalNetwork: { name: 'pn2', zoneid: env.zoneId },
    listPhysicalNetworks: {},
    updatePhysicalNetwork: { id: env.pnetId },
    deletePhysicalNetwork: { id: env.pnetId },
    addTrafficType: { physicalnetworkid: env.pnetId, traffictype: 'Management' },
    updateTrafficType: { id: env.trafficId },
    deleteTrafficType: { id: env.trafficId },
    listTrafficTypes: { physicalnetworkid: env.pnetId },
    listNetworkServiceProviders: {},
    updateNetworkServiceProvider: { id: env.nspId },
    listVirtualRouterElements: {},
    configureVirtualRouterElement: { id: env.elementId, enabled: 'true' },
    listInternalLoadBalancerElements: {},
    configureInternalLoadBalancerElement: { id: env.elementId, enabled: 'true' },
    createVlanIpRange: { zoneid: env.zoneId },
    listVlanIpRanges: {},
    deleteVlanIpRange: { id: env.rangeId },
  };
}

interface Case { what: string; params: Record<string, string>; param: string }

/** The bad variants of one command's parameters, by declared type. */
function badCases(cmd: AnyCommand, ok: Record<string, string>): Case[] {
  const cases: Case[] = [];
  for (const [name, def] of Object.entries(cmd.params)) {
    if (def.required) {
      const p = { ...ok }; delete p[name];
      cases.push({ what: `missing ${name}`, params: p, param: name });
    }
    const bad = (what: string, value: string) => cases.push({ what: `${what} ${name}`, params: { ...ok, [name]: value }, param: name });
    const maxLen = def.length ?? (def.type === 'string' ? 255 : 4096);
    switch (def.type) {
      case 'uuid': bad('wrong-typed', 'not-a-uuid'); bad('oversized', `${randomUUID()}${'0'.repeat(4096)}`); break;
      // booleans: any value parses (Boolean.parseBoolean, as CloudStack), see tests/test/api-semantics.test.ts
      case 'integer': case 'short': case 'long': bad('wrong-typed', 'twelve'); bad('out-of-range', '99999999999999999999'); break;
      case 'list': bad('oversized', 'a,'.repeat(maxLen)); if (def.of === 'uuid') bad('wrong-typed', 'x,y'); break;
      case 'string':
        bad('oversized', 'x'.repeat(maxLen + 1));
        bad('control characters in', 'a\u0001b');
        // ' x ' fails every declared check: names (surrounding spaces), addresses, labels, ranges, enums.
        if (def.check || def.values) bad('malformed', ' x ');
        break;
      default: break;
    }
  }
  return cases;
}

eachDialect('every infra command refuses missing, wrong-typed, oversized and malformed parameters with 431, changing nothing', async (t, dialect) => {
  const { admin, db } = await startManager(t, dialect);
  const env = await buildZone(t, admin);
  const nspId = (await admin.ok('listNetworkServiceProviders', { physicalnetworkid: env.pnetId, name: 'VirtualRouter' })).networkserviceprovider[0].id;
  const elementId = (await admin.ok('listVirtualRouterElements', { nspid: nspId })).virtualrouterelement[0].id;
  const trafficId = (await admin.ok('listTrafficTypes', { physicalnetworkid: env.pnetId })).traffictype[0].id;
  const ok = base({ ...env, nspId, elementId, trafficId });
  t.deepEqual(Object.keys(ok).sort(), COMMANDS.map((c) => c.name).sort(), 'a base case for every infra command');

  const before = await snapshot(db);
  const jobsBefore = (await db.query('SELECT id FROM async_jobs')).length;
  let n = 0;
  for (const cmd of COMMANDS) {
    for (const c of badCases(cmd, ok[cmd.name]!)) {
      const r = await admin.call(cmd.name, c.params);
      t.is(r.status, 431, `${cmd.name}: ${c.what} → ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
      t.regex(String(r.body.errortext), new RegExp(`\\b${c.param}\\b`), `${cmd.name}: ${c.what} names the parameter`);
      n++;
    }
  }
  t.true(n > 150, `${n} bad requests`);
  t.is(await snapshot(db), before, 'nothing changed');
  t.is((await db.query('SELECT id FROM async_jobs')).length, jobsBefore, 'no async job was even queued');

  // Well-formed ids of objects that do not exist: 431 naming the parameter (async ones in their job).
  const ghost = randomUUID();
  for (const cmd of COMMANDS) {
    for (const [name, def] of Object.entries(cmd.params)) {
      if (def.type !== 'uuid' || !def.required) continue;
      const params = { ...ok[cmd.name]!, [name]: ghost };
      const text = cmd.isAsync ? await jobRefused(t, admin, cmd.name, params, 431) : await refused(t, admin, cmd.name, params, 431);
      t.true(text.includes(`Invalid parameter ${name} value=${ghost} due to incorrect long value format, or entity does not exist`), `${cmd.name} ${name}: ${text}`);
    }
  }
  // Semantically malformed values the declarations cannot catch alone.
  const z = env.zoneId;
  await refused(t, admin, 'createZone', { name: 'z3', dns1: '192.0.2.1', networktype: 'Advanced', guestcidraddress: '10.1.1.7/24' }, 431, /guestcidraddress value=10\.1\.1\.7\/24 due to it is not a network address; did you mean 10\.1\.1\.0\/24\?/);
  await refused(t, admin, 'createZone', { name: 'z3', dns1: '192.0.2.1', networktype: 'Basic', guestcidraddress: '10.1.1.0/24' }, 431, /guestcidraddress can only be set on an Advanced zone/);
  await refused(t, admin, 'createZone', { name: ' z3', dns1: '192.0.2.1', networktype: 'Advanced' }, 431, /name value= z3 due to leading or trailing spaces/);
  await refused(t, admin, 'createZone', { name: 'z3', dns1: '192.0.2.1', networktype: 'Advanced', domain: 'bad_domain!' }, 431, /Invalid parameter domain/);
  await refused(t, admin, 'createPod', { ...ok.createPod!, netmask: '255.0.255.0' }, 431, /netmask value=255\.0\.255\.0 due to it is not a contiguous netmask/);
  await refused(t, admin, 'createPod', { ...ok.createPod!, startip: '192.168.70.1' }, 431, /gateway 192\.168\.70\.1 \(gateway\) is inside the IP range/);
  await refused(t, admin, 'addTrafficType', { physicalnetworkid: env.pnetId, traffictype: 'Storage', kvmnetworklabel: 'br0;reboot' }, 431, /kvmnetworklabel value=br0;reboot due to a Linux interface name/);
  await refused(t, admin, 'addTrafficType', { physicalnetworkid: env.pnetId, traffictype: 'Storage', kvmnetworklabel: 'a-very-long-bridge' }, 431, /kvmnetworklabel/);
  await refused(t, admin, 'createPhysicalNetwork', { name: 'pn9', zoneid: z, vlan: '100-abc' }, 431, /vlan value=100-abc due to "100-abc" is not a GRE key/);
  await refused(t, admin, 'createVlanIpRange', { zoneid: z, vlan: 'vlan://1;x', gateway: '198.51.100.1', netmask: '255.255.255.0', startip: '198.51.100.9' }, 431, /vlan value=vlan:\/\/1;x/);
  await refused(t, admin, 'createVlanIpRange', { zoneid: z, ip6gateway: 'fe80::1%eth0', ip6cidr: '2001:db8::/64' }, 431, /ip6gateway value=fe80::1%eth0 due to it is not an IPv6 address/);
  t.is(await snapshot(db), before, 'still nothing changed');
});

eachDialect('only root admins reach infra commands; every role lists zones', async (t, dialect) => {
  const { admin, url } = await startManager(t, dialect);
  await admin.ok('createZone', { name: 'open', dns1: '192.0.2.1', networktype: 'Advanced', allocationstate: 'Enabled' });
  const user = await makeAccount(admin, url, { name: 'u1' });
  const dadmin = await makeAccount(admin, url, { name: 'da1', type: 2 });
  for (const who of [user, dadmin]) {
    for (const cmd of COMMANDS) {
      if (cmd.name === 'listZones') continue;
      t.deepEqual(cmd.roles, ['Admin'], `${cmd.name} is for root admins`);
      const r = await who.api.call(cmd.name, {});
      t.is(r.status, 432, `${cmd.name}: ${JSON.stringify(r.body)}`);
      t.regex(String(r.body.errortext), new RegExp(`The given command:${cmd.name} does not exist or it is not available for user`));
    }
    const z = await who.api.ok('listZones');
    t.is(z.count, 1);
    t.false('dns1' in z.zone[0]);
    const apis = (await who.api.ok('listApis')).api.map((a: any) => a.name);
    t.true(apis.includes('listZones'));
    t.false(apis.includes('createZone'));
  }
  const apis = (await admin.ok('listApis')).api;
  for (const cmd of COMMANDS) {
    const a = apis.find((x: any) => x.name === cmd.name);
    t.truthy(a, `${cmd.name} in listApis`);
    t.is(a.isasync, Boolean(cmd.isAsync));
  }
  t.true(apis.find((x: any) => x.name === 'createPhysicalNetwork').isasync);
  t.false(apis.find((x: any) => x.name === 'createVlanIpRange').isasync);
});
