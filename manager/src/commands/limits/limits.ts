// Resource limits as CloudStack keeps them for an account or a project (ResourceLimitManagerImpl):
// updateResourceLimit sets one, listResourceLimits shows them, and creating a VM (its count, its
// root volume, its offering's CPU cores and memory), a network, a public IP or a volume in an
// account or project beyond its limit is refused with CloudStack's ResourceAllocationException
// (535) before anything is written. Snapshots, templates, VPCs and storage sizes have no limit
// enforced yet (Flotilla has no snapshots or VPCs).
import { ADMINS, command, field as f, type ResponseDef } from '../../api/registry.ts';
import type { Context } from '../../api/context.ts';
import { apiError, paramError } from '../../api/errors.ts';
import { compact } from '../../api/serialize.ts';
import { resolveScope } from '../../api/scope.ts';
import type { Sql } from '../../db/sql.ts';

/** CloudStack's Resource.ResourceType, by number. */
export const RESOURCE_TYPES = ['user_vm', 'public_ip', 'volume', 'snapshot', 'template', 'project', 'network', 'vpc', 'cpu', 'memory', 'primary_storage', 'secondary_storage'] as const;
export type ResourceTypeName = (typeof RESOURCE_TYPES)[number];

/** What each enforced type counts in an account. */
const COUNTS: Partial<Record<ResourceTypeName, string>> = {
  user_vm: `SELECT count(*)::int AS n FROM vm_instances WHERE account_id = $1 AND type = 'User' AND state NOT IN ('Destroyed', 'Expunging', 'Error')`,
  public_ip: 'SELECT count(*)::int AS n FROM public_ip_addresses WHERE account_id = $1',
  network: 'SELECT count(*)::int AS n FROM networks WHERE account_id = $1',
  volume: 'SELECT count(*)::int AS n FROM volumes WHERE account_id = $1',
  // CPU cores and memory (MiB) of the account's VMs that hold them (CloudStack counts a VM's
  // offering while it is not destroyed).
  cpu: `SELECT coalesce(sum(so.cpu_number), 0)::int AS n FROM vm_instances v JOIN service_offerings so ON so.id = v.service_offering_id
    WHERE v.account_id = $1 AND v.type = 'User' AND v.state NOT IN ('Destroyed', 'Expunging', 'Error')`,
  memory: `SELECT coalesce(sum(so.memory), 0)::int AS n FROM vm_instances v JOIN service_offerings so ON so.id = v.service_offering_id
    WHERE v.account_id = $1 AND v.type = 'User' AND v.state NOT IN ('Destroyed', 'Expunging', 'Error')`,
};

/** The account's limits by type number (absent: unlimited). */
export async function limitsOf(sql: Sql, accountIds: readonly string[]): Promise<Map<string, Map<number, number>>> {
  const out = new Map<string, Map<number, number>>();
  if (!accountIds.length) return out;
  const rows = await sql.query<{ account_id: string; resource_type: number; max: string | number }>(
    'SELECT account_id, resource_type, max FROM resource_limits WHERE account_id = ANY($1::uuid[])', [accountIds]);
  for (const r of rows) {
    const m = out.get(r.account_id) ?? new Map<number, number>();
    m.set(Number(r.resource_type), Number(r.max));
    out.set(r.account_id, m);
  }
  return out;
}

/**
 * Refuses one more `type` for the account when it is at its limit (CloudStack's
 * checkResourceLimit, with its text). Runs inside the creating transaction, before the insert.
 */
export async function checkResourceLimit(sql: Sql, accountId: string, type: ResourceTypeName, amount = 1): Promise<void> {
  const max = (await limitsOf(sql, [accountId])).get(accountId)?.get(RESOURCE_TYPES.indexOf(type));
  if (max === undefined || max < 0) return;
  const have = Number((await sql.query<{ n: number }>(COUNTS[type]!, [accountId]))[0]?.n ?? 0);
  if (have + amount <= max) return;
  const acc = (await sql.query<{ name: string; domain_id: string; project: string | null }>(
    'SELECT a.name, a.domain_id, p.name AS project FROM accounts a LEFT JOIN projects p ON p.account_id = a.id WHERE a.id = $1', [accountId]))[0]!;
  const who = acc.project !== null ? `Project Name = ${acc.project}` : `Account Name = ${acc.name}`;
  throw apiError('RESOURCE_ALLOCATION', `Maximum amount of resources of Type = '${type}' for ${who} in Domain Id = ${acc.domain_id} is exceeded: Account Resource Limit = ${max}, Current Account Resource Amount = ${have}, Requested Resource Amount = ${amount}.`);
}

