// Several managers (decision 0282): the agent dials a list of manager URLs in turn; a manager
// that does not lead refuses the hello NOT_LEADER (close 4001 'NOT_LEADER') and the agent moves on
// to the next URL at once, without giving up (unlike a bad token). The whole failover of a killed
// leader runs against real managers in tests/test/faults-managers.test.ts.
import test from 'ava';
import net from 'node:net';
import { WebSocketServer } from 'ws';
import { Agent } from '../src/agent.ts';
import { SimulatorDriver } from '../src/drivers/simulator.ts';
import { FakeManager } from './helpers/fake-manager.ts';

test('a follower refuses NOT_LEADER: the agent tries the next URL and connects to the leader', async (t) => {
  const hellos: unknown[] = [];
  const follower = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((r) => follower.once('listening', r));
  follower.on('connection', (ws) => ws.once('message', (d) => {
    hellos.push(JSON.parse(d.toString()));
    ws.send(JSON.stringify({ type: 'refused', code: 'NOT_LEADER', message: 'this manager does not lead; the leader is http://elsewhere' }));
    ws.close(4001, 'NOT_LEADER');
  }));
  const leader = new FakeManager({ tokens: new Set(['good']), heartbeatIntervalMs: 1000, heartbeatTimeoutMs: 10_000, silent: false });
  await leader.listen();
  const followerUrl = `ws://127.0.0.1:${(follower.address() as { port: number }).port}/agent`;
  const agent = new Agent({ url: `${followerUrl},${leader.url}`, token: 'good', driver: new SimulatorDriver(), hostName: 'sim1', backoff: { initialMs: 2000, maxMs: 4000, factor: 2 } });
  const refusals: unknown[] = [];
  agent.on('refused', (r) => refusals.push(r));
  t.teardown(async () => { await agent.stop(); await leader.close().catch(() => undefined); follower.close(); });
  const started = Date.now();
  agent.start();
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('not connected')), 10_000);
    agent.once('connected', () => { clearTimeout(timer); resolve(); });
  });
  t.is(hellos.length, 1, 'the follower saw one hello');
  t.is(agent.url, leader.url);
  t.is(agent.status, 'connected');
  t.deepEqual(refusals, [], 'NOT_LEADER is not a final refusal');
  // The next URL is dialled at once, not after the back-off (2 s here).
  t.true(Date.now() - started < 1500, `connected after ${Date.now() - started} ms`);
});

// A console asked for by a follower (openConsole's `manager`, sent through the leader): the agent
// dials the follower at its own configured URL for that origin, and refuses any other URL before
// opening the VM's console.
test('openConsole naming a follower: dialled at the agent\'s own URL for it; a URL that is not one of its managers is refused', async (t) => {
  const consoles: Array<{ path: string; first: Record<string, unknown> }> = [];
  const follower = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((r) => follower.once('listening', r));
  follower.on('connection', (ws, req) => ws.once('message', (d) => {
    if (req.url === '/agent/console') { consoles.push({ path: req.url, first: JSON.parse(d.toString()) }); return; }
    ws.send(JSON.stringify({ type: 'refused', code: 'NOT_LEADER', message: 'not the leader' }));
    ws.close(4001, 'NOT_LEADER');
  }));
  // The VM's "VNC server": counts the connections the agent makes to it.
  let dialled = 0;
  const vnc = net.createServer((c) => { dialled++; c.on('error', () => undefined); });
  await new Promise<void>((r) => vnc.listen(0, '127.0.0.1', r));
  const leader = new FakeManager({ tokens: new Set(['good']), heartbeatIntervalMs: 1000, heartbeatTimeoutMs: 10_000, silent: false });
  await leader.listen();
  const followerPort = (follower.address() as { port: number }).port;
  const driver = new SimulatorDriver({ vnc: { host: '127.0.0.1', port: (vnc.address() as net.AddressInfo).port } });
  const agent = new Agent({ url: `ws://127.0.0.1:${followerPort}/agent,${leader.url}`, token: 'good', driver, hostName: 'sim1', backoff: { initialMs: 100, maxMs: 400, factor: 2 } });
  // ws's server.close() leaves open connections open: they are ended here, or the worker never exits.
  t.teardown(async () => {
    await agent.stop();
    await leader.close().catch(() => undefined);
    for (const c of follower.clients) c.terminate();
    follower.close();
    vnc.close();
  });
  agent.start();
  const session = await leader.waitForSessions(1);
  await driver.startVm({ spec: { name: 'i-2-1-VM', cpus: 1, memoryMb: 64, template: { kind: 'guest' }, nics: [] } });

  for (const manager of ['http://127.0.0.1:1', 'http://203.0.113.7:80', 'not a url']) {
    const r = await leader.request(session, 'openConsole', { name: 'i-2-1-VM', session: 'S'.repeat(32), console: 'vnc', manager });
    t.like(r, { ok: false, error: { code: 'INVALID_ARGUMENT' } }, manager);
  }
  t.is(dialled, 0, 'the VM\'s console was not opened for a refused URL');
  t.is(consoles.length, 0);

  // The follower's API URL (http, no path), as its managers row has it.
  const ok = await leader.request(session, 'openConsole', { name: 'i-2-1-VM', session: 'F'.repeat(32), console: 'vnc', manager: `http://127.0.0.1:${followerPort}` });
  t.like(ok, { ok: true, result: { session: 'F'.repeat(32) } });
  const deadline = Date.now() + 5000;
  while (!consoles.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  t.deepEqual(consoles, [{ path: '/agent/console', first: { type: 'console', token: 'good', session: 'F'.repeat(32) } }]);
  t.is(dialled, 1);

  // A stopped agent relays no console: the follower's console socket closes.
  const [relay] = [...follower.clients].filter((c) => c.readyState === c.OPEN);
  const closed = new Promise<boolean>((r) => relay!.once('close', () => r(true)));
  await agent.stop();
  t.true(await Promise.race([closed, new Promise<boolean>((r) => setTimeout(() => r(false), 3000))]), 'the console socket closed within 3 s of stop()');
});
