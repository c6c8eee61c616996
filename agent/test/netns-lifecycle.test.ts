// The netns driver's VM lifecycle on the real kernel: a system VM running an appliance reached
// only through its control socket, the serial console pty, reboot, NIC hot-plug, crash
// detection, and bad input refused with a precise error and nothing created.
import test from 'ava';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { join } from 'node:path';
import { existsSync, realpathSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { kernelTestsUnavailable, execIn } from '@flotilla/tests/lab';
import type { VmSpec } from '@flotilla/protocol/agent';
import { makeHosts, waitFor } from './helpers/hosts.ts';

const skip = kernelTestsUnavailable();
const kernel = skip ? test.skip : test.serial;
if (skip) test('netns lifecycle tests', (t) => t.pass(`skipped: ${skip}`));

const router = (name: string): VmSpec => ({
  name, cpus: 1, memoryMb: 128, template: { kind: 'system', role: 'echo' },
  nics: [{ deviceId: 0, mac: '02:00:0c:00:00:01', networkId: 'net-c', ipv4: { address: '10.20.0.1/24' } }],
});

/** Types a line on a console pty and returns what comes back once `until` shows up. */
function consoleExchange(path: string, line: string, until: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('socat', ['-', `${path},rawer`], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`console: no ${until} in ${JSON.stringify(out)}`)); }, 10_000);
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      if (until.test(out)) { clearTimeout(timer); child.kill('SIGKILL'); resolve(out); }
    });
    child.stdin.write(`${line}\n`);
  });
}

kernel('system VM: appliance inside the VM namespace, relay, console, reboot, crash detection', async (t) => {
  const { hosts: [h] } = await makeHosts(t, 1, { fabric: false });
  const d = h!.driver;
  await d.prepareNetwork({ id: 'net-c', kind: 'control', hostAddress: '10.20.0.254/24' });
  const started = await d.startVm({ spec: router('r-4-VM') });
  t.is(started.state, 'Running');
  t.deepEqual(started.nics.map((n) => [n.deviceId, n.mac, n.addresses]), [[0, '02:00:0c:00:00:01', ['10.20.0.1/24']]]);
  // Idempotent start with the same spec; a different spec is a conflict.
  t.is((await d.startVm({ spec: router('r-4-VM') })).name, 'r-4-VM');
  await t.throwsAsync(d.startVm({ spec: { ...router('r-4-VM'), cpus: 2 } }), { message: 'VM r-4-VM already exists on this host with a different spec; destroy it first' });

  // The relay skips the unsolicited line and returns the reply carrying the request's id; the
  // appliance sees the NIC with the manager's MAC, so it runs inside the VM's namespace.
  const reply = (await d.relay({ name: 'r-4-VM', payload: { type: 'report', id: 'q1' }, timeoutMs: 10_000 })).payload as { id: string; echo: unknown; pid: number; nics: Record<string, string> };
  t.is(reply.id, 'q1');
  t.deepEqual(reply.echo, { type: 'report', id: 'q1' });
  t.is(reply.nics.eth0, '02:00:0c:00:00:01');
  // The host reaches it on the control bridge; the tenant never needs to.
  await execIn(h!.ns, ['ping', '-c', '1', '-W', '2', '10.20.0.1']);

  // Serial console: a pty whose shell lives in the VM.
  const serial = started.consoles.serial!;
  t.regex(realpathSync(serial), /^\/dev\/pts\/[0-9]+$/);
  const out = await consoleExchange(serial, 'cat /sys/class/net/eth0/address; echo done-$((6*7))', /done-42/);
  t.regex(out, /02:00:0c:00:00:01/);
  // …and survives a client detaching.
  t.regex(await consoleExchange(serial, 'echo again-$((1+1))', /again-2/), /again-2/);

  // Reboot: a new appliance process, the same console, the static address back.
  const before = (await readPids(h!.stateDir, 'r-4-VM'));
  const rebooted = await d.rebootVm({ name: 'r-4-VM' });
  const after = (await readPids(h!.stateDir, 'r-4-VM'));
  t.is(rebooted.state, 'Running');
  t.not(after.appliance, before.appliance);
  t.is(after.console, before.console);
  t.deepEqual(rebooted.nics[0]!.addresses, ['10.20.0.1/24']);
  const reply2 = (await d.relay({ name: 'r-4-VM', payload: { id: 'q2' }, timeoutMs: 10_000 })).payload as { pid: number };
  t.is(reply2.pid, after.appliance!);

  // A crashed appliance shows as Error with the reason.
  process.kill(after.appliance!, 'SIGKILL'); // our own child, in our own namespace
  const crashed = await waitFor('Error state', async () => { const s = await d.vmState('r-4-VM'); return s.state === 'Error' ? s : undefined; });
  t.is(crashed.detail, `process appliance (pid ${after.appliance}) exited`);
  await t.throwsAsync(d.relay({ name: 'r-4-VM', payload: { id: 'q3' }, timeoutMs: 500 }), { message: /did not accept a connection|closed its control socket|ECONNREFUSED/ });
  t.deepEqual(await d.stopVm({ name: 'r-4-VM' }), { name: 'r-4-VM', existed: true });
  t.deepEqual((await d.listState({})).vms, []);
});

