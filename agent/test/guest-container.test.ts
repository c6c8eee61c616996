// Guest VMs of the netns driver as OCI containers run by the real runc, on the real kernel:
// own PID/mount/UTS/IPC (and user) namespaces in the VM's network namespace, hostname = VM name,
// a root filesystem that is not the host's, the console as the container's own terminal, the
// offering's memory and CPU limits (an OOM stops that VM only), reboot on the same disk, an
// agent restart, and destroy leaving no runc state, mount, cgroup, namespace or process.
import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { kernelTestsUnavailable, execIn } from '@flotilla/tests/lab';
import type { VmSpec } from '@flotilla/protocol/agent';
import { NetnsDriver } from '../src/drivers/netns.ts';
import { cgroupDirs, probeUserNamespaces } from '../src/drivers/container.ts';
import { makeHosts, waitFor, type TestHost } from './helpers/hosts.ts';

const skip = kernelTestsUnavailable();
const kernel = skip ? test.skip : test.serial;
if (skip) test('guest container tests', (t) => t.pass(`skipped: ${skip}`));

const guest = (name: string, last: number, over: Partial<VmSpec> = {}): VmSpec => ({
  name, cpus: 1, cpuMhz: 500, memoryMb: 64, template: { kind: 'guest' },
  nics: [{ deviceId: 0, mac: `02:00:1c:00:00:${last.toString(16).padStart(2, '0')}`, networkId: 'gn', ipv4: { address: `10.31.0.${last}/24`, gateway: '10.31.0.254' } }],
  ...over,
});

/** Types a line on a console pty and returns what comes back once `until` shows up. */
function consoleExchange(path: string, line: string, until: RegExp, timeoutMs = 15_000, signal?: AbortSignal): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('socat', ['-', `${path},rawer`], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    signal?.addEventListener('abort', () => { clearTimeout(timer); child.kill('SIGKILL'); resolve(out); });
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`console: no ${until} in ${JSON.stringify(out)}`)); }, timeoutMs);
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      if (until.test(out)) { clearTimeout(timer); child.kill('SIGKILL'); resolve(out); }
    });
    child.stdin.write(`${line}\n`);
  });
}

const curl = async (h: TestHost, ip: string) => (await execIn(h.ns, ['curl', '-sS', '--max-time', '5', `http://${ip}/`])).stdout;
const initPid = async (h: TestHost, vm: string) => (JSON.parse(await readFile(`${h.stateDir}/vms/${vm}/pids.json`, 'utf8')) as { init: number }).init;
const nsOf = async (pid: number | 'self', kind: string) => (await import('node:fs/promises')).readlink(`/proc/${pid}/ns/${kind}`);
function alive(pid: number): boolean {
  try { const st = readFileSync(`/proc/${pid}/stat`, 'utf8'); return st.slice(st.lastIndexOf(')') + 2, st.lastIndexOf(')') + 3) !== 'Z'; } catch { return false; }
}

async function prepare(t: ExecutionContext): Promise<TestHost> {
  const { hosts: [h] } = await makeHosts(t, 1, { fabric: false });
  await h!.driver.prepareNetwork({ id: 'gn', kind: 'guest', vni: 3100, hostAddress: '10.31.0.254/24' });
  return h!;
}

