// The agent against a stand-in manager (helpers/fake-manager.ts) with the simulator driver:
// authentication, heartbeats both ways, the watchdog, reconnect with backoff after the manager
// restarts, listState after the reconnect, and the precise errors of bad requests.
import test from 'ava';
import { Agent, backoffDelay } from '../src/agent.ts';
import { SimulatorDriver } from '../src/drivers/simulator.ts';
import { FakeManager } from './helpers/fake-manager.ts';
import type { VmSpec } from '@flotilla/protocol/agent';

const net = { id: 'net-1', kind: 'guest' as const, vni: 5001 };
const vm = (name: string, mac = '02:00:00:00:00:01'): VmSpec => ({
  name, cpus: 1, memoryMb: 64, template: { kind: 'guest' }, nics: [{ deviceId: 0, mac, networkId: 'net-1' }],
});

async function setup(t: { teardown(fn: () => unknown): void }, opts: { token?: string; interval?: number; timeout?: number; silent?: boolean; driver?: SimulatorDriver } = {}) {
  const mgr = new FakeManager({ tokens: new Set(['good']), heartbeatIntervalMs: opts.interval ?? 1000, heartbeatTimeoutMs: opts.timeout ?? 10_000, silent: opts.silent ?? false });
  await mgr.listen();
  const driver = opts.driver ?? new SimulatorDriver();
  const agent = new Agent({ url: mgr.url, token: opts.token ?? 'good', driver, hostName: 'sim1', backoff: { initialMs: 40, maxMs: 400, factor: 2 } });
  t.teardown(async () => { await agent.stop(); await mgr.close().catch(() => undefined); });
  return { mgr, agent, driver };
}

