// The applier's fast path, as a pure function: which element commands a spec change produces.
import test from 'ava';
import { compile } from '../src/compile.ts';
import { elementUpdate } from '../src/apply.ts';
import { isolated, uid, vpc } from './fixtures/specs.ts';

test('a one-rule change is one element delete and one element add', (t) => {
  const a = isolated();
  const b = isolated();
  b.publicIps[0]!.rules[0]!.ports = { start: 22, end: 23 };
  const batch = elementUpdate(compile(a), compile(b))!;
  t.is(batch.nftables.length, 2);
  const [del, add] = batch.nftables as Array<Record<string, { element: { name: string; elem: unknown[] } }>>;
  t.truthy(del!.delete);
  t.truthy(add!.add);
  t.is(del!.delete!.element.name, add!.add!.element.name);
  t.is(add!.add!.element.elem.length, 1);
  t.deepEqual(JSON.parse(JSON.stringify(add!.add!.element.elem[0])).elem.comment, uid(1));
});

test('same spec: empty batch; new public IP or port forward: elements only', (t) => {
  t.deepEqual(elementUpdate(compile(isolated()), compile(isolated())), { nftables: [] });
  const b = isolated();
  b.publicIps.push({ address: '203.0.113.12', filter: 'rules', rules: [{ id: uid(99), protocol: 'udp', ports: { start: 53, end: 53 }, sourceCidrs: [] }], portForwards: [] });
  const batch = elementUpdate(compile(isolated()), compile(b));
  t.truthy(batch);
  t.true(batch!.nftables.every((c) => 'add' in c));
});

test('a new ACL run changes the shape: no element-only update', (t) => {
  const b = vpc();
  b.aclLists[1]!.rules.push({ id: uid(52), number: 5, action: 'deny', direction: 'ingress', protocol: 'udp', cidrs: [] });
  t.is(elementUpdate(compile(vpc()), compile(b)), null);
});
