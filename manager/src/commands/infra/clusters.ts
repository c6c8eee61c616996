import { randomUUID } from 'node:crypto';
import { pagedRows } from '../../api/paging.ts';
import { ADMIN, LIST_PARAMS, SUCCESS_RESPONSE, command } from '../../api/registry.ts';
import { apiError, paramError } from '../../api/errors.ts';
import { Where } from '../../db/sql.ts';
import { CLUSTER, CLUSTER_SELECT, HOST, HOST_SELECT, clusterView, hostView, type ClusterRow, type HostRow } from './views.ts';
import { clusterById, podById, zoneById, lockInfra } from './lookup.ts';
import { checkName } from './validate.ts';
import { deleting } from './usage.ts';

/** CloudStack's Hypervisor.HypervisorType names (the ones a cluster can have). */
export const HYPERVISORS = ['KVM', 'XenServer', 'VMware', 'Hyperv', 'BareMetal', 'Simulator', 'Ovm', 'Ovm3', 'LXC', 'External'] as const;
const ARCHS = ['x86_64', 'aarch64'] as const;

export const addCluster = command({
  name: 'addCluster', description: 'Adds a new cluster', since: '1.0', roles: ADMIN, response: CLUSTER, shape: 'raw', event: 'CLUSTER.CREATE',
  params: {
    clustername: { type: 'string', required: true, description: 'the cluster name', check: checkName },
    clustertype: { type: 'string', required: true, description: 'type of the cluster: CloudManaged, ExternalManaged', values: ['CloudManaged', 'ExternalManaged'] },
    hypervisor: { type: 'string', required: true, description: 'hypervisor type of the cluster: XenServer,KVM,VMware,Hyperv,BareMetal,Simulator,Ovm3', values: HYPERVISORS },
    podid: { type: 'uuid', entity: 'pod', required: true, description: 'the Pod ID for the host' },
    zoneid: { type: 'uuid', entity: 'zone', required: true, description: 'the Zone ID for the cluster' },
    allocationstate: { type: 'string', description: 'Allocation state of this cluster for allocation of new resources', values: ['Enabled', 'Disabled'] },
    arch: { type: 'string', description: 'the CPU arch of the cluster. Valid options are: x86_64, aarch64', since: '4.20', values: ARCHS },
    url: { type: 'string', description: 'the URL' },
    username: { type: 'string', description: 'the username for the cluster' },
    password: { type: 'string', description: 'the password for the host' },
  },
  async handler(ctx, a) {
    await lockInfra(ctx);
    const zone = await zoneById(ctx, a.zoneid, 'zoneid');
    const pod = await podById(ctx, a.podid, 'podid');
    if (pod.zone_id !== zone.id) throw paramError(`Pod ${pod.name} (podid ${pod.id}) does not belong to zone ${zone.name} (zoneid ${zone.id})`);
    const clash = await ctx.sql.query<{ id: string }>('SELECT id FROM clusters WHERE pod_id = $1 AND lower(name) = lower($2)', [pod.id, a.clustername]);
    if (clash.length) throw paramError(`A cluster with name ${a.clustername} already exists in pod ${pod.name} (cluster id ${clash[0]!.id})`);
    // External hypervisor managers (vCenter URLs and their credentials) are not supported:
    // Flotilla's hosts are KVM agents that register themselves.
    if (a.url !== undefined || a.username !== undefined || a.password !== undefined) {
      throw paramError('url, username and password are for externally managed hypervisor clusters, which this cloud does not support');
    }
    const id = randomUUID();
    await ctx.sql.query(
      `INSERT INTO clusters (id, zone_id, pod_id, name, hypervisor, cluster_type, allocation_state, arch) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)`,
      [id, zone.id, pod.id, a.clustername, a.hypervisor, a.clustertype, a.allocationstate ?? 'Enabled', a.arch ?? 'x86_64']);
    ctx.setResource('Cluster', id);
    // addCluster answers a list, as CloudStack's AddClusterCmd does.
    return { count: 1, cluster: [clusterView((await ctx.sql.query<ClusterRow>(`${CLUSTER_SELECT} WHERE c.id = $1`, [id]))[0]!)] };
  },
});

