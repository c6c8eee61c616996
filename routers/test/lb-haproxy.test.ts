// The appliance's HAProxy (routers/src/lb/haproxy.ts) against real HAProxy, on loopback only
// (no root, no namespaces): backends are Node HTTP servers on 127.0.0.2-4, the rule listens on
// 127.0.0.1. A connection loop (a new TCP connection per request) runs through every change:
// members added and removed through the runtime API (the worker PID stays, no reload), a
// backend that dies and returns (HAProxy's checks: Inactive, then Active, no reload; only the
// request in flight on it may fail), then a change only a reload can make (hitless: the PID
// changes, no request fails). Counters per rule and per member grow and survive the reload.
// And tcp-proxy: the backend gets the PROXY protocol line with the client's address.
import test from 'ava';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LbRule, LbSpec } from '@flotilla/protocol/lb';
import { Haproxy, memberDelta } from '../src/lb/haproxy.ts';

const uid = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function listen(server: http.Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => { server.off('error', reject); resolve((server.address() as { port: number }).port); });
  });
}

test('memberDelta: members only → add/del; anything else → undefined (reload)', (t) => {
  const cfg = (servers: string[], extra = '') => `global\n    maxconn 1\n\nbackend be_x\n    mode tcp\n    balance leastconn${extra}\n${servers.map((s) => `    server ${s} 10.0.0.1:80\n`).join('')}`;
  t.deepEqual(memberDelta(cfg(['a', 'b']), cfg(['a', 'c'])), { add: [['be_x/c', 'c 10.0.0.1:80']], del: ['be_x/b'] });
  t.is(memberDelta(cfg(['a']), cfg(['a'], '\n    cookie S insert')), undefined);
  t.is(memberDelta(cfg(['a']), cfg(['a']).replace('a 10.0.0.1:80', 'a 10.0.0.1:81')), undefined, 'a changed server line reloads');
});

test('HAProxy members change through the runtime API (same worker) and a reload is hitless, under a connection loop', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'flt-lbh-'));
  const hp = new Haproxy(dir);
  const servers: http.Server[] = [];
  t.teardown(async () => { await hp.stop(); for (const s of servers) s.close(); rmSync(dir, { recursive: true, force: true }); });
  // Three backends on one port of 127.0.0.2/3/4 (a port free on all three: retry on a clash).
  const hits = new Map<string, number>();
  let port = 0;
  for (let attempt = 0; attempt < 20 && !port; attempt++) {
    const made: http.Server[] = [];
    try {
      let p = 0;
      for (const ip of ['127.0.0.2', '127.0.0.3', '127.0.0.4']) {
        const s = http.createServer((req, res) => { hits.set(ip, (hits.get(ip) ?? 0) + 1); res.setHeader('connection', 'close'); res.end(ip); });
        made.push(s);
        p = await listen(s, ip, p);
      }
      port = p;
      servers.push(...made);
    } catch { for (const s of made) s.close(); }
  }
  t.true(port > 0, 'backend port');
  const probe = http.createServer();
  const pub = await listen(probe, '127.0.0.1', 0);
  await new Promise((r) => probe.close(r));

  const be = (n: number) => ({ vmId: uid(100 + n), ip: `127.0.0.${n + 1}` });
  const rule = (over: Partial<LbRule>): LbSpec => ({ rules: [{ id: uid(1), publicIp: '127.0.0.1', publicPort: pub, privatePort: port, protocol: 'tcp', algorithm: 'leastconn', sourceCidrs: [], backends: [be(1), be(2)], healthCheck: { intervalS: 1, timeoutS: 1, healthy: 2, unhealthy: 2 }, ...over }] });

  t.is(await hp.apply(rule({})), 'started');
  const pid0 = await hp.workerPid();
  t.truthy(pid0);

  // The loop: one new connection per request, every failure counted.
  let ok = 0, running = true, step = 'start';
  const failedIn = new Map<string, number>();
  const errors: string[] = [];
  const loop = (async () => {
    while (running) {
      await new Promise<void>((resolve) => {
        const req = http.get({ host: '127.0.0.1', port: pub, path: '/', agent: false, timeout: 5000 }, (res) => {
          res.resume();
          res.on('end', () => { if (res.statusCode === 200) ok++; else { failedIn.set(step, (failedIn.get(step) ?? 0) + 1); errors.push(`${step}: status ${res.statusCode}`); } resolve(); });
        });
        req.on('error', (e) => { failedIn.set(step, (failedIn.get(step) ?? 0) + 1); errors.push(`${step}: ${e.message}`); resolve(); });
        req.on('timeout', () => req.destroy(new Error('timeout')));
      });
    }
  })();
  const waitFor = async (what: string, cond: () => boolean | Promise<boolean>, ms = 15_000) => {
    const end = Date.now() + ms;
    while (!(await cond())) { if (Date.now() > end) throw new Error(`timed out waiting for ${what}`); await sleep(50); }
  };
  try {
    await waitFor('traffic', () => ok > 20);
    step = 'add';
    // Member added: runtime API, same worker, the new member gets traffic.
    t.is(await hp.apply(rule({ backends: [be(1), be(2), be(3)] })), 'runtime');
    const h4 = hits.get('127.0.0.4') ?? 0;
    await waitFor('the added member gets requests', () => (hits.get('127.0.0.4') ?? 0) > h4 + 5);
    step = 'remove';
    // Member removed: disabled at once, deleted when drained; it gets nothing more.
    t.is(await hp.apply(rule({ backends: [be(1), be(3)] })), 'runtime');
    await sleep(300);
    const h3 = hits.get('127.0.0.3') ?? 0;
    const okAt = ok;
    await waitFor('requests after the removal', () => ok > okAt + 30);
    t.is(hits.get('127.0.0.3') ?? 0, h3, 'a removed member gets no new connection');
    t.is(await hp.workerPid(), pid0, 'membership changes keep the worker (no reload)');
    t.is(hp.reloads, 0);

    step = 'health';
    // Health: a member dies → HAProxy's checks take it out (Inactive), it returns → Active; no reload.
    servers[0]!.close();
    servers[0]!.closeAllConnections();
    await waitFor('Inactive', async () => (await hp.status(rule({ backends: [be(1), be(3)] }))).get(uid(1))?.backends['127.0.0.2'] === 'Inactive');
    const s2 = http.createServer((req, res) => { hits.set('127.0.0.2', (hits.get('127.0.0.2') ?? 0) + 1); res.setHeader('connection', 'close'); res.end('back'); });
    await listen(s2, '127.0.0.2', port);
    servers[0] = s2;
    await waitFor('Active again', async () => (await hp.status(rule({ backends: [be(1), be(3)] }))).get(uid(1))?.backends['127.0.0.2'] === 'Active');
    t.is(await hp.workerPid(), pid0, 'health changes keep the worker');

    const before = (await hp.status(rule({ backends: [be(1), be(3)] }))).get(uid(1))!;
    t.true(before.sessions > 100, `sessions ${before.sessions}`);
    t.true(before.members['127.0.0.3']!.sessions > 0, 'the removed member\'s counters are kept');
    step = 'reload';
    // A change only a reload makes (the check timeout): hitless, a new worker, counters kept.
    const changed = rule({ backends: [be(1), be(3)], healthCheck: { intervalS: 1, timeoutS: 2, healthy: 2, unhealthy: 2 } });
    t.is(await hp.apply(changed), 'reloaded');
    t.not(await hp.workerPid(), pid0);
    const okR = ok;
    await waitFor('requests after the reload', () => ok > okR + 20);
    const after = (await hp.status(changed)).get(uid(1))!;
    t.true(after.sessions > before.sessions, `sessions ${before.sessions} → ${after.sessions}`);
    t.true(after.members['127.0.0.2']!.sessions >= before.members['127.0.0.2']!.sessions, 'per-member counters survive the reload');
    t.true(after.bytes > before.bytes);
  } finally {
    running = false;
    await loop;
  }
  // Rule changes (members through the runtime API, the reload) lose nothing. A backend killed
  // while a request of the loop is on it loses that request (TCP mode cannot replay it; a
  // refused connect is redispatched): at most the one in flight.
  for (const s of ['start', 'add', 'remove', 'reload']) t.is(failedIn.get(s) ?? 0, 0, `failed requests while '${s}': ${errors.slice(0, 5).join('; ')}`);
  t.true((failedIn.get('health') ?? 0) <= 1, `failed requests while a backend died: ${errors.slice(0, 5).join('; ')}`);
  t.true(ok > 150, `requests ${ok}`);
});

