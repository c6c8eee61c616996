// What compat/ declares is what the API does: every parameter CloudStack has and Flotilla does not
// implement yet is refused with a 431 saying so (never silently ignored) unless its value is
// CloudStack's no-op default, and every response field filled with CloudStack's empty value is
// answered so. The tables name only what CloudStack 4.18 itself declares.
import test from 'ava';
import { randomUUID } from 'node:crypto';
import { buildRegistry } from '../src/commands/index.ts';
import { EMPTY_FIELDS } from '../src/compat/empty-fields.ts';
import { NO_EFFECT_PARAMS, UNSUPPORTED_PARAMS } from '../src/compat/unsupported.ts';
import { loadCloudStack } from '../src/compat/main.ts';
import type { ParamDef } from '../src/api/params.ts';
import { eachDialect, startManager } from './helpers.ts';

/** A well-formed value of the parameter's type that is not one of its no-op values. */
function effectiveValue(name: string, def: ParamDef): Record<string, string> {
  const noop = def.unsupported?.noop ?? [];
  switch (def.type) {
    case 'boolean': return { [name]: noop.includes('true') ? 'false' : 'true' };
    case 'uuid': return { [name]: randomUUID() };
    case 'integer': case 'long': case 'short': return { [name]: '7' };
    case 'map': return { [`${name}[0].key`]: 'k', [`${name}[0].value`]: 'v' };
    default: return { [name]: 'some-value' };
  }
}

test('the tables name only parameters and fields CloudStack 4.18 declares, on commands Flotilla has', (t) => {
  const cs = new Map(loadCloudStack().map((a) => [a.name, a]));
  const reg = buildRegistry().all();
  for (const [cmd, params] of Object.entries({ ...UNSUPPORTED_PARAMS })) {
    const api = cs.get(cmd);
    t.truthy(api, `${cmd} is not a CloudStack command`);
    t.truthy(reg.find((c) => c.name === cmd), `${cmd} is not a Flotilla command`);
    for (const [name, [type]] of Object.entries(params)) {
      const p = api!.params.find(([n]) => n === name);
      t.truthy(p, `${cmd} ${name} is not a CloudStack parameter`);
      t.is(p?.[1] === 'short' ? 'integer' : p?.[1], type, `${cmd} ${name} type`);
    }
  }
  for (const cmd of Object.keys(NO_EFFECT_PARAMS)) t.truthy(cs.get(cmd), cmd);
  for (const [resp, fields] of Object.entries(EMPTY_FIELDS)) {
    const answering = reg.filter((c) => c.response.name === resp && cs.has(c.name));
    t.true(answering.length > 0, `no command answers ${resp}`);
    for (const name of Object.keys(fields)) {
      t.true(answering.some((c) => cs.get(c.name)!.response.some(([n]) => n === name)), `${resp}.${name} is not a field CloudStack declares`);
    }
  }
});

eachDialect('a parameter not supported yet is refused with a 431 naming it before anything runs; its no-op value is accepted', async (t, dialect) => {
  const { admin } = await startManager(t, dialect);
  let refused = 0;
  for (const cmd of buildRegistry().all()) {
    for (const [name, def] of Object.entries(cmd.params)) {
      if (!def.unsupported) continue;
      const r = await admin.call(cmd.name, effectiveValue(name, def));
      t.is(r.status, 431, `${cmd.name} ${name}: ${JSON.stringify(r.body)}`);
      t.true(String(r.body.errortext).includes(`the parameter ${name} is not supported yet`), `${cmd.name} ${name}: ${r.body.errortext}`);
      t.falsy(r.body.jobid, 'no job was queued');
      refused++;
      for (const noop of def.unsupported.noop) {
        const ok = await admin.call(cmd.name, { [name]: noop });
        t.false(String(ok.body.errortext ?? '').includes('not supported yet'), `${cmd.name} ${name}=${noop} is CloudStack's default: ${ok.body.errortext}`);
      }
    }
  }
  t.true(refused > 100, `only ${refused} parameters checked`);
  // The no-op value, given with a real one, leaves the command working as without it.
  const vms = await admin.call('listVirtualMachines', { accumulate: 'false' });
  t.is(vms.status, 200, JSON.stringify(vms.body));
});

eachDialect('a field Flotilla has no concept for is answered as CloudStack\'s empty value; a view\'s real value wins', async (t, dialect) => {
  const { admin } = await startManager(t, dialect);
  const acc = await admin.call('listAccounts', { name: 'admin', listall: 'true' });
  t.is(acc.status, 200);
  const a = acc.body.account[0];
  t.deepEqual(a.groups, [], 'an empty collection is []');
  t.is(a.iscleanuprequired, false, 'a flag that is off is false');
  t.false('icon' in a, 'a null object is omitted, as CloudStack\'s serializer omits null');
  t.is(a.vmlimit, 'Unlimited', 'the view sets the real limit (Flotilla enforces none)');
  t.is(typeof a.vmtotal, 'number');
  const offs = await admin.call('listNetworkOfferings', {});
  t.true(offs.body.networkoffering.every((o: Record<string, unknown>) => o.hasannotations === false));
});
