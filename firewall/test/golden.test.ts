// Golden documents per scenario. Normalised before comparison (set/map elements sorted, so only a
// change of meaning shows up as a diff). UPDATE_GOLDEN=1 rewrites them; review the diff in git.
// Each golden is also checked by the real nft (`nft -c`, parse + kernel validation, nothing
// committed) inside a throwaway namespace, so the JSON shapes are nftables' own, not guesses.
import test from 'ava';
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { Lab, kernelTestsUnavailable } from '@flotilla/tests/lab';
import { compile } from '../src/compile.ts';
import { NFT_BIN } from '../src/apply.ts';
import type { NftDocument } from '../src/nft/types.ts';
import { isolated, securityGroups, vpc } from './fixtures/specs.ts';

const scenarios = { isolated, vpc, securityGroups };
const dir = new URL('./golden/', import.meta.url).pathname;

export function normalise(doc: NftDocument): unknown {
  return {
    nftables: doc.nftables.map((c) => {
      if ('add' in c && ('set' in c.add || 'map' in c.add)) {
        const k = 'set' in c.add ? 'set' : 'map';
        const o = { ...(c.add as Record<string, { elem?: unknown[] }>)[k] };
        if (o.elem) o.elem = [...o.elem].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
        return { add: { [k]: o } };
      }
      return c;
    }),
  };
}

for (const [name, build] of Object.entries(scenarios)) {
  test(`golden: ${name}`, (t) => {
    // One command per line: diffs show which chain, rule or set changed.
    const cmds = (normalise(compile(build())) as { nftables: unknown[] }).nftables;
    const got = `{"nftables": [\n${cmds.map((c) => JSON.stringify(c)).join(',\n')}\n]}\n`;
    const file = join(dir, `${name}.json`);
    if (process.env.UPDATE_GOLDEN === '1') writeFileSync(file, got);
    t.is(got, readFileSync(file, 'utf8'));
  });
}

test('compile is pure: same spec, same document; input not mutated', (t) => {
  const s = vpc();
  const copy = structuredClone(s);
  t.deepEqual(compile(s), compile(s));
  t.deepEqual(s, copy);
});

const skip = kernelTestsUnavailable();
(skip ? test.skip : test.serial)('every golden document is accepted by the real nft (check mode)', async (t) => {
  const lab = Lab.create(t, 'fwg');
  const ns = await lab.netns('chk');
  const tmp = mkdtempSync(join(tmpdir(), 'flt-golden-'));
  t.teardown(() => rmSync(tmp, { recursive: true, force: true }));
  for (const [name, build] of Object.entries(scenarios)) {
    const file = join(tmp, `${name}.json`);
    writeFileSync(file, JSON.stringify(compile(build())));
    const r = await lab.tryExec(ns, [NFT_BIN, '-c', '-j', '-f', file]);
    t.is(r.code, 0, `${name}: ${r.stderr}`);
  }
  // And check mode does reject a broken one, so the assertion above can fail.
  writeFileSync(join(tmp, 'bad.json'), JSON.stringify({ nftables: [{ add: { chain: { family: 'inet', table: 'nope', name: 'x' } } }] }));
  t.not((await lab.tryExec(ns, [NFT_BIN, '-c', '-j', '-f', join(tmp, 'bad.json')])).code, 0);
});