test('tcp-proxy: HAProxy sends the PROXY protocol header with the client\'s address to the backend', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'flt-lbp-'));
  const hp = new Haproxy(dir);
  const net = await import('node:net');
  const seen: string[] = [];
  // A backend that reads the PROXY v1 line, then answers: what a PROXY-aware server does.
  const server = net.createServer((s) => {
    let buf = '';
    s.setEncoding('latin1');
    s.on('data', (d: string) => {
      buf += d;
      const nl = buf.indexOf('\r\n');
      if (nl < 0) return;
      seen.push(buf.slice(0, nl));
      s.end('ok\n');
    });
    s.on('error', () => undefined);
  });
  t.teardown(async () => { await hp.stop(); server.close(); rmSync(dir, { recursive: true, force: true }); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.5', () => r()));
  const port = (server.address() as { port: number }).port;
  const probe = http.createServer();
  const pub = await listen(probe, '127.0.0.1', 0);
  await new Promise((r) => probe.close(r));
  const spec: LbSpec = { rules: [{ id: uid(2), publicIp: '127.0.0.1', publicPort: pub, privatePort: port, protocol: 'tcp-proxy', algorithm: 'roundrobin', sourceCidrs: [], backends: [{ vmId: uid(105), ip: '127.0.0.5' }] }] };
  t.is(await hp.apply(spec), 'started');
  const answer = await new Promise<{ data: string; local: number }>((resolve, reject) => {
    const c = net.createConnection({ host: '127.0.0.1', port: pub, localAddress: '127.0.0.9' }, () => c.write('hello'));
    let data = '';
    c.setEncoding('utf8');
    c.on('data', (d: string) => { data += d; if (data.includes('\n')) { resolve({ data, local: c.localPort ?? 0 }); c.destroy(); } });
    c.on('error', reject);
    setTimeout(() => reject(new Error(`no answer (got ${JSON.stringify(data)})`)), 30_000).unref();
  });
  t.is(answer.data, 'ok\n');
  t.is(seen.length, 1);
  t.is(seen[0], `PROXY TCP4 127.0.0.9 127.0.0.1 ${answer.local} ${pub}`);
});
