// Areas register themselves (src/areas): a command folder without an area.ts would silently
// bring nothing, so each one must have one, and what the areas bring must be whole.
import test from 'ava';
import { readdirSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { AREAS } from '../src/areas/index.ts';
import { MIGRATIONS } from '../src/db/migrations.ts';
import { buildRegistry } from '../src/commands/index.ts';

const commandsDir = fileURLToPath(new URL('../src/commands/', import.meta.url));

test('every folder of src/commands is an area with an area.ts, found by the loader', (t) => {
  const folders = readdirSync(commandsDir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
  t.true(folders.length > 10);
  for (const f of folders) t.true(existsSync(join(commandsDir, f, 'area.ts')), `src/commands/${f} has no area.ts`);
  const names = AREAS.map((a) => a.name);
  for (const f of folders) t.true(names.includes(f), `area ${f} not loaded`);
  t.is(new Set(names).size, names.length);
});

test('migrations come from the areas in id order, each id once; commands once each', (t) => {
  const ids = MIGRATIONS.map((m) => m.id);
  t.deepEqual(ids, [...ids].sort((a, b) => a - b));
  t.is(new Set(ids).size, ids.length);
  t.is(ids[0], 1);
  // Every area migration is in the list (none dropped by the loader).
  for (const a of AREAS) for (const m of a.migrations ?? []) t.true(ids.includes(m.id), `${a.name}: ${m.id}`);
  const reg = buildRegistry().all();
  t.is(reg.length, AREAS.reduce((n, a) => n + (a.commands?.length ?? 0), 0));
  t.truthy(reg.find((c) => c.name === 'login'));
  t.truthy(reg.find((c) => c.name === 'createConsoleEndpoint'));
});