kernel('NIC hot-plug and unplug on a guest; vmStats; unknown VMs', async (t) => {
  const { hosts: [h] } = await makeHosts(t, 1, { fabric: false });
  const d = h!.driver;
  await d.prepareNetwork({ id: 'n1', kind: 'guest', vni: 10 });
  await d.prepareNetwork({ id: 'n2', kind: 'guest', vni: 11 });
  await d.startVm({ spec: { name: 'i-1-VM', cpus: 1, memoryMb: 64, template: { kind: 'guest' }, nics: [{ deviceId: 0, mac: '02:00:00:00:01:00', networkId: 'n1', ipv4: { address: '10.1.0.5/24', gateway: '10.1.0.1' } }] } });
  t.regex((await execIn(d.names.vmNamespace('i-1-VM'), ['ip', 'route', 'show', 'default'])).stdout, /default via 10\.1\.0\.1 dev eth0/);
  const plugged = await d.plugNic({ name: 'i-1-VM', nic: { deviceId: 1, mac: '02:00:00:00:01:01', networkId: 'n2', ipv4: { address: '10.2.0.5/24' } } });
  t.deepEqual(plugged.nics.map((n) => [n.deviceId, n.mac, n.networkId, n.addresses]), [[0, '02:00:00:00:01:00', 'n1', ['10.1.0.5/24']], [1, '02:00:00:00:01:01', 'n2', ['10.2.0.5/24']]]);
  const veth1 = d.names.hostVeth('i-1-VM', 1);
  const master = JSON.parse((await execIn(h!.ns, ['ip', '-j', 'link', 'show', veth1])).stdout)[0].master;
  t.is(master, d.names.bridge('guest', 11));
  await t.throwsAsync(d.plugNic({ name: 'i-1-VM', nic: { deviceId: 1, mac: '02:00:00:00:01:09', networkId: 'n2' } }), { message: 'VM i-1-VM already has NIC 1 (02:00:00:00:01:01)' });
  const unplugged = await d.unplugNic({ name: 'i-1-VM', mac: '02:00:00:00:01:01' });
  t.deepEqual(unplugged.nics.map((n) => n.deviceId), [0]);
  t.false((await execIn(h!.ns, ['ip', '-j', 'link', 'show'])).stdout.includes(veth1));
  await t.throwsAsync(d.unplugNic({ name: 'i-1-VM', mac: '02:00:00:00:01:01' }), { message: 'VM i-1-VM has no NIC with MAC 02:00:00:00:01:01' });
  t.deepEqual((await d.vmStats({})).stats.map((s) => s.name), ['i-1-VM']);
  await t.throwsAsync(d.rebootVm({ name: 'i-404-VM' }), { message: 'VM i-404-VM is not on this host' });
  t.deepEqual(await d.stopVm({ name: 'i-404-VM' }), { name: 'i-404-VM', existed: false });
});

