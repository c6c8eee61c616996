// nftables-ts against the real nft: documents built with the constructors (including the parts
// the compiler does not use yet: numgen, jhash, timeouts, element timeouts, anonymous verdict
// maps) are loaded into a throwaway namespace and read back with `nft -j list`, and the shapes we
// emit must come back as nft prints them.
import test from 'ava';
import { Lab, kernelTestsUnavailable } from '@flotilla/tests/lab';
import * as n from '../src/nft/build.ts';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NFT_BIN } from '../src/apply.ts';
import type { Command, NftListing } from '../src/nft/types.ts';

const skip = kernelTestsUnavailable();
const ktest = skip ? test.skip : test.serial;

ktest('constructors produce documents nft loads and prints back unchanged', async (t) => {
  const lab = Lab.create(t, 'fwr');
  const ns = await lab.netns('rt');
  const tb = n.table('inet', 'roundtrip');
  const backends = n.namedMap(tb, 'backends', 'integer', 'ipv4_addr', { elem: [[0, '10.0.0.1'], [1, '10.0.0.2']] });
  backends.type = 'mark';
  const cmds: Command[] = [
    { add: { set: { ...n.set(tb, 'seen', ['ipv4_addr', 'inet_service'], { flags: ['timeout'] }), timeout: 60 } } },
    { add: { set: n.set(tb, 'ranges', ['ipv4_addr', 'inet_proto', 'inet_service'], { flags: ['interval'], counters: true, elem: [n.elem(n.concat(n.prefix('10.0.0.0', 8), 'tcp', n.range(1000, 2000)), { comment: 'r1' })] }) } },
    { add: { chain: n.baseChain(tb, 'pre', 'nat', 'prerouting', -100) } },
    { add: { chain: n.chain(tb, 'web') } },
    { add: { map: backends } },
    { add: { rule: n.rule(tb, 'pre', n.match(n.meta('l4proto'), 'tcp'), n.match(n.payload('tcp', 'dport'), 80),
      n.dnat({ family: 'ip', addr: n.map(n.numgen('inc', 2), n.anonMap([[0, '10.0.0.1'], [1, '10.0.0.2']])) })) } },
    { add: { rule: n.rule(tb, 'pre', n.match(n.meta('l4proto'), 'tcp'), n.match(n.payload('tcp', 'dport'), 81),
      n.dnat({ family: 'ip', addr: n.map(n.jhash(n.concat(n.payload('ip', 'saddr'), n.payload('tcp', 'sport')), 2, 7), n.anonMap([[0, '10.0.0.1'], [1, '10.0.0.2']])) })) } },
    { add: { rule: n.rule(tb, 'web', n.vmap(n.payload('tcp', 'dport'), n.anonMap([[22, n.drop()], [443, n.accept()]]))) } },
    { add: { element: { family: 'inet', table: 'roundtrip', name: 'seen', elem: [n.elem(n.concat('192.0.2.1', 22), { timeout: 30 })] } } },
  ];
  // Loaded by nft itself (the applier would strip the element comment, see apply.ts).
  const dir = mkdtempSync(join(tmpdir(), 'flt-rt-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'doc.json'), JSON.stringify(n.replaceTableDocument(tb, cmds)));
  await lab.exec(ns, [NFT_BIN, '-j', '-f', join(dir, 'doc.json')]);
  const out = JSON.parse((await lab.exec(ns, [NFT_BIN, '-j', 'list', 'table', 'inet', 'roundtrip'])).stdout) as NftListing;
  const rules = out.nftables.flatMap((o) => ('rule' in o ? [o.rule] : []));
  const sets = out.nftables.flatMap((o) => ('set' in o ? [o.set] : []));
  // numgen and jhash come back in exactly the shape the constructors emit. (nft drops the
  // `meta l4proto tcp` match: `tcp dport` implies it.)
  const natKey = (i: number) => (rules[i]!.expr.find((e) => 'dnat' in e) as { dnat: { addr: { map: { key: unknown } } } }).dnat.addr.map.key;
  t.is(rules[0]!.expr.length, 2);
  t.deepEqual(natKey(0), n.numgen('inc', 2));
  t.deepEqual(natKey(1),
    { jhash: { mod: 2, seed: 7, expr: n.concat(n.payload('ip', 'saddr'), n.payload('tcp', 'sport')) } });
  t.deepEqual(rules[2]!.expr[0], n.vmap(n.payload('tcp', 'dport'), n.anonMap([[22, n.drop()], [443, n.accept()]])));
  const ranges = sets.find((s) => s.name === 'ranges')!;
  t.deepEqual(ranges.stmt, [{ counter: null }]);
  t.deepEqual(ranges.elem, [{ elem: { val: n.concat(n.prefix('10.0.0.0', 8), 'tcp', n.range(1000, 2000)), comment: 'r1', counter: { packets: 0, bytes: 0 } } }]);
  const seen = sets.find((s) => s.name === 'seen')!;
  t.deepEqual(seen.flags, ['timeout']);
  t.is(seen.timeout, 60);
  t.is((seen.elem![0] as { elem: { timeout: number } }).elem.timeout, 30);
});
