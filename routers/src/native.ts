// Loads the tiny N-API addon (native/sockopt.c), compiling it on first use with the system C
// compiler against the running Node's headers. Why compile lazily: CI and the appliance image
// both have a compiler, the object is 16 KB of C with no dependencies, and a prebuilt binary
// cannot be fetched here. The appliance image build calls `ensureNative()` once ahead of time.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const source = join(here, '..', 'native', 'sockopt.c');
const built = join(here, '..', 'native', 'build', 'sockopt.node');

export interface SockOpt { bindToDevice(fd: number, ifname: string): void }

function includeDirs(): string[] {
  const candidates = [join(dirname(process.execPath), '..', 'include', 'node'), '/usr/include/node', '/usr/local/include/node'];
  const found = candidates.find((d) => existsSync(join(d, 'node_api.h')));
  if (!found) throw new Error(`node_api.h not found (looked in ${candidates.join(', ')})`);
  return [found];
}

export function ensureNative(): string {
  if (existsSync(built) && statSync(built).mtimeMs >= statSync(source).mtimeMs) return built;
  mkdirSync(dirname(built), { recursive: true });
  const tmp = `${built}.${process.pid}.tmp`;
  const cc = process.env.CC ?? 'cc';
  execFileSync(cc, ['-shared', '-fPIC', '-O2', '-Wall', ...includeDirs().map((d) => `-I${d}`), '-o', tmp, source], { stdio: 'pipe' });
  renameSync(tmp, built); // atomic: a concurrent loader sees the old file or the whole new one
  return built;
}

let cached: SockOpt | undefined;
export function sockopt(): SockOpt {
  cached ??= createRequire(import.meta.url)(ensureNative()) as SockOpt;
  return cached;
}
