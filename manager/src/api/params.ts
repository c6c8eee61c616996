// Parameter types as CloudStack declares them (BaseCmd.CommandType), their parsing from the
// wire (every value arrives as a string), and the 431 texts CloudStack clients expect.
// The same declarations feed listApis, so what is validated is exactly what is documented.
import { paramError } from './errors.ts';
import type { Access, EntityKind } from './entities.ts';

export type ParamType = 'string' | 'uuid' | 'boolean' | 'integer' | 'long' | 'short' | 'list' | 'map' | 'date';

export interface ParamDef {
  readonly type: ParamType;
  readonly description: string;
  readonly required?: boolean;
  /** max length of a string value (CloudStack's default: 255) */
  readonly length?: number;
  readonly since?: string;
  /** allowed values, matched case-insensitively and returned in the declared spelling */
  readonly values?: readonly string[];
  readonly min?: number;
  readonly max?: number;
  /** item type of a `list` (comma-separated on the wire) */
  readonly of?: 'string' | 'uuid' | 'long';
  /** extra check on the parsed value; returns the reason it is invalid */
  readonly check?: (v: never) => string | undefined;
  /** an empty value is passed on as '' (CloudStack's "empty string clears the value"), not as absent */
  readonly emptyClears?: boolean;
  /** admin-only parameters are not shown to, nor accepted from, other roles */
  readonly adminOnly?: boolean;
  /**
   * The entity an id parameter names (CloudStack's `@Parameter(entityType=…)`); every `uuid`
   * parameter (and list of uuids) declares one. Owned entities are access-checked once by the
   * dispatcher before the handler (api/entities.ts).
   */
  readonly entity?: EntityKind;
  /** The access it needs (CloudStack's `@ACL(accessType=…)`): default `list` on list commands, else `operate`. */
  readonly access?: Access;
  /** For `entity: 'taggedresource'`: the entity the ids name, decided by the other arguments (createTags' resourcetype). */
  readonly entityOf?: (args: Record<string, unknown>) => EntityKind | undefined;
  /**
   * A parameter CloudStack has and Flotilla does not implement yet (declared from
   * compat/unsupported.ts): any value is refused with a 431 saying so, before any job, except the
   * listed raw values that mean CloudStack's default (no-op), which are taken as absent. Never
   * silently ignored.
   */
  readonly unsupported?: { readonly noop: readonly string[] };
}

/** The 431 for a value of a parameter Flotilla does not implement yet. */
export function unsupportedText(command: string, name: string): string {
  return `Unable to execute API command ${command.toLowerCase()} due to unsupported parameter: the parameter ${name} is not supported yet`;
}

/** Whether a raw value of an unsupported parameter is one of its no-op (CloudStack default) values. */
export function isNoop(def: ParamDef, raw: string | MapValue): boolean {
  if (!def.unsupported) return false;
  if (Array.isArray(raw)) return raw.length === 0;
  const v = raw.trim().toLowerCase();
  return def.unsupported.noop.some((x) => x.toLowerCase() === v);
}

export type MapValue = Record<string, string>[];

/** A raw request parameter by name, whatever its letter case (clients send apiKey, apikey, …). */
export function rawParam(params: Record<string, string>, name: string): string | undefined {
  const lower = name.toLowerCase();
  for (const [k, v] of Object.entries(params)) if (k.toLowerCase() === lower) return v;
  return undefined;
}

type Parsed<D extends ParamDef> =
  D['type'] extends 'boolean' ? boolean :
  D['type'] extends 'integer' | 'long' | 'short' ? number :
  D['type'] extends 'list' ? string[] :
  D['type'] extends 'map' ? MapValue :
  D['type'] extends 'date' ? Date :
  string;

export type Args<P extends Record<string, ParamDef>> = {
  -readonly [K in keyof P]: P[K]['required'] extends true ? Parsed<P[K]> : Parsed<P[K]> | undefined;
};

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isUuid = (s: string): boolean => UUID_RE.test(s);
/** `check` for a string parameter that CloudStack declares as a string but whose value is an id here. */
export const uuidCheck = (s: string): string | undefined => (isUuid(s) ? undefined : 'it is not a valid UUID');

const INT_LIMITS = { integer: [-2147483648, 2147483647], short: [-32768, 32767], long: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER] } as const;

function shown(v: string): string { return v.length > 64 ? `${v.slice(0, 64)}…` : v; }

