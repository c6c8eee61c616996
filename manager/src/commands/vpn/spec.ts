// The VPN's part of a router's spec, built from the database (the orchestrator calls vpnSpecOf
// when it builds a network's RouterSpec), and how a VPN change reaches the routers: written in
// one transaction, then each affected router is sent its spec; if one refuses or cannot be
// reached the change is undone and the routers re-synced, so the API never reports a peer a
// router does not have (the same rule as network/apply.ts for firewall rules).
import { createHash } from 'node:crypto';
import { VPN_SPEC_VERSION, type RemoteAccessVpnSpec } from '@flotilla/protocol/vpn';
import { ip4ToInt, intToIp4, parseRange } from '@flotilla/vpn/compile';
import type { Context } from '../../api/context.ts';
import { apiError } from '../../api/errors.ts';
import type { Sql } from '../../db/sql.ts';
import type { Services } from '../../services.ts';
import { agentFailure } from '../../orchestrator/compute.ts';
import { RouterApplyError, serialized, syncRouter } from '../../orchestrator/router.ts';

/** The router's WireGuard interface: derived from the network (one router per network), so it
 *  is unique on a host — wireguard-go's sockets in /var/run/wireguard are shared by all
 *  namespaces — and the same for a re-created router. */
export const vpnInterfaceOf = (networkId: string): string => `wg${createHash('sha256').update(networkId).digest('hex').slice(0, 13)}`;

/** The VPN section of a network's router spec (undefined: the network has no VPN). */
export async function vpnSpecOf(s: Services, sql: Sql, networkId: string): Promise<RemoteAccessVpnSpec | undefined> {
  const v = (await sql.query<{ id: string; address: string; ip_range: string; port: number; private_key_enc: string; open_firewall: boolean }>(
    `SELECT x.id, p.address, x.ip_range, x.port, x.private_key_enc, x.open_firewall FROM remote_access_vpns x JOIN public_ip_addresses p ON p.id = x.public_ip_id
     WHERE x.network_id = $1`, [networkId]))[0];
  if (!v) return undefined;
  const range = parseRange(v.ip_range);
  if (typeof range === 'string') throw new Error(`vpn ${v.id}: stored iprange invalid: ${range}`);
  const peers = await sql.query<{ public_key: string; address: string }>(
    `SELECT u.public_key, ua.address FROM vpn_user_addresses ua JOIN vpn_users u ON u.id = ua.user_id WHERE ua.vpn_id = $1 ORDER BY u.created, u.id`, [v.id]);
  return {
    version: VPN_SPEC_VERSION, id: v.id, interface: vpnInterfaceOf(networkId), publicIp: v.address, listenPort: v.port, privateKey: s.secrets.open(v.private_key_enc),
    range: { start: range.start, end: range.end }, openFirewall: v.open_firewall, peers: peers.map((p) => ({ publicKey: p.public_key, address: p.address })),
  };
}

/** Gives a user a tunnel address on a VPN (the first free client address), or refuses (533). */
export async function allocateAddress(sql: Sql, vpn: { id: string; ip_range: string }, userId: string): Promise<string> {
  const r = parseRange(vpn.ip_range);
  if (typeof r === 'string') throw new Error(r);
  const used = new Set((await sql.query<{ address: string }>('SELECT address FROM vpn_user_addresses WHERE vpn_id = $1', [vpn.id])).map((x) => ip4ToInt(x.address)));
  for (let a = r.lo + 1; a <= r.hi; a++) {
    if (used.has(a)) continue;
    const address = intToIp4(a);
    await sql.query('INSERT INTO vpn_user_addresses (vpn_id, user_id, address) VALUES ($1,$2,$3)', [vpn.id, userId, address]);
    return address;
  }
  throw apiError('INSUFFICIENT_CAPACITY', `Insufficient address capacity: every client address of the VPN's iprange ${vpn.ip_range} is taken`);
}

/** Writes a VPN change, then brings the routers of these networks in line (undone on failure). */
export async function changeVpn(ctx: Context, networkIds: string[], write: (sql: Sql) => Promise<void>, undo: (sql: Sql) => Promise<void>, vpnKeys?: readonly string[]): Promise<void> {
  const s = ctx.services;
  const nets = [...new Set(networkIds)].sort();
  const run = async () => {
    await s.db.tx(write);
    try {
      // The keys this change touched: the routers get a delta of those peers (push.ts).
      for (const n of nets) await syncRouter(s, n, vpnKeys ? { vpnKeys } : undefined);
    } catch (e) {
      await s.db.tx(undo).catch((ue) => s.log.error({ err: ue, nets }, 'undoing a refused vpn change failed'));
      for (const n of nets) await syncRouter(s, n).catch(() => undefined);
      if (e instanceof RouterApplyError) throw apiError('INTERNAL_ERROR', `The router of the network refused the VPN change (${e.code}): ${e.errors.slice(0, 5).join('; ')}`);
      throw agentFailure(e, 'Applying the VPN on the router');
    }
  };
  // The same per-network lock as rule changes: a VPN change and a rule change of one network
  // never interleave their write/sync/undo steps.
  const locked = nets.reduceRight<() => Promise<void>>((inner, n) => () => serialized(`rules:${n}`, inner), run);
  await locked();
}
