// Virtual routers (CloudStack's DomainRouter system VMs of isolated networks): list, start,
// stop, reboot, destroy. Root and domain admins act on them, as in CloudStack. A tenant may also
// list its own networks' routers (Flotilla: a tenant sees its router's state, generation and
// health, which CloudStack hides), without where they run (host, pod, link-local address), as
// CloudStack answers users' VMs without their host. A destroyed router is
// not re-created by itself: restartNetwork (or the next VM deploy) brings a new one with the
// same spec; a router that dies on its own IS re-created (orchestrator/router.ts).
import { ADMINS, ALL_ROLES, LIST_OWNED_PARAMS, command, PROJECT_LIST_PARAM } from '../../api/registry.ts';
import { notFound, paramError } from '../../api/errors.ts';
import { applianceLifecycle } from '../appliance-lifecycle.ts';
import { applyScope, resolveScope } from '../../api/scope.ts';
import { Where } from '../../db/sql.ts';
import type { Context } from '../../api/context.ts';
import { agentFailure } from '../../orchestrator/compute.ts';
import { ROUTER_ROW_SELECT, refreshRouter, startRouter, takeDownRouter, type RouterRow } from '../../orchestrator/router.ts';
import { ROUTER, ROUTER_SELECT, routerView, type RouterViewRow } from './views.ts';

async function routerById(ctx: Context, id: string): Promise<RouterViewRow> {
  const r = (await ctx.services.db.query<RouterViewRow>(`${ROUTER_SELECT} WHERE v.id = $1 AND v.state <> 'Destroyed'`, [id]))[0];
  if (!r) throw notFound(ctx.command, 'id', id);
  return r;
}
async function rowOf(ctx: Context, id: string): Promise<RouterRow> {
  return (await ctx.services.db.query<RouterRow>(`${ROUTER_ROW_SELECT} WHERE r.vm_id = $1`, [id]))[0]!;
}
async function viewOf(ctx: Context, id: string): Promise<Record<string, unknown>> {
  const r = (await ctx.services.db.query<RouterViewRow>(`${ROUTER_SELECT} WHERE v.id = $1`, [id]))[0];
  return r ? routerView(r) : { id, state: 'Destroyed' };
}

/** What a tenant sees of its router: everything but where it runs. */
const INFRA_FIELDS = ['hostid', 'hostname', 'podid', 'linklocalip', 'linklocalmacaddress', 'linklocalnetmask', 'linklocalnetworkid'];
function tenantRouterView(r: RouterViewRow): Record<string, unknown> {
  const v = routerView(r);
  for (const k of INFRA_FIELDS) delete v[k];
  return v;
}

export const listRouters = command({
  name: 'listRouters', description: 'List routers.', since: '1.0', roles: ALL_ROLES, response: ROUTER, shape: 'list', transactional: false,
  params: {
    ...LIST_OWNED_PARAMS, ...PROJECT_LIST_PARAM,
    id: { type: 'uuid', entity: 'router', description: 'the ID of the disk router' },
    name: { type: 'string', description: 'the name of the router' },
    state: { type: 'string', description: 'the state of the router' },
    zoneid: { type: 'uuid', entity: 'zone', description: 'the Zone ID of the router' },
    podid: { type: 'uuid', entity: 'pod', description: 'the Pod ID of the router' },
    hostid: { type: 'uuid', entity: 'host', description: 'the host ID of the router' },
    networkid: { type: 'uuid', entity: 'network', description: 'list by network id' },
    version: { type: 'string', description: 'list virtual router elements by version' },
    healthchecksfailed: { type: 'boolean', description: 'if this parameter is passed, list only routers by health check results' },
    fetchhealthcheckresults: { type: 'boolean', description: 'if true is passed for this parameter, also fetch last executed health check results for the router. Default is false' },
  },
  async handler(ctx, a) {
    const tenant = ctx.caller.role === 'User';
    if (tenant && (a.podid || a.hostid)) throw paramError(`Only administrators can list routers by ${a.podid ? 'podid' : 'hostid'}`);
    // Router rows belong to the network's account; an admin's default view (no listall) is
    // every router it may see, as CloudStack's listRouters does for system VMs.
    const scope = await resolveScope(ctx.sql, ctx.caller, { ...a, listall: a.listall ?? true });
    const w = applyScope(new Where([]), scope, { account: 'v.account_id', domain: 'v.domain_id' });
    w.add(`v.state <> 'Destroyed'`).add('v.id = ?', a.id).add('lower(v.name) = lower(?)', a.name).add('lower(v.state) = lower(?)', a.state).add('v.zone_id = ?', a.zoneid)
      .add('v.pod_id = ?', a.podid).add('v.host_id = ?', a.hostid).add('r.network_id = ?', a.networkid).keyword(a.keyword, 'v.name');
    let rows = await ctx.sql.query<RouterViewRow>(`${ROUTER_SELECT} ${w} ORDER BY v.created`, w.params);
    if (a.fetchhealthcheckresults) {
      for (const r of rows) await refreshRouter(ctx.services, await rowOf(ctx, r.id)).catch(() => undefined);
      rows = await ctx.sql.query<RouterViewRow>(`${ROUTER_SELECT} ${w} ORDER BY v.created`, w.params);
    }
    const out = rows.map((r) => (tenant ? tenantRouterView(r) : routerView(r)));
    return a.healthchecksfailed === undefined ? out : out.filter((r) => r.healthchecksfailed === a.healthchecksfailed);
  },
});

/** start/stop/reboot/destroy (appliance-lifecycle.ts): a reboot is a stop and a start of the
 *  same router, so it comes back with the same spec. */
export const { start: startRouterCmd, stop: stopRouter, reboot: rebootRouter, destroy: destroyRouter } = applianceLifecycle({
  label: 'Router', entity: 'router', idDescription: 'the ID of the router', roles: ADMINS, response: ROUTER,
  instanceType: 'DomainRouter', eventPrefix: 'ROUTER', startRunning: 'answer',
  find: async (ctx, id) => { const r = await routerById(ctx, id); return { id: r.id, state: r.state, name: r.name }; },
  view: viewOf,
  start: async (ctx, v) => { await startRouter(ctx.services, await rowOf(ctx, v.id)).catch((e) => { throw agentFailure(e, `Starting router ${v.name}`); }); },
  stop: async (ctx, v) => { await takeDownRouter(ctx.services, await rowOf(ctx, v.id), false); },
  reboot: async (ctx, v) => {
    await takeDownRouter(ctx.services, await rowOf(ctx, v.id), false);
    await startRouter(ctx.services, await rowOf(ctx, v.id)).catch((e) => { throw agentFailure(e, `Rebooting router ${v.name}`); });
  },
  destroy: async (ctx, v) => { await takeDownRouter(ctx.services, await rowOf(ctx, v.id), true); },
}, {
  start: { name: 'startRouter', description: 'Starts a router.', since: '1.0' },
  stop: { name: 'stopRouter', description: 'Stops a router.', since: '1.0', forced: 'Force stop the VM. The caller knows the VM is stopped.' },
  reboot: { name: 'rebootRouter', description: 'Starts a router.', since: '1.0', forced: 'Force reboot the router (Router will be force stopped and then started)' },
  destroy: { name: 'destroyRouter', description: 'Destroys a router.', since: '1.0' },
});
