// Host lifecycle. A host joins by its agent: addHost records it and issues a one-time-shown
// agent token (only its SHA-256 is stored); the agent dials the manager with it. deleteHost
// revokes the token and drops the channel. Maintenance moves a host's VMs elsewhere (a cold
// move: netns VMs have no live migration) and keeps new VMs off it.
import { randomUUID } from 'node:crypto';
import { ADMIN, SUCCESS_RESPONSE, command } from '../../api/registry.ts';
import { apiError, paramError, notFound } from '../../api/errors.ts';
import { newToken } from '../../api/crypto.ts';
import type { Context } from '../../api/context.ts';
import { hashToken } from '../../agents/gateway.ts';
import { HOST, HOST_SELECT, hostView, type HostRow } from '../infra/views.ts';
import { clusterById, podById, zoneById } from '../infra/lookup.ts';
import { ACTIVE_STATES, agentFailure, planHost, releaseUnusedNetworks, startOnHost } from '../../orchestrator/compute.ts';

const HYPERVISORS = ['LXC', 'Simulator', 'KVM'] as const;

async function hostById(ctx: Context, id: string): Promise<HostRow> {
  const h = (await ctx.sql.query<HostRow>(`${HOST_SELECT} WHERE h.id = $1`, [id]))[0];
  if (!h) throw notFound(ctx.command, 'id', id);
  return h;
}
const view = async (ctx: Context, id: string) => hostView(await hostById(ctx, id));

