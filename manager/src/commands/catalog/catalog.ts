// What CloudStack's clients list on their way (Ansible's cs_* modules, Terraform's provider,
// libcloud): OS types and categories, hypervisors, and the lists of features Flotilla does not
// have yet, answered honestly empty (projects, affinity groups, security groups in advanced
// zones, instance groups); resource limits (none are enforced: every limit is unlimited, -1).
import { ALL_ROLES, LIST_OWNED_PARAMS, LIST_PARAMS, command, field as f, type ResponseDef, PROJECT_LIST_PARAM } from '../../api/registry.ts';
import { paramError } from '../../api/errors.ts';
import type { ParamDef } from '../../api/params.ts';
import { compact } from '../../api/serialize.ts';
import { resolveScope } from '../../api/scope.ts';
import { accountById } from '../accounts/lookup.ts';
import { zoneById } from '../infra/lookup.ts';
import { OS_CATEGORIES, OS_TYPES } from './ostypes.ts';
import { RESOURCE_LIMIT, RESOURCE_TYPES, limitOwner, limitView, limitsOf } from '../limits/limits.ts';

const OS_TYPE: ResponseDef = {
  name: 'ostype',
  fields: {
    id: f('string', 'the ID of the OS type'), description: f('string', 'the name/description of the OS type'), name: f('string', 'the name of the OS type', '4.18'),
    oscategoryid: f('string', 'the ID of the OS category'), oscategoryname: f('string', 'the name of the OS category', '4.18'),
    isuserdefined: f('boolean', 'is the guest OS user defined'), fordisplay: f('boolean', 'is the guest OS visible for the users', '4.18'),
  },
};

export const listOsTypes = command({
  name: 'listOsTypes', description: 'Lists all supported OS types for this cloud.', since: '1.0', roles: ALL_ROLES, response: OS_TYPE, shape: 'list',
  params: {
    ...LIST_PARAMS,
    id: { type: 'uuid', entity: 'ostype', description: 'list by Os type Id' },
    oscategoryid: { type: 'uuid', entity: 'oscategory', description: 'list by Os Category id' },
    description: { type: 'string', description: 'list os by description', since: '3.0.1' },
    fordisplay: { type: 'boolean', description: 'list resources by display flag; only ROOT admin is eligible to pass this parameter', since: '4.18.1' },
  },
  async handler(_ctx, a) {
    const kw = a.keyword?.toLowerCase();
    return OS_TYPES.filter((o) => (!a.id || o.id === a.id) && (!a.oscategoryid || o.categoryId === a.oscategoryid)
      && (!a.description || o.description.toLowerCase() === a.description.toLowerCase()) && (!kw || o.description.toLowerCase().includes(kw)) && a.fordisplay !== false)
      .map((o) => ({ id: o.id, description: o.description, name: o.description, oscategoryid: o.categoryId, oscategoryname: o.categoryName, isuserdefined: false, fordisplay: true }));
  },
});

export const listOsCategories = command({
  name: 'listOsCategories', description: 'Lists all supported OS categories for this cloud.', since: '1.0', roles: ALL_ROLES,
  response: { name: 'oscategory', fields: { id: f('string', 'the ID of the OS category'), name: f('string', 'the name of the OS category') } }, shape: 'list',
  params: { ...LIST_PARAMS, id: { type: 'uuid', entity: 'oscategory', description: 'list Os category by id' }, name: { type: 'string', description: 'list os category by name', since: '3.0.1' } },
  async handler(_ctx, a) {
    const kw = a.keyword?.toLowerCase();
    return OS_CATEGORIES.filter((c) => (!a.id || c.id === a.id) && (!a.name || c.name.toLowerCase() === a.name.toLowerCase()) && (!kw || c.name.toLowerCase().includes(kw)))
      .map((c) => ({ id: c.id, name: c.name }));
  },
});

/** The hypervisors Flotilla's agents present (netns as LXC, simulator, the KVM seam). */
const SUPPORTED = ['LXC', 'Simulator', 'KVM'];

export const listHypervisors = command({
  name: 'listHypervisors', description: 'List hypervisors', since: '1.0', roles: ALL_ROLES,
  response: { name: 'hypervisor', fields: { name: f('string', 'Hypervisor name') } }, shape: 'list',
  params: { zoneid: { type: 'uuid', entity: 'zone', description: 'the zone id for listing hypervisors.' } },
  async handler(ctx, a) {
    // A zone's hypervisors are its clusters' (CloudStack: the zone's hosts' types); else all supported.
    if (!a.zoneid) return SUPPORTED.map((name) => ({ name }));
    const z = await zoneById(ctx, a.zoneid, 'zoneid');
    return (await ctx.sql.query<{ hypervisor: string }>('SELECT DISTINCT hypervisor FROM clusters WHERE zone_id = $1 ORDER BY hypervisor', [z.id])).map((r) => ({ name: r.hypervisor }));
  },
});

