// A one-user VPN change reaches the router as a delta of its peers (applyVpnPeers,
// protocol/src/vpn.ts) instead of the whole spec: with 10,000 peers the whole spec is ~0.8 MB of
// JSON built from 10,000 rows, hashed, sent through the agent and parsed and checked by the
// appliance — per change. The manager remembers, per router, what the router acknowledged last
// (generation, the peers by key); a change names the keys it touched, and only those keys are
// read back from the database (the truth, not the caller's word) and sent. The rest of the spec
// is not rebuilt: every other change of a network goes through the whole-spec path, which bumps
// the router's generation in the database before it pushes (and forgets this memory), so a
// generation still equal to the remembered one means nothing else was pushed or left half-pushed
// since. Whenever anything differs — that generation, the peer count, the router's applied
// generation (it answers base_mismatch), any refusal or error — the caller falls back to the
// whole spec, which stays the reference and refreshes this memory.
import { createHash, randomUUID } from 'node:crypto';
import { VPN_PEERS_DELTA_VERSION, type VpnPeersDeltaMessage } from '@flotilla/protocol/vpn';
import type { RouterSpec } from '@flotilla/protocol/router';
import type { Services } from '../../services.ts';

interface Pushed {
  generation: number;
  /** sha256 of the spec without generation and VPN peers (names the delta's generation). */
  restHash: string;
  vpnId: string;
  peers: Map<string, string>;
}

const memory = new WeakMap<Services, Map<string, Pushed>>();
const routersOf = (s: Services) => { let m = memory.get(s); if (!m) { m = new Map(); memory.set(s, m); } return m; };

/** The spec without generation and VPN peers, hashed (the part a delta must leave unchanged). */
export function restHashOf(body: Omit<RouterSpec, 'generation'> & { generation?: number }): string {
  const { generation: _g, ...rest } = body;
  const r = rest.vpn ? { ...rest, vpn: { ...rest.vpn, peers: [] } } : rest;
  return createHash('sha256').update(JSON.stringify(r)).digest('hex');
}

/** Per-stage milliseconds the appliance reported for the last whole spec (the benchmark prints them). */
export const lastFullTimings: Record<string, number> = {};

/** A whole spec the router applied: what the next delta is made against. */
export function rememberApplied(s: Services, routerVmId: string, spec: RouterSpec, generation: number, timings?: Record<string, number>): void {
  for (const [k, v] of Object.entries(timings ?? {})) lastFullTimings[`appliance_${k}`] = v;
  if (!spec.vpn || generation !== spec.generation) { routersOf(s).delete(routerVmId); return; }
  routersOf(s).set(routerVmId, { generation, restHash: restHashOf(spec), vpnId: spec.vpn.id, peers: new Map(spec.vpn.peers.map((p) => [p.publicKey, p.address])) });
}

export function forgetApplied(s: Services, routerVmId: string): void { routersOf(s).delete(routerVmId); }

/** Per-stage milliseconds of the last delta push (the VPN benchmark prints them). */
export const lastDeltaTimings: Record<string, number> = {};

/**
 * Sends the router the peers of `keys` that changed since what it acknowledged, as a delta.
 * Returns the generation it applied, or undefined when a whole spec must be sent instead.
 * `router`: its row as read inside the network's sync lock (its generation is current).
 */
export async function pushVpnDelta(
  s: Services, router: { vm_id: string; host_id: string | null; instance_name: string; generation: number }, keys: readonly string[],
): Promise<number | undefined> {
  const was = routersOf(s).get(router.vm_id);
  if (!was || !router.host_id) return undefined;
  if (router.generation !== was.generation) { forgetApplied(s, router.vm_id); return undefined; }
  const T = (t0: number) => Math.round((performance.now() - t0) * 100) / 100;
  const t0 = performance.now();
  let t = t0;
  // The touched keys as the database has them now, and the peer count as a check that nothing
  // else changed unseen (a change written without naming its keys).
  const rows = await s.db.query<{ public_key: string; address: string }>(
    `SELECT u.public_key, ua.address FROM vpn_user_addresses ua JOIN vpn_users u ON u.id = ua.user_id WHERE ua.vpn_id = $1 AND u.public_key = ANY($2::text[])`, [was.vpnId, [...new Set(keys)]]);
  const now = new Map(rows.map((r) => [r.public_key, r.address]));
  const set: Array<{ publicKey: string; address: string }> = [];
  const remove: string[] = [];
  for (const k of new Set(keys)) {
    const a = now.get(k);
    if (a === undefined) { if (was.peers.has(k)) remove.push(k); } else if (was.peers.get(k) !== a) set.push({ publicKey: k, address: a });
  }
  const added = set.filter((p) => !was.peers.has(p.publicKey)).length;
  const count = Number((await s.db.query<{ n: string }>('SELECT count(*) AS n FROM vpn_user_addresses WHERE vpn_id = $1', [was.vpnId]))[0]!.n);
  if (count !== was.peers.size + added - remove.length) { forgetApplied(s, router.vm_id); return undefined; }
  lastDeltaTimings.peers = T(t);
  if (!set.length && !remove.length) return was.generation;
  t = performance.now();
  // A new generation; its hash names the delta (a later whole spec hashes differently and gets
  // one more generation, a no-op on the router).
  const hash = `delta:${createHash('sha256').update(`${was.restHash}/${was.generation}/${JSON.stringify([set, remove])}`).digest('hex')}`;
  const generation = (await s.db.query<{ generation: number }>('UPDATE routers SET generation = generation + 1, spec_hash = $2 WHERE vm_id = $1 RETURNING generation', [router.vm_id, hash]))[0]!.generation;
  lastDeltaTimings.generation = T(t);
  const msg: VpnPeersDeltaMessage = { type: 'applyVpnPeers', id: randomUUID(), version: VPN_PEERS_DELTA_VERSION, base: was.generation, generation, vpnId: was.vpnId, set, remove };
  t = performance.now();
  let reply: { type?: string; generation?: number; code?: string; timings?: Record<string, number> };
  try {
    reply = (await s.agents.request(router.host_id, 'relay', { name: router.instance_name, payload: msg, timeoutMs: 60_000 }, 70_000)).payload as typeof reply;
  } catch (e) { forgetApplied(s, router.vm_id); throw e; }
  lastDeltaTimings.push = T(t);
  lastDeltaTimings.total = T(t0);
  if (reply?.type !== 'applied') { forgetApplied(s, router.vm_id); return undefined; }
  for (const k of remove) was.peers.delete(k);
  for (const p of set) was.peers.set(p.publicKey, p.address);
  was.generation = generation;
  await s.db.query('UPDATE routers SET applied_generation = greatest(coalesce(applied_generation, 0), $2) WHERE vm_id = $1', [router.vm_id, generation]);
  for (const [k, v] of Object.entries(reply.timings ?? {})) lastDeltaTimings[`appliance_${k}`] = v;
  return generation;
}