const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;
/** A value as an error may show it: control characters spelled \uXXXX, at most 64 characters. */
export function shownSafe(v: string): string {
  return shown(v).replace(/[\u0000-\u001f\u007f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * The door: no parameter name or value of any request — known to its command or not, login's
 * included — may carry NUL or another control character (tab, CR and LF excepted in values, as
 * in descriptions and user data). A 431 naming the parameter, before anything else runs.
 */
export function refuseControlCharacters(command: string | undefined, params: Record<string, string>): void {
  for (const [k, v] of Object.entries(params)) {
    const badName = /[\u0000-\u001f\u007f]/.test(k);
    if (!badName && !CONTROL.test(v)) continue;
    const cmd = command && !CONTROL.test(command) ? command.toLowerCase() : 'unknown';
    throw paramError(`Unable to execute API command ${cmd} due to invalid value. Invalid parameter ${shownSafe(k)} value=${shownSafe(v)} due to control characters`);
  }
}

/** Parses one raw wire value; throws a 431 naming the command and the parameter. */
export function parseParam(command: string, name: string, def: ParamDef, raw: string | MapValue): unknown {
  const cmd = command.toLowerCase();
  const invalid = (why: string) => paramError(
    `Unable to execute API command ${cmd} due to invalid value. Invalid parameter ${name} value=${shown(String(raw))} due to ${why}`);
  if (def.type === 'map') {
    if (!Array.isArray(raw)) throw invalid(`it must be given as ${name}[0].key=value`);
    for (const item of raw) for (const v of Object.values(item)) if (v.length > (def.length ?? 4096)) throw invalid('a value longer than allowed');
    return raw;
  }
  if (Array.isArray(raw)) throw invalid('it is not a map parameter');
  const s = raw;
  const maxLen = def.length ?? (def.type === 'string' ? 255 : 4096);
  if (s.length > maxLen) throw paramError(`Value greater than max allowed length ${maxLen} for param: ${name}`);
  // Control characters never belong in an API value; refusing them here keeps them out of
  // every name, description and later config file at once.
  if (/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(s)) throw invalid('control characters');
  let v: unknown;
  switch (def.type) {
    case 'string': v = s; break;
    case 'uuid':
      // projectid=-1 is CloudStack's "every project the caller may see" on lists (its -1 internal id).
      if (name === 'projectid' && s.trim() === '-1') { v = '-1'; break; }
      if (!isUuid(s)) throw invalid('incorrect long value format, or entity does not exist or due to incorrect parameter annotation for the field in api cmd class');
      v = s.toLowerCase(); break;
    // CloudStack parses booleans with Java's Boolean.parseBoolean: "true" in any letter case is
    // true, anything else false — clients rely on it (libcloud sends forced=None).
    case 'boolean': v = s.trim().toLowerCase() === 'true'; break;
    case 'integer': case 'long': case 'short': {
      if (!/^-?\d+$/.test(s.trim())) throw invalid(`it is not a whole number`);
      const n = Number(s.trim());
      const [lo, hi] = INT_LIMITS[def.type];
      if (n < lo || n > hi) throw invalid(`it is out of range for a ${def.type}`);
      if (def.min !== undefined && n < def.min) throw invalid(`it is less than ${def.min}`);
      if (def.max !== undefined && n > def.max) throw invalid(`it is greater than ${def.max}`);
      v = n; break;
    }
    case 'list': {
      const items = s.split(',').map((x) => x.trim()).filter((x) => x.length > 0);
      if (def.of === 'uuid') for (const it of items) if (!isUuid(it)) throw invalid(`${shown(it)} is not a valid id`);
      if (def.of === 'long') for (const it of items) if (!/^\d+$/.test(it)) throw invalid(`${shown(it)} is not a whole number`);
      v = def.of === 'uuid' ? items.map((x) => x.toLowerCase()) : items; break;
    }
    case 'date': {
      const d = parseCsDate(s);
      if (!d) throw invalid('it is not a date (yyyy-MM-dd or yyyy-MM-dd HH:mm:ss)');
      v = d; break;
    }
  }
  if (def.values) {
    const match = def.values.find((x) => x.toLowerCase() === String(v).toLowerCase());
    if (!match) throw invalid(`it must be one of ${def.values.join(', ')}`);
    v = match;
  }
  if (def.check) {
    const why = (def.check as (x: unknown) => string | undefined)(v);
    if (why) throw invalid(why);
  }
  return v;
}

/** CloudStack accepts `yyyy-MM-dd`, `yyyy-MM-dd HH:mm:ss` and ISO-8601 with a zone. */
export function parseCsDate(s: string): Date | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2}):(\d{2})(Z|[+-]\d{2}:?\d{2})?)?$/.exec(s.trim());
  if (!m) return undefined;
  const zone = m[7] ? (m[7] === 'Z' ? 'Z' : `${m[7].slice(0, 3)}:${m[7].slice(-2)}`) : 'Z';
  const d = new Date(`${m[1]}-${m[2]}-${m[3]}T${m[4] ?? '00'}:${m[5] ?? '00'}:${m[6] ?? '00'}${zone}`);
  return Number.isNaN(d.getTime()) ? undefined : d;
}

/** Collects CloudStack's flattened map parameters, `name[0].key=value`, into [{key: value}, …] by index. */
export function collectMaps(flat: Record<string, string>): { plain: Record<string, string>; maps: Record<string, MapValue> } {
  const plain: Record<string, string> = {};
  const byName = new Map<string, Map<number, Record<string, string>>>();
  for (const [k, v] of Object.entries(flat)) {
    const m = /^([a-z0-9_]+)\[(\d{1,4})\]\.([a-z0-9_]+)$/i.exec(k);
    if (!m) { plain[k] = v; continue; }
    const name = m[1]!.toLowerCase();
    const idx = Number(m[2]);
    const items = byName.get(name) ?? new Map<number, Record<string, string>>();
    byName.set(name, items);
    const item = items.get(idx) ?? {};
    item[m[3]!.toLowerCase()] = v;
    items.set(idx, item);
  }
  const maps: Record<string, MapValue> = {};
  for (const [name, items] of byName) maps[name] = [...items.entries()].sort((a, b) => a[0] - b[0]).map((e) => e[1]);
  return { plain, maps };
}
