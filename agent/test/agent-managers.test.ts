// Several managers (decision 0282): the agent dials a list of manager URLs in turn; a manager
// that does not lead refuses the hello NOT_LEADER (close 4001 'NOT_LEADER') and the agent moves on
// to the next URL at once, without giving up (unlike a bad token). The whole failover of a killed
// leader runs against real managers in tests/test/faults-managers.test.ts.
import test from 'ava';
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
