// The load generator of bench/api.ts, run in its own process so that its CPU does not count
// against the manager's: N keep-alive connections, each sending its next request as soon as the
// previous answer arrived (closed loop), for a bounded time, loopback only. Every API request is
// signed afresh, as a CloudStack client does. Prints one JSON line: rps, p50/p99 ms, errors, and
// `all` (requests including warm-up, so the manager's CPU time per request can be computed).
import http from 'node:http';
import { createHmac } from 'node:crypto';
import { javaUrlEncode } from '../src/api/signing.ts';

interface Job {
  url: string; path?: string; apiKey?: string; secretKey?: string; command?: string; params?: Record<string, string>;
  connections: number; durationMs: number; warmupMs: number;
}
const job = JSON.parse(process.argv[2]!) as Job;
const target = new URL(job.url);
if (target.hostname !== '127.0.0.1' && target.hostname !== 'localhost') throw new Error('the load generator only talks to loopback');
const agent = new http.Agent({ keepAlive: true, maxSockets: job.connections });

function nextPath(): string {
  if (job.path) return job.path;
  const all: Record<string, string> = { command: job.command!, response: 'json', apiKey: job.apiKey!, ...job.params };
  const canon = Object.keys(all).sort().map((k) => `${k}=${javaUrlEncode(all[k]!)}`).join('&').toLowerCase();
  all.signature = createHmac('sha1', job.secretKey!).update(canon).digest('base64');
  return `/client/api?${new URLSearchParams(all).toString()}`;
}

function once(): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: target.hostname, port: target.port, path: nextPath(), agent, method: 'GET' }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

const start = performance.now();
const measureFrom = start + job.warmupMs;
const end = measureFrom + job.durationMs;
const lat: number[] = [];
let errors = 0;
let all = 0;
async function loop(): Promise<void> {
  for (;;) {
    const t0 = performance.now();
    if (t0 >= end) return;
    const status = await once();
    const t1 = performance.now();
    all++;
    if (t0 >= measureFrom) { lat.push(t1 - t0); if (status !== 200) errors++; }
  }
}
await Promise.all(Array.from({ length: job.connections }, loop));
agent.destroy();
lat.sort((a, b) => a - b);
const pct = (p: number) => lat.length ? lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))]! : NaN;
process.stdout.write(`${JSON.stringify({ all, n: lat.length, rps: lat.length / (job.durationMs / 1000), p50: pct(50), p99: pct(99), errors })}\n`);
