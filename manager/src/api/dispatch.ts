// The API pipeline: authenticate → find the command → parse every parameter against its
// declaration → run the handler in one transaction (sync) or as an async job → shape the answer.
// No handler ever sees an unparsed value, and a failure leaves nothing behind.
import { randomUUID } from 'node:crypto';
import type { Services } from '../services.ts';
import { audit } from './audit.ts';
import type { Caller, Context } from './context.ts';
import { ApiError, apiError, toApiError } from './errors.ts';
import { collectMaps, isNoop, parseParam, unsupportedText, type MapValue } from './params.ts';
import { emptyFills, type AnyCommand } from './registry.ts';
import { permits } from './permissions.ts';
import { checkAccess } from './entities.ts';
import type { Sql } from '../db/sql.ts';
import { attachTags, filterByTags } from '../commands/tags/views.ts';
import type { TagType } from '../commands/tags/types.ts';
import { Page, TAG_FILTER, pageWindow, type PageArgs } from './paging.ts';

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
    if (def.unsupported) {
      // Not implemented yet: refused, never silently ignored — unless the value is CloudStack's default.
      if (!isNoop(def, value)) bad.push(unsupportedText(cmd.name, name));
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
      // Paged in SQL by the handler (api/paging.ts): answered as it is.
      if (result instanceof Page) return result.count === 0 ? {} : result.items.length ? { count: result.count, [cmd.response.name]: result.items } : { count: result.count };
      const items = result as unknown[];
      if (items.length === 0) return {};
      const win = pageWindow(args as PageArgs);
      const paged = win ? items.slice(win.offset, win.offset + win.limit) : items;
      return paged.length ? { count: items.length, [cmd.response.name]: paged } : { count: items.length };
    }
  }
}

/** A tagged command's answer: filtered by `tags[n]` (lists), each object with its `tags`. */
async function tagged(sql: Sql, cmd: AnyCommand, result: unknown, args: Record<string, unknown>): Promise<unknown> {
  const type = cmd.response.tagged as TagType;
  if (result instanceof Page) {
    // Paged in SQL, its tag filter included (TAG_FILTER): only the page's tags to attach.
    await attachTags(sql, type, result.items as Array<Record<string, unknown>>);
    return result;
  }
  if (cmd.shape === 'list') {
    let items = result as Array<Record<string, unknown>>;
    if (args.tags) items = await filterByTags(sql, type, items, args.tags as MapValue);
    await attachTags(sql, type, items);
    return items;
  }
  if (cmd.shape === 'object' && result && typeof result === 'object') await attachTags(sql, type, [result as Record<string, unknown>]);
  return result;
}

/** Every answer object gets CloudStack's empty value for the declared fields its view left unset. */
function fillEmpty(cmd: AnyCommand, result: unknown): void {
  if (cmd.shape !== 'object' && cmd.shape !== 'list') return;
  const fills = emptyFills(cmd);
  if (!fills.length || !result || typeof result !== 'object') return;
  const items = result instanceof Page ? result.items : Array.isArray(result) ? result : cmd.shape === 'object' ? [result] : [];
  for (const item of items as Array<Record<string, unknown>>) {
    if (!item || typeof item !== 'object') continue;
    for (const [k, v] of fills) if (item[k] === undefined) item[k] = Array.isArray(v) ? [] : v;
  }
}

interface RunOpts {
  jobId?: string; newId?: string;
  /** Written in the handler's own transaction, after its audit event (the job runner's completion
   *  of a database-only job): the work and the job's result commit together or not at all. Only
   *  for transactional commands; `execute` refuses it for a `transactional: false` one. */
  complete?: (sql: Sql, inner: Record<string, unknown>, resource?: { type: string; id: string }) => Promise<void>;
}

/** Runs the handler in one transaction, with its audit event; returns the answer's inner object. */
export async function execute(services: Services, caller: Caller, cmd: AnyCommand, args: Record<string, unknown>, opts: RunOpts = {}): Promise<{ inner: Record<string, unknown>; resource?: { type: string; id: string } }> {
  let resource: { type: string; id: string } | undefined;
  const mutating = Boolean(cmd.event);
  if (opts.complete && (cmd.transactional === false || !mutating)) throw new Error(`${cmd.name} runs outside one transaction: its completion cannot join its work`);
  try {
    const body = async (sql: Sql) => {
      const ctx: Context = {
        caller, sql, services, command: cmd.name, ...(opts.jobId ? { jobId: opts.jobId } : {}),
        ...(opts.newId ? { newId: opts.newId } : {}),
        setResource: (type, id) => { resource = { type, id }; },
      };
      if (cmd.response.tagged && cmd.shape === 'list' && args.tags) {
        Object.defineProperty(args, TAG_FILTER, { value: { type: cmd.response.tagged, pairs: args.tags as MapValue }, enumerable: false });
      }
      let result = await cmd.handler(ctx, args as never);
      if (cmd.response.tagged) result = await tagged(sql, cmd, result, args);
      fillEmpty(cmd, result);
      const shaped = shapeResult(cmd, result, args);
      if (mutating) {
        await audit(sql, caller, { type: cmd.event!, command: cmd.name, params: args, result: 'SUCCESS', ...(resource ? { resourceType: resource.type, resourceId: resource.id } : {}) });
      }
      if (opts.complete) await opts.complete(sql, shaped, resource);
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
    // The cause stays attached: the job runner retries a job whose database connection was lost.
    throw err === e ? err : Object.assign(err, { cause: e });
  } finally {
    // A mutating command may have changed a user, its keys, its account or its domain: signed
    // requests look their callers up afresh from here on (a failed one may have written too).
    if (mutating) services.callers.clear();
  }
}

export interface ApiAnswer { status: number; key: string; inner: Record<string, unknown> }

/**
 * CloudStack's error answer. A command that does not exist (or that the caller's role may not
 * call) answers under `errorresponse`, as CloudStack's ApiServlet does; `uuidList` items are
 * CloudStack's ExceptionProxyObject, `{uuid, description}`.
 */
export function errorAnswer(command: string | undefined, e: unknown): ApiAnswer {
  const err = toApiError(e);
  const key = command === undefined || err.kind === 'UNSUPPORTED_ACTION' ? 'errorresponse' : `${command.toLowerCase()}response`;
  return {
    status: err.errorcode,
    key,
    inner: { uuidList: err.uuidList.map((uuid) => ({ uuid, description: 'id' })), errorcode: err.errorcode, cserrorcode: err.cserrorcode, errortext: err.message },
  };
}

/** Dispatches an authenticated call (the caller is resolved by the HTTP layer). */
export async function dispatch(services: Services, caller: Caller, commandName: string, raw: Record<string, string>): Promise<ApiAnswer> {
  const cmd = services.registry.get(commandName);
  if (!cmd || !cmd.roles.includes(caller.role) || !(await permits(services.db, caller, cmd.name))) {
    throw apiError('UNSUPPORTED_ACTION', `The given command:${commandName} does not exist or it is not available for user with id:${caller.userId}`);
  }
  const key = `${cmd.name.toLowerCase()}response`;
  const args = parseArgs(cmd, raw, caller);
  // The one ownership check (api/entities.ts): every id parameter's entity against the caller.
  await checkAccess(services.db, caller, cmd, args);
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
