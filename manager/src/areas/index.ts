// Areas register themselves. Each area of the manager (a folder under src/commands/, or one such
// as src/systemvm/) declares in its own `area.ts` what it brings: its commands, its schema
// migrations, its first-start seeder (./define.ts). Nothing central imports every area: this
// module finds the `area.ts` files by their place and imports them once, at load (a top-level
// await, so the registry, the migrator and the seeder read AREAS synchronously). A new area is a
// new folder with an `area.ts`; no shared list is edited.
import { readdirSync, existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { join } from 'node:path';
import type { Area } from './define.ts';

export type { Area, Seeder } from './define.ts';

const SRC = fileURLToPath(new URL('..', import.meta.url));
/** Where areas live: every folder of src/ and of src/commands/ that has an area.ts. */
const ROOTS = [SRC, join(SRC, 'commands')];

function areaFiles(): string[] {
  const out: string[] = [];
  for (const root of ROOTS) {
    for (const d of readdirSync(root, { withFileTypes: true })) {
      const f = join(root, d.name, 'area.ts');
      if (d.isDirectory() && existsSync(f)) out.push(f);
    }
  }
  return out.sort();
}

async function load(): Promise<readonly Area[]> {
  const areas: Area[] = [];
  for (const f of areaFiles()) {
    const mod = (await import(pathToFileURL(f).href)) as { area?: Area };
    if (!mod.area) throw new Error(`${f} exports no \`area\``);
    areas.push(mod.area);
  }
  const names = new Set<string>();
  for (const a of areas) {
    if (names.has(a.name)) throw new Error(`two areas are named ${a.name}`);
    names.add(a.name);
  }
  return areas;
}

/** Every area, in a stable order (by file path). */
export const AREAS: readonly Area[] = await load();