const empty = (name: string, description: string, since: string, response: ResponseDef, params: Record<string, Pick<ParamDef, 'type' | 'description' | 'entity'>>) => command({
  name, description, since, roles: ALL_ROLES, response, shape: 'list', params: { ...LIST_OWNED_PARAMS, ...PROJECT_LIST_PARAM, ...params },
  async handler(ctx, a) {
    // The ownership filters are still checked (a bad domainid or account is a 431/531).
    await resolveScope(ctx.sql, ctx.caller, a as never);
    return [];
  },
});

export const listAffinityGroups = empty('listAffinityGroups', 'Lists affinity groups (Flotilla has none yet: always empty)', '4.2.0',
  { name: 'affinitygroup', fields: { id: f('string', 'the ID of the affinity group'), name: f('string', 'the name of the affinity group'), type: f('string', 'the type of the affinity group'), description: f('string', 'the description of the affinity group') } },
  { id: { type: 'uuid', entity: 'affinitygroup', description: 'list the affinity group by the ID provided' }, name: { type: 'string', description: 'lists affinity groups by name' }, type: { type: 'string', description: 'lists affinity groups by type' }, virtualmachineid: { type: 'uuid', entity: 'vm', description: 'lists affinity groups by virtual machine ID' } });

export const listSecurityGroups = empty('listSecurityGroups', 'Lists security groups (advanced zones have none: always empty)', '3.0.0',
  { name: 'securitygroup', fields: { id: f('string', 'the ID of the security group'), name: f('string', 'the name of the security group'), description: f('string', 'the description of the security group') } },
  { id: { type: 'uuid', entity: 'securitygroup', description: 'list the security group by the id provided' }, securitygroupname: { type: 'string', description: 'lists security groups by name' }, virtualmachineid: { type: 'uuid', entity: 'vm', description: 'lists security groups by virtual machine id' }, tags: { type: 'map', description: 'List resources by tags (key/value pairs)' } });

export const listInstanceGroups = empty('listInstanceGroups', 'Lists vm groups (Flotilla has none yet: always empty)', '1.0',
  { name: 'instancegroup', fields: { id: f('string', 'the ID of the instance group'), name: f('string', 'the name of the instance group'), created: f('date', 'time and date the instance group was created') } },
  { id: { type: 'uuid', entity: 'instancegroup', description: 'list instance groups by ID' }, name: { type: 'string', description: 'list instance groups by name' } });

export const listResourceLimits = command({
  name: 'listResourceLimits', description: 'Lists resource limits of an account or project (a type without a limit answers -1); domain limits are not supported yet (-1).', since: '1.0', roles: ALL_ROLES,
  response: RESOURCE_LIMIT,
  shape: 'list',
  params: {
    ...LIST_OWNED_PARAMS, ...PROJECT_LIST_PARAM,
    id: { type: 'long', description: 'Lists resource limits by ID.' },
    resourcetype: { type: 'integer', description: 'Type of resource (0 instance, 1 IP, 2 volume, 3 snapshot, 4 template, 5 project, 6 network, 7 VPC, 8 CPU, 9 memory, 10 primary storage, 11 secondary storage).', min: 0, max: 11 },
    resourcetypename: { type: 'string', description: 'Type of resource by name.', values: RESOURCE_TYPES },
  },
  async handler(ctx, a) {
    const scope = await resolveScope(ctx.sql, ctx.caller, { ...a, listall: false });
    if (a.id !== undefined) return [];
    // The scope was access-checked by resolveScope (a project's members and admins reach its account).
    const acc = scope.kind === 'account' ? { id: scope.accountId } : undefined;
    const types = RESOURCE_TYPES.map((name, n) => ({ name, n }))
      .filter((t) => (a.resourcetype === undefined || t.n === a.resourcetype) && (a.resourcetypename === undefined || t.name === a.resourcetypename));
    if (acc) {
      const owner = await limitOwner(ctx.sql, acc.id);
      const max = (await limitsOf(ctx.sql, [acc.id])).get(acc.id);
      return types.map((t) => limitView(owner, t.n, max?.get(t.n) ?? -1));
    }
    // A domain's own limits (domainid without account).
    const d = scope.kind === 'domain' ? (await ctx.sql.query<{ id: string; name: string }>('SELECT id, name FROM domains WHERE id = $1', [scope.domainId]))[0] : undefined;
    if (!d) throw paramError('listResourceLimits lists one account\'s or one domain\'s limits: give account and domainid, domainid, or none for your own');
    return types.map((t) => ({ domainid: d.id, domain: d.name, resourcetype: String(t.n), resourcetypename: t.name, max: -1 }));
  },
});
