// The load generator of bench/api.ts, run in its own process so that its CPU does not count
// against the manager's, loopback only, for a bounded time. Closed loop (default): N keep-alive
// connections, each sending its next request as soon as the previous answer arrived (the most
// requests/s the server gives). Open loop (`rate`): requests start on a fixed schedule whatever
// the answers do, over at most N connections, and each latency counts from the request's
// scheduled start, so a slow server's queue shows in p99 (no coordinated omission). Every API
// request is signed afresh, as a CloudStack client does. Prints one JSON line: rps, p50/p99 ms,
// errors, and `all` (requests including warm-up, for the server's CPU time per request).
import http from 'node:http';
import { createHmac } from 'node:crypto';
import { javaUrlEncode } from '../src/api/signing.ts';

interface Job {
  url: string; path?: string; apiKey?: string; secretKey?: string; command?: string; params?: Record<string, string>;
  connections: number; durationMs: number; warmupMs: number;
  /** open loop: requests per second on a fixed schedule */
  rate?: number;
  /** 'http': the request goes to `path` with the signed query appended (a peer's own route) */
  peerPath?: string;
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
  return `${job.peerPath ?? '/client/api'}?${new URLSearchParams(all).toString()}`;
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
/** open loop: requests still unanswered when the run was cut off (not errors: the server was too slow) */
let late = 0;
let all = 0;
async function loop(): Promise<void> {
  for (;;) {
    const t0 = performance.now();
    if (t0 >= end) return;
    const status = await once().catch(() => 0);
    const t1 = performance.now();
    all++;
    if (t0 >= measureFrom) { lat.push(t1 - t0); if (status !== 200) errors++; }
  }
}
async function openLoop(rate: number): Promise<void> {
  const inflight = new Map<Promise<void>, number>();
  for (let i = 0; ; i++) {
    const at = start + (i * 1000) / rate;
    if (at >= end) break;
    const wait = at - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const p = once().catch(() => 0).then((status) => {
      all++;
      if (at >= measureFrom) { lat.push(performance.now() - at); if (status !== 200) errors++; }
    });
    inflight.set(p, at);
    void p.finally(() => inflight.delete(p));
  }
  // A server slower than the rate has a queue: what is still unanswered 5 s after the schedule
  // ended counts as late, with the time it had waited (a lower bound) as its latency.
  const cutoff = performance.now() + 5000;
  await Promise.race([Promise.all(inflight.keys()), new Promise((r) => setTimeout(r, 5000).unref())]);
  for (const at of inflight.values()) if (at >= measureFrom) { lat.push(cutoff - at); late++; }
}
if (job.rate) await openLoop(job.rate);
else await Promise.all(Array.from({ length: job.connections }, loop));
agent.destroy();
lat.sort((a, b) => a - b);
const pct = (p: number) => lat.length ? lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))]! : NaN;
// Exit at once: requests still queued in the agent would otherwise be sent on fresh sockets.
process.stdout.write(`${JSON.stringify({ all, n: lat.length, rps: lat.length / (job.durationMs / 1000), p50: pct(50), p99: pct(99), errors, late })}\n`, () => process.exit(0));
