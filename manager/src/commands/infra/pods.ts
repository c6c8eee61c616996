import { randomUUID } from 'node:crypto';
import { pagedRows } from '../../api/paging.ts';
import { ADMIN, LIST_PARAMS, SUCCESS_RESPONSE, command } from '../../api/registry.ts';
import { apiError, paramError } from '../../api/errors.ts';
import { Where } from '../../db/sql.ts';
import { checkPodConflicts, validateV4Range } from '../../orchestrator/ipam.ts';
import { POD, POD_SELECT, podView, type PodRow } from './views.ts';
import { podById, zoneById, zoneFacts, lockInfra } from './lookup.ts';
import { USAGE_CHECKS, deleting, uses } from './usage.ts';
import { checkIPv4, checkName, checkNetmask, ipam } from './validate.ts';

export const createPod = command({
  name: 'createPod', description: 'Creates a new Pod.', since: '1.0', roles: ADMIN, response: POD, shape: 'object', event: 'POD.CREATE',
  params: {
    name: { type: 'string', required: true, description: 'the name of the Pod', check: checkName },
    zoneid: { type: 'uuid', entity: 'zone', required: true, description: 'the Zone ID in which the Pod will be created' },
    startip: { type: 'string', required: true, description: 'the starting IP address for the Pod', check: checkIPv4 },
    endip: { type: 'string', description: 'the ending IP address for the Pod', check: checkIPv4 },
    netmask: { type: 'string', required: true, description: 'the netmask for the Pod', check: checkNetmask },
    gateway: { type: 'string', required: true, description: 'the gateway for the Pod', check: checkIPv4 },
    allocationstate: { type: 'string', description: 'Allocation state of this Pod for allocation of new resources', values: ['Enabled', 'Disabled'] },
  },
  async handler(ctx, a) {
    await lockInfra(ctx);
    const zone = await zoneById(ctx, a.zoneid, 'zoneid');
    const clash = await ctx.sql.query<{ id: string }>('SELECT id FROM pods WHERE zone_id = $1 AND lower(name) = lower($2)', [zone.id, a.name]);
    if (clash.length) throw paramError(`A pod with name ${a.name} already exists in zone ${zone.name} (pod id ${clash[0]!.id}). Please specify a different pod name.`);
    const range = ipam(() => validateV4Range(a));
    const facts = await zoneFacts(ctx.sql, zone);
    ipam(() => checkPodConflicts(range, facts));
    const id = randomUUID();
    await ctx.sql.query(
      `INSERT INTO pods (id, zone_id, name, gateway, netmask, start_ip, end_ip, allocation_state) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)`,
      [id, zone.id, a.name, range.gateway.text, range.netmask, range.start.text, range.end.text, a.allocationstate ?? 'Enabled']);
    ctx.setResource('Pod', id);
    return podView((await ctx.sql.query<PodRow>(`${POD_SELECT} WHERE p.id = $1`, [id]))[0]!);
  },
});