kernel('bad input is refused with a precise error and creates nothing', async (t) => {
  const { hosts: [h] } = await makeHosts(t, 1);
  const d = h!.driver;
  await d.prepareNetwork({ id: 'n1', kind: 'guest', vni: 20 });
  const snapshot = async () => ({
    links: JSON.parse((await execIn(h!.ns, ['ip', '-j', 'link', 'show'])).stdout).map((l: { ifname: string }) => l.ifname).sort(),
    namespaces: (await readdir('/run/netns')).filter((n) => n.startsWith(d.names.vmPrefix())),
    etc: existsSync('/etc/netns') ? (await readdir('/etc/netns')).filter((n) => n.startsWith(d.names.vmPrefix())) : [],
    files: await readdir(`${h!.stateDir}/vms`),
  });
  const before = await snapshot();
  const vm = (over: Partial<VmSpec> = {}, nic: Record<string, unknown> = {}): VmSpec => ({
    name: 'i-5-VM', cpus: 1, memoryMb: 64, template: { kind: 'guest' },
    nics: [{ deviceId: 0, mac: '02:00:00:00:05:00', networkId: 'n1', ...nic }], ...over,
  } as VmSpec);
  const cases: Array<[Promise<unknown>, string | RegExp]> = [
    [d.startVm({ spec: vm({}, { mac: '02:00:00:00:05' }) }), /^invalid arguments to startVm: \/spec\/nics\/0\/mac: Expected string to match .* \(got "02:00:00:00:05"\)$/],
    [d.startVm({ spec: vm({}, { mac: 'ff:ff:ff:ff:ff:ff' }) }), 'invalid VM i-5-VM: /nics/0/mac: is a multicast MAC (ff:ff:ff:ff:ff:ff)'],
    [d.startVm({ spec: vm({ name: '../../etc' }) }), /^invalid arguments to startVm: \/spec\/name: .*\(got "..\/..\/etc"\)$/],
    [d.startVm({ spec: vm({ name: 'a'.repeat(41) }) }), /\/spec\/name: /],
    [d.startVm({ spec: vm({}, { networkId: 'n1; rm -rf /' }) }), /\/spec\/nics\/0\/networkId: .*\(got "n1; rm -rf \/"\)/],
    [d.startVm({ spec: vm({}, { ipv4: { address: '10.0.0.300/24' } }) }), 'invalid VM i-5-VM: /nics/0/ipv4/address: not an IPv4 address with prefix length 1-32 (got "10.0.0.300/24")'],
    [d.startVm({ spec: vm({}, { networkId: 'n9' }) }), 'not prepared on this host: nic 0: network n9'],
    [d.startVm({ spec: vm({ template: { kind: 'system', role: 'rootshell' } }) }), "appliance role rootshell is not on this host's allow-list (echo, linked, gone)"],
    [d.startVm({ spec: vm({ template: { kind: 'system', role: 'gone' } }) }), 'appliance role gone is not installed on this host (missing /nonexistent/appliance.mjs)'],
    [d.prepareNetwork({ id: 'n2', kind: 'guest', vni: 0 }), 'invalid arguments to prepareNetwork: /vni: Expected integer to be greater or equal to 1'],
    [d.prepareNetwork({ id: 'n2', kind: 'guest', vni: 16777216 }), 'invalid arguments to prepareNetwork: /vni: Expected integer to be less or equal to 16777215'],
    [d.prepareNetwork({ id: 'n2', kind: 'guest', vni: 21, peers: ['10.99.0.2', '010.1.1.1'] }), 'invalid network: /peers/1: not an IP address (got "010.1.1.1")'],
    [d.prepareNetwork({ id: 'n2', kind: 'guest', vni: 20 }), /^bridge flt-\w{4}g14 \(guest VNI 20\) already belongs to network n1$/],
    [d.prepareNetwork({ id: 'n2', kind: 'public', uplinkInterface: 'nosuch0' }), /^uplink interface nosuch0 does not exist on host /],
    [d.unplugNic({ name: 'i-5-VM', mac: '01:00:5e:00:00:01' }), 'invalid arguments to unplugNic: /mac: is a multicast MAC (01:00:5e:00:00:01)'],
  ];
  for (const [p, message] of cases) {
    const e = await t.throwsAsync(p);
    if (typeof message === 'string') t.is(e?.message, message); else t.regex(e?.message ?? '', message);
  }
  t.deepEqual(await snapshot(), before);

  // A failure half-way (the host veth name is taken by something else) is rolled back; the
  // squatter, not ours, stays.
  const squatter = d.names.hostVeth('i-5-VM', 0);
  await execIn(h!.ns, ['ip', 'link', 'add', squatter, 'type', 'bridge']);
  const e = await t.throwsAsync(d.startVm({ spec: vm() }));
  t.is((e as { code?: string }).code, 'DRIVER_FAILURE');
  t.regex(e!.message, /File exists/);
  await execIn(h!.ns, ['ip', 'link', 'del', squatter]);
  t.deepEqual(await snapshot(), before);
  // Nor a host-side process: the guest's console relay of the rolled-back start is gone too.
  const fsp = await import('node:fs/promises');
  const relays = [];
  for (const p of (await fsp.readdir('/proc')).filter((x) => /^\d+$/.test(x))) {
    const cmd = await fsp.readFile(`/proc/${p}/cmdline`, 'utf8').catch(() => '');
    if (cmd.includes('flt-console-relay') && cmd.includes(h!.stateDir)) relays.push(cmd.replace(/\0/g, ' '));
  }
  t.deepEqual(relays, [], 'no console relay of this host is left running');
});