export const updateCluster = command({
  name: 'updateCluster', description: 'Updates an existing cluster', since: '1.0', roles: ADMIN, response: CLUSTER, shape: 'object', event: 'CLUSTER.UPDATE',
  params: {
    id: { type: 'uuid', entity: 'cluster', required: true, description: 'the ID of the Cluster' },
    clustername: { type: 'string', description: 'the cluster name', check: checkName },
    clustertype: { type: 'string', description: 'hypervisor type of the cluster', values: ['CloudManaged', 'ExternalManaged'] },
    hypervisor: { type: 'string', description: 'hypervisor type of the cluster', values: HYPERVISORS },
    allocationstate: { type: 'string', description: 'Allocation state of this cluster for allocation of new resources', values: ['Enabled', 'Disabled'] },
    managedstate: { type: 'string', description: 'whether this cluster is managed by cloudstack', values: ['Managed', 'Unmanaged'] },
    arch: { type: 'string', description: 'the CPU arch of the cluster. Valid options are: x86_64, aarch64', since: '4.20', values: ARCHS },
  },
  async handler(ctx, a) {
    await lockInfra(ctx);
    const c = await clusterById(ctx, a.id);
    // As in CloudStack: a cluster's hypervisor and type are fixed once it exists.
    if (a.hypervisor !== undefined && a.hypervisor !== c.hypervisor) throw paramError(`hypervisor type of cluster ${c.name} cannot be changed (it is ${c.hypervisor})`);
    if (a.clustertype !== undefined && a.clustertype !== c.cluster_type) throw paramError(`cluster type of cluster ${c.name} cannot be changed (it is ${c.cluster_type})`);
    if (a.clustername !== undefined && a.clustername.toLowerCase() !== c.name.toLowerCase()) {
      const clash = await ctx.sql.query<{ id: string }>('SELECT id FROM clusters WHERE pod_id = $1 AND lower(name) = lower($2) AND id <> $3', [c.pod_id, a.clustername, c.id]);
      if (clash.length) throw paramError(`A cluster with name ${a.clustername} already exists in pod ${c.pod_name} (cluster id ${clash[0]!.id})`);
    }
    if (a.arch !== undefined && a.arch !== c.arch && (await ctx.sql.query('SELECT 1 FROM hosts WHERE cluster_id = $1', [c.id])).length) {
      throw paramError(`The CPU arch of cluster ${c.name} cannot change while it has hosts`);
    }
    await ctx.sql.query(
      `UPDATE clusters SET name = coalesce($2, name), allocation_state = coalesce($3, allocation_state), managed_state = coalesce($4, managed_state), arch = coalesce($5, arch) WHERE id = $1`,
      [c.id, a.clustername ?? null, a.allocationstate ?? null, a.managedstate ?? null, a.arch ?? null]);
    ctx.setResource('Cluster', c.id);
    return clusterView((await ctx.sql.query<ClusterRow>(`${CLUSTER_SELECT} WHERE c.id = $1`, [c.id]))[0]!);
  },
});

export const listClusters = command({
  name: 'listClusters', description: 'Lists clusters.', since: '1.0', roles: ADMIN, response: CLUSTER, shape: 'list',
  params: {
    ...LIST_PARAMS,
    id: { type: 'uuid', entity: 'cluster', description: 'lists clusters by the cluster ID' },
    name: { type: 'string', description: 'lists clusters by the cluster name' },
    podid: { type: 'uuid', entity: 'pod', description: 'lists clusters by Pod ID' },
    zoneid: { type: 'uuid', entity: 'zone', description: 'lists clusters by Zone ID' },
    hypervisor: { type: 'string', description: 'lists clusters by hypervisor type' },
    clustertype: { type: 'string', description: 'lists clusters by cluster type' },
    allocationstate: { type: 'string', description: 'lists clusters by allocation state' },
    managedstate: { type: 'string', description: 'whether this cluster is managed by cloudstack' },
    showcapacities: { type: 'boolean', description: 'flag to display the capacity of the clusters' },
    arch: { type: 'string', description: 'CPU arch of the clusters', since: '4.20.1' },
  },
  async handler(ctx, a) {
    const w = new Where().add('c.id = ?', a.id).add('lower(c.name) = lower(?)', a.name).add('c.pod_id = ?', a.podid).add('c.zone_id = ?', a.zoneid)
      .add('lower(c.hypervisor) = lower(?)', a.hypervisor).add('lower(c.cluster_type) = lower(?)', a.clustertype)
      .add('lower(c.allocation_state) = lower(?)', a.allocationstate).add('lower(c.managed_state) = lower(?)', a.managedstate)
      .add('c.arch = ?', a.arch).keyword(a.keyword, 'c.name');
    return (await pagedRows<ClusterRow>(ctx.sql, a, { select: CLUSTER_SELECT, where: w, orderBy: 'c.created, c.name, c.id' })).map(clusterView);
  },
});

