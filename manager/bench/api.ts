// `npm run bench:api`: the API at scale. 10,000 networks, 20,000 VMs (one NIC each) and 1,000
// accounts in 10 domains, seeded by SQL (bench/seed.ts), on a PostgreSQL server and on PGlite.
// Signed requests (HMAC-SHA1, signed afresh each time, from bench/loadgen.ts in its own process)
// for:
//   nets_admin_500   listNetworks listall=true page=1 pagesize=500 as root admin (count 10,000)
//   nets_filtered    listNetworks listall=true domainid= account= as root admin (10 of 10,000)
//   nets_tenant      listNetworks as a tenant (its own 10 + the shared networks of its domain)
//   vms_admin_500    listVirtualMachines listall=true page=1 pagesize=500 as root admin
//   vms_tenant       listVirtualMachines as a tenant (its 20 VMs)
// Each: requests/s in a closed loop (BENCH_CONNECTIONS connections) and p50/p99 in an open loop
// at a fixed 500 requests/s. The peer (PostgreSQL only): the same handler written as a plain
// Fastify route over `pg` — signature check against a key held in memory, the same SQL (the
// page and its count), the same response view, JSON — so ratio_plain_fastify = Flotilla's
// requests/s over the plain route's: what the command pipeline (caller lookup, parameter
// parsing, scope, registry, error mapping) costs on top of the work itself.
// Knobs: BENCH_SECONDS (5), BENCH_CONNECTIONS (16), BENCH_WARMUP_SECONDS (1), BENCH_PG_URL
// (a server to create the bench database on; default FLOTILLA_TEST_PG_URL, else a throwaway
// server of the Debian postgresql package in a temporary directory), BENCH_DIALECTS
// (postgres,pglite).
import { spawn } from 'node:child_process';
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import Fastify from 'fastify';
import pg from 'pg';
import { createManager } from '../src/app.ts';
import { createLogger } from '../src/log.ts';
import { openDatabase } from '../src/db/index.ts';
import type { Database, Sql } from '../src/db/sql.ts';
import { javaUrlEncode } from '../src/api/signing.ts';
import { emptyFills, type Registry } from '../src/api/registry.ts';
import { attachTags } from '../src/commands/tags/views.ts';
import type { TagType } from '../src/commands/tags/types.ts';
import { NETWORK_COUNT_FROM, NETWORK_SELECT, VM_SELECT, NIC_SELECT, networkView, vmView, type NetworkRow, type VmRow, type NicRow } from '../src/commands/compute/views.ts';
import { seedScale } from './seed.ts';
import { pgServer } from './pg.ts';

const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 16);
const warmup = Number(process.env.BENCH_WARMUP_SECONDS ?? 1);
const RATE = 500;
if (!(seconds > 0 && seconds <= 120 && connections >= 1 && connections <= 256)) throw new Error('BENCH_SECONDS 1..120, BENCH_CONNECTIONS 1..256');
const dialects = (process.env.BENCH_DIALECTS ?? 'postgres,pglite').split(',');
// BENCH_SCALE (1) shrinks the data for a quick look at the bench itself; the figures are at 1.
const scale = Number(process.env.BENCH_SCALE ?? 1);
const SIZE = { domains: 10, accounts: Math.round(1000 * scale), networks: Math.round(10_000 * scale), vms: Math.round(20_000 * scale) };

interface Result { all: number; n: number; rps: number; p50: number; p99: number; errors: number; late?: number }
function load(job: Record<string, unknown>): Promise<Result> {
  const loadgen = fileURLToPath(new URL('./loadgen.ts', import.meta.url));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', loadgen, JSON.stringify({ connections, durationMs: seconds * 1000, warmupMs: warmup * 1000, ...job })], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop()!) as Result) : reject(new Error(`loadgen exited ${code}`))));
  });
}

interface Keys { apikey: string; secretkey: string }
function signedQuery(keys: Keys, command: string, params: Record<string, string>): string {
  const all: Record<string, string> = { command, response: 'json', apiKey: keys.apikey, ...params };
  const canon = Object.keys(all).sort().map((k) => `${k}=${javaUrlEncode(all[k]!)}`).join('&').toLowerCase();
  all.signature = createHmac('sha1', keys.secretkey).update(canon).digest('base64');
  return new URLSearchParams(all).toString();
}

