// Appliance bundles: each appliance role's entry point bundled by esbuild into one ES module that
// plain `node` runs. Why: under tsx, Node 20 resolves and loads every module through loader hooks
// on another thread, one synchronous round trip each; the router appliance's ~270 files took
// ~0.8 s to start that way, most of a new network's time to ready. The bundle starts in ~0.1 s.
//
// Built on first use and rebuilt when any input is newer than the bundle (esbuild's metafile
// lists the inputs), so a source edit never runs stale code. Native addons are not bundled: their
// loaders find their C sources through package resolution, which works from the bundle too.
import { buildSync } from 'esbuild';
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const buildDir = join(repoRoot, 'appliance-image', 'build');

/** Entry points of the roles that have one. */
export const APPLIANCE_ENTRIES: Record<string, string> = {
  router: join(repoRoot, 'routers', 'src', 'main.ts'),
  proxy: join(repoRoot, 'proxy', 'src', 'main.ts'),
  storage: join(repoRoot, 'storage', 'src', 'main.ts'),
  // The secondary storage VM's appliance: the storage service behind the control socket
  // (storage/README.md); health-appliance.ts stays as a stand-in a role can name while it has none.
  ssvm: join(repoRoot, 'storage', 'src', 'appliance.ts'),
};

/** Stand-ins for roles whose entry point is not there yet (none today; the option is how a role
 *  can run a placeholder until its own entry point lands — the bundle then switches by itself). */
export const APPLIANCE_FALLBACKS: Record<string, string> = {};

interface Meta { inputs: string[]; entry?: string }

function fresh(out: string, metaFile: string, entry: string): boolean {
  if (!existsSync(out) || !existsSync(metaFile)) return false;
  const built = statSync(out).mtimeMs;
  try {
    const meta = JSON.parse(readFileSync(metaFile, 'utf8')) as Meta;
    // Built from another entry (a stand-in whose real entry point appeared since): rebuild.
    if (meta.entry !== undefined && meta.entry !== entry) return false;
    return meta.inputs.every((f) => existsSync(f) && statSync(f).mtimeMs <= built);
  } catch {
    return false;
  }
}

/**
 * The bundle of `role` (absolute path), built or rebuilt as needed; null when the role has no
 * entry point. Throws esbuild's error when the sources do not build.
 */
export function applianceBundle(role: string, opts: { entries?: Record<string, string>; fallbacks?: Record<string, string>; buildDir?: string } = {}): string | null {
  let entry = (opts.entries ?? APPLIANCE_ENTRIES)[role];
  if (!entry || !existsSync(entry)) entry = (opts.fallbacks ?? (opts.entries ? {} : APPLIANCE_FALLBACKS))[role];
  if (!entry || !existsSync(entry)) return null;
  const dir = opts.buildDir ?? buildDir;
  const out = join(dir, `${role}.mjs`);
  const metaFile = join(dir, `${role}.inputs.json`);
  if (fresh(out, metaFile, entry)) return out;
  mkdirSync(dir, { recursive: true });
  const tmp = `${out}.${process.pid}.tmp`;
  const r = buildSync({
    entryPoints: [entry], outfile: tmp, bundle: true, platform: 'node', format: 'esm', target: 'node20',
    absWorkingDir: repoRoot, metafile: true, logLevel: 'silent',
    // Bundled CommonJS dependencies call require(); give the ES module one.
    banner: { js: "import { createRequire as __fltCreateRequire } from 'node:module'; const require = __fltCreateRequire(import.meta.url);" },
  });
  const inputs = Object.keys(r.metafile!.inputs).map((f) => join(repoRoot, f));
  renameSync(tmp, out); // atomic: a concurrent starter runs the old bundle or the whole new one
  writeFileSync(metaFile, JSON.stringify({ inputs, entry } satisfies Meta));
  return out;
}
