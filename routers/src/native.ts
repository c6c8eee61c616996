// The tiny N-API addon (native/sockopt.c), compiled on first use by the firewall package's addon
// builder (see @flotilla/firewall/native for why lazily). The appliance image build calls
// `ensureNative()` once ahead of time.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildAddon, loadAddon } from '@flotilla/firewall/native';

const here = dirname(fileURLToPath(import.meta.url));
const source = join(here, '..', 'native', 'sockopt.c');
const built = join(here, '..', 'native', 'build', 'sockopt.node');

export interface SockOpt { bindToDevice(fd: number, ifname: string): void }

export function ensureNative(): string {
  return buildAddon(source, built);
}

let cached: SockOpt | undefined;
export function sockopt(): SockOpt {
  cached ??= loadAddon<SockOpt>(source, built);
  return cached;
}
