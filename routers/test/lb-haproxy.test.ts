// The appliance's HAProxy (routers/src/lb/haproxy.ts) against real HAProxy, on loopback only
// (no root, no namespaces): backends are Node HTTP servers on 127.0.0.2-4, the rule listens on
// 127.0.0.1. A connection loop (a new TCP connection per request) runs through every change:
// members added and removed through the runtime API (the worker PID stays, no reload), a
// backend that dies and returns (HAProxy's checks: Inactive, then Active, no reload), then a
// change only a reload can make (hitless: the PID changes, no request fails). Counters per rule
// and per member grow and survive the reload.
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
  let ok = 0, failed = 0, running = true;
  const errors: string[] = [];
  const loop = (async () => {
    while (running) {
      await new Promise<void>((resolve) => {
        const req = http.get({ host: '127.0.0.1', port: pub, path: '/', agent: false, timeout: 5000 }, (res) => {
          res.resume();
          res.on('end', () => { if (res.statusCode === 200) ok++; else { failed++; errors.push(`status ${res.statusCode}`); } resolve(); });
        });
        req.on('error', (e) => { failed++; errors.push(e.message); resolve(); });
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
    // Member added: runtime API, same worker, the new member gets traffic.
    t.is(await hp.apply(rule({ backends: [be(1), be(2), be(3)] })), 'runtime');
    const h4 = hits.get('127.0.0.4') ?? 0;
    await waitFor('the added member gets requests', () => (hits.get('127.0.0.4') ?? 0) > h4 + 5);
    // Member removed: disabled at once, deleted when drained; it gets nothing more.
    t.is(await hp.apply(rule({ backends: [be(1), be(3)] })), 'runtime');
    await sleep(300);
    const h3 = hits.get('127.0.0.3') ?? 0;
    const okAt = ok;
    await waitFor('requests after the removal', () => ok > okAt + 30);
    t.is(hits.get('127.0.0.3') ?? 0, h3, 'a removed member gets no new connection');
    t.is(await hp.workerPid(), pid0, 'membership changes keep the worker (no reload)');
    t.is(hp.reloads, 0);

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
  t.is(failed, 0, `failed requests: ${errors.slice(0, 5).join('; ')}`);
  t.true(ok > 150, `requests ${ok}`);
});