function once<T>(emitter: { once(ev: string, fn: (v: T) => void): unknown }, ev: string, ms = 10_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${ev} within ${ms} ms`)), ms);
    emitter.once(ev, (v: T) => { clearTimeout(timer); resolve(v); });
  });
}

test('hello carries token, host name, version, hypervisor and capacity; welcome connects', async (t) => {
  const { mgr, agent } = await setup(t);
  agent.start();
  const connected = await once<{ hostId: string }>(agent, 'connected');
  t.is(connected.hostId, 'host-sim1');
  t.is(agent.status, 'connected');
  const hello = mgr.hellos[0]!;
  t.is(hello.token, 'good');
  t.is(hello.hypervisor, 'Simulator');
  t.is(hello.v, '1.0');
  t.deepEqual(hello.capacity, { cpus: 16, cpuMhz: 2400, memoryMb: 65536 });
});

test('a bad token is refused and the agent does not retry', async (t) => {
  const { mgr, agent } = await setup(t, { token: 'stolen' });
  const reconnects: unknown[] = [];
  agent.on('reconnecting', (r) => reconnects.push(r));
  agent.start();
  const refused = await once<{ code: string; message: string }>(agent, 'refused');
  t.is(refused.code, 'UNKNOWN_TOKEN');
  t.is(refused.message, 'unknown agent token');
  await new Promise((r) => setTimeout(r, 300)); // several backoff periods (40 ms initial)
  t.is(agent.status, 'refused');
  t.deepEqual(reconnects, []);
  t.is(mgr.hellos.length, 1);
  t.is(mgr.sessions.length, 0);
});

test('heartbeats flow both ways at the interval the welcome sets', async (t) => {
  const { mgr, agent } = await setup(t, { interval: 50 });
  let fromManager = 0;
  agent.on('heartbeat', () => { fromManager++; });
  agent.start();
  const s = await mgr.waitForSessions(1);
  while (s.heartbeats < 4 || fromManager < 4) await new Promise((r) => setTimeout(r, 20));
  t.true(s.heartbeats >= 4);
  t.true(fromManager >= 4);
});

test('a manager that goes silent is dropped after heartbeatTimeoutMs and redialled', async (t) => {
  const { mgr, agent } = await setup(t, { interval: 50, timeout: 300, silent: true });
  const dropped = once<{ code: number }>(agent, 'disconnected');
  agent.start();
  await mgr.waitForSessions(1);
  const disconnected = await dropped;
  t.is(disconnected.code, 1006); // terminated by the agent's watchdog, not closed by the server
  await mgr.waitForSessions(2);
  t.is(agent.reconnects >= 1, true);
});

test('backoff delays grow exponentially, are capped and jittered within [ceiling/2, ceiling]', (t) => {
  const o = { initialMs: 100, maxMs: 1000, factor: 2 };
  t.deepEqual([0, 1, 2, 3, 4, 10].map((a) => backoffDelay(a, o, () => 1)), [100, 200, 400, 800, 1000, 1000]);
  t.deepEqual([0, 1, 2, 3, 4].map((a) => backoffDelay(a, o, () => 0)), [50, 100, 200, 400, 500]);
  t.is(backoffDelay(2, o, () => 0.5), 300);
});

test('after the manager restarts the agent reconnects with backoff and listState shows what it runs', async (t) => {
  const { mgr, agent, driver } = await setup(t);
  agent.start();
  let s = await mgr.waitForSessions(1);
  t.like(await mgr.request(s, 'prepareNetwork', net), { ok: true });
  t.like(await mgr.request(s, 'startVm', { spec: vm('i-2-10-VM') }), { ok: true, result: { name: 'i-2-10-VM', state: 'Running' } });

  const delays: Array<{ attempt: number; delayMs: number }> = [];
  agent.on('reconnecting', (r) => delays.push(r));
  const port = mgr.port;
  const disconnected = once(agent, 'disconnected'); // before close: the event may beat close()'s promise
  await mgr.close();
  await disconnected;
  while (delays.length < 4) await new Promise((r) => setTimeout(r, 10)); // ≥ 4 refused dials
  const mgr2 = new FakeManager({ tokens: new Set(['good']) });
  await mgr2.listen(port);
  t.teardown(() => mgr2.close());
  const connected = await once<{ reconnects: number }>(agent, 'connected');
  t.is(connected.reconnects, 1);
  // attempt n waits within [ceiling/2, ceiling] of min(400, 40·2^n)
  for (const d of delays) {
    const ceiling = Math.min(400, 40 * 2 ** d.attempt);
    t.true(d.delayMs >= ceiling / 2 && d.delayMs <= ceiling, `attempt ${d.attempt}: ${d.delayMs} ms`);
  }
  t.deepEqual(delays.slice(0, 4).map((d) => d.attempt), [0, 1, 2, 3]);

  s = await mgr2.waitForSessions(1);
  const state = await mgr2.request(s, 'listState', {});
  t.true(state.ok);
  const result = (state as { result: { vms: Array<{ name: string; spec: VmSpec }>; networks: Array<{ id: string; vni: number }> } }).result;
  t.deepEqual(result.vms.map((v) => v.name), ['i-2-10-VM']);
  t.deepEqual(result.vms[0]!.spec, vm('i-2-10-VM'));
  t.deepEqual(result.networks.map((n) => [n.id, n.vni]), [['net-1', 5001]]);
  t.is(driver.vms.size, 1);
});

test('bad requests get precise errors and change nothing', async (t) => {
  const { mgr, agent, driver } = await setup(t);
  agent.start();
  const s = await mgr.waitForSessions(1);

  const unknown = await mgr.request(s, 'formatDisk' as never, {});
  t.like(unknown, { ok: false, error: { code: 'BAD_MESSAGE' } });
  t.regex((unknown as { error: { message: string } }).error.message, /unknown op "formatDisk"/);

  const badVni = await mgr.request(s, 'prepareNetwork', { id: 'net-1', kind: 'guest', vni: 16777216 });
  t.like(badVni, { ok: false, error: { code: 'INVALID_ARGUMENT' } });
  t.regex((badVni as { error: { message: string } }).error.message, /\/vni: Expected integer to be less or equal to 16777215/);
  const noVni = await mgr.request(s, 'prepareNetwork', { id: 'net-1', kind: 'guest' });
  t.regex((noVni as { error: { message: string } }).error.message, /\/vni: a guest network needs a VNI/);
  t.is(driver.networks.size, 0);

  t.like(await mgr.request(s, 'prepareNetwork', net), { ok: true });
  const badMac = await mgr.request(s, 'startVm', { spec: vm('i-2-11-VM', '02:00:00:00:00:zz') });
  t.like(badMac, { ok: false, error: { code: 'INVALID_ARGUMENT' } });
  t.regex((badMac as { error: { message: string } }).error.message, /\/spec\/nics\/0\/mac: .*\(got "02:00:00:00:00:zz"\)/);
  const multicast = await mgr.request(s, 'startVm', { spec: vm('i-2-11-VM', '03:00:00:00:00:01') });
  t.regex((multicast as { error: { message: string } }).error.message, /\/nics\/0\/mac: is a multicast MAC/);
  const badName = await mgr.request(s, 'startVm', { spec: vm('i-2-11;reboot') });
  t.regex((badName as { error: { message: string } }).error.message, /\/spec\/name: .*\(got "i-2-11;reboot"\)/);
  const noNet = await mgr.request(s, 'startVm', { spec: { ...vm('i-2-12-VM'), nics: [{ deviceId: 0, mac: '02:00:00:00:00:02', networkId: 'net-9' }] } });
  t.like(noNet, { ok: false, error: { code: 'NETWORK_NOT_PREPARED', message: 'not prepared on this host: nic 0: network net-9' } });
  const badGw = await mgr.request(s, 'startVm', { spec: { ...vm('i-2-12-VM'), nics: [{ deviceId: 0, mac: '02:00:00:00:00:02', networkId: 'net-1', ipv4: { address: '10.0.0.5/24', gateway: '10.0.1.1' } }] } });
  t.regex((badGw as { error: { message: string } }).error.message, /\/nics\/0\/ipv4\/gateway: 10.0.1.1 is outside 10.0.0.5\/24/);
  t.is(driver.vms.size, 0);

  t.like(await mgr.request(s, 'startVm', { spec: vm('i-2-13-VM') }), { ok: true });
  const conflict = await mgr.request(s, 'startVm', { spec: { ...vm('i-2-13-VM'), cpus: 2 } });
  t.like(conflict, { ok: false, error: { code: 'CONFLICT' } });
  t.like(await mgr.request(s, 'releaseNetwork', { id: 'net-1' }), { ok: false, error: { code: 'IN_USE' } });
  t.like(await mgr.request(s, 'destroyVm', { name: 'i-2-13-VM' }), { ok: true, result: { existed: true } });
  t.like(await mgr.request(s, 'destroyVm', { name: 'i-2-13-VM' }), { ok: true, result: { existed: false } });
  t.like(await mgr.request(s, 'releaseNetwork', { id: 'net-1' }), { ok: true, result: { existed: true } });
});

test('simulator: failure rate 1 fails every command with SIMULATED_FAILURE before changing state', async (t) => {
  const driver = new SimulatorDriver({ failureRate: 1, failOps: ['startVm'] });
  await driver.prepareNetwork(net);
  const e = await t.throwsAsync(driver.startVm({ spec: vm('i-1-1-VM') }));
  t.is((e as { code?: string }).code, 'SIMULATED_FAILURE');
  t.is(e.message, 'simulated failure of startVm (failure rate 1)');
  t.is(driver.vms.size, 0);
  t.is(driver.calls.get('startVm'), 1);
});

test('simulator: failure rate 0.5 with a seeded random fails the draws below 0.5 only', async (t) => {
  const draws = [0.1, 0.9, 0.4, 0.6];
  const driver = new SimulatorDriver({ failureRate: 0.5, random: () => draws.shift() ?? 0.99 });
  const results = [];
  for (let i = 0; i < 4; i++) results.push(await driver.prepareNetwork({ ...net, id: `n${i}`, vni: 100 + i }).then(() => 'ok', (err: { code: string }) => err.code));
  t.deepEqual(results, ['SIMULATED_FAILURE', 'ok', 'SIMULATED_FAILURE', 'ok']);
  t.deepEqual([...driver.networks.keys()], ['n1', 'n3']);
});

test('simulator: every command waits the configured delay; invalid input is refused without waiting', async (t) => {
  const t0 = Date.now();
  await new SimulatorDriver({ delayMs: 150 }).prepareNetwork(net);
  t.true(Date.now() - t0 >= 140); // a lower bound: the delay really happens
  const slept: number[] = [];
  const driver = new SimulatorDriver({ delayMs: { min: 100, max: 200 }, random: () => 0.5, sleep: async (ms) => { slept.push(ms); } });
  await driver.prepareNetwork(net);
  await t.throwsAsync(driver.prepareNetwork({ ...net, vni: 0 }), { message: /\/vni: Expected integer to be greater or equal to 1/ });
  t.deepEqual(slept, [150]);
});

test('relay through the agent reaches the (simulated) appliance and comes back', async (t) => {
  const { mgr, agent } = await setup(t);
  agent.start();
  const s = await mgr.waitForSessions(1);
  await mgr.request(s, 'prepareNetwork', net);
  await mgr.request(s, 'startVm', { spec: { ...vm('r-4-VM'), template: { kind: 'system', role: 'router' } } });
  const r = await mgr.request(s, 'relay', { name: 'r-4-VM', payload: { type: 'report', id: 'x1' } });
  t.like(r, { ok: true, result: { payload: { simulated: true, type: 'report', id: 'x1', appliedGeneration: null } } });
  const echoed = await mgr.request(s, 'relay', { name: 'r-4-VM', payload: { type: 'other' } });
  t.like(echoed, { ok: true, result: { payload: { simulated: true, request: { type: 'other' } } } });
  const guest = await mgr.request(s, 'startVm', { spec: vm('i-9-VM', '02:00:00:00:00:09') }).then(() => mgr.request(s, 'relay', { name: 'i-9-VM', payload: {} }));
  t.like(guest, { ok: false, error: { code: 'UNSUPPORTED' } });
});

test('a host that cannot describe itself does not crash the agent; it retries and connects once it can', async (t) => {
  const driver = new SimulatorDriver();
  let failures = 2;
  const facts = driver.hostFacts.bind(driver);
  driver.hostFacts = async () => { if (failures-- > 0) throw new Error('host namespace flt-x does not exist'); return facts(); };
  const { mgr, agent } = await setup(t, { driver });
  const logs: string[] = [];
  (agent as unknown as { opts: { log: (l: string, m: string) => void } }).opts.log = (_l, m) => logs.push(m);
  agent.start();
  await once(agent, 'connected');
  t.is(mgr.sessions.length, 1);
  t.is(logs.filter((l) => l === 'cannot say hello: host namespace flt-x does not exist').length, 2);
});
