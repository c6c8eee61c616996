// Agent loss on the real kernel: the agent CLI (a real process, netns driver) is killed; its VMs
// keep running; a restarted agent reconnects, answers listState from what the kernel holds, and
// the manager (here the stand-in) reconciles: the VM that should run but does not is started,
// the stray is destroyed.
import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { kernelTestsUnavailable, execIn } from '@flotilla/tests/lab';
import type { HostState, VmSpec } from '@flotilla/protocol/agent';
import { FakeManager } from './helpers/fake-manager.ts';
import { makeHosts } from './helpers/hosts.ts';

const skip = kernelTestsUnavailable();
const kernel = skip ? test.skip : test.serial;
if (skip) test('agent restart tests', (t) => t.pass(`skipped: ${skip}`));

const execFileP = promisify(execFile);
const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const guest = (name: string, mac: string): VmSpec => ({
  name, cpus: 1, memoryMb: 64, template: { kind: 'guest' }, nics: [{ deviceId: 0, mac, networkId: 'net-r', ipv4: { address: `10.30.0.${mac.slice(-1)}/24` } }],
});

kernel('a killed agent restarts, reports its VMs and strays, and the manager reconciles', async (t) => {
  const { hosts: [h] } = await makeHosts(t, 1, { fabric: false });
  const d = h!.driver;
  const mgr = new FakeManager({ tokens: new Set(['tok-1']), heartbeatIntervalMs: 200 });
  await mgr.listen();
  t.teardown(() => mgr.close());
  const children: ChildProcess[] = [];
  t.teardown(() => { for (const c of children) if (c.exitCode === null) c.kill('SIGKILL'); });
  const startAgent = () => {
    const c = spawn(process.execPath, ['--import', 'tsx', MAIN, '--manager', mgr.url, '--driver', 'netns', '--host-name', 'h1',
      '--host-namespace', h!.ns, '--host-tag', d.names.tag, '--state-dir', h!.stateDir], { env: { ...process.env, FLT_AGENT_TOKEN: 'tok-1' }, stdio: 'ignore' });
    children.push(c);
    return c;
  };

  const first = startAgent();
  let s = await mgr.waitForSessions(1);
  t.like(s.hello, { hostName: 'h1', hypervisor: 'LXC' });
  t.like(await mgr.request(s, 'prepareNetwork', { id: 'net-r', kind: 'guest', vni: 300 }), { ok: true });
  t.like(await mgr.request(s, 'startVm', { spec: guest('vm-1', '02:00:00:00:00:01') }), { ok: true, result: { state: 'Running' } });

  first.kill('SIGKILL');
  await new Promise((r) => first.once('exit', r));
  // The guest outlives its agent.
  t.is((await execIn(d.names.vmNamespace('vm-1'), ['curl', '-sS', '--max-time', '5', 'http://10.30.0.1/'])).stdout, 'vm-1\n');
  // While the agent is down, a leftover appears (e.g. a VM the manager has since moved away).
  const strayNs = d.names.vmNamespace('stray-1');
  await execFileP('ip', ['netns', 'add', strayNs]);
  t.teardown(() => execFileP('ip', ['netns', 'del', strayNs]).catch(() => undefined));

  startAgent();
  s = await mgr.waitForSessions(2);
  const listed = await mgr.request(s, 'listState', {});
  t.true(listed.ok, JSON.stringify(listed));
  const state = (listed as { result: HostState }).result;
  t.deepEqual(state.vms.map((v) => [v.name, v.state, v.spec?.name]), [['stray-1', 'Error', undefined], ['vm-1', 'Running', 'vm-1']]);
  t.deepEqual(state.networks.map((n) => [n.id, n.vni]), [['net-r', 300]]);

  // Reconcile as the manager does: desired {vm-1, vm-2}; what runs and is desired stays.
  const desired = [guest('vm-1', '02:00:00:00:00:01'), guest('vm-2', '02:00:00:00:00:02')];
  for (const spec of desired) t.like(await mgr.request(s, 'startVm', { spec }), { ok: true, result: { name: spec.name, state: 'Running' } });
  for (const vm of state.vms) if (!desired.some((x) => x.name === vm.name)) t.like(await mgr.request(s, 'destroyVm', { name: vm.name }), { ok: true, result: { existed: true } });

  const after = (await mgr.request(s, 'listState', {})) as { result: HostState };
  t.deepEqual(after.result.vms.map((v) => [v.name, v.state]), [['vm-1', 'Running'], ['vm-2', 'Running']]);
  t.false(existsSync(`/run/netns/${d.names.vmNamespace('stray-1')}`));
  t.is((await execIn(d.names.vmNamespace('vm-1'), ['curl', '-sS', '--max-time', '5', 'http://10.30.0.2/'])).stdout, 'vm-2\n');
});

kernel('the CLI exits with a precise error for a refused token and for bad options', async (t) => {
  const mgr = new FakeManager({ tokens: new Set(['good']) });
  await mgr.listen();
  t.teardown(() => mgr.close());
  const runCli = (args: string[], env: Record<string, string> = {}) => new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const c = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    c.stderr!.on('data', (b: Buffer) => { stderr += b.toString(); });
    c.on('exit', (code) => resolve({ code, stderr }));
  });
  const refused = await runCli(['--manager', mgr.url, '--driver', 'simulator'], { FLT_AGENT_TOKEN: 'bad' });
  t.is(refused.code, 3);
  t.regex(refused.stderr, /refused by the manager: UNKNOWN_TOKEN: unknown agent token/);
  const noNs = await runCli(['--manager', mgr.url, '--driver', 'netns', '--token', 'good']);
  t.is(noNs.code, 2);
  t.regex(noNs.stderr, /--host-namespace is required with --driver netns/);
  const badDriver = await runCli(['--manager', mgr.url, '--driver', 'xen', '--token', 'good']);
  t.regex(badDriver.stderr, /--driver must be netns, simulator or kvm \(got xen\)/);
  t.is(mgr.sessions.length, 0);
});
