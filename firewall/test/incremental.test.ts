// FirewallCompiler (what a router uses on every spec change) must give exactly compile()'s
// document and diagnostics, whatever changed since its last compile: rules, port forwards, static
// NAT, whole IPs added, removed or reordered, a spec refused in between.
import test from 'ava';
import { isDeepStrictEqual } from 'node:util';
import {
  COMPARED_FIELDS, FirewallRule, FirewallSpecError, PortForward, PublicIp, type FirewallSpec,
} from '@flotilla/protocol/firewall';
import { compile, FirewallCompiler } from '../src/compile.ts';
import { benchSpec } from '../bench/spec.ts';
import { isolated, uid } from './fixtures/specs.ts';

const clone = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T;
type Edit = [string, (s: FirewallSpec) => void];

/** Outcome of compile(): the document, or the diagnostics it was refused with. */
function outcome(f: () => unknown): unknown {
  try { return f(); } catch (e) {
    if (e instanceof FirewallSpecError) return e.diagnostics;
    throw e;
  }
}

test('FirewallCompiler gives compile()\'s document after every kind of change, and diagnostics when refused', (t) => {
  const edits: Edit[] = [
    ['no change', () => undefined],
    ['rule port', (s) => { s.publicIps[0]!.rules[0]!.ports = { start: 23, end: 23 }; }],
    ['rule source', (s) => { s.publicIps[0]!.rules[0]!.sourceCidrs = ['198.51.100.0/25', '192.0.2.7/32']; }],
    ['rule protocol', (s) => { s.publicIps[0]!.rules[1]!.icmpCode = -1; }],
    ['rule id', (s) => { s.publicIps[0]!.rules[0]!.id = uid(99); }],
    ['rule added', (s) => { s.publicIps[1]!.rules.push({ id: uid(98), protocol: 'udp', ports: { start: 53, end: 53 }, sourceCidrs: [] }); }],
    ['rule removed', (s) => { s.publicIps[1]!.rules.pop(); }],
    ['port forward private port', (s) => { s.publicIps[0]!.portForwards[0]!.privatePorts = { start: 81, end: 81 }; s.publicIps[0]!.portForwards[0]!.publicPorts = { start: 8081, end: 8081 }; }],
    ['port forward address', (s) => { s.publicIps[0]!.portForwards[0]!.privateIp = '10.1.1.9'; }],
    ['port forward opens nothing itself (openfirewall=false)', (s) => { s.publicIps[0]!.portForwards[1]!.open = false; }],
    ['static NAT target', (s) => { s.publicIps[1]!.staticNat = { privateIp: '10.1.1.8' }; }],
    ['filter', (s) => { s.publicIps[1]!.filter = 'open'; }],
    ['IP added', (s) => { s.publicIps.push({ address: '203.0.113.50', filter: 'rules', rules: [{ id: uid(97), protocol: 'tcp', ports: { start: 1, end: 2 }, sourceCidrs: [] }], portForwards: [] }); }],
    ['IPs reordered', (s) => { s.publicIps.reverse(); }],
    ['IP removed', (s) => { s.publicIps.splice(1, 1); }],
    ['egress rule', (s) => { s.guestNetworks[0]!.egress!.rules[0]!.ports = { start: 26, end: 26 }; }],
    ['duplicate id across IPs (refused)', (s) => { s.publicIps[1]!.rules[0]!.id = s.publicIps[0]!.rules[0]!.id; }],
    ['duplicate id with an egress rule (refused)', (s) => { s.guestNetworks[0]!.egress!.rules[0]!.id = s.publicIps[0]!.rules[0]!.id.toUpperCase(); }],
    ['overlapping rules on one IP (refused)', (s) => { s.publicIps[0]!.rules.push({ ...s.publicIps[0]!.rules[0]!, id: uid(96) }); }],
    ['static NAT out of the guest networks (refused)', (s) => { s.publicIps[1]!.staticNat = { privateIp: '10.9.9.9' }; }],
    ['guest network prefix (a reused IP\'s port forward leaves it, refused)', (s) => { s.guestNetworks[0]!.cidrs = ['10.2.2.0/24', 'fd00:1::/64']; }],
  ];
  let checked = 0;
  // Each edit applied to the base alone, and cumulatively, from one long-lived compiler.
  for (const cumulative of [false, true]) {
    const fc = new FirewallCompiler();
    let spec = isolated();
    for (const [name, edit] of edits) {
      const next = clone(cumulative ? spec : isolated());
      edit(next);
      const want = outcome(() => compile(clone(next)));
      const got = outcome(() => fc.compile(next));
      t.true(isDeepStrictEqual(got, want), `${cumulative ? 'cumulative' : 'single'}: ${name}`);
      checked++;
      if (!Array.isArray(want)) spec = next; // refused specs are not the base of the next edit
      // and after a refusal the compiler goes on from its last good spec
      t.true(isDeepStrictEqual(fc.compile(clone(spec)), compile(clone(spec))), `${name}: back to the last good spec`);
    }
  }
  t.is(checked, edits.length * 2);
});

test('a one-rule change at 10,000 rules: the same document as compile(), and only its shard\'s sets are new objects', (t) => {
  const fc = new FirewallCompiler();
  const a = fc.compile(benchSpec(10_000));
  const b = fc.compile(benchSpec(10_000, true));
  t.deepEqual(b, compile(benchSpec(10_000, true)));
  const sets = (d: typeof a) => new Map(d.nftables.flatMap((c) => ('add' in c && 'set' in c.add ? [[c.add.set.name, c.add.set] as const] : [])));
  const before = sets(a), after = sets(b);
  const rebuilt = [...after].filter(([name, s]) => before.get(name) !== s && /^(fw|pf)4_s/.test(name)).map(([name]) => name);
  t.is(rebuilt.length, 6, `one shard's four rule sets and two port-forward sets: ${rebuilt.join(' ')}`);
  t.is(new Set(rebuilt.map((n) => n.split('_')[1])).size, 1);
});

test('samePublicIp compares every property the schemas allow (they refuse any other)', (t) => {
  const props = (schema: { properties: Record<string, unknown>; additionalProperties?: unknown }) => {
    t.is(schema.additionalProperties, false);
    return Object.keys(schema.properties).sort();
  };
  t.deepEqual([...COMPARED_FIELDS.PublicIp].sort(), props(PublicIp));
  t.deepEqual([...COMPARED_FIELDS.FirewallRule].sort(), props(FirewallRule));
  t.deepEqual([...COMPARED_FIELDS.PortForward].sort(), props(PortForward));
});
