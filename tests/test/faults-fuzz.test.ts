// Issue 16, item 6: the API fuzzer (tests/src/fuzz.ts) over every registered command against a
// simulator cloud, as an admin and as a tenant: 0 internal errors, 0 answers outside CloudStack's
// shape, nothing persisted by a refused call, and the manager still serving afterwards.
import test from 'ava';
import { fuzz, shapeProblem } from '../src/fuzz.ts';
import { fuzzCloud, fuzzCommands } from '../src/fuzz-cloud.ts';

test('fuzz: every command, hostile values per parameter type, as admin and tenant: no 5xx, CloudStack-shaped answers, nothing persisted by refused calls', async (t) => {
  const c = await fuzzCloud(t);
  const commands = fuzzCommands();
  t.true(commands.length > (process.env.FLT_FUZZ_ONLY ? 0 : 150), `${commands.length} commands`);
  // Two values beside the markup per parameter, rotating (every value is still sent, across
  // parameters): about 6,000 requests, minutes on a loaded 2-core machine. bench:faults sends 3.
  const r = await fuzz({ ...c, commands, perParam: process.env.FLT_FUZZ_ALL === '1' ? 0 : 2, log: process.env.FLT_FUZZ_VERBOSE ? (s) => t.log(s) : undefined });
  t.log(`fuzz: ${r.requests} requests over ${commands.length} commands; accepted ${r.accepted}, refused ${r.refused}; by status ${JSON.stringify(r.byStatus)}; ms ${JSON.stringify(r.ms)}`);
  const show = (xs: string[]) => xs.slice(0, 25).join('\n');
  t.deepEqual(r.internal.length, 0, show(r.internal));
  t.deepEqual(r.misshapen.length, 0, show(r.misshapen));
  t.deepEqual(r.persisted.length, 0, show(r.persisted));
  // The fuzz reached past the type checks: some calls were accepted, most refused.
  t.true(r.refused > 0);
  if (!process.env.FLT_FUZZ_ONLY) t.true(r.accepted > 0 && r.refused > r.accepted);
  // …and the manager still serves.
  t.truthy((await c.admin.ok('listZones', {})).zone?.length);
  t.truthy((await c.tenant.ok('listNetworks', {})).network?.length >= 0);
});

test('the fuzzer\'s answer check catches what it must (it can fail)', (t) => {
  const json = 'application/json; charset=utf-8';
  const xml = 'text/xml; charset=utf-8';
  t.is(shapeProblem('listZones', false, { status: 200, type: json, text: '{"listzonesresponse":{"count":0}}' }), undefined);
  t.is(shapeProblem('createNetwork', false, { status: 431, type: json, text: '{"createnetworkresponse":{"errorcode":431,"cserrorcode":4350,"errortext":"bad"}}' }), undefined);
  t.is(shapeProblem('x', true, { status: 432, type: xml, text: '<?xml version="1.0" encoding="UTF-8"?><errorresponse><errorcode>432</errorcode><errortext>unknown</errortext></errorresponse>' }), undefined);
  t.truthy(shapeProblem('listZones', false, { status: 500, type: json, text: '{"statusCode":500,"error":"Internal Server Error"}' }));
  t.truthy(shapeProblem('listZones', false, { status: 200, type: 'text/html', text: '<html></html>' }));
  t.truthy(shapeProblem('listZones', false, { status: 431, type: json, text: '{"listzonesresponse":{"errortext":"no code"}}' }));
  t.truthy(shapeProblem('listZones', false, { status: 200, type: json, text: '{"a":{},"b":{}}' }));
  t.truthy(shapeProblem('listZones', true, { status: 431, type: xml, text: '<?xml version="1.0"?><listzonesresponse><errortext></x><script>alert(1)</script></errortext></listzonesresponse>' }));
  t.truthy(shapeProblem('listZones', true, { status: 431, type: xml, text: '<?xml version="1.0"?><x><y></x></y>' }));
});
