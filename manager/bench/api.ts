// `npm run bench` (in manager/): the API's throughput and latency with signed requests, against
// a trivial Fastify route of the same server in the same run, so the ratio says what the API
// pipeline (signature check, caller lookup, parameter parsing, transaction, query, serialisation)
// costs on this machine. A manager on in-memory PGlite listens on loopback; the load comes from
// bench/loadgen.ts in a separate process. Ends with one summary line (`api: …`).
// Knobs: BENCH_SECONDS (5 per target), BENCH_CONNECTIONS (16), BENCH_WARMUP_SECONDS (1).
import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { createManager } from '../src/app.ts';
import { createLogger } from '../src/log.ts';
import { javaUrlEncode } from '../src/api/signing.ts';

const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 16);
const warmup = Number(process.env.BENCH_WARMUP_SECONDS ?? 1);
if (!(seconds > 0 && seconds <= 120 && connections >= 1 && connections <= 256)) throw new Error('BENCH_SECONDS 1..120, BENCH_CONNECTIONS 1..256');

const PASSWORD = 'bench-admin-password';
const m = await createManager({
  settings: { port: 0, host: '127.0.0.1', dataDir: '', sessionTimeout: 1800, jobDelayMs: 0 },
  memory: true, adminPassword: PASSWORD, log: createLogger('silent'), env: {},
});
// The baseline: the same Fastify instance, no auth, no database.
m.app.get('/bench/trivial', async () => ({ ok: true }));
const address = await m.app.listen({ port: 0, host: '127.0.0.1' });

async function call(params: Record<string, string>, extra: { cookie?: string } = {}): Promise<{ status: number; body: any; cookie: string }> {
  const res = await fetch(`${address}/client/api`, { method: 'POST', body: new URLSearchParams({ response: 'json', ...params }), headers: extra.cookie ? { cookie: extra.cookie } : {} });
  const json = await res.json() as Record<string, any>;
  const cookie = (res.headers.getSetCookie?.() ?? []).map((c) => c.split(';')[0]).join('; ');
  return { status: res.status, body: json[Object.keys(json)[0]!], cookie };
}

const login = await call({ command: 'login', username: 'admin', password: PASSWORD, domain: '/' });
const session = { sessionkey: login.body.sessionkey as string };
const users = await call({ command: 'listUsers', username: 'admin', ...session }, { cookie: login.cookie });
const keys = (await call({ command: 'registerUserKeys', id: users.body.user[0].id, ...session }, { cookie: login.cookie })).body.userkeys;

async function signed(command: string, params: Record<string, string> = {}): Promise<any> {
  const all: Record<string, string> = { command, response: 'json', apiKey: keys.apikey, ...params };
  const canon = Object.keys(all).sort().map((k) => `${k}=${javaUrlEncode(all[k]!)}`).join('&').toLowerCase();
  all.signature = createHmac('sha1', keys.secretkey).update(canon).digest('base64');
  const r = await call(all);
  if (r.status !== 200) throw new Error(`${command}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

// listZones needs a zone, made through the API; without an infra area, listDomains stands in.
let second = 'listZones';
if (m.services.registry.get('createZone')) {
  await signed('createZone', { name: 'bench-zone', dns1: '192.0.2.53', internaldns1: '192.0.2.53', networktype: 'Advanced' });
  if ((await signed('listZones')).count !== 1) throw new Error('the bench zone is not listed');
} else {
  second = 'listDomains';
  process.stdout.write('createZone is not registered: measuring listDomains instead of listZones\n');
}
const offerings = (await signed('listNetworkOfferings')).count as number;

interface Result { all: number; n: number; rps: number; p50: number; p99: number; errors: number; cpuUs: number }
function run(job: Record<string, unknown>): Promise<Result> {
  const loadgen = fileURLToPath(new URL('./loadgen.ts', import.meta.url));
  // The manager's own CPU time per request: unlike req/s, it does not depend on what else the
  // machine is running, so it is the figure to compare between runs.
  const cpu0 = process.cpuUsage();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', loadgen, JSON.stringify({
      url: address, connections, durationMs: seconds * 1000, warmupMs: warmup * 1000, ...job,
    })], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) { reject(new Error(`loadgen exited ${code}`)); return; }
      const r = JSON.parse(out.trim().split('\n').pop()!) as Omit<Result, 'cpuUs'>;
      const used = process.cpuUsage(cpu0);
      resolve({ ...r, cpuUs: (used.user + used.system) / Math.max(1, r.all) });
    });
  });
}

const api = { apiKey: keys.apikey, secretKey: keys.secretkey };
const trivial = await run({ path: '/bench/trivial' });
const zones = await run({ ...api, command: second, params: {} });
const nos = await run({ ...api, command: 'listNetworkOfferings', params: {} });
await m.close();

const f = (x: number, d = 1) => x.toFixed(d);
const line = (name: string, r: Result) => process.stdout.write(
  `${name.padEnd(22)} ${f(r.rps, 0).padStart(7)} req/s  p50 ${f(r.p50, 2).padStart(7)} ms  p99 ${f(r.p99, 2).padStart(7)} ms  ratio ${f(r.rps / trivial.rps, 3)}  cpu ${f(r.cpuUs, 0).padStart(5)} µs/req  (n=${r.n}, errors=${r.errors})\n`);
process.stdout.write(`\n${connections} keep-alive connections, ${seconds}s per target after ${warmup}s warm-up, signed GET requests; ${offerings} network offerings listed\n`);
line('trivial Fastify route', trivial);
line(second, zones);
line('listNetworkOfferings', nos);
if (trivial.errors || zones.errors || nos.errors) { process.stdout.write('errors during the run\n'); process.exitCode = 1; }
const s = second === 'listZones' ? 'listZones' : 'listDomains';
process.stdout.write(`api: ${s}_rps=${f(zones.rps, 0)} ${s}_p99_ms=${f(zones.p99, 2)} listNetworkOfferings_rps=${f(nos.rps, 0)} listNetworkOfferings_p99_ms=${f(nos.p99, 2)} trivial_rps=${f(trivial.rps, 0)} ratio_${s}=${f(zones.rps / trivial.rps, 3)} ratio_listNetworkOfferings=${f(nos.rps / trivial.rps, 3)} cpu_us_per_req_${s}=${f(zones.cpuUs, 0)} cpu_us_per_req_listNetworkOfferings=${f(nos.cpuUs, 0)} cpu_us_per_req_trivial=${f(trivial.cpuUs, 0)}\n`);
