// The API fuzzer of issue 16 (item 6): every command of the command registry, every parameter,
// hostile values generated per declared type (wrong types, lengths, unicode, NUL and other
// control characters, markup and SQL injection strings, path traversal, huge numbers, odd map
// keys), sent signed over real HTTP as an admin and as a tenant, each beside the command's other
// required parameters filled with real ids of a simulator cloud (so handlers run past the type
// checks). It checks every answer: no internal error (HTTP 500–530: 530 is CloudStack's
// INTERNAL_ERROR), CloudStack's shape (`<command>response` or `errorresponse`, errors with
// `errorcode` = HTTP status and `errortext`), XML answers well-formed with nothing echoed as
// markup, and for every refused call the row count of every table the same before and after.
// Used by tests/test/faults-fuzz.test.ts and bench:faults.
import { createHmac, randomUUID } from 'node:crypto';
import type { AnyCommand } from '@flotilla/manager/api/registry';
import type { ParamDef } from '@flotilla/manager/api/params';
import { ERRORS } from '@flotilla/manager/api/errors';
import { javaUrlEncode } from '@flotilla/manager/api/signing';
import type { Database } from '@flotilla/manager/db/sql';
import type { Api } from '@flotilla/manager/client';

/** Strings no parameter of any type should turn into a crash, an echo or a half-made object. */
export const HOSTILE_STRINGS = [
  '',
  '</x><script>alert(1)</script>',
  "'; DROP TABLE users; --",
  '../../../../etc/passwd',
  'a\u0000b',
  'tab\there\u001b[31m',
  'ünïcødé 漢字 🚀 \u202eRTL\u200b',
  '\uffff\ufeff\u0085\u2028',
  '${jndi:ldap://x}{{7*7}}%00%s%n',
  'x'.repeat(70_000),
];
const HUGE_NUMBERS = ['-1', '2147483648', '-9223372036854775809', '99999999999999999999999', '1e400', '１２'];
/** The hostile strings every other type also gets: markup, SQL, traversal, NUL, unicode. */
const SOME = [1, 2, 3, 4, 6].map((i) => HOSTILE_STRINGS[i]!);

/** The hostile values for one parameter declaration (a few of each kind, for its type). */
export function hostileValues(def: ParamDef): string[] {
  switch (def.type) {
    case 'integer': case 'long': case 'short': return [...SOME.slice(0, 3), ...HUGE_NUMBERS];
    // (any value is a boolean: Boolean.parseBoolean)
    case 'boolean': return [...SOME.slice(0, 3), 'yes'];
    case 'date': return [...SOME.slice(0, 3), '2026-13-45', '9999-12-31 23:59:59'];
    case 'uuid': return [...SOME, randomUUID(), `${randomUUID()},${randomUUID()}`, ''];
    case 'list': return [...SOME, ',,,', `${'a,'.repeat(3000)}a`, `${randomUUID()},</x>`];
    case 'map': return SOME;
    default: return [...HOSTILE_STRINGS, HUGE_NUMBERS[3]!, 'x'.repeat((def.length ?? 255) + 1)];
  }
}

export interface Fixtures { ids: Record<string, string>; names: Record<string, string> }

/** Real ids for the commands' other required parameters, by parameter name and, for `id`, by the
 *  object the command's name ends with. */
function baseValue(cmd: AnyCommand, name: string, def: ParamDef, f: Fixtures): string | undefined {
  if (def.values?.length) return def.values[0];
  switch (def.type) {
    case 'boolean': return 'false';
    case 'integer': case 'long': case 'short': return String(def.min ?? 1);
    case 'date': return '2026-01-01';
    case 'map': return undefined;
    case 'list': return def.of === 'uuid' ? f.ids.network : 'fuzz';
    case 'string': return f.names[name] ?? 'fuzzbase';
    case 'uuid': {
      if (name !== 'id') return f.ids[name.replace(/id$/, '')] ?? f.ids[name] ?? randomUUID();
      const object = cmd.name.replace(/^[a-z]+/, '').replace(/s$/, '');
      const key = Object.keys(ID_BY_OBJECT).filter((k) => object.endsWith(k)).sort((a, b) => b.length - a.length)[0];
      return (key && f.ids[ID_BY_OBJECT[key]!]) ?? randomUUID();
    }
  }
  return undefined;
}
const ID_BY_OBJECT: Record<string, string> = {
  Zone: 'zone', Pod: 'pod', Cluster: 'cluster', Host: 'host', PhysicalNetwork: 'physicalnetwork', Network: 'network',
  NetworkOffering: 'networkoffering', ServiceOffering: 'serviceoffering', DiskOffering: 'diskoffering', Template: 'template',
  VirtualMachine: 'virtualmachine', IpAddress: 'ipaddress', FirewallRule: 'firewallrule', EgressFirewallRule: 'firewallrule',
  PortForwardingRule: 'portforwardingrule', LoadBalancerRule: 'lbrule', Account: 'account', User: 'user', Domain: 'domain',
  SSHKeyPair: 'sshkeypair', Volume: 'volume', Role: 'role', Router: 'router', VlanIpRange: 'vlan',
};