/** The host's name from addHost's url: `agent://name`, `http://10.0.0.5`, or a plain name. */
function hostNameFromUrl(url: string): string | undefined {
  const m = /^(?:[a-z][a-z0-9+.-]*:\/\/)?([A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?)(?::\d+)?\/?$/.exec(url.trim());
  return m?.[1];
}

export const addHost = command({
  name: 'addHost', description: 'Adds a new host. Flotilla: the answer carries `agenttoken`, shown only here; start the host agent with it.', since: '1.0', roles: ADMIN,
  response: { name: 'host', fields: { ...HOST.fields, agenttoken: { type: 'string', description: 'Flotilla: the token the host agent dials the manager with; shown once' } } },
  shape: 'raw', event: 'HOST.ADD',
  params: {
    zoneid: { type: 'uuid', entity: 'zone', required: true, description: 'the Zone ID for the host' },
    podid: { type: 'uuid', entity: 'pod', required: true, description: 'the Pod ID for the host' },
    clusterid: { type: 'uuid', entity: 'cluster', description: 'the cluster ID for the host' },
    clustername: { type: 'string', description: 'the cluster name for the host' },
    url: { type: 'string', required: true, description: 'the host URL: agent://<name> or http://<address>' },
    hypervisor: { type: 'string', required: true, description: 'hypervisor type of the host', values: HYPERVISORS },
    username: { type: 'string', description: 'the username for the host; not used: Flotilla hosts join with an agent token' },
    password: { type: 'string', description: 'the password for the host; not used: Flotilla hosts join with an agent token' },
    hosttags: { type: 'list', of: 'string', description: 'list of tags to be added to the host' },
    allocationstate: { type: 'string', description: 'Allocation state of this Host for allocation of new resources', values: ['Enabled', 'Disabled'] },
  },
  async handler(ctx, a) {
    const zone = await zoneById(ctx, a.zoneid, 'zoneid');
    const pod = await podById(ctx, a.podid, 'podid');
    if (pod.zone_id !== zone.id) throw paramError(`Pod id=${pod.id} does not belong to zone id=${zone.id}`);
    let clusterId = a.clusterid;
    if (clusterId) {
      const c = await clusterById(ctx, clusterId, 'clusterid');
      if (c.pod_id !== pod.id) throw paramError(`Cluster id=${c.id} does not belong to pod id=${pod.id}`);
      if (c.hypervisor !== a.hypervisor) throw paramError(`Cluster ${c.name} is of hypervisor ${c.hypervisor}, not ${a.hypervisor}`);
    } else if (a.clustername) {
      const c = (await ctx.sql.query<{ id: string; hypervisor: string }>('SELECT id, hypervisor FROM clusters WHERE pod_id = $1 AND lower(name) = lower($2)', [pod.id, a.clustername]))[0];
      if (!c) throw paramError(`Unable to find cluster ${a.clustername} in pod id=${pod.id}`);
      clusterId = c.id;
    } else throw paramError('Either clusterid or clustername must be specified');
    const name = hostNameFromUrl(a.url);
    if (!name) throw paramError(`Invalid parameter url value=${a.url}: expected agent://<host name> or http://<address>`);
    if ((await ctx.sql.query('SELECT 1 FROM hosts WHERE zone_id = $1 AND lower(name) = lower($2)', [zone.id, name])).length) {
      throw paramError(`A host named ${name} already exists in zone ${zone.name}`);
    }
    const id = randomUUID();
    const token = newToken(32);
    await ctx.sql.query(
      `INSERT INTO hosts (id, name, zone_id, pod_id, cluster_id, hypervisor, state, resource_state, token_hash, host_tags)
       VALUES ($1,$2,$3,$4,$5,$6,'Connecting',$7,$8,$9)`,
      [id, name, zone.id, pod.id, clusterId, a.hypervisor, a.allocationstate === 'Disabled' ? 'Disabled' : 'Enabled', hashToken(token), a.hosttags?.join(',') ?? null]);
    ctx.setResource('Host', id);
    return { count: 1, host: [{ ...(await view(ctx, id)), agenttoken: token }] };
  },
});

export const updateHost = command({
  name: 'updateHost', description: 'Updates a host.', since: '1.0', roles: ADMIN, response: HOST, shape: 'object', event: 'HOST.UPDATE',
  params: {
    id: { type: 'uuid', entity: 'host', required: true, description: 'the ID of the host to update' },
    allocationstate: { type: 'string', description: 'Change resource state of host, valid values are [Enable, Disable]. Operation may failed if host in states not allowing Enable/Disable', values: ['Enable', 'Disable'] },
    hosttags: { type: 'list', of: 'string', description: 'list of tags to be added to the host' },
    name: { type: 'string', description: 'the new name for the host', check: (v: string) => (hostNameFromUrl(v) === v ? undefined : 'not a host name') },
  },
  async handler(ctx, a) {
    const h = await hostById(ctx, a.id);
    if (a.allocationstate) {
      if (['PrepareForMaintenance', 'Maintenance', 'ErrorInMaintenance'].includes(h.resource_state)) {
        throw paramError(`Host ${h.name} is in resource state ${h.resource_state}; cancel maintenance first`);
      }
      await ctx.sql.query('UPDATE hosts SET resource_state = $2 WHERE id = $1', [h.id, a.allocationstate === 'Enable' ? 'Enabled' : 'Disabled']);
    }
    if (a.hosttags) await ctx.sql.query('UPDATE hosts SET host_tags = $2 WHERE id = $1', [h.id, a.hosttags.join(',')]);
    if (a.name) await ctx.sql.query('UPDATE hosts SET name = $2 WHERE id = $1', [h.id, a.name]);
    ctx.setResource('Host', h.id);
    return view(ctx, h.id);
  },
});

export const deleteHost = command({
  name: 'deleteHost', description: 'Deletes a host. Its agent token is revoked and its channel closed.', since: '1.0', roles: ADMIN, response: SUCCESS_RESPONSE, shape: 'success', event: 'HOST.REMOVE',
  params: {
    id: { type: 'uuid', entity: 'host', required: true, description: 'the host ID' },
    forced: { type: 'boolean', description: 'Force delete the host. All HA enabled vms running on the host will be put to HA; HA disabled ones will be stopped' },
    forcedestroylocalstorage: { type: 'boolean', description: 'Force destroy local storage on this host. All VMs created on this local storage will be destroyed' },
  },
  async handler(ctx, a) {
    const h = await hostById(ctx, a.id);
    const vms = await ctx.sql.query<{ id: string }>(`SELECT id FROM vm_instances WHERE host_id = $1 AND state = ANY($2::text[])`, [h.id, ACTIVE_STATES]);
    if (vms.length && !a.forced) throw apiError('RESOURCE_IN_USE', `Host ${h.name} has ${vms.length} running VM(s); stop or move them, put the host in maintenance, or pass forced=true`, [h.id]);
    if (h.resource_state !== 'Maintenance' && !a.forced && h.state === 'Up') {
      throw apiError('RESOURCE_IN_USE', `Host ${h.name} is Up; put it into maintenance first (prepareHostForMaintenance) or pass forced=true`, [h.id]);
    }
    // Forced: its VMs are stopped in the database; the agent is gone with its token.
    await ctx.sql.query(`UPDATE vm_instances SET state = 'Stopped', last_host_id = NULL, host_id = NULL WHERE host_id = $1`, [h.id]);
    await ctx.sql.query(`UPDATE vm_instances SET last_host_id = NULL WHERE last_host_id = $1`, [h.id]);
    await ctx.sql.query('DELETE FROM hosts WHERE id = $1', [h.id]);
    ctx.services.agents.disconnect(h.id);
    ctx.setResource('Host', h.id);
  },
});

export const prepareHostForMaintenance = command({
  name: 'prepareHostForMaintenance', description: 'Prepares a host for maintenance: its VMs are moved to other hosts (stopped there and started elsewhere: a cold move).', since: '1.0',
  roles: ADMIN, response: HOST, shape: 'object', isAsync: true, transactional: false, event: 'MAINT.PREPARE', instance: { type: 'Host', param: 'id' },
  params: { id: { type: 'uuid', entity: 'host', required: true, description: 'the host ID' } },
  async handler(ctx, a) {
    const s = ctx.services;
    const h = await hostById(ctx, a.id);
    if (h.resource_state === 'Maintenance') return view(ctx, h.id);
    await s.db.query(`UPDATE hosts SET resource_state = 'PrepareForMaintenance' WHERE id = $1`, [h.id]);
    const vms = await s.db.query<{ id: string; instance_name: string; zone_id: string; cpu_number: number; cpu_speed: number; memory: number; hypervisor: string }>(
      `SELECT v.id, v.instance_name, v.zone_id, o.cpu_number, o.cpu_speed, o.memory, t.hypervisor FROM vm_instances v
       JOIN service_offerings o ON o.id = v.service_offering_id JOIN templates t ON t.id = v.template_id
       WHERE v.host_id = $1 AND v.state = ANY($2::text[])`, [h.id, ACTIVE_STATES]);
    try {
      for (const v of vms) {
        const target = await planHost(s.db, { zoneId: v.zone_id, cpus: v.cpu_number, mhz: v.cpu_speed, memoryMb: v.memory, hypervisor: v.hypervisor, exclude: [h.id], what: `VM ${v.instance_name}` });
        if (s.agents.isConnected(h.id)) await s.agents.request(h.id, 'destroyVm', { name: v.instance_name }).catch((e) => { throw agentFailure(e, `moving ${v.instance_name} off`); });
        await s.db.query(`UPDATE vm_instances SET host_id = $2, last_host_id = $3, state = 'Starting' WHERE id = $1`, [v.id, target.id, h.id]);
        await startOnHost(s, v.id, target.id).catch((e) => { throw agentFailure(e, `starting ${v.instance_name} on ${target.name}`); });
        await s.db.query(`UPDATE vm_instances SET state = 'Running' WHERE id = $1`, [v.id]);
      }
    } catch (e) {
      await s.db.query(`UPDATE hosts SET resource_state = 'ErrorInMaintenance' WHERE id = $1`, [h.id]);
      throw e;
    }
    await releaseUnusedNetworks(s, h.id).catch(() => undefined);
    await s.db.query(`UPDATE hosts SET resource_state = 'Maintenance' WHERE id = $1`, [h.id]);
    ctx.setResource('Host', h.id);
    return view(ctx, h.id);
  },
});

export const cancelHostMaintenance = command({
  name: 'cancelHostMaintenance', description: 'Cancels host maintenance.', since: '1.0', roles: ADMIN, response: HOST, shape: 'object', isAsync: true,
  event: 'MAINT.CANCEL', instance: { type: 'Host', param: 'id' },
  params: { id: { type: 'uuid', entity: 'host', required: true, description: 'the host ID' } },
  async handler(ctx, a) {
    const h = await hostById(ctx, a.id);
    if (!['PrepareForMaintenance', 'Maintenance', 'ErrorInMaintenance'].includes(h.resource_state)) throw paramError(`Host ${h.name} is not in maintenance (resource state ${h.resource_state})`);
    await ctx.sql.query(`UPDATE hosts SET resource_state = 'Enabled' WHERE id = $1`, [h.id]);
    ctx.setResource('Host', h.id);
    return view(ctx, h.id);
  },
});