export const RESOURCE_LIMIT: ResponseDef = {
  name: 'resourcelimit',
  fields: {
    account: f('string', 'the account of the resource limit'), domainid: f('string', 'the domain ID of the resource limit'), domain: f('string', 'the domain name of the resource limit'),
    project: f('string', 'the project name of the resource limit'), projectid: f('string', 'the project id of the resource limit'),
    resourcetype: f('string', 'resource type. Values include 0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11. See the resourceType parameter for more information.'),
    resourcetypename: f('string', 'resource type name. Values include user_vm, public_ip, volume, snapshot, template, network, vpc, cpu, memory, primary_storage and secondary_storage.'),
    max: f('long', 'the maximum number of the resource. A -1 means the resource currently has no limit.'),
  },
};

export interface LimitOwner { id: string; name: string; domain_id: string; domain_name: string; project_id: string | null; project_name: string | null }

export async function limitOwner(sql: Sql, accountId: string): Promise<LimitOwner> {
  return (await sql.query<LimitOwner>(
    `SELECT a.id, a.name, a.domain_id, d.name AS domain_name, p.id AS project_id, p.name AS project_name
     FROM accounts a JOIN domains d ON d.id = a.domain_id LEFT JOIN projects p ON p.account_id = a.id WHERE a.id = $1`, [accountId]))[0]!;
}

/** One limit as CloudStack answers it: a project's names the project, not its account. */
export function limitView(o: LimitOwner, type: number, max: number): Record<string, unknown> {
  return compact({
    ...(o.project_id ? { project: o.project_name, projectid: o.project_id } : { account: o.name }),
    domainid: o.domain_id, domain: o.domain_name, resourcetype: String(type), resourcetypename: RESOURCE_TYPES[type], max,
  });
}

export const updateResourceLimit = command({
  name: 'updateResourceLimit', description: 'Updates resource limits for an account or project. Flotilla enforces user_vm, public_ip and network; domain limits are not supported yet.', since: '1.0',
  roles: ADMINS, response: RESOURCE_LIMIT, shape: 'object', event: 'RESOURCE.LIMIT.UPDATE',
  params: {
    account: { type: 'string', description: 'Update resource for a specified account. Must be used with the domainId parameter.' },
    domainid: { type: 'uuid', entity: 'domain', description: 'Update resource limits for all accounts in specified domain. If used with the account parameter, updates resource limits for a specified account in specified domain.' },
    projectid: { type: 'uuid', entity: 'project', description: 'Update resource limits for project' },
    max: { type: 'long', description: 'Maximum resource limit.', min: -1 },
    resourcetype: { type: 'integer', required: true, min: 0, max: 11, description: 'Type of resource to update. Values are 0, 1, 2, 3, 4, 6, 7, 8, 9, 10 and 11. 0 - Instance. 1 - IP. 2 - Volume. 3 - Snapshot. 4 - Template. 6 - Network. 7 - VPC. 8 - CPU. 9 - Memory. 10 - PrimaryStorage. 11 - SecondaryStorage.' },
  },
  async handler(ctx: Context, a) {
    if (a.projectid === '-1') throw paramError('Unable to execute API command updateresourcelimit due to invalid value. Invalid parameter projectid value=-1');
    if (a.account === undefined && a.projectid === undefined && a.domainid !== undefined) {
      throw paramError('Unable to execute API command updateresourcelimit due to unsupported parameter: domain resource limits (domainid without account or projectid) are not supported yet');
    }
    if (a.resourcetype === 5 && a.projectid) throw paramError('Can\'t update project resource limit for a project');
    const scope = await resolveScope(ctx.sql, ctx.caller, { account: a.account, domainid: a.domainid, projectid: a.projectid });
    if (scope.kind !== 'account') throw paramError('updateResourceLimit needs account and domainid, or projectid');
    if (ctx.caller.role !== 'Admin' && scope.accountId === ctx.caller.accountId) throw apiError('ACCOUNT_ERROR', 'Only a parent domain\'s admin can change this account\'s limits');
    const max = a.max ?? -1;
    await ctx.sql.query(
      `INSERT INTO resource_limits (account_id, resource_type, max) VALUES ($1,$2,$3) ON CONFLICT (account_id, resource_type) DO UPDATE SET max = EXCLUDED.max`,
      [scope.accountId, a.resourcetype, max]);
    ctx.setResource('ResourceLimit', scope.accountId);
    return limitView(await limitOwner(ctx.sql, scope.accountId), a.resourcetype, max);
  },
});