async function readPids(stateDir: string, vm: string): Promise<Record<string, number>> {
  const { readFile } = await import('node:fs/promises');
  return JSON.parse(await readFile(`${stateDir}/vms/${vm}/pids.json`, 'utf8'));
}

kernel('the default allow-list starts the real router appliance, reached only through the relay', async (t) => {
  const { hosts: [h] } = await makeHosts(t, 1, { fabric: false });
  // Same host, but the driver's default allow-list (router → routers/src/main.ts --control … --state-dir …).
  const { NetnsDriver } = await import('../src/drivers/netns.ts');
  const d = new NetnsDriver({ hostNamespace: h!.ns, hostTag: h!.driver.names.tag, stateDir: h!.stateDir });
  await d.prepareNetwork({ id: 'ctl', kind: 'control' });
  const s = await d.startVm({ spec: { name: 'r-7-VM', cpus: 1, memoryMb: 256, template: { kind: 'system', role: 'router' }, nics: [{ deviceId: 0, mac: '02:00:00:00:07:01', networkId: 'ctl' }] } });
  t.is(s.state, 'Running');
  const reply = (await d.relay({ name: 'r-7-VM', payload: { type: 'report', id: 'rep-1' }, timeoutMs: 30_000 })).payload;
  t.like(reply, { type: 'report', id: 'rep-1', appliedGeneration: null });
  // The appliance's process lives in the VM's namespace, and goes with it.
  t.deepEqual(await d.destroyVm({ name: 'r-7-VM' }), { name: 'r-7-VM', existed: true });
  t.false(existsSync(`/run/netns/${d.names.vmNamespace('r-7-VM')}`));
});

kernel('a public network enslaves the operator uplink, carries traffic, and on release leaves the uplink in place', async (t) => {
  const { lab, hosts: [h] } = await makeHosts(t, 1, { fabric: false });
  const d = h!.driver;
  const uplink = await lab.netns('upl');
  await lab.veth(uplink, 'eth0', h!.ns, 'upl0');
  await lab.exec(uplink, ['ip', 'addr', 'add', '203.0.113.1/24', 'dev', 'eth0']);
  const pub = await d.prepareNetwork({ id: 'public-1', kind: 'public', uplinkInterface: 'upl0' });
  t.like(pub, { kind: 'public', bridge: d.names.bridge('public'), mtu: 1500 });
  await d.startVm({ spec: { name: 'r-9-VM', cpus: 1, memoryMb: 64, template: { kind: 'guest' }, nics: [{ deviceId: 0, mac: '02:00:00:00:09:01', networkId: 'public-1', ipv4: { address: '203.0.113.10/24', gateway: '203.0.113.1' } }] } });
  t.is((await lab.exec(uplink, ['curl', '-sS', '--max-time', '5', 'http://203.0.113.10/'])).stdout, 'r-9-VM\n');
  await d.destroyVm({ name: 'r-9-VM' });
  t.deepEqual(await d.releaseNetwork({ id: 'public-1' }), { id: 'public-1', existed: true });
  const upl = JSON.parse((await execIn(h!.ns, ['ip', '-j', 'link', 'show', 'upl0'])).stdout)[0];
  t.is(upl.ifname, 'upl0');
  t.is(upl.master, undefined);
  t.deepEqual(await d.releaseNetwork({ id: 'public-1' }), { id: 'public-1', existed: false });
});

kernel('a stray namespace entry that cannot be entered is listed as Error and destroyed', async (t) => {
  const { hosts: [h] } = await makeHosts(t, 1, { fabric: false });
  const d = h!.driver;
  const ns = d.names.vmNamespace('broken-1');
  // Made inside another mount namespace, the entry outlives its mount: a file that is no namespace.
  await execIn(h!.ns, ['ip', 'netns', 'add', ns]);
  t.teardown(() => execIn(h!.ns, ['ip', 'netns', 'del', ns]).catch(() => undefined));
  const state = await d.listState({});
  t.is(state.vms.length, 1);
  t.like(state.vms[0], { name: 'broken-1', state: 'Error' });
  t.regex(state.vms[0]!.detail!, /^namespace unusable: /);
  t.deepEqual(await d.destroyVm({ name: 'broken-1' }), { name: 'broken-1', existed: true });
  t.false(existsSync(`/run/netns/${ns}`));
});

