import { ALL_ROLES, LIST_OWNED_PARAMS, command, type AnyCommand, type ResponseDef, PROJECT_LIST_PARAM } from '../../api/registry.ts';
import { pagedRows } from '../../api/paging.ts';
import { paramError } from '../../api/errors.ts';
import { applyScope, resolveScope } from '../../api/scope.ts';
import { Where } from '../../db/sql.ts';
import { compact, csDate, CS_VERSION } from '../../api/serialize.ts';
import { permitted } from '../../api/permissions.ts';

// ---- listApis: generated from the registry, as CloudMonkey syncs its command set from it ----

const API: ResponseDef = {
  name: 'api',
  fields: {
    name: { type: 'string', description: 'the name of the api command' },
    description: { type: 'string', description: 'description of the api' },
    isasync: { type: 'boolean', description: 'true if api is asynchronous' },
    since: { type: 'string', description: 'version of CloudStack the api was introduced in' },
    related: { type: 'string', description: 'comma separated related apis' },
    params: { type: 'list', description: 'the list params the api accepts' },
    response: { type: 'list', description: 'api response fields' },
    type: { type: 'string', description: 'response field type' },
  },
};

export function apiView(c: AnyCommand, isAdmin: boolean): Record<string, unknown> {
  const params = Object.entries(c.params).filter(([, d]) => isAdmin || !d.adminOnly).map(([name, d]) => compact({
    name, description: d.description, type: d.type, length: d.length ?? 255, required: Boolean(d.required), since: d.since, related: '',
  }));
  const response = Object.entries(c.response.fields).map(([name, f]) => ({ name, description: f.description, type: f.type }));
  if (c.isAsync) response.push({ name: 'jobid', description: 'the UUID of the latest async job acting on this object', type: 'string' },
    { name: 'jobstatus', description: 'the current status of the latest async job acting on this object', type: 'integer' });
  return compact({
    name: c.name, description: c.description, isasync: Boolean(c.isAsync), since: c.since, related: c.related?.join(','),
    params, response, type: c.shape === 'list' ? 'list' : 'object',
  });
}

export const listApis = command({
  name: 'listApis', description: 'lists all available apis on the server, provided by the Api Discovery plugin', since: '4.1.0',
  roles: ALL_ROLES, response: API, shape: 'list',
  params: { name: { type: 'string', description: 'API name' } },
  async handler(ctx, a) {
    const typed = ctx.services.registry.all().filter((c) => c.roles.includes(ctx.caller.role));
    const allowed = await permitted(ctx.services.db, ctx.caller, typed.map((c) => c.name));
    const visible = typed.filter((c) => allowed.has(c.name));
    if (a.name !== undefined) {
      const one = visible.find((c) => c.name.toLowerCase() === a.name!.toLowerCase());
      if (!one) throw paramError(`Api Discovery plugin was unable to find an api by that name or api is not available for user with id=${ctx.caller.userId}`);
      return [apiView(one, ctx.caller.role === 'Admin')];
    }
    return visible.map((c) => apiView(c, ctx.caller.role === 'Admin'));
  },
});

// ---- listCapabilities ----

const CAPABILITY: ResponseDef = {
  name: 'capability',
  fields: {
    cloudstackversion: { type: 'string', description: 'version of the cloud stack' },
    securitygroupsenabled: { type: 'boolean', description: 'true if security groups support is enabled, false otherwise' },
    userpublictemplateenabled: { type: 'boolean', description: 'true if user and domain admins can set templates to be shared, false otherwise' },
    supportELB: { type: 'string', description: 'true if region supports elastic load balancer on basic zones' },
    projectinviterequired: { type: 'boolean', description: 'If invitation confirmation is required when add account to project' },
    allowusercreateprojects: { type: 'boolean', description: 'true if regular user is allowed to create projects' },
    customdiskofferingminsize: { type: 'long', description: 'minimum size that can be specified when create disk from disk offering with custom size' },
    customdiskofferingmaxsize: { type: 'long', description: 'maximum size that can be specified when create disk from disk offering with custom size' },
    apilimitinterval: { type: 'integer', description: 'time interval (in seconds) to reset api count' },
    apilimitmax: { type: 'integer', description: 'Max allowed number of api requests within the specified interval' },
    allowuserviewdestroyedvm: { type: 'boolean', description: 'true if the user is allowed to view destroyed virtualmachines, false otherwise' },
    allowuserexpungerecovervm: { type: 'boolean', description: 'true if the user can recover and expunge virtualmachines, false otherwise' },
    kvmsnapshotenabled: { type: 'boolean', description: 'true if snapshot is supported for KVM host, false otherwise' },
    regionsecondaryenabled: { type: 'boolean', description: 'true if region wide secondary is enabled, false otherwise' },
    dynamicrolesenabled: { type: 'boolean', description: 'true if dynamic role-based api checker is enabled, false otherwise' },
    defaultuipagesize: { type: 'long', description: 'default page size in the UI for various views, value set in the configurations' },
  },
};