export interface FuzzReport {
  requests: number;
  /** answers with HTTP 500–530 (530 is CloudStack's INTERNAL_ERROR), each described */
  internal: string[];
  /** answers not in CloudStack's shape, each described */
  misshapen: string[];
  /** refused calls after which some table's row count differed */
  persisted: string[];
  accepted: number;
  refused: number;
  byStatus: Record<number, number>;
  /** where the time went, ms: requests, row counts, waiting for accepted jobs */
  ms: { call: number; count: number; jobs: number };
}

const KNOWN_STATUS = new Set<number>([200, ...Object.values(ERRORS).map((e) => e.code)]);
/** Tables whose rows record the attempt itself, not its effect: CloudStack also writes them. */
const BOOKKEEPING = new Set(['events', 'async_jobs', 'sessions', 'schema_migrations']);

/** A signed POST of arbitrary (hostile) parameters; the raw answer. */
async function rawCall(api: Api, params: Record<string, string>): Promise<{ status: number; type: string; text: string }> {
  const all: Record<string, string> = { ...params, apiKey: api.apiKey };
  const canon = Object.keys(all).sort().map((k) => `${k.toLowerCase()}=${javaUrlEncode(all[k]!).toLowerCase()}`).join('&');
  all.signature = createHmac('sha1', api.secretKey).update(canon).digest('base64');
  const res = await fetch(`${api.url}/client/api`, { method: 'POST', body: new URLSearchParams(all) });
  return { status: res.status, type: res.headers.get('content-type') ?? '', text: await res.text() };
}

/** Checks one answer's shape; returns what is wrong, or undefined. */
export function shapeProblem(command: string, xml: boolean, r: { status: number; type: string; text: string }): string | undefined {
  if (!KNOWN_STATUS.has(r.status)) return `HTTP ${r.status} is not a CloudStack status`;
  const want = `${command.toLowerCase()}response`;
  if (!xml) {
    if (!r.type.startsWith('application/json')) return `content-type ${r.type}`;
    let body: Record<string, any>;
    try { body = JSON.parse(r.text); } catch { return `not JSON: ${r.text.slice(0, 120)}`; }
    const keys = Object.keys(body ?? {});
    if (keys.length !== 1) return `answer has ${keys.length} top-level keys`;
    const key = keys[0]!;
    const inner = body[key];
    if (r.status === 200) return key === want && inner && typeof inner === 'object' ? undefined : `200 under ${key}`;
    if (key !== want && key !== 'errorresponse') return `error under ${key}`;
    if (inner?.errorcode !== r.status || typeof inner?.errortext !== 'string' || !inner.errortext) return `error without errorcode=${r.status}/errortext: ${JSON.stringify(inner).slice(0, 200)}`;
    return undefined;
  }
  if (!r.type.startsWith('text/xml')) return `content-type ${r.type}`;
  const m = /^<\?xml [^>]*\?>\s*<([A-Za-z][\w.-]*)[\s>]/.exec(r.text);
  if (!m) return `no XML root: ${r.text.slice(0, 120)}`;
  if (m[1] !== want && !(r.status !== 200 && m[1] === 'errorresponse')) return `XML root <${m[1]}>`;
  if (/<script|<\/x>/i.test(r.text)) return 'markup echoed into the XML answer';
  // Well-formed: every element closed in order.
  const stack: string[] = [];
  for (const t of r.text.replace(/^<\?xml [^>]*\?>/, '').matchAll(/<(\/?)([A-Za-z_][\w.-]*)[^>]*?(\/?)>/g)) {
    if (t[3]) continue;
    if (!t[1]) stack.push(t[2]!);
    else if (stack.pop() !== t[2]) return `XML not well-formed at </${t[2]}>`;
  }
  return stack.length ? 'XML not well-formed (unclosed elements)' : undefined;
}

async function rowCounts(db: Database): Promise<Map<string, number>> {
  const tables = (await db.query<{ tablename: string }>(`SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename`))
    .map((r) => r.tablename).filter((t) => !BOOKKEEPING.has(t));
  const rows = await db.query<{ t: string; n: string | number }>(tables.map((t) => `SELECT '${t}' AS t, count(*) AS n FROM "${t}"`).join(' UNION ALL '));
  return new Map(rows.map((r) => [r.t, Number(r.n)]));
}

async function jobsSettled(db: Database, timeoutMs = 60_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Number((await db.query<{ n: string | number }>('SELECT count(*) AS n FROM async_jobs WHERE status = 0'))[0]!.n) > 0) {
    if (Date.now() > until) return;
    await new Promise((r) => setTimeout(r, 25));
  }
}

