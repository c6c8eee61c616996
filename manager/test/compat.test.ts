// The compatibility table against CloudStack 4.18's own command list: the comparison itself, no
// declaration that disagrees with CloudStack's types, and docs/compatibility.md kept current.
import test from 'ava';
import { readFileSync } from 'node:fs';
import { command, SUCCESS_RESPONSE, ALL_ROLES, type AnyCommand } from '../src/api/registry.ts';
import { buildRegistry } from '../src/commands/index.ts';
import { areaOf, compare, render, type CsApi } from '../src/compat/compare.ts';
import { TABLE, generate, loadCloudStack } from '../src/compat/main.ts';

const ours = (name: string, params: AnyCommand['params'], fields: Record<string, 'string' | 'uuid' | 'long' | 'integer'>, isAsync = false): AnyCommand => command({
  name, description: name, roles: ALL_ROLES, shape: 'object', params, isAsync, event: 'X.Y', async handler() { return {}; },
  response: { name: 'thing', fields: Object.fromEntries(Object.entries(fields).map(([k, type]) => [k, { type, description: k }])) },
});

test('compare: missing parameters and fields, type disagreements, async flags, commands on one side only', (t) => {
  const cs: CsApi[] = [
    { name: 'createThing', isasync: true, params: [['name', 'string', true], ['zoneid', 'uuid', true], ['size', 'long', false]],
      response: [['id', 'string'], ['name', 'string'], ['created', 'date'], ['jobid', 'string'], ['jobstatus', 'integer']] },
    { name: 'listThings', isasync: false, params: [['id', 'uuid', false]], response: [['id', 'string'], ['count', 'long']] },
    { name: 'deleteThing', isasync: true, params: [['id', 'uuid', true]], response: [['success', 'boolean'], ['displaytext', 'string']] },
  ];
  const registry = [
    ours('createThing', { name: { type: 'string', description: '' }, zoneid: { type: 'string', description: '' } }, { id: 'uuid', name: 'string' }, true),
    ours('listThings', { id: { type: 'uuid', description: '' } }, { id: 'uuid', count: 'integer' }),
    ours('frobnicateThing', {}, {}),
  ];
  const r = compare(registry, cs);
  const create = r.commands.find((c) => c.name === 'createThing')!;
  t.is(create.status, 'partial');
  t.deepEqual(create.missingParams, ['size']);
  t.deepEqual(create.missingFields, ['created'], 'jobid and jobstatus (every CloudStack response object declares them) are not counted as missing');
  t.deepEqual(create.params, { have: 2, of: 3 });
  t.is(r.commands.find((c) => c.name === 'listThings')!.status, 'implemented', 'uuid answers a string id; integer and long are both numbers');
  t.is(r.commands.find((c) => c.name === 'deleteThing')!.status, 'not yet');
  t.is(r.commands.find((c) => c.name === 'frobnicateThing')!.status, 'flotilla only');
  t.deepEqual(r.mismatches, [{ command: 'createThing', kind: 'param', name: 'zoneid', ours: 'string', theirs: 'uuid' }]);
  t.like(r.totals, { cloudstack: 3, implemented: 1, partial: 1, notYet: 1, flotillaOnly: 1, params: { have: 3, of: 4, unsupported: 0 }, fields: { have: 4, of: 5, empty: 0 } });
  const md = render(r);
  t.regex(md, /\| `createThing` \| partial \| 2\/3 \| 2\/3 \|  \| parameters: `size`; fields: `created` \|  \|/);
  t.regex(md, /## Declarations that differ from CloudStack[\s\S]*\| `createThing` \| param \| `zoneid` \| string \| uuid \|/);
  const async = compare([ours('deleteThing', { id: { type: 'uuid', description: '' } }, {})], cs).mismatches;
  t.deepEqual(async.filter((m) => m.kind === 'async'), [{ command: 'deleteThing', kind: 'async', name: 'isasync', ours: 'false', theirs: 'true' }]);
});

test('areas group commands by the resource they are about', (t) => {
  t.is(areaOf('listVirtualMachines'), 'Virtual machines');
  t.is(areaOf('createPortForwardingRule'), 'Network rules');
  t.is(areaOf('createLoadBalancerRule'), 'Load balancing');
  t.is(areaOf('addVpnUser'), 'VPN');
  t.is(areaOf('listNetworks'), 'Networks');
  t.is(areaOf('createAccount'), 'Accounts and users');
});

test('every command Flotilla declares agrees with CloudStack 4.18 on parameter types, response field types and async', (t) => {
  const r = compare(buildRegistry().all(), loadCloudStack());
  t.deepEqual(r.mismatches.map((m) => `${m.command} ${m.kind} ${m.name}: ours ${m.ours}, CloudStack ${m.theirs}`), []);
  t.true(r.totals.implemented + r.totals.partial > 100, 'the registry was compared');
});

test('docs/compatibility.md is the table generated from the registry (npm run compat)', (t) => {
  t.is(readFileSync(TABLE, 'utf8'), generate(), 'docs/compatibility.md is stale: run `npm run compat` and commit it');
});

test('compare: parameters refused as not supported yet and fields answered as CloudStack\'s empty value are counted apart and named', (t) => {
  const cs: CsApi[] = [{ name: 'listThings', isasync: false, params: [['id', 'uuid', false], ['fancy', 'boolean', false]], response: [['id', 'string'], ['icon', 'resourceiconresponse'], ['flag', 'boolean']] }];
  const c = command({
    name: 'listThings', description: '', roles: ALL_ROLES, shape: 'list', async handler() { return []; },
    params: { id: { type: 'uuid', description: '' }, fancy: { type: 'boolean', description: '', unsupported: { noop: ['false'] } } },
    response: { name: 'thing', fields: { id: { type: 'uuid', description: '' }, icon: { type: 'object', description: '', empty: {} }, flag: { type: 'boolean', description: '', empty: { value: false } } } },
  });
  const r = compare([c], cs);
  t.like(r.totals, { params: { have: 2, of: 2, unsupported: 1 }, fields: { have: 3, of: 3, empty: 2 } });
  t.deepEqual(r.commands[0]!.unsupportedParams, ['fancy']);
  const md = render(r);
  t.regex(md, /parameters 2\/2 \(100\.0%; 1 of them refused with a 431 as not supported yet\), response fields 3\/3 \(100\.0%; 2 of them always CloudStack's empty value\)/);
  t.regex(md, /\| `listThings` \| implemented \| 2\/2 \| 3\/3 \| 2 \|  \| `fancy` \|/);
});

test('compare: a parameter or field spelled with other letter case than CloudStack\'s is a disagreement', (t) => {
  const cs: CsApi[] = [{ name: 'listThings', isasync: false, params: [['id', 'uuid', false]], response: [['id', 'string'], ['cacheMode', 'string']] }];
  const r = compare([ours('listThings', { ID: { type: 'uuid', description: '' } }, { id: 'uuid', cachemode: 'string' })], cs);
  t.deepEqual(r.mismatches.map((m) => `${m.kind} ${m.ours} ${m.theirs}`), ['param name ID id', 'field name cachemode cacheMode']);
});
