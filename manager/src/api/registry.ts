// The one command registry. Each command is declared once — name, parameters, response,
// sync/async, who may call it, since — and from the declaration come validation, dispatch,
// `listApis` (which CloudMonkey syncs its whole command set from) and the API docs.
import type { Args, ParamDef } from './params.ts';
import type { Context } from './context.ts';
import { EMPTY_FIELDS, NOT_THE_OBJECT } from '../compat/empty-fields.ts';
import { NO_EFFECT_PARAMS, UNSUPPORTED_PARAMS } from '../compat/unsupported.ts';

/** CloudStack's role types. A command lists the roles that may call it. */
export type Role = 'Admin' | 'DomainAdmin' | 'User';
export const ALL_ROLES: readonly Role[] = ['Admin', 'DomainAdmin', 'User'];
export const ADMIN: readonly Role[] = ['Admin'];
export const ADMINS: readonly Role[] = ['Admin', 'DomainAdmin'];

export type FieldType = 'string' | 'uuid' | 'boolean' | 'integer' | 'long' | 'date' | 'list' | 'map' | 'set' | 'object' | 'double';

export interface FieldDef {
  readonly type: FieldType;
  readonly description: string;
  readonly since?: string;
  /** Declared from compat/empty-fields.ts: answered as CloudStack's empty value (`value`; absent: omitted) unless the view sets it. */
  readonly empty?: { readonly value?: unknown };
}

/** A response field declaration (the short form every views.ts uses). */
export const field = (type: FieldType, description: string, since?: string): FieldDef => (since ? { type, description, since } : { type, description });

/** A response object as CloudStack names it (the key under which items are listed). */
export interface ResponseDef {
  readonly name: string;
  readonly fields: Readonly<Record<string, FieldDef>>;
  /**
   * The resource tag type of these objects (CloudStack's ResourceObjectType, e.g. UserVm). The
   * registry adds `tags` to the response of every command answering them and, to lists, the
   * `tags[n].key/value` filter; the dispatcher fills each object's `tags` and applies the filter.
   */
  readonly tagged?: string;
}

export const SUCCESS_RESPONSE: ResponseDef = {
  name: 'success',
  fields: {
    success: { type: 'boolean', description: 'true if operation is executed successfully' },
    displaytext: { type: 'string', description: 'any text associated with the success or failure' },
  },
};

/**
 * How a handler's result becomes the answer:
 * - `object`: `{"<cmd>response": {"<name>": result}}`
 * - `list`: handler returns a Page (paged in SQL by api/paging.ts pagedRows) or all visible
 *   items (then the dispatcher pages them in memory):
 *   `{"<cmd>response": {"count": N, "<name>": [...]}}`, or `{}` when there are none
 * - `success`: `{"<cmd>response": {"success": true}}`
 * - `raw`: the result is the whole inner object (login, listApis, …)
 */
export type ResultShape = 'object' | 'list' | 'success' | 'raw';

export interface CommandDef<P extends Record<string, ParamDef> = Record<string, ParamDef>> {
  readonly name: string;
  readonly description: string;
  readonly since?: string;
  readonly roles: readonly Role[];
  readonly params: P;
  readonly response: ResponseDef;
  readonly shape: ResultShape;
  readonly isAsync?: boolean;
  /** no credentials needed (login) */
  readonly public?: boolean;
  readonly related?: readonly string[];
  /** Audit event type (CloudStack's EventTypes, e.g. ZONE.CREATE); set for every mutating command. */
  readonly event?: string;
  /**
   * false: the handler is not wrapped in one transaction, because it talks to hosts between
   * its database steps (a transaction held across a VM start would block every other request
   * on PGlite). It then makes each step atomic itself (ctx.services.db.tx) and must be
   * resumable: re-run after a crash, it continues from what the database says.
   */
  readonly transactional?: false;
  /**
   * For async jobs: jobinstancetype, and the parameter naming the instance (jobinstanceid).
   * `creates`: an async create (CloudStack's BaseAsyncCreateCmd): the id of the object it will
   * create is chosen before the job is queued, answered at once as `{id, jobid}`, kept as the
   * job's instance id, and handed to the handler as `ctx.newId` (the same on a resumed run, so a
   * re-run finds what an interrupted one already wrote).
   */
  readonly instance?: { type: string; param?: string; creates?: true };
  /**
   * Async commands: runs before the job is queued (CloudStack's BaseAsyncCreateCmd.create()):
   * checks that need the database answer their error at once (431 before any job), and an async
   * create may record its object (state Add) so it is listable as soon as `{id, jobid}` is
   * answered. Gets ctx.newId like the handler; not in a transaction.
   */
  readonly create?: (ctx: Context, args: Args<P>) => Promise<void>;
  readonly handler: (ctx: Context, args: Args<P>) => Promise<unknown>;
}

export type AnyCommand = CommandDef<Record<string, ParamDef>>;

/** Declares a command; the identity function keeps the parameter types for the handler. */
export function command<P extends Record<string, ParamDef>>(def: CommandDef<P>): AnyCommand {
  return def as unknown as AnyCommand;
}

/** Paging and filters CloudStack's list commands share (BaseListCmd). */
export const LIST_PARAMS = {
  keyword: { type: 'string', description: 'List by keyword' },
  page: { type: 'integer', description: 'the page number of the result set (from 1)', min: 1 },
  pagesize: { type: 'integer', description: 'the number of items per page', min: -1 },
} as const satisfies Record<string, ParamDef>;