const readOnly = (c: AnyCommand) => /^(list|get|query)/.test(c.name);
const diff = (a: Map<string, number>, b: Map<string, number>) => [...b].filter(([t, n]) => a.get(t) !== n).map(([t, n]) => `${t} ${a.get(t)}→${n}`);

export interface FuzzOptions {
  admin: Api; tenant: Api; db: Database; fixtures: Fixtures; commands: AnyCommand[]; log?: (s: string) => void;
  /** Values per parameter: the markup string always, then this many more of the type's list,
   *  rotating with the parameter's position so that across parameters every value is sent;
   *  0: every value for every parameter (FLT_FUZZ_ALL=1; about 3× the requests). */
  perParam?: number;
}

/** The values sent for the n-th parameter overall. */
function pick(def: ParamDef, n: number, k: number): string[] {
  const all = hostileValues(def);
  const markup = HOSTILE_STRINGS[1]!;
  const rest = all.filter((v) => v !== markup);
  if (k <= 0 || k >= rest.length) return [markup, ...rest];
  return [markup, ...Array.from({ length: k }, (_, i) => rest[(n * k + i) % rest.length]!)];
}

/**
 * Runs the fuzz: commands that delete or destroy go last (they may remove the fixtures others
 * use). Per call, the fuzzed parameter alone carries a hostile value.
 */
export async function fuzz(o: FuzzOptions): Promise<FuzzReport> {
  const rep: FuzzReport = { requests: 0, internal: [], misshapen: [], persisted: [], accepted: 0, refused: 0, byStatus: {}, ms: { call: 0, count: 0, jobs: 0 } };
  const timed = async <T>(k: keyof FuzzReport['ms'], f: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    try { return await f(); } finally { rep.ms[k] += performance.now() - t0; }
  };
  const destructive = (c: AnyCommand) => /^(delete|destroy|expunge|remove|disassociate|release|revoke|disable|lock|logout)/.test(c.name);
  const order = [...o.commands.filter((c) => !destructive(c)), ...o.commands.filter(destructive)];
  let counts = await rowCounts(o.db);
  let n = 0;
  const k = o.perParam ?? 3;
  const one = async (who: string, api: Api, cmd: AnyCommand, params: Record<string, string>, xml: boolean, what: string) => {
    const r = await timed('call', () => rawCall(api, { ...params, command: cmd.name, ...(xml ? {} : { response: 'json' }) }));
    rep.requests++;
    rep.byStatus[r.status] = (rep.byStatus[r.status] ?? 0) + 1;
    const where = `${who} ${cmd.name} ${what}`;
    if (r.status >= 500 && r.status <= 530) rep.internal.push(`${where}: ${r.status} ${r.text.slice(0, 300)}`);
    const bad = shapeProblem(cmd.name, xml, r);
    if (bad) rep.misshapen.push(`${where}: ${bad}`);
    if (r.status === 200) {
      rep.accepted++;
      if (readOnly(cmd)) return;
      await timed('jobs', () => jobsSettled(o.db));
      counts = await timed('count', () => rowCounts(o.db));
      return;
    }
    rep.refused++;
    // (Reads write nothing by construction: no transaction, no audit event; only calls of
    // mutating commands are counted.)
    if (readOnly(cmd)) return;
    const now = await timed('count', () => rowCounts(o.db));
    const changed = diff(counts, now);
    if (changed.length) { rep.persisted.push(`${where}: ${changed.join(', ')}`); counts = now; }
  };
  for (const cmd of order) {
    if (cmd.public || cmd.name === 'logout') continue;
    const base: Record<string, string> = {};
    for (const [name, def] of Object.entries(cmd.params)) {
      if (!def.required) continue;
      const v = baseValue(cmd, name, def, o.fixtures);
      if (v !== undefined) base[name] = v;
    }
    const callers: Array<[string, Api]> = cmd.roles.includes('User') ? [['admin', o.admin], ['tenant', o.tenant]] : [['admin', o.admin]];
    // A tenant calling an admin command: refused as an unknown one (once is enough).
    if (!cmd.roles.includes('User')) await one('tenant', o.tenant, cmd, base, false, '(not its role)');
    for (const [name, def] of Object.entries(cmd.params)) {
      for (const [i, value] of pick(def, n++, k).entries()) {
        const params = def.type === 'map'
          ? { ...base, [`${name}[0].key`]: value, [`${name}[0].value`]: value, [`${name}[99999].name`]: value }
          : { ...base, [name]: value };
        for (const [who, api] of callers) {
          await one(who, api, cmd, params, false, `${name}#${i}`);
          // Markup also through the XML writer.
          if (value === HOSTILE_STRINGS[1] && who === 'admin') await one(who, api, cmd, params, true, `${name}#${i} (xml)`);
        }
      }
    }
    o.log?.(`fuzz: ${cmd.name} done (${rep.requests} requests so far)`);
  }
  return rep;
}