export const deleteCluster = command({
  name: 'deleteCluster', description: 'Deletes a cluster.', since: '1.0', roles: ADMIN, response: SUCCESS_RESPONSE, shape: 'success', event: 'CLUSTER.DELETE',
  params: { id: { type: 'uuid', entity: 'cluster', required: true, description: 'the cluster ID' } },
  async handler(ctx, a) {
    await lockInfra(ctx);
    const c = await clusterById(ctx, a.id);
    const hosts = await ctx.sql.query<{ name: string }>('SELECT name FROM hosts WHERE cluster_id = $1 ORDER BY created', [c.id]);
    if (hosts.length) throw apiError('RESOURCE_IN_USE', `The cluster ${c.name} (id ${c.id}) cannot be deleted because it still has ${hosts.length} host(s) (${hosts.map((h) => h.name).join(', ')})`, [c.id]);
    await deleting(`The cluster ${c.name} (id ${c.id})`, c.id, () => ctx.sql.query('DELETE FROM clusters WHERE id = $1', [c.id]));
    ctx.setResource('Cluster', c.id);
  },
});

export const listHosts = command({
  name: 'listHosts', description: 'Lists hosts.', since: '1.0', roles: ADMIN, response: HOST, shape: 'list',
  params: {
    ...LIST_PARAMS,
    id: { type: 'uuid', entity: 'host', description: 'the id of the host' },
    name: { type: 'string', description: 'the name of the host' },
    type: { type: 'string', description: 'the host type' },
    state: { type: 'string', description: 'the state of the host' },
    zoneid: { type: 'uuid', entity: 'zone', description: 'the Zone ID for the host' },
    podid: { type: 'uuid', entity: 'pod', description: 'the Pod ID for the host' },
    clusterid: { type: 'uuid', entity: 'cluster', description: 'lists hosts existing in particular cluster' },
    resourcestate: { type: 'string', description: 'list hosts by resource state. Resource state represents current state determined by admin of host, value can be one of [Enabled, Disabled, Unmanaged, PrepareForMaintenance, ErrorInMaintenance, Maintenance, Error]' },
    hypervisor: { type: 'string', description: 'hypervisor type of host: XenServer,KVM,VMware,Hyperv,BareMetal,Simulator' },
    details: { type: 'list', of: 'string', description: 'comma separated list of host details requested, value can be a list of [ min, all, capacity, events, stats]' },
    outofbandmanagementenabled: { type: 'boolean', description: 'list hosts for which out-of-band management is enabled' },
    arch: { type: 'string', description: 'CPU Arch of the host', since: '4.20.1' },
  },
  async handler(ctx, a) {
    const w = new Where().add('h.id = ?', a.id).add('lower(h.name) = lower(?)', a.name).add('lower(h.type) = lower(?)', a.type)
      .add('lower(h.state) = lower(?)', a.state).add('h.zone_id = ?', a.zoneid).add('h.pod_id = ?', a.podid).add('h.cluster_id = ?', a.clusterid)
      .add('lower(h.resource_state) = lower(?)', a.resourcestate).add('lower(h.hypervisor) = lower(?)', a.hypervisor).add('h.arch = ?', a.arch)
      .keyword(a.keyword, 'h.name', 'h.ip_address');
    // No out-of-band management exists here, so asking for hosts that have it finds none.
    if (a.outofbandmanagementenabled === true) return [];
    return (await pagedRows<HostRow>(ctx.sql, a, { select: HOST_SELECT, where: w, orderBy: 'h.created, h.name, h.id' })).map(hostView);
  },
});