kernel('a guest VM is a runc container: PID 1 is its init, hostname = VM name, its own root; the console is its terminal', async (t) => {
  const h = await prepare(t);
  const d = h.driver;
  const hostOnly = `/root/flt-host-only-${randomBytes(4).toString('hex')}`;
  await writeFile(hostOnly, 'host\n');
  t.teardown(() => rm(hostOnly, { force: true }));

  const st = await d.startVm({ spec: guest('web-one', 5) });
  t.is(st.state, 'Running');
  t.is(await curl(h, '10.31.0.5'), 'web-one\n');

  // A container of runc's, in this agent's runc root.
  const runc = JSON.parse((await execIn(h.ns, ['runc', '--root', `${h.stateDir}/runc`, 'state', 'web-one'])).stdout) as { status: string; pid: number };
  t.is(runc.status, 'running');
  const init = await initPid(h, 'web-one');
  t.is(runc.pid, init);
  // Its init is PID 1 of a PID namespace of its own; mount, UTS, IPC are its own too, and its
  // network namespace is the VM's.
  const nspid = /^NSpid:\s+(.*)$/m.exec(await readFile(`/proc/${init}/status`, 'utf8'))![1]!.trim().split(/\s+/);
  t.is(nspid.at(-1), '1');
  t.is(realpathSync(`/proc/${init}/exe`).endsWith('/bin/busybox'), true);
  t.regex(await readFile(`/proc/${init}/cmdline`, 'utf8'), /^init/); // busybox init names itself "init"
  for (const kind of ['pid', 'mnt', 'uts', 'ipc']) t.not(await nsOf(init, kind), await nsOf('self', kind), `${kind} namespace`);
  t.is(await nsOf(init, 'net'), `net:[${statSync(`/run/netns/${d.names.vmNamespace('web-one')}`).ino}]`);
  // User namespace where the kernel allows one (this machine's does; the README says when not).
  const iso = d.guestIsolation()!;
  t.is(iso.userNamespace, probeUserNamespaces().ok);
  if (iso.userNamespace) {
    t.not(await nsOf(init, 'user'), await nsOf('self', 'user'));
    t.deepEqual((await readFile(`/proc/${init}/uid_map`, 'utf8')).trim().split(/\s+/), ['0', String(iso.ids!.base), String(iso.ids!.size)]);
    // Its root is an unprivileged uid on the host.
    t.is(/^Uid:\s+(\d+)/m.exec(await readFile(`/proc/${init}/status`, 'utf8'))![1], String(iso.ids!.base));
  } else t.log(`no user namespace: ${iso.why}`);
  // Its root filesystem is not the host's: the host-only file is not there, the guest's is.
  t.false(existsSync(`/proc/${init}/root${hostOnly}`));
  t.true(existsSync(`/proc/${init}/root/root/README`));

  // The console is the container's own terminal: the shell there is in the guest.
  const serial = st.consoles.serial!;
  t.regex(realpathSync(serial), /^\/dev\/pts\/[0-9]+$/);
  const out = await consoleExchange(serial, 'echo "n=$(hostname) pid=$$ init=$(cat /proc/1/cmdline | tr "\\0" " ")"; ls /root; echo end-$((6*7))', /end-42/);
  t.regex(out, /n=web-one pid=\d+ init=init/);
  t.true(Number(/pid=(\d+)/.exec(out)![1]) < 100); // a PID of the guest's namespace
  t.regex(out, /README/);
  t.false(out.includes(hostOnly.slice('/root/'.length)));
  // Output nobody reads does not block the guest (dropped, as on a serial line nobody listens
  // to): 200 KB to the console with no client attached, then the shell still answers.
  const writer = spawn('socat', ['-', `${serial},rawer`], { stdio: ['pipe', 'ignore', 'ignore'] });
  writer.stdin.write('yes flotilla-console-fill | head -c 200000\n');
  await new Promise((r) => setTimeout(r, 300));
  writer.kill('SIGKILL');
  await new Promise((r) => setTimeout(r, 1500));
  t.regex(await consoleExchange(serial, 'echo alive-$((5+5))', /alive-10/), /alive-10/);
  // No shell on the host: every process attached to the console's terminal is in the container.
  const shells = (await readdir('/proc')).filter((p) => /^\d+$/.test(p) && alive(Number(p)))
    .filter((p) => { try { return readFileSync(`/proc/${p}/cmdline`, 'utf8').startsWith('-/bin/sh'); } catch { return false; } });
  t.true(shells.length >= 1);
  for (const p of shells.filter((p) => { try { return readFileSync(`/proc/${p}/cgroup`, 'utf8').includes(d.cgroupOf('web-one')); } catch { return false; } })) {
    t.is(await nsOf(Number(p), 'pid'), await nsOf(init, 'pid'));
  }

  // The offering's limits: memory, and CPU shares/quota from cpunumber × cpuspeed.
  const cg = d.cgroupOf('web-one');
  if (existsSync(`/sys/fs/cgroup/memory${cg}`)) {
    t.is(Number(await readFile(`/sys/fs/cgroup/memory${cg}/memory.limit_in_bytes`, 'utf8')), 64 * 1048576);
    t.is(Number(await readFile(`/sys/fs/cgroup/cpu${cg}/cpu.shares`, 'utf8')), 500);
    const hostMhz = (await d.hostFacts()).capacity.cpuMhz;
    t.is(Number(await readFile(`/sys/fs/cgroup/cpu${cg}/cpu.cfs_quota_us`, 'utf8')), Math.max(1000, Math.round(Math.min(1, 500 / hostMhz) * 100_000)));
  } else {
    t.is((await readFile(`/sys/fs/cgroup${cg}/memory.max`, 'utf8')).trim(), String(64 * 1048576));
  }

  // A NIC plugged into the running guest gets a DHCP client inside the container (runc exec);
  // unplugging stops it.
  await d.prepareNetwork({ id: 'gn2', kind: 'guest', vni: 3101 });
  const plugged = await d.plugNic({ name: 'web-one', nic: { deviceId: 1, mac: '02:00:1c:00:01:05', networkId: 'gn2' } });
  t.deepEqual(plugged.nics.map((n) => n.deviceId), [0, 1]);
  const dhcp = await waitFor('a DHCP client on eth1', async () => { const p = await d.guestProcesses('web-one', ['udhcpc', '-i', 'eth1']); return p.length ? p : undefined; }, 10_000);
  t.is(dhcp.length, 1);
  t.is(await nsOf(dhcp[0]!, 'pid'), await nsOf(init, 'pid'));
  t.is(await readFile(d.guestMetaPath('web-one', 'dhcp'), 'utf8'), 'eth1 0\n');
  await d.unplugNic({ name: 'web-one', mac: '02:00:1c:00:01:05' });
  t.deepEqual(await d.guestProcesses('web-one', ['udhcpc', '-i', 'eth1']), []);
  t.is(await readFile(d.guestMetaPath('web-one', 'dhcp'), 'utf8'), '');

  // An agent restart (a new driver on the same state) finds it running, console and all.
  const again = new NetnsDriver({ hostNamespace: h.ns, hostTag: d.names.tag, stateDir: h.stateDir, stopGraceMs: 500 });
  const listed = (await again.listState({})).vms;
  t.deepEqual(listed.map((v) => [v.name, v.state]), [['web-one', 'Running']]);
  t.regex(await consoleExchange(listed[0]!.consoles.serial!, 'echo back-$((2+2))', /back-4/), /back-4/);
});

