// The web UI's build: Vite bundles `ui/app` (Vue 3 + Naive UI, TypeScript) into `ui/dist`, which
// the manager serves at /client/. Built by `npm ci` (this workspace's postinstall) and again by
// the manager at start whenever a source is newer than the build (as appliance bundles are), so
// an edited source never serves stale code and a user never runs a separate build step.
//
// The build runs Vite in a child process: the manager does not keep Vite (and its native
// bundler) loaded for a job it does once. It writes to a temporary folder and renames it, so a
// concurrent starter serves the old or the whole new build.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const UI_ROOT = fileURLToPath(new URL('../', import.meta.url));
/** Where the built UI lives (`FLOTILLA_UI_DIR` overrides it for tests). */
export const UI_DIST = process.env.FLOTILLA_UI_DIR ?? join(UI_ROOT, 'dist');
const STAMP = '.built';

/** Every file the build reads from this workspace (dependencies change only with package.json). */
function inputs(): string[] {
  const out = ['index.html', 'vite.config.ts', 'package.json', 'tsconfig.app.json'].map((f) => join(UI_ROOT, f)).filter((f) => existsSync(f));
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p); else out.push(p);
    }
  };
  walk(join(UI_ROOT, 'app'));
  return out;
}

/** True when `dist` exists and no input is newer than its stamp. */
export function uiBuildFresh(dist = UI_DIST): boolean {
  const stamp = join(dist, STAMP);
  if (!existsSync(stamp) || !existsSync(join(dist, 'index.html'))) return false;
  const built = statSync(stamp).mtimeMs;
  return inputs().every((f) => statSync(f).mtimeMs <= built);
}

/** Runs `vite build` into `dist` (through a temporary folder); rejects with Vite's output. */
export async function buildUi(dist = UI_DIST): Promise<void> {
  const vite = join(dirname(createRequire(join(UI_ROOT, 'package.json')).resolve('vite/package.json')), 'bin', 'vite.js');
  const tmp = `${dist}.${process.pid}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  const started = Date.now();
  // NODE_ENV=production whatever the manager runs with: Vite builds with the NODE_ENV it
  // inherits, and under ava (NODE_ENV=test) that kept Vue's development code in the bundle
  // (the entry 86 KB gzipped instead of 67, and slower to run), which the bench then measured.
  const child = spawn(process.execPath, [vite, 'build', '--outDir', tmp, '--emptyOutDir', '--logLevel', 'warn'], { cwd: UI_ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_ENV: 'production' } });
  let log = '';
  child.stdout.on('data', (b) => { log += b; });
  child.stderr.on('data', (b) => { log += b; });
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  if (code !== 0) { rmSync(tmp, { recursive: true, force: true }); throw new Error(`the web UI did not build (vite exit ${code}):\n${log}`); }
  // Stamped with the build's start: a source saved during the build makes the next start rebuild.
  writeFileSync(join(tmp, STAMP), new Date(started).toISOString());
  utimesSync(join(tmp, STAMP), new Date(started), new Date(started));
  rmSync(dist, { recursive: true, force: true });
  renameSync(tmp, dist);
}

/** Builds the UI when it is missing or older than a source; answers whether it built. */
export async function ensureUiBuilt(dist = UI_DIST): Promise<boolean> {
  if (uiBuildFresh(dist)) return false;
  await buildUi(dist);
  return true;
}
