// The repair loop (issue 16, item 2): every Implemented isolated network is brought back to its
// desired state — a router record, the router Running, the spec built from the database's rows
// applied — and each repair is told in an event `NETWORK.REPAIR` of the network's owner (user
// `system`), naming what was repaired, as CloudStack records its own work on a tenant's objects.
//
// What it adds to the router monitor (router.ts, reconcileRouters), which it does not repeat:
// the monitor walks the routers the database places on each connected host, re-creates one the
// host does not run and re-sends a spec whose applied generation differs from the built one. It
// cannot see (a) an Implemented network without a router record, (b) a router in Error, Stopped
// without an admin's stopRouter, or left `Starting` by a manager killed between placing it and marking it Running (no host lists it as
// missing: it may run), and (c) a database change (a rule deleted, a VM expunged) committed by a
// command that was killed before it pushed the spec: the generation was never bumped, so the
// generations agree while the router enforces rules that no longer exist. (c) is found by
// building the spec and comparing its hash with the one last built (`routers.spec_hash`).
// A network or router an operation of this process is working on (serialized `net:`/`router:`/
// `rules:` chains) is left to that operation; a Stopped router is left stopped (an admin's stopRouter).
import { randomUUID } from 'node:crypto';
import type { Services } from '../services.ts';
import { guard, reportFailure } from '../background.ts';
import { ApiError } from '../api/errors.ts';
import { finishVolumeDeletes } from '../commands/volumes/volumes.ts';
import { busy, ensureRouter, loadInput, routerOf, routerSpecOf, specHash, startRouter, syncRouter } from './router.ts';

export const REPAIR_EVENT = 'NETWORK.REPAIR';

interface NetRow { id: string; name: string; account_id: string | null; domain_id: string; account_name: string | null }

/** One pass over the Implemented isolated networks; returns what was repaired, one line each. */
export async function repairNetworks(s: Services): Promise<string[]> {
  const nets = await s.db.query<NetRow>(
    `SELECT n.id, n.name, n.account_id, n.domain_id, a.name AS account_name FROM networks n LEFT JOIN accounts a ON a.id = n.account_id
     WHERE n.state = 'Implemented' AND n.guest_type = 'Isolated' ORDER BY n.id`);
  const done: string[] = [];
  for (const n of nets) {
    if (busy(`net:${n.id}`) || busy(`router:${n.id}`) || busy(`rules:${n.id}`)) continue;
    let what: string | undefined;
    try {
      what = await repairOne(s, n);
    } catch (e) {
      // Deleted while it was being repaired: nothing to repair (not a failure).
      if (!(await s.db.query('SELECT 1 FROM networks WHERE id = $1', [n.id])).length) continue;
      // No host with room now (maintenance, a zone without hosts): tried again next pass.
      if (e instanceof ApiError) s.log.warn({ err: e, network: n.id }, 'network repair must wait');
      else await reportFailure(s, `repair of network ${n.name} (${n.id})`, e);
      continue;
    }
    if (!what) continue;
    done.push(`${n.name}: ${what}`);
    s.log.warn({ network: n.id, repaired: what }, 'network repaired');
    await s.db.query(
      `INSERT INTO events (id, type, level, state, description, command, result, username, account_id, account_name, domain_id, resource_id, resource_type)
       VALUES ($1, $2, 'INFO', 'Completed', $3, 'repair', 'SUCCESS', 'system', $4, $5, $6, $7, 'Network')`,
      [randomUUID(), REPAIR_EVENT, `Network ${n.name} repaired: ${what}`, n.account_id, n.account_name, n.domain_id, n.id]);
  }
  return done;
}

async function repairOne(s: Services, n: NetRow): Promise<string | undefined> {
  // Still Implemented? (deleted meanwhile: nothing to repair)
  const still = await s.db.query(`SELECT 1 FROM networks WHERE id = $1 AND state = 'Implemented'`, [n.id]);
  if (!still.length) return undefined;
  const r = await routerOf(s.db, n.id);
  if (!r) {
    await ensureRouter(s, n.id);
    return 'it had no router: one was created and started';
  }
  if (r.state === 'Error') {
    await startRouter(s, r);
    return `router ${r.instance_name} was in Error: started again`;
  }
  if (r.state === 'Starting') {
    if (r.host_id && !s.agents.isConnected(r.host_id)) return undefined; // its host's return reconciles it
    // Left Starting by a killed manager. Running on its host: marked Running, spec sent. Not:
    // brought up again (ensureRouter; the host's start of it is idempotent).
    const listed = r.host_id ? (await s.agents.request(r.host_id, 'listState', {})).vms.find((v) => v.name === r.instance_name) : undefined;
    if (listed?.state === 'Running') {
      await s.db.query(`UPDATE vm_instances SET state = 'Running' WHERE id = $1 AND state = 'Starting'`, [r.vm_id]);
      await syncRouter(s, n.id);
      return `router ${r.instance_name} was left Starting by an interrupted operation while it ran: marked Running, its spec sent`;
    }
    await s.db.query(`UPDATE vm_instances SET state = 'Stopped', last_host_id = host_id, host_id = NULL, pod_id = NULL WHERE id = $1 AND state = 'Starting'`, [r.vm_id]);
    if (r.host_id && listed) await s.agents.request(r.host_id, 'destroyVm', { name: r.instance_name }).catch(() => undefined);
    await ensureRouter(s, n.id);
    return `router ${r.instance_name} was left Starting by an interrupted operation: started again`;
  }
  if (r.state === 'Stopped') {
    // An admin's stopRouter is intent: the router stays stopped until startRouter or
    // restartNetwork. Any other Stopped (a start that failed and rolled back, a kill between the
    // stop and the start of rebootRouter or restartNetwork) is not.
    const last = await s.db.query<{ type: string }>(
      `SELECT type FROM events WHERE resource_id = $1 AND result = 'SUCCESS' AND type IN ('ROUTER.STOP', 'ROUTER.START', 'ROUTER.REBOOT', 'NETWORK.RESTART', 'NETWORK.REPAIR')
       ORDER BY created DESC LIMIT 1`, [r.vm_id]);
    if (last[0]?.type === 'ROUTER.STOP') return undefined;
    await startRouter(s, r);
    return `router ${r.instance_name} was Stopped without an admin's stopRouter: started again`;
  }
  if (r.state !== 'Running' || !r.host_id || !s.agents.isConnected(r.host_id)) return undefined;
  const hash = specHash(routerSpecOf(await loadInput(s, r)));
  if (hash === r.spec_hash && r.applied_generation === r.generation) return undefined;
  const why = hash !== r.spec_hash ? 'the database changed since its spec was last built' : `it had applied generation ${r.applied_generation ?? 'none'} of ${r.generation}`;
  await syncRouter(s, n.id);
  const after = await routerOf(s.db, n.id);
  return `router ${r.instance_name} was sent its spec (${why}); generation ${after?.applied_generation ?? '?'} applied`;
}

/** The periodic repair pass (FLOTILLA_REPAIR_CHECK_MS); returns its stopper. */
export function startRepairLoop(s: Services, intervalMs: number): () => Promise<void> {
  let stopped = false;
  let current: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    if (stopped) return;
    current = current.then(() => guard(s, 'network repair', () => repairNetworks(s))).then(() => guard(s, 'volume cleanup', () => finishVolumeDeletes(s)));
  }, intervalMs);
  timer.unref();
  return async () => { stopped = true; clearInterval(timer); await current; };
}
