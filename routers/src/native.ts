// The tiny N-API addon (native/sockopt.c), compiled on first use by the firewall package's addon
// builder (see @flotilla/firewall/native for why lazily). The appliance image build calls
// `ensureNative()` once ahead of time.
import { join } from 'node:path';
import { buildAddon, loadAddon, packageRoot } from '@flotilla/firewall/native';

const root = packageRoot('@flotilla/routers');
const source = join(root, 'native', 'sockopt.c');
const built = join(root, 'native', 'build', 'sockopt.node');

export interface SockOpt {
  bindToDevice(fd: number, ifname: string): void;
  /** sendmmsg of `[buffer, port, ipv4]` replies: how many left (the first ones), or -errno. */
  sendBatch(fd: number, replies: Array<[Buffer, number, string]>): number;
}

export function ensureNative(): string {
  return buildAddon(source, built);
}

let cached: SockOpt | undefined;
export function sockopt(): SockOpt {
  cached ??= loadAddon<SockOpt>(source, built);
  return cached;
}