/**
 * The peer: listNetworks / listVirtualMachines for a root admin as a plain Fastify route over a
 * `pg` pool — the signature checked against a key held in memory, then the same statements
 * Flotilla runs for these arguments (page, count, NICs of the page's VMs) and the same views.
 */
async function plainPeer(url: string, admin: Keys, registry: Registry): Promise<{ url: string; close(): Promise<void> }> {
  const pool = new pg.Pool({ connectionString: url, max: 10 });
  // What Flotilla adds to every listed object, by the same code over the plain pool: its tags
  // (attachTags: one query for the page) and CloudStack's empty values for the fields the view
  // leaves unset.
  const plainSql: Sql = { query: async (text, params) => (await pool.query(text, params as unknown[])).rows };
  const finish = async (command: string, type: TagType, items: Array<Record<string, unknown>>) => {
    await attachTags(plainSql, type, items);
    const fills = emptyFills(registry.get(command)!);
    for (const i of items) for (const [k, v] of fills) if (i[k] === undefined) i[k] = Array.isArray(v) ? [] : v;
    return items;
  };
  pg.types.setTypeParser(20, (v) => Number(v));
  const app = Fastify();
  app.get('/plain/api', async (req, reply) => {
    const q = req.query as Record<string, string>;
    const { signature, ...rest } = q;
    const canon = Object.keys(rest).sort().map((k) => `${k}=${javaUrlEncode(rest[k]!)}`).join('&').toLowerCase();
    const want = createHmac('sha1', admin.secretkey).update(canon).digest();
    const got = Buffer.from(signature ?? '', 'base64');
    if (rest.apiKey !== admin.apikey || got.length !== want.length || !timingSafeEqual(got, want)) return reply.code(401).send({ errortext: 'bad signature' });
    const limit = Number(q.pagesize ?? 500), offset = (Number(q.page ?? 1) - 1) * limit;
    if (q.command === 'listNetworks') {
      const where: string[] = []; const params: unknown[] = [];
      if (q.domainid) { params.push(q.domainid); where.push(`n.domain_id = $${params.length}`); }
      if (q.account) { params.push(q.domainid, q.account); where.push(`n.account_id = (SELECT id FROM accounts WHERE domain_id = $${params.length - 1} AND lower(name) = lower($${params.length}))`); }
      const w = where.length ? `WHERE ${where.join(' AND ')}` : '';
      const rows = (await pool.query<NetworkRow>(`${NETWORK_SELECT} ${w} ORDER BY n.created, n.id LIMIT $${params.length + 1} OFFSET $${params.length + 2}`, [...params, limit, offset])).rows;
      const count = rows.length < limit ? offset + rows.length : (await pool.query<{ n: number }>(`SELECT count(*)::int AS n ${NETWORK_COUNT_FROM} ${w}`, params)).rows[0]!.n;
      return reply.type('application/json; charset=utf-8').send(JSON.stringify({ listnetworksresponse: { count, network: await finish('listNetworks', 'Network', rows.map((r) => networkView(r, true))) } }));
    }
    const rows = (await pool.query<VmRow>(`${VM_SELECT} WHERE v.type = 'User' ORDER BY v.created, v.id LIMIT $1 OFFSET $2`, [limit, offset])).rows;
    const count = rows.length < limit ? offset + rows.length : (await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM vm_instances v WHERE v.type = 'User'`)).rows[0]!.n;
    const nics = (await pool.query<NicRow>(`${NIC_SELECT} WHERE c.vm_id = ANY($1::uuid[])`, [rows.map((r) => r.id)])).rows;
    return reply.type('application/json; charset=utf-8').send(JSON.stringify({ listvirtualmachinesresponse: { count, virtualmachine: await finish('listVirtualMachines', 'UserVm', rows.map((r) => vmView(r, nics, true))) } }));
  });
  const address = await app.listen({ port: 0, host: '127.0.0.1' });
  return { url: address, close: async () => { await app.close(); await pool.end(); } };
}

interface Workload { name: string; command: string; params: Record<string, string>; as: 'admin' | 'tenant'; expect: (body: any) => boolean; peer?: boolean }

type DialectResults = Map<string, { closed: Result; open: Result; plain?: Result; cpuUs: number }>;
/** Runs the workloads on a fresh database of the dialect; the database is dropped even on failure. */
async function benchDialect(dialect: 'postgres' | 'pglite', server?: string): Promise<DialectResults> {
  const cleanup: Array<() => Promise<unknown>> = [];
  try { return await benchOn(dialect, cleanup, server); } finally { for (const c of cleanup.reverse()) await c().catch(() => undefined); }
}
async function benchOn(dialect: 'postgres' | 'pglite', cleanup: Array<() => Promise<unknown>>, server?: string): Promise<DialectResults> {
  let db: Database; let dbUrl: string | undefined;
  if (dialect === 'postgres') {
    const name = `flt_bench_${randomBytes(5).toString('hex')}`;
    const c = new pg.Client({ connectionString: server }); await c.connect(); await c.query(`CREATE DATABASE ${name}`); await c.end();
    const u = new URL(server!); u.pathname = `/${name}`; dbUrl = u.toString();
    cleanup.push(async () => { const c2 = new pg.Client({ connectionString: server }); await c2.connect(); await c2.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`); await c2.end(); });
    db = await openDatabase({ url: dbUrl });
  } else db = await openDatabase({ memory: true });
  cleanup.push(() => db.close());
  const PASSWORD = 'bench-admin-password';
  const m = await createManager({ settings: { port: 0, host: '127.0.0.1', dataDir: '', sessionTimeout: 1800, jobDelayMs: 0 }, db, memory: true, adminPassword: PASSWORD, log: createLogger('silent'), env: {} });
  cleanup.push(() => m.close());
  const address = await m.app.listen({ port: 0, host: '127.0.0.1' });
  const post = async (params: Record<string, string>, cookie = '') => {
    const r = await fetch(`${address}/client/api`, { method: 'POST', body: new URLSearchParams({ response: 'json', ...params }), headers: cookie ? { cookie } : {} });
    const json = await r.json() as Record<string, any>;
    return { status: r.status, body: json[Object.keys(json)[0]!], cookie: (r.headers.getSetCookie?.() ?? []).map((c) => c.split(';')[0]).join('; ') };
  };
  const login = await post({ command: 'login', username: 'admin', password: PASSWORD, domain: '/' });
  const sk = { sessionkey: login.body.sessionkey as string };
  const adminId = (await post({ command: 'listUsers', username: 'admin', ...sk }, login.cookie)).body.user[0].id;
  const admin = (await post({ command: 'registerUserKeys', id: adminId, ...sk }, login.cookie)).body.userkeys as Keys;
  const call = async (keys: Keys, command: string, params: Record<string, string> = {}) => {
    // PGlite runs SQL on this thread: seeding blocks it for tens of seconds, and the server may
    // then close an idle keep-alive connection just as it is reused; such a request is re-sent.
    const get = () => fetch(`${address}/client/api?${signedQuery(keys, command, params)}`);
    const r = await get().catch(async () => get());
    const json = await r.json() as Record<string, any>;
    if (r.status !== 200) throw new Error(`${command}: ${r.status} ${JSON.stringify(json)}`);
    return json[Object.keys(json)[0]!];
  };
  const acc = (await call(admin, 'createAccount', { username: 'bench-tenant', account: 'bench-tenant', password: 'bench-tenant-pw', email: 't@example.org', firstname: 'b', lastname: 't', accounttype: '0' })).account;
  const tenant = (await call(admin, 'registerUserKeys', { id: acc.user[0].id })).userkeys as Keys;
  const t0 = performance.now();
  const seeded = await seedScale(db, SIZE, [acc.id]);
  if (dialect === 'postgres') await db.query('ANALYZE');
  const seedS = (performance.now() - t0) / 1000;
  // One account of another domain for the filtered query.
  const other = (await db.query<{ name: string; domain_id: string }>('SELECT name, domain_id FROM accounts WHERE id = $1', [seeded.accountIds[Math.floor(SIZE.accounts * 0.537)]]))[0]!;
  const tenantNets = (await call(tenant, 'listNetworks')).count as number;
  const workloads: Workload[] = [
    { name: 'nets_admin_500', command: 'listNetworks', params: { listall: 'true', page: '1', pagesize: '500' }, as: 'admin', expect: (b) => b.count >= SIZE.networks && b.network.length === 500, peer: true },
    // The UI's page (20 of 10,000): a page of the size people look at, next to CloudStack's
    // default page size of 500 above.
    { name: 'nets_admin_20', command: 'listNetworks', params: { listall: 'true', page: '1', pagesize: '20' }, as: 'admin', expect: (b) => b.count >= SIZE.networks && b.network.length === 20, peer: true },
    { name: 'nets_filtered', command: 'listNetworks', params: { listall: 'true', domainid: other.domain_id, account: other.name }, as: 'admin', expect: (b) => b.count >= Math.floor(SIZE.networks * 0.98 / SIZE.accounts) && b.count <= Math.ceil(SIZE.networks / SIZE.accounts), peer: true },
    { name: 'nets_tenant', command: 'listNetworks', params: {}, as: 'tenant', expect: (b) => b.count === tenantNets && tenantNets >= Math.floor(SIZE.networks * 0.98 / SIZE.accounts) },
    { name: 'vms_admin_500', command: 'listVirtualMachines', params: { listall: 'true', page: '1', pagesize: '500' }, as: 'admin', expect: (b) => b.count === SIZE.vms && b.virtualmachine.length === 500, peer: true },
    { name: 'vms_tenant', command: 'listVirtualMachines', params: {}, as: 'tenant', expect: (b) => b.count === SIZE.vms / SIZE.accounts },
  ];
  const peer = dialect === 'postgres' ? await plainPeer(dbUrl!, admin, m.services.registry) : undefined;
  if (peer) cleanup.push(() => peer.close());
  const out = new Map<string, { closed: Result; open: Result; plain?: Result; cpuUs: number }>();
  process.stdout.write(`\n[${dialect}] seeded ${SIZE.networks} networks, ${SIZE.vms} VMs, ${SIZE.accounts} accounts in ${seedS.toFixed(1)} s\n`);
  for (const wl of workloads) {
    if (process.env.BENCH_WORKLOADS && !process.env.BENCH_WORKLOADS.split(',').includes(wl.name)) continue;
    const keys = wl.as === 'admin' ? admin : tenant;
    const body = await call(keys, wl.command, wl.params);
    if (!wl.expect(body)) throw new Error(`${wl.name}: unexpected answer ${JSON.stringify(body).slice(0, 300)}`);
    const job = { url: address, apiKey: keys.apikey, secretKey: keys.secretkey, command: wl.command, params: wl.params };
    const cpu0 = process.cpuUsage();
    const closed = await load(job);
    const used = process.cpuUsage(cpu0);
    // The fixed-rate run only where the closed loop showed the capacity for it; otherwise its
    // p99 would only measure how long the 5 s cut-off lets a queue grow.
    const open: Result = closed.rps >= RATE ? await load({ ...job, rate: RATE, connections: Math.max(connections, 64) }) : { all: 0, n: 0, rps: 0, p50: NaN, p99: NaN, errors: 0, late: 0 };
    let plain: Result | undefined;
    if (peer && wl.peer) {
      const check = await fetch(`${peer.url}/plain/api?${signedQuery(admin, wl.command, wl.params)}`);
      const pb = (await check.json() as Record<string, any>)[`${wl.command.toLowerCase()}response`];
      if (JSON.stringify(pb) !== JSON.stringify(body)) throw new Error(`${wl.name}: the plain route answers differently: ${firstDifference(body, pb)}`);
      plain = await load({ ...job, url: peer.url, peerPath: '/plain/api' });
    }
    const r = { closed, open, cpuUs: (used.user + used.system) / Math.max(1, closed.all), ...(plain ? { plain } : {}) };
    out.set(wl.name, r);
    const f = (x: number | null, d = 1) => (x === null || !Number.isFinite(x) ? 'n/a' : x.toFixed(d));
    const at500 = closed.rps < RATE ? `not run: ${f(closed.rps, 0)} req/s is below ${RATE}/s`
      : `p50 ${f(open.p50, 1)} ms p99 ${open.late ? '≥ ' : ''}${f(open.p99, 1)} ms${open.late ? ` (${open.late} still unanswered 5 s after the schedule: over capacity)` : ''}`;
    process.stdout.write(`[${dialect}] ${wl.name.padEnd(15)} ${f(closed.rps, 0).padStart(6)} req/s (p50 ${f(closed.p50, 1)} ms, cpu ${f(r.cpuUs, 0)} µs/req)  at ${RATE}/s: ${at500}`
      + `${plain ? `  plain Fastify+pg ${f(plain.rps, 0)} req/s, ratio ${f(closed.rps / plain.rps, 2)}` : ''}  errors ${closed.errors + open.errors + (plain?.errors ?? 0)}\n`);
    if (closed.errors || open.errors || plain?.errors) process.exitCode = 1;
  }
  return out;
}