kernel('appliance state kept under a stateKey outlives the VM until releaseState', async (t) => {
  const { hosts: [h] } = await makeHosts(t, 1, { fabric: false });
  const d = h!.driver;
  await d.prepareNetwork({ id: 'net-c', kind: 'control', hostAddress: '10.20.0.254/24' });
  const kept = `${h!.stateDir}/kept/net-c`;
  await d.startVm({ spec: { ...router('r-8-VM'), stateKey: 'net-c' } });
  await waitFor('the appliance writes its state', async () => (existsSync(`${kept}/boots`) ? true : undefined));
  await d.destroyVm({ name: 'r-8-VM' });
  t.true(existsSync(`${kept}/boots`), 'the state survives the VM');
  // A re-created appliance of the same key (another name, as after re-creation) finds it.
  await d.startVm({ spec: { ...router('r-9-VM'), stateKey: 'net-c' } });
  await waitFor('the second boot is recorded', async () => ((await readFile(`${kept}/boots`, 'utf8')).trim().split('\n').length === 2 ? true : undefined));
  await d.destroyVm({ name: 'r-9-VM' });
  // Without a key, state dies with the VM.
  await d.startVm({ spec: router('r-10-VM') });
  await d.destroyVm({ name: 'r-10-VM' });
  t.deepEqual(await readdir(`${h!.stateDir}/kept`), ['net-c']);
  t.deepEqual(await d.releaseState({ stateKey: 'net-c' }), { stateKey: 'net-c', existed: true });
  t.false(existsSync(kept));
  t.deepEqual(await d.releaseState({ stateKey: 'net-c' }), { stateKey: 'net-c', existed: false });
  await t.throwsAsync(d.releaseState({ stateKey: '../etc' }), { message: /stateKey/ });
});

kernel('a system VM with {manager} gets a link to the manager\'s address: reachable from inside it, its death the VM\'s Error, gone with the VM', async (t) => {
  const { hosts: [h] } = await makeHosts(t, 1, { fabric: false });
  const d = h!.driver;
  // The "manager": a TCP server on loopback in this (the agent's) namespace.
  const server = net.createServer((c) => { c.end('hello-from-manager\n'); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => server.close());
  const port = (server.address() as net.AddressInfo).port;
  const spec: VmSpec = { ...router('v-7-VM'), template: { kind: 'system', role: 'linked' } };
  await d.prepareNetwork({ id: 'net-c', kind: 'control', hostAddress: '10.20.0.254/24' });
  await t.throwsAsync(d.startVm({ spec }), { message: /link to the manager/ }, 'refused before anything exists without the manager\'s URL');
  t.false((await d.listState({})).vms.some((v) => v.name === 'v-7-VM'));
  d.setManagerUrl(`ws://127.0.0.1:${port}/agent`);
  t.is((await d.startVm({ spec })).state, 'Running');
  const sock = join(d.stateDir, 'vms', 'v-7-VM', 'manager.sock');
  // From inside the VM's namespace (where its appliance runs), by path.
  const got = await execIn(d.names.vmNamespace('v-7-VM'), ['socat', '-u', `UNIX-CONNECT:${sock}`, '-']);
  t.is(got.stdout.trim(), 'hello-from-manager');
  const pids = JSON.parse(await readFile(join(d.stateDir, 'vms', 'v-7-VM', 'pids.json'), 'utf8')) as Record<string, number>;
  t.truthy(pids.link);
  // A reboot keeps the link.
  await d.rebootVm({ name: 'v-7-VM' });
  t.is((await execIn(d.names.vmNamespace('v-7-VM'), ['socat', '-u', `UNIX-CONNECT:${sock}`, '-'])).stdout.trim(), 'hello-from-manager');
  // The link's death is the VM's Error (the manager re-creates it).
  process.kill(pids.link!, 'SIGKILL');
  const st = await waitFor('the VM in Error', async () => { const s = await d.vmState('v-7-VM'); return s.state === 'Error' ? s : undefined; }, 10_000);
  t.regex(st.detail ?? '', /process link \(pid \d+\) exited/);
  // Destroy: the link (restarted by a new start) goes with the VM.
  await d.destroyVm({ name: 'v-7-VM' });
  await d.startVm({ spec });
  const again = JSON.parse(await readFile(join(d.stateDir, 'vms', 'v-7-VM', 'pids.json'), 'utf8')) as Record<string, number>;
  t.true(existsSync(`/proc/${again.link}`));
  await d.destroyVm({ name: 'v-7-VM' });
  await waitFor('the link gone', async () => (existsSync(`/proc/${again.link}`) && !(await readFile(`/proc/${again.link}/stat`, 'utf8').catch(() => '')).includes(') Z') ? undefined : true), 5000);
  t.false(existsSync(sock));
});