export const updatePod = command({
  name: 'updatePod', description: 'Updates a Pod.', since: '1.0', roles: ADMIN, response: POD, shape: 'object', event: 'POD.EDIT',
  params: {
    id: { type: 'uuid', entity: 'pod', required: true, description: 'the ID of the Pod' },
    name: { type: 'string', description: 'the name of the Pod', check: checkName },
    startip: { type: 'string', description: 'the starting IP address for the Pod', check: checkIPv4 },
    endip: { type: 'string', description: 'the ending IP address for the Pod', check: checkIPv4 },
    netmask: { type: 'string', description: 'the netmask of the Pod', check: checkNetmask },
    gateway: { type: 'string', description: 'the gateway for the Pod', check: checkIPv4 },
    allocationstate: { type: 'string', description: 'Allocation state of this cluster for allocation of new resources', values: ['Enabled', 'Disabled'] },
  },
  async handler(ctx, a) {
    await lockInfra(ctx);
    const p = await podById(ctx, a.id);
    const zone = await zoneById(ctx, p.zone_id, 'zoneid');
    if (a.name !== undefined && a.name.toLowerCase() !== p.name.toLowerCase()) {
      const clash = await ctx.sql.query<{ id: string }>('SELECT id FROM pods WHERE zone_id = $1 AND lower(name) = lower($2) AND id <> $3', [zone.id, a.name, p.id]);
      if (clash.length) throw paramError(`A pod with name ${a.name} already exists in zone ${zone.name} (pod id ${clash[0]!.id}). Please specify a different pod name.`);
    }
    let range: { gateway: string; netmask: string; start: string; end: string } | undefined;
    if ([a.startip, a.endip, a.netmask, a.gateway].some((x) => x !== undefined)) {
      // The new range is the old one with the given parts replaced, checked as a whole.
      const gateway = a.gateway ?? p.gateway;
      const netmask = a.netmask ?? p.netmask;
      const startip = a.startip ?? p.start_ip;
      if (!gateway || !netmask || !startip) throw paramError('A pod range needs gateway, netmask and startip');
      const endip = a.endip ?? p.end_ip ?? undefined;
      const r = ipam(() => validateV4Range({ gateway, netmask, startip, endip }));
      const facts = await zoneFacts(ctx.sql, zone, { exceptPod: p.id });
      ipam(() => checkPodConflicts(r, facts));
      range = { gateway: r.gateway.text, netmask: r.netmask, start: r.start.text, end: r.end.text };
    }
    await ctx.sql.query(
      `UPDATE pods SET name = coalesce($2, name), gateway = coalesce($3, gateway), netmask = coalesce($4, netmask), start_ip = coalesce($5, start_ip),
         end_ip = coalesce($6, end_ip), allocation_state = coalesce($7, allocation_state) WHERE id = $1`,
      [p.id, a.name ?? null, range?.gateway ?? null, range?.netmask ?? null, range?.start ?? null, range?.end ?? null, a.allocationstate ?? null]);
    ctx.setResource('Pod', p.id);
    return podView((await ctx.sql.query<PodRow>(`${POD_SELECT} WHERE p.id = $1`, [p.id]))[0]!);
  },
});

export const listPods = command({
  name: 'listPods', description: 'Lists all Pods.', since: '1.0', roles: ADMIN, response: POD, shape: 'list',
  params: {
    ...LIST_PARAMS,
    id: { type: 'uuid', entity: 'pod', description: 'list Pods by ID' },
    name: { type: 'string', description: 'list Pods by name' },
    zoneid: { type: 'uuid', entity: 'zone', description: 'list Pods by Zone ID' },
    allocationstate: { type: 'string', description: 'list pods by allocation state' },
    showcapacities: { type: 'boolean', description: 'flag to display the capacity of the pods' },
  },
  async handler(ctx, a) {
    const w = new Where().add('p.id = ?', a.id).add('lower(p.name) = lower(?)', a.name).add('p.zone_id = ?', a.zoneid)
      .add('lower(p.allocation_state) = lower(?)', a.allocationstate).keyword(a.keyword, 'p.name');
    return (await pagedRows<PodRow>(ctx.sql, a, { select: POD_SELECT, where: w, orderBy: 'p.created, p.name, p.id' })).map(podView);
  },
});

export const deletePod = command({
  name: 'deletePod', description: 'Deletes a Pod.', since: '1.0', roles: ADMIN, response: SUCCESS_RESPONSE, shape: 'success', event: 'POD.DELETE',
  params: { id: { type: 'uuid', entity: 'pod', required: true, description: 'the ID of the Pod' } },
  async handler(ctx, a) {
    await lockInfra(ctx);
    const p = await podById(ctx, a.id);
    const blockers: string[] = [];
    for (const [what, sql] of [
      ['host(s)', 'SELECT name AS label FROM hosts WHERE pod_id = $1'],
      ['cluster(s)', 'SELECT name AS label FROM clusters WHERE pod_id = $1'],
      ['VLAN IP range(s)', `SELECT coalesce(start_ip || '-' || end_ip, id::text) AS label FROM vlan_ip_ranges WHERE pod_id = $1`],
    ] as const) {
      const rows = await ctx.sql.query<{ label: string }>(sql, [p.id]);
      if (rows.length) blockers.push(`${rows.length} ${what} (${rows.map((r) => r.label).join(', ')})`);
    }
    blockers.push(...await uses(USAGE_CHECKS.pod, ctx.sql, p.id));
    if (blockers.length) throw apiError('RESOURCE_IN_USE', `The pod ${p.name} (id ${p.id}) cannot be deleted because it still has ${blockers.join(', ')}`, [p.id]);
    await deleting(`The pod ${p.name} (id ${p.id})`, p.id, () => ctx.sql.query('DELETE FROM pods WHERE id = $1', [p.id]));
    ctx.setResource('Pod', p.id);
  },
});
