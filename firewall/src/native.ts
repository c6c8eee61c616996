// Small N-API addons compiled on first use with the system C compiler against the running Node's
// headers (N-API only, so the object does not depend on the Node ABI). Why compile lazily: CI and
// the appliance image both have a compiler, the sources are a few KB of C, and a prebuilt binary
// cannot be fetched here; a built object is reused until its source changes. Routers' socket
// option addon uses the same builder (routers depends on this package already).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

function nodeIncludeDir(): string {
  const candidates = [join(dirname(process.execPath), '..', 'include', 'node'), '/usr/include/node', '/usr/local/include/node'];
  const found = candidates.find((d) => existsSync(join(d, 'node_api.h')));
  if (!found) throw new Error(`node_api.h not found (looked in ${candidates.join(', ')})`);
  return found;
}

/** Compiles `source` to `built` unless `built` is newer; returns `built`. */
export function buildAddon(source: string, built: string, libs: string[] = []): string {
  if (existsSync(built) && statSync(built).mtimeMs >= statSync(source).mtimeMs) return built;
  mkdirSync(dirname(built), { recursive: true });
  const tmp = `${built}.${process.pid}.tmp`;
  const cc = process.env.CC ?? 'cc';
  execFileSync(cc, ['-shared', '-fPIC', '-O2', '-Wall', `-I${nodeIncludeDir()}`, '-o', tmp, source, ...libs], { stdio: 'pipe' });
  renameSync(tmp, built); // atomic: a concurrent loader sees the old file or the whole new one
  return built;
}

export function loadAddon<T>(source: string, built: string, libs: string[] = []): T {
  return createRequire(import.meta.url)(buildAddon(source, built, libs)) as T;
}

// ---- libnftables (native/nft.c) ----

export interface NftResult { rc: number; out: string; err: string }
/** An nft context whose netlink socket lives in one network namespace (see native/nft.c). */
export type NftHandle = { readonly __brand: 'NftHandle' };
export interface NftLib {
  open(netnsPath: string | null): NftHandle;
  /** One batch at a time per handle: the caller serialises. */
  run(h: NftHandle, json: string): Promise<NftResult>;
  close(h: NftHandle): Promise<void>;
}

/**
 * A workspace package's root directory, found by package resolution rather than from this
 * file's URL: appliances run as one bundled module (appliance-image), where import.meta.url is
 * the bundle, while the addons' C sources stay in their packages.
 */
export function packageRoot(name: string): string {
  // Every workspace exports "." as ./src/index.ts.
  return dirname(dirname(createRequire(import.meta.url).resolve(name)));
}

const FIREWALL_ROOT = packageRoot('@flotilla/firewall');
const NFT_SOURCE = join(FIREWALL_ROOT, 'native', 'nft.c');
const NFT_BUILT = join(FIREWALL_ROOT, 'native', 'build', 'nft.node');

let nftLib: NftLib | null | undefined;
let nftLibError = '';
/**
 * The libnftables binding, or null where it cannot be built (no compiler, no libnftables-dev
 * headers): the applier then falls back to the nft CLI, which is slower but equivalent.
 */
export function libnftables(): NftLib | null {
  if (nftLib !== undefined) return nftLib;
  try {
    nftLib = loadAddon<NftLib>(NFT_SOURCE, NFT_BUILT, ['-lnftables', '-pthread']);
  } catch (e) {
    nftLib = null;
    nftLibError = String((e as { stderr?: Buffer }).stderr ?? e).split('\n')[0] ?? '';
  }
  return nftLib;
}
/** Why libnftables() is null (for logs and the bench). */
export function libnftablesError(): string { return nftLibError; }
