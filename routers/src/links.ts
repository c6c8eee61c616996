// Interfaces, addresses and routes. Compiler: spec → the iproute2 batch that moves the kernel
// from its current state (read with `ip -j`) to the spec (pure, golden-testable). Applier: runs
// the batch with `ip -batch -` in the appliance's own namespace. Why iproute2 and not the
// `netlink` package: see docs/decisions/0502.
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import type { RouterSpec } from '@flotilla/protocol/router';

const run = promisify(execFile);

export interface KernelLink { ifname: string; address?: string; mtu?: number; operstate?: string; flags?: string[]; addr_info?: Array<{ family: string; local: string; prefixlen: number; scope?: string }> }
export interface KernelRoute { dst: string; gateway?: string; dev?: string; protocol?: string }

const routeKey = (r: { destination: string; gateway?: string | undefined; interface?: string | undefined }) => `${r.destination}|${r.gateway ?? ''}|${r.interface ?? ''}`;
// Batch lines take no global options (no -4/-6): the family is carried by the prefix itself,
// so the defaults are written as explicit prefixes.
const dst = (d: string) => (d === 'default6' ? '::/0' : d === 'default' ? '0.0.0.0/0' : d);

/**
 * The batch lines (pure). Links are never created or deleted here: the host's driver plugs the
 * NICs (as a hypervisor would); the router configures what it is given. Addresses not in the
 * spec are removed from managed interfaces (except IPv6 link-local), routes are diffed against
 * the previously applied spec so kernel-made routes (connected, link-local) are left alone.
 */
export function compileLinks(spec: RouterSpec, prev: RouterSpec | undefined, links: KernelLink[]): { removals: string[]; batch: string[] } {
  const out: string[] = [];
  // Route removals may find the route already gone (an address removal takes its routes with
  // it): they run in their own forgiving batch, everything else must succeed.
  const removals: string[] = [];
  const byName = new Map(links.map((l) => [l.ifname, l]));
  for (const i of spec.interfaces) {
    const k = byName.get(i.name);
    if (!k) throw new Error(`interface ${i.name} is not present in the router`);
    if (k.address?.toLowerCase() !== i.mac.toLowerCase()) out.push(`link set dev ${i.name} address ${i.mac.toLowerCase()}`);
    if (i.mtu !== undefined && k.mtu !== i.mtu) out.push(`link set dev ${i.name} mtu ${i.mtu}`);
    if (!(k.flags ?? []).includes('UP')) out.push(`link set dev ${i.name} up`);
    const have = new Set((k.addr_info ?? []).filter((a) => !(a.family === 'inet6' && a.scope === 'link')).map((a) => `${a.local}/${a.prefixlen}`));
    const want = new Set(i.addresses.map((a) => normaliseCidr(a)));
    for (const a of have) if (!want.has(a)) out.push(`address del ${a} dev ${i.name}`);
    for (const a of want) if (!have.has(a)) out.push(`address add ${a} dev ${i.name}${a.includes(':') ? ' nodad' : ''}`);
  }
  const wanted = new Set(spec.routes.map(routeKey));
  for (const r of prev?.routes ?? []) {
    if (!wanted.has(routeKey(r))) removals.push(`route del ${dst(r.destination)}${r.gateway ? ` via ${r.gateway}` : ''}${r.interface ? ` dev ${r.interface}` : ''}`);
  }
  for (const r of spec.routes) {
    out.push(`route replace ${dst(r.destination)}${r.gateway ? ` via ${r.gateway}` : ''}${r.interface ? ` dev ${r.interface}` : ''}`);
  }
  return { removals, batch: out };
}

/** "10.1.1.1/24" as iproute2 prints it; IPv6 compressed the same way ip -j does. */
function normaliseCidr(c: string): string {
  const [a, l] = c.split('/') as [string, string];
  if (!a.includes(':')) return `${a}/${Number(l)}`;
  return `${compressV6(a)}/${Number(l)}`;
}
function compressV6(a: string): string {
  // ip -j prints RFC 5952 form; normalise ours the same way.
  const u = new URL(`http://[${a}]/`);
  return u.hostname.slice(1, -1);
}

export async function readLinks(): Promise<KernelLink[]> {
  const { stdout } = await run('ip', ['-j', 'addr', 'show']);
  return JSON.parse(stdout) as KernelLink[];
}

/** Applies the spec's links/addresses/routes; returns the batch it ran (empty: nothing to do). */
/** A router forwards: IPv4 and IPv6 forwarding on in the appliance's own namespace (these
 *  /proc/sys/net files are per network namespace; the appliance never runs in the host's). */
async function enableForwarding(): Promise<void> {
  for (const f of ['/proc/sys/net/ipv4/ip_forward', '/proc/sys/net/ipv6/conf/all/forwarding']) {
    if ((await readFile(f, 'utf8')).trim() !== '1') await writeFile(f, '1');
  }
}

export async function applyLinks(spec: RouterSpec, prev: RouterSpec | undefined): Promise<string[]> {
  await enableForwarding();
  const { removals, batch } = compileLinks(spec, prev, await readLinks());
  if (removals.length) await ipBatch(removals, true).catch(() => undefined);
  if (batch.length) await ipBatch(batch, false);
  return [...removals, ...batch];
}

async function ipBatch(lines: string[], force: boolean): Promise<void> {
  const p = run('ip', [...(force ? ['-force'] : []), '-batch', '-']);
  p.child.stdin!.end(lines.join('\n') + '\n');
  try { await p; } catch (e) {
    const err = e as { stderr?: string };
    throw new Error(`ip -batch failed: ${(err.stderr ?? String(e)).trim()}`);
  }
}