export const listCapabilities = command({
  name: 'listCapabilities', description: 'Lists capabilities', since: '1.0', roles: ALL_ROLES, response: CAPABILITY, shape: 'object', params: {},
  async handler() {
    return {
      cloudstackversion: CS_VERSION, securitygroupsenabled: false, userpublictemplateenabled: true, supportELB: 'false',
      projectinviterequired: false, allowusercreateprojects: true, customdiskofferingminsize: 1, customdiskofferingmaxsize: 1024,
      apilimitinterval: 1, apilimitmax: -1, allowuserviewdestroyedvm: false, allowuserexpungerecovervm: false,
      kvmsnapshotenabled: false, regionsecondaryenabled: false, dynamicrolesenabled: true, defaultuipagesize: 20,
    };
  },
});

// ---- async jobs ----

const ASYNC_JOB: ResponseDef = {
  name: 'asyncjobs',
  fields: {
    jobid: { type: 'string', description: 'the ID of the async job' },
    accountid: { type: 'string', description: 'the account id that executed the async command' },
    account: { type: 'string', description: 'the account that executed the async command' },
    domainid: { type: 'string', description: 'the domain id that executed the async command' },
    userid: { type: 'string', description: 'the user that executed the async command' },
    cmd: { type: 'string', description: 'the async command executed' },
    jobstatus: { type: 'integer', description: 'the current job status-should be 0 for PENDING' },
    jobprocstatus: { type: 'integer', description: 'the progress information of the PENDING job' },
    jobresultcode: { type: 'integer', description: 'the result code for the job' },
    jobresulttype: { type: 'string', description: 'the result type' },
    jobresult: { type: 'object', description: 'the result reason' },
    jobinstancetype: { type: 'string', description: 'the instance/entity object related to the job' },
    jobinstanceid: { type: 'string', description: 'the unique ID of the instance/entity object related to the job' },
    created: { type: 'date', description: '  the created date of the job' },
    completed: { type: 'date', description: '  the completed date of the job' },
  },
};

interface JobRow { id: string; account_id: string; account_name: string | null; domain_id: string; user_id: string; command: string; status: number; proc_status: number; result_code: number; result: unknown; instance_type: string | null; instance_id: string | null; created: Date; completed: Date | null }
const JOB_SELECT = `SELECT j.*, a.name AS account_name FROM async_jobs j LEFT JOIN accounts a ON a.id = j.account_id`;

function jobView(j: JobRow, withResult: boolean): Record<string, unknown> {
  return compact({
    jobid: j.id, accountid: j.account_id, account: j.account_name ?? undefined, domainid: j.domain_id, userid: j.user_id, cmd: j.command,
    jobstatus: j.status, jobprocstatus: j.proc_status, jobresultcode: j.result_code, jobresulttype: 'object',
    jobresult: withResult && j.status !== 0 ? j.result : undefined,
    jobinstancetype: j.instance_type ?? undefined, jobinstanceid: j.instance_id ?? undefined,
    created: csDate(j.created), completed: j.completed ? csDate(j.completed) : undefined,
  });
}

export const queryAsyncJobResult = command({
  name: 'queryAsyncJobResult', description: 'Retrieves the current status of asynchronous job.', since: '1.0', roles: ALL_ROLES,
  response: { name: 'asyncjobs', fields: ASYNC_JOB.fields }, shape: 'raw',
  params: { jobid: { type: 'uuid', entity: 'asyncjob', required: true, description: 'the ID of the asynchronous job' } },
  async handler(ctx, a) {
    const j = (await ctx.sql.query<JobRow>(`${JOB_SELECT} WHERE j.id = $1`, [a.jobid]))[0];
    // Whose job it is was checked by the dispatcher (entity asyncjob: a foreign job is a missing one).
    if (!j) throw paramError(`Unable to find job by id ${a.jobid}`);
    return jobView(j, true);
  },
});