process.stdout.write(`${connections} keep-alive connections (closed loop), ${seconds}s per target after ${warmup}s warm-up; open loop at ${RATE} req/s; signed GET requests\n`);
const results = new Map<string, Awaited<ReturnType<typeof benchDialect>>>();
const server = dialects.includes('postgres') ? await pgServer() : undefined;
try {
  for (const d of dialects) results.set(d, await benchDialect(d as 'postgres' | 'pglite', server?.url));
} finally { server?.stop(); }
const pgR = results.get('postgres'); const liteR = results.get('pglite');
const f = (x: number | null | undefined, d = 1) => (x === undefined || x === null || !Number.isFinite(x) ? 'n/a' : x.toFixed(d));
const pick = (r: typeof pgR, w: string) => r?.get(w);
const ratio = (r: typeof pgR, w: string) => { const x = r?.get(w); return x?.plain ? x.closed.rps / x.plain.rps : undefined; };
const fields = [
  `listNetworks_rps_pg=${f(pick(pgR, 'nets_admin_500')?.closed.rps, 0)}`,
  `p99_ms_500rps_pg=${f(pick(pgR, 'nets_admin_500')?.open.p99)}`,
  `ratio_plain_fastify_pg=${f(ratio(pgR, 'nets_admin_500'), 2)}`,
  `listNetworks_rps_pglite=${f(pick(liteR, 'nets_admin_500')?.closed.rps, 0)}`,
  `p99_ms_500rps_pglite=${f(pick(liteR, 'nets_admin_500')?.open.p99)}`,
  `page20_rps_pg=${f(pick(pgR, 'nets_admin_20')?.closed.rps, 0)}`,
  `page20_p99_ms_500rps_pg=${f(pick(pgR, 'nets_admin_20')?.open.p99)}`,
  `page20_ratio_plain_fastify_pg=${f(ratio(pgR, 'nets_admin_20'), 2)}`,
  `filtered_rps_pg=${f(pick(pgR, 'nets_filtered')?.closed.rps, 0)}`,
  `filtered_p99_ms_500rps_pg=${f(pick(pgR, 'nets_filtered')?.open.p99)}`,
  `filtered_ratio_plain_fastify_pg=${f(ratio(pgR, 'nets_filtered'), 2)}`,
  `tenant_rps_pg=${f(pick(pgR, 'nets_tenant')?.closed.rps, 0)}`,
  `listVirtualMachines_rps_pg=${f(pick(pgR, 'vms_admin_500')?.closed.rps, 0)}`,
  `vms_p99_ms_500rps_pg=${f(pick(pgR, 'vms_admin_500')?.open.p99)}`,
  `vms_ratio_plain_fastify_pg=${f(ratio(pgR, 'vms_admin_500'), 2)}`,
  `vms_tenant_rps_pg=${f(pick(pgR, 'vms_tenant')?.closed.rps, 0)}`,
  `filtered_rps_pglite=${f(pick(liteR, 'nets_filtered')?.closed.rps, 0)}`,
  // The manager's own CPU per request: steadier than requests/s on a shared machine.
  `listNetworks_cpu_us_pg=${f(pick(pgR, 'nets_admin_500')?.cpuUs, 0)}`,
  `filtered_cpu_us_pg=${f(pick(pgR, 'nets_filtered')?.cpuUs, 0)}`,
  `tenant_cpu_us_pg=${f(pick(pgR, 'nets_tenant')?.cpuUs, 0)}`,
  `vms_tenant_rps_pglite=${f(pick(liteR, 'vms_tenant')?.closed.rps, 0)}`,
];
process.stdout.write(`api: ${fields.join(' ')}\n`);

/** Where two answers part: the first path whose values differ (for the peer check's message). */
function firstDifference(a: unknown, b: unknown, path = ''): string {
  if (JSON.stringify(a) === JSON.stringify(b)) return '';
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
    const ka = JSON.stringify(Object.keys(a)); const kb = JSON.stringify(Object.keys(b));
    for (const k of keys) {
      const d = firstDifference((a as any)[k], (b as any)[k], `${path}.${k}`);
      if (d) return d;
    }
    if (ka !== kb) return `${path}: keys in another order (${ka.slice(0, 200)} vs ${kb.slice(0, 200)})`;
  }
  return `${path || '(top)'}: ${JSON.stringify(a)?.slice(0, 120)} vs ${JSON.stringify(b)?.slice(0, 120)}`;
}
