// The API pipeline: authenticate → find the command → parse every parameter against its
// declaration → run the handler in one transaction (sync) or as an async job → shape the answer.
// No handler ever sees an unparsed value, and a failure leaves nothing behind.
import { randomUUID } from 'node:crypto';
import type { Services } from '../services.ts';
import { audit } from './audit.ts';
import type { Caller, Context } from './context.ts';
import { ApiError, apiError, toApiError } from './errors.ts';
import { collectMaps, parseParam, type MapValue } from './params.ts';
import type { AnyCommand } from './registry.ts';
import type { Sql } from '../db/sql.ts';

/**
 * Parses the request's raw values for `cmd`, collecting maps and ignoring unknown names.
 * Every parameter is checked before anything is reported, so one answer names every bad or
 * missing parameter (malformed ones first, then missing ones), joined by "; ".
 */
export function parseArgs(cmd: AnyCommand, raw: Record<string, string>, caller: Caller | undefined): Record<string, unknown> {
  const lower: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) lower[k.toLowerCase()] = v;
  const { plain, maps } = collectMaps(lower);
  const args: Record<string, unknown> = {};
  const bad: string[] = [];
  const missing: string[] = [];
  for (const [name, def] of Object.entries(cmd.params)) {
    if (def.adminOnly && caller?.role !== 'Admin') continue;
    const value: string | MapValue | undefined = def.type === 'map' ? maps[name] : plain[name];
    if (value === '' && def.emptyClears && !def.required) { args[name] = ''; continue; }
    const absent = value === undefined || value === '' || (Array.isArray(value) && value.length === 0);
    if (absent) {
      if (def.required) missing.push(`Unable to execute API command ${cmd.name.toLowerCase()} due to missing parameter ${name}`);
      args[name] = undefined;
      continue;
    }
    try {
      args[name] = parseParam(cmd.name, name, def, value);
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      bad.push(e.message);
    }
  }
  if (bad.length || missing.length) throw new ApiError('PARAM_ERROR', [...bad, ...missing].join('; '));
  return args;
}

/** The inner object of a successful answer for a handler's result. */
export function shapeResult(cmd: AnyCommand, result: unknown, args: Record<string, unknown>): Record<string, unknown> {
  switch (cmd.shape) {
    case 'raw': return (result ?? {}) as Record<string, unknown>;
    case 'success': return { success: true };
    case 'object': return { [cmd.response.name]: result };
    case 'list': {
      const items = result as unknown[];
      if (items.length === 0) return {};
      const pagesize = args.pagesize as number | undefined;
      const page = (args.page as number | undefined) ?? 1;
      // pagesize=-1 or none: everything, unless a page is asked for, which then uses
      // CloudStack's default.page.size (500).
      const paged = pagesize === undefined || pagesize === -1 ? (args.page ? items.slice((page - 1) * 500, page * 500) : items)
        : items.slice((page - 1) * pagesize, page * pagesize);
      return paged.length ? { count: items.length, [cmd.response.name]: paged } : { count: items.length };
    }
  }
}

interface RunOpts { jobId?: string; newId?: string }

/** Runs the handler in one transaction, with its audit event; returns the answer's inner object. */
export async function execute(services: Services, caller: Caller, cmd: AnyCommand, args: Record<string, unknown>, opts: RunOpts = {}): Promise<{ inner: Record<string, unknown>; resource?: { type: string; id: string } }> {
  let resource: { type: string; id: string } | undefined;
  const mutating = Boolean(cmd.event);
  try {
    const body = async (sql: Sql) => {
      const ctx: Context = {
        caller, sql, services, command: cmd.name, ...(opts.jobId ? { jobId: opts.jobId } : {}),
        ...(opts.newId ? { newId: opts.newId } : {}),
        setResource: (type, id) => { resource = { type, id }; },
      };
      const result = await cmd.handler(ctx, args as never);
      const shaped = shapeResult(cmd, result, args);
      if (mutating) {
        await audit(sql, caller, { type: cmd.event!, command: cmd.name, params: args, result: 'SUCCESS', ...(resource ? { resourceType: resource.type, resourceId: resource.id } : {}) });
      }
      return shaped;
    };
    // Reads need no transaction (each is one consistent statement or tolerant of a concurrent
    // write); writes run in one, with their audit event. BEGIN/COMMIT were a third of a list's cost.
    const inner = cmd.transactional === false || !mutating ? await body(services.db) : await services.db.tx(body);
    return { inner, ...(resource ? { resource } : {}) };
  } catch (e) {
    const err = toApiError(e);
    if (!(e instanceof ApiError)) services.log.error({ err: e, command: cmd.name }, 'command failed with an unexpected error');
    if (mutating) {
      await audit(services.db, caller, { type: cmd.event!, command: cmd.name, params: args, result: 'FAILURE', errortext: err.message })
        .catch((ae) => services.log.error({ err: ae }, 'audit write failed'));
    }
    throw err;
  } finally {
    // A mutating command may have changed a user, its keys, its account or its domain: signed
    // requests look their callers up afresh from here on (a failed one may have written too).
    if (mutating) services.callers.clear();
  }
}

export interface ApiAnswer { status: number; key: string; inner: Record<string, unknown> }

export function errorAnswer(command: string | undefined, e: unknown): ApiAnswer {
  const err = toApiError(e);
  return {
    status: err.errorcode,
    key: `${(command ?? 'error').toLowerCase()}response`,
    inner: { uuidList: err.uuidList, errorcode: err.errorcode, cserrorcode: err.cserrorcode, errortext: err.message },
  };
}

/** Dispatches an authenticated call (the caller is resolved by the HTTP layer). */
export async function dispatch(services: Services, caller: Caller, commandName: string, raw: Record<string, string>): Promise<ApiAnswer> {
  const cmd = services.registry.get(commandName);
  if (!cmd || !cmd.roles.includes(caller.role)) {
    throw apiError('UNSUPPORTED_ACTION', `The given command:${commandName} does not exist or it is not available for user with id:${caller.userId}`);
  }
  const key = `${cmd.name.toLowerCase()}response`;
  const args = parseArgs(cmd, raw, caller);
  if (!cmd.isAsync) {
    const { inner } = await execute(services, caller, cmd, args);
    return { status: 200, key, inner };
  }
  const jobId = randomUUID();
  const instanceId = cmd.instance?.creates ? randomUUID()
    : cmd.instance?.param ? (args[cmd.instance.param] as string | undefined) : undefined;
  if (cmd.create) {
    const ctx: Context = { caller, sql: services.db, services, command: cmd.name, ...(cmd.instance?.creates && instanceId ? { newId: instanceId } : {}), setResource: () => undefined };
    await cmd.create(ctx, args as never);
  }
  await services.db.query(
    `INSERT INTO async_jobs (id, user_id, account_id, domain_id, command, params, instance_type, instance_id)
     VALUES ($1,$2,$3,$4,$5,$6,$7,$8)`,
    [jobId, caller.userId, caller.accountId, caller.domainId, cmd.name, JSON.stringify(args), cmd.instance?.type ?? null, instanceId ?? null]);
  services.jobs.start(jobId);
  return { status: 200, key, inner: instanceId ? { id: instanceId, jobid: jobId } : { jobid: jobId } };
}