export const listAsyncJobs = command({
  name: 'listAsyncJobs', description: 'Lists all pending asynchronous jobs for the account.', since: '1.0', roles: ALL_ROLES, response: ASYNC_JOB, shape: 'list',
  params: {
    ...LIST_OWNED_PARAMS,
    startdate: { type: 'date', description: 'The start date of the async job (use format "yyyy-MM-dd\'T\'HH:mm:ss\'+\'SSSS")' },
    id: { type: 'uuid', entity: 'asyncjob', description: 'the id of the async job', since: '4.19.0' },
  },
  async handler(ctx, a) {
    const scope = await resolveScope(ctx.sql, ctx.caller, a);
    const w = applyScope(new Where(), scope, { account: 'j.account_id', domain: 'j.domain_id' });
    w.add('j.created >= ?', a.startdate).add('j.id = ?', a.id).keyword(a.keyword, 'j.command');
    return (await pagedRows<JobRow>(ctx.sql, a, { select: JOB_SELECT, where: w, orderBy: 'j.created DESC, j.id' })).map((j) => jobView(j, true));
  },
});

// ---- events: the audit record of every mutating call ----

const EVENT: ResponseDef = {
  name: 'event',
  fields: {
    id: { type: 'string', description: 'the ID of the event' },
    username: { type: 'string', description: 'the name of the user who performed the action' },
    type: { type: 'string', description: 'the type of the event (see event types)' },
    level: { type: 'string', description: 'the event level (INFO, WARN, ERROR)' },
    description: { type: 'string', description: 'a brief description of the event' },
    account: { type: 'string', description: 'the account name for the account that owns the object being acted on in the event' },
    domainid: { type: 'string', description: 'the id of the account\'s domain' },
    domain: { type: 'string', description: 'the name of the account\'s domain' },
    created: { type: 'date', description: 'the date the event was created' },
    state: { type: 'string', description: 'the state of the event' },
    resourceid: { type: 'string', description: 'the id of the resource' },
    resourcetype: { type: 'string', description: 'the type of the resource' },
  },
};

export const listEvents = command({
  name: 'listEvents', description: 'A command to list events.', since: '1.0', roles: ALL_ROLES, response: EVENT, shape: 'list',
  params: {
    ...LIST_OWNED_PARAMS, ...PROJECT_LIST_PARAM,
    id: { type: 'uuid', entity: 'event', description: 'the ID of the event' },
    type: { type: 'string', description: 'the event type (see event types)' },
    level: { type: 'string', description: 'the event level (INFO, WARN, ERROR)', values: ['INFO', 'WARN', 'ERROR'] },
    startdate: { type: 'date', description: 'the start date range of the list you want to retrieve (use format "yyyy-MM-dd" or the new format "yyyy-MM-dd HH:mm:ss")' },
    enddate: { type: 'date', description: 'the end date range of the list you want to retrieve (use format "yyyy-MM-dd" or the new format "yyyy-MM-dd HH:mm:ss")' },
    duration: { type: 'integer', description: 'the duration of the event' },
    entrytime: { type: 'integer', description: 'the time the event was entered' },
    resourceid: { type: 'string', description: 'the ID of the resource associated with the event' },
    resourcetype: { type: 'string', description: 'the type of the resource associated with the event' },
  },
  async handler(ctx, a) {
    const scope = await resolveScope(ctx.sql, ctx.caller, a);
    const w = applyScope(new Where(), scope, { account: 'e.account_id', domain: 'e.domain_id' });
    w.add('e.id = ?', a.id).add('e.type = ?', a.type).add('e.level = ?', a.level).add('e.created >= ?', a.startdate)
      .add('e.created <= ?', a.enddate).add('e.resource_id = ?', a.resourceid).add('lower(e.resource_type) = lower(?)', a.resourcetype)
      .keyword(a.keyword, 'e.description', 'e.type');
    const rows = await pagedRows<{ id: string; username: string | null; type: string; level: string; description: string; account_name: string | null; domain_id: string | null; domain_name: string | null; created: Date; state: string; resource_id: string | null; resource_type: string | null }>(
      ctx.sql, a, { select: 'SELECT e.*, d.name AS domain_name FROM events e LEFT JOIN domains d ON d.id = e.domain_id', where: w, orderBy: 'e.created DESC, e.id', countFrom: 'FROM events e' });
    return rows.map((e) => compact({
      id: e.id, username: e.username, type: e.type, level: e.level, description: e.description, account: e.account_name,
      domainid: e.domain_id, domain: e.domain_name, created: csDate(e.created), state: e.state, resourceid: e.resource_id, resourcetype: e.resource_type,
    }));
  },
});