/** Ownership filters of BaseListAccountResourcesCmd / BaseListDomainResourcesCmd. */
export const LIST_OWNED_PARAMS = {
  ...LIST_PARAMS,
  account: { type: 'string', description: 'list resources by account. Must be used with the domainId parameter.' },
  domainid: { type: 'uuid', entity: 'domain', description: 'list only resources belonging to the domain specified' },
  isrecursive: { type: 'boolean', description: "defaults to false, but if true, lists all resources from the parent specified by the domainId till leaves." },
  listall: { type: 'boolean', description: "If set to false, list only resources belonging to the command's caller; if set to true - list resources that the caller is authorized to see. Default value is false" },
} as const satisfies Record<string, ParamDef>;

/** CloudStack's `projectid` filter of account-owned lists (api/scope.ts resolveScope: that project's objects; -1: every project's the caller may see). */
export const PROJECT_LIST_PARAM = {
  projectid: { type: 'uuid', entity: 'project', description: 'list objects by project; if projectid=-1 lists All VMs' },
} as const satisfies Record<string, ParamDef>;

/** `showicon`: Flotilla has no resource icons (uploadResourceIcon is not implemented), so there is never an icon to show. */
export const SHOWICON_PARAM = {
  showicon: { type: 'boolean', description: 'flag to display the resource icon for the resource (Flotilla has no resource icons: nothing to show)' },
} as const satisfies Record<string, ParamDef>;

export class Registry {
  private readonly byName = new Map<string, AnyCommand>();
  private readonly byLower = new Map<string, AnyCommand>();

  add(...cmds: AnyCommand[]): this {
    for (const c of cmds) {
      if (this.byName.has(c.name)) throw new Error(`command ${c.name} declared twice`);
      if (c.shape === 'list' && !c.name.startsWith('list')) throw new Error(`${c.name}: list shape on a non-list command`);
      const mutating = !c.name.startsWith('list') && !READ_ONLY.has(c.name) && !c.public;
      if (mutating && !c.event) {
        throw new Error(`${c.name}: a mutating command must declare its audit event type`);
      }
      const d = withCompat(c.response.tagged ? withTags(c) : c);
      this.byName.set(c.name, d);
      this.byLower.set(c.name.toLowerCase(), d);
    }
    return this;
  }

  /** CloudStack matches command names exactly; we also accept another letter case. */
  get(name: string): AnyCommand | undefined { return this.byName.get(name) ?? this.byLower.get(name.toLowerCase()); }
  all(): AnyCommand[] { return [...this.byName.values()].sort((a, b) => a.name.localeCompare(b.name)); }
}

/** A tagged command's declaration with its `tags` response field and (lists) `tags` filter. */
function withTags(c: AnyCommand): AnyCommand {
  const response = { ...c.response, fields: { ...c.response.fields, tags: c.response.fields.tags ?? field('set', 'the list of resource tags associated') } };
  const params = c.shape === 'list' ? { ...c.params, tags: c.params.tags ?? { type: 'map', description: 'List resources by tags (key/value pairs)' } as const } : c.params;
  return { ...c, response, params };
}

/**
 * A command's declaration with what compat/ declares for it: CloudStack's parameters it does not
 * implement yet (refused by the dispatcher unless given CloudStack's no-op value) and CloudStack's
 * response fields its view does not set (filled with CloudStack's empty value by the dispatcher).
 */
function withCompat(c: AnyCommand): AnyCommand {
  const unsupported = UNSUPPORTED_PARAMS[c.name] ?? {};
  const empty = (c.shape === 'object' || c.shape === 'list') && !NOT_THE_OBJECT.has(c.name) ? EMPTY_FIELDS[c.response.name] ?? {} : {};
  const params: Record<string, ParamDef> = { ...c.params };
  for (const [name, [type, description]] of Object.entries(NO_EFFECT_PARAMS[c.name] ?? {})) params[name] ??= { type, description };
  for (const [name, [type, description, ...noop]] of Object.entries(unsupported)) {
    if (params[name]) throw new Error(`${c.name}: parameter ${name} is declared and also listed as unsupported in compat/unsupported.ts`);
    params[name] = { type, description: `${description} (not supported by Flotilla yet)`, unsupported: { noop } };
  }
  const fields: Record<string, FieldDef> = { ...c.response.fields };
  for (const [name, [type, description, value]] of Object.entries(empty)) {
    if (fields[name]) continue;
    fields[name] = { type, description, empty: value === undefined ? {} : { value } };
  }
  return { ...c, params, response: { ...c.response, fields } };
}

/** The fields a command's answer objects get when their view leaves them unset (compat/empty-fields.ts). */
const fillCache = new WeakMap<AnyCommand, readonly (readonly [string, unknown])[]>();
export function emptyFills(c: AnyCommand): readonly (readonly [string, unknown])[] {
  let f = fillCache.get(c);
  if (!f) {
    f = Object.entries(c.response.fields).flatMap(([k, d]) => (d.empty && d.empty.value !== undefined ? [[k, d.empty.value] as const] : []));
    fillCache.set(c, f);
  }
  return f;
}

/** Commands that read but are not named list*. */
const READ_ONLY = new Set(['queryAsyncJobResult', 'getUserKeys', 'getVMPassword', 'getApiLimit', 'getCloudIdentifier']);