kernel('out of memory: the guest is OOM-killed in its container and reported Stopped; its neighbour keeps answering', async (t) => {
  const h = await prepare(t);
  const d = h.driver;
  const small = await d.startVm({ spec: guest('small', 7, { memoryMb: 32 }) });
  await d.startVm({ spec: guest('neighbour', 8) });
  t.is(await curl(h, '10.31.0.7'), 'small\n');
  // A guest process allocating ~100 MB in a 32 MB VM.
  const done = new AbortController();
  const console = consoleExchange(small.consoles.serial!, 'x=$(head -c 100000000 /dev/zero | tr "\\0" x); echo survived-$((1+1))', /survived-2/, 30_000, done.signal);
  const stopped = await waitFor('the VM Stopped', async () => { const s = await d.vmState('small'); return s.state === 'Stopped' ? s : undefined; }, 30_000);
  t.regex(stopped.detail!, /^out of memory: the guest exceeded its 32 MB and was OOM-killed$/);
  t.is((await d.listState({})).vms.find((v) => v.name === 'small')!.state, 'Stopped');
  // The whole VM is stopped, not only the process: nothing of it runs any more.
  await waitFor('the container to be gone', async () => ((await execIn(h.ns, ['ip', 'netns', 'pids', d.names.vmNamespace('small')])).stdout.trim() === '' ? true : undefined), 10_000);
  done.abort();
  t.notRegex(await console, /survived-2/);
  // The neighbour and the host are untouched.
  t.is(await curl(h, '10.31.0.8'), 'neighbour\n');
  t.is((await d.vmState('neighbour')).state, 'Running');
  // stopVm cleans it up (what the manager does on seeing Stopped).
  t.deepEqual(await d.stopVm({ name: 'small' }), { name: 'small', existed: true });
  t.deepEqual((await d.listState({})).vms.map((v) => v.name), ['neighbour']);
});

kernel('reboot keeps the guest disk and address; destroy leaves no container, mount, cgroup, namespace or process', async (t) => {
  const h = await prepare(t);
  const d = h.driver;
  const st = await d.startVm({ spec: guest('disk-vm', 9, { hostname: 'disky' }) });
  t.is(await curl(h, '10.31.0.9'), 'disky\n');
  await consoleExchange(st.consoles.serial!, 'echo kept > /root/mine; sync; echo w-$((3*3))', /w-9/);
  const init1 = await initPid(h, 'disk-vm');
  const rebooted = await d.rebootVm({ name: 'disk-vm' });
  t.is(rebooted.state, 'Running');
  const init2 = await initPid(h, 'disk-vm');
  t.not(init2, init1);
  t.false(alive(init1));
  t.deepEqual(rebooted.nics[0]!.addresses, ['10.31.0.9/24']);
  t.is(await curl(h, '10.31.0.9'), 'disky\n');
  t.regex(await consoleExchange(rebooted.consoles.serial!, 'cat /root/mine; hostname', /kept\s+disky/), /kept/);

  // Everything a guest is made of, before destroy.
  const ns = d.names.vmNamespace('disk-vm');
  const userns = await nsOf(init2, 'user');
  const pidns = await nsOf(init2, 'pid');
  const relay = (await d.hostSidePids('disk-vm'))[0]!;
  t.true(alive(relay));
  t.true((await cgroupDirs(d.cgroupOf('disk-vm'))).length > 0);
  t.true((await readFile('/proc/self/mountinfo', 'utf8')).includes(`${h.stateDir}/vms/disk-vm/rootfs`));

  t.deepEqual(await d.destroyVm({ name: 'disk-vm' }), { name: 'disk-vm', existed: true });
  t.deepEqual(JSON.parse((await execIn(h.ns, ['runc', '--root', `${h.stateDir}/runc`, 'list', '--format', 'json'])).stdout || '[]') ?? [], []);
  t.deepEqual(await cgroupDirs(d.cgroupOf('disk-vm')), []);
  t.false((await readFile('/proc/self/mountinfo', 'utf8')).includes(`${h.stateDir}/vms/disk-vm`));
  t.false(existsSync(`/run/netns/${ns}`));
  t.false(existsSync(`${h.stateDir}/vms/disk-vm`));
  t.false(alive(init2));
  t.false(alive(relay));
  // No process is left in the guest's PID or user namespace: none alive at once, and the exited
  // init (a zombie until the host's init reaps it: runc's parent is gone) soon not even that.
  const inGuest = async (live: boolean) => {
    const left: string[] = [];
    for (const p of (await readdir('/proc')).filter((x) => /^\d+$/.test(x))) {
      if (live && !alive(Number(p))) continue;
      const [pn, un] = await Promise.all([nsOf(Number(p), 'pid').catch(() => ''), nsOf(Number(p), 'user').catch(() => '')]);
      if (pn === pidns || (d.guestIsolation()!.userNamespace && un === userns)) left.push(`${p} ${await readFile(`/proc/${p}/stat`, 'utf8').catch(() => '?')}`);
    }
    return left;
  };
  t.deepEqual(await inGuest(true), []);
  await waitFor('the host init to reap the guest init', async () => ((await inGuest(false)).length === 0 ? true : undefined), 60_000);
  t.deepEqual(await d.destroyVm({ name: 'disk-vm' }), { name: 'disk-vm', existed: false });
});
