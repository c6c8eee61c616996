// Guest VMs of the netns driver as OCI containers run by runc (docs/decisions/0410).
//
// Pure parts (no I/O): `guestOciConfig` compiles a VM spec into runc's config.json, `guestFiles`
// the per-VM files of the guest (inittab, hostname, index page), `cpuLimits` the CPU shares and
// quota of a service offering. Appliers: `templateImageRootfs` (a template from an image store,
// unpacked once per host: the lower layer every VM of it overlays; the built-in guest template's
// recipe is storage/src/guest-template.ts), `Runc` (runc's CLI, argv arrays only), `consoleRelayBinary` (the relay that takes
// the container's pty master from runc and links a host pty to it), `probeUserNamespaces`, `createUsernsNetns` and
// `oomKills` (cgroup v1 or v2).
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, statSync } from 'node:fs';
import { chmod, chown, lchown, mkdir, readFile, readdir, readlink, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { VmSpec } from '@flotilla/protocol/agent';
import { AgentError } from '../errors.ts';
import { run, tryRun } from '../exec.ts';

/** Container root (uid/gid 0) maps to [base, base+size) on the host: an unprivileged range no
 *  host account uses (distributions hand out 100000+ per user through /etc/subuid). */
export interface IdRange { base: number; size: number }
export const DEFAULT_ID_RANGE: IdRange = { base: 1_000_000, size: 65536 };

/** Everything the OCI config of one guest depends on, besides its spec. */
export interface GuestContainerPlan {
  rootfs: string;
  /** Host-owned directory of the VM's metadata files (guestFiles), mounted at /run/flotilla. */
  meta: string;
  netns: string;
  /** Path of the VM's persisted user namespace (absent: no user namespace, see probe). */
  userns?: string;
  ids?: IdRange;
  cgroupsPath: string;
  hostMhz: number;
  /** cgroup v1 memory.memsw present: the limit then covers swap too (no escaping into swap). */
  swapAccounting: boolean;
}

const PERIOD_US = 100_000;

/** CloudStack gives KVM guests cpu shares = vCPUs × MHz; the quota caps a guest at what its
 *  offering promises (cpunumber × cpuspeed, as a fraction of the host's clock), never below 1%. */
export function cpuLimits(cpus: number, cpuMhz: number | undefined, hostMhz: number): { shares: number; quota: number; period: number } {
  const mhz = cpuMhz ?? (hostMhz || 1000);
  const fraction = hostMhz > 0 ? Math.min(1, mhz / hostMhz) : 1;
  return { shares: Math.max(2, Math.min(262144, cpus * mhz)), quota: Math.max(1000, Math.round(cpus * fraction * PERIOD_US)), period: PERIOD_US };
}

const CAPS = [
  // A Docker-like default set, plus what a VM's root needs for its own network (udhcpc sets
  // addresses and routes: NET_ADMIN; raw DHCP sockets and ping: NET_RAW) and SYS_BOOT, so
  // `poweroff` in the guest ends its PID namespace (and only that).
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_SETGID', 'CAP_SETUID', 'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE', 'CAP_NET_RAW', 'CAP_NET_ADMIN', 'CAP_SYS_CHROOT', 'CAP_AUDIT_WRITE', 'CAP_SETFCAP', 'CAP_SYS_BOOT',
];

/** runc's config.json for a guest: its own PID, mount, UTS, IPC (and user) namespaces, the VM's
 *  network namespace joined by path, hostname = the VM's, limits from the offering. */
export function guestOciConfig(spec: VmSpec, plan: GuestContainerPlan): Record<string, unknown> {
  const mem = spec.memoryMb * 1048576;
  const cpu = cpuLimits(spec.cpus, spec.cpuMhz, plan.hostMhz);
  const namespaces: Array<{ type: string; path?: string }> = [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }];
  if (plan.userns) namespaces.push({ type: 'user', path: plan.userns });
  namespaces.push({ type: 'network', path: plan.netns });
  const maps = plan.userns && plan.ids ? [{ containerID: 0, hostID: plan.ids.base, size: plan.ids.size }] : undefined;
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: true,
      user: { uid: 0, gid: 0 },
      args: ['/sbin/init'],
      env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin', 'TERM=vt100', 'HOME=/root'],
      cwd: '/',
      capabilities: { bounding: CAPS, effective: CAPS, permitted: CAPS, inheritable: [], ambient: [] },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 4096, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: plan.rootfs, readonly: false },
    hostname: spec.hostname ?? spec.name,
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
      { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
      // sysfs needs the network namespace to belong to the container's user namespace, which
      // is how the driver creates it (createUsernsNetns).
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
      { destination: '/run', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=755', 'size=16384k'] },
      // The VM's metadata (hostname, resolver, NICs to configure, user data), as a cloud's
      // config drive: the template's /etc/hostname, /etc/hosts, /etc/resolv.conf and web page are
      // links into it. The host writes only there — never into the guest-controlled root
      // filesystem, where a guest's symlink could redirect a host write.
      { destination: '/run/flotilla', type: 'bind', source: plan.meta, options: ['rbind', 'rw', 'nosuid', 'nodev', 'noexec'] },
    ],
    linux: {
      namespaces,
      ...(maps ? { uidMappings: maps, gidMappings: maps } : {}),
      cgroupsPath: plan.cgroupsPath,
      resources: {
        devices: [{ allow: false, access: 'rwm' }],
        memory: { limit: mem, ...(plan.swapAccounting ? { swap: mem } : {}) },
        cpu: { shares: cpu.shares, quota: cpu.quota, period: cpu.period },
        // A fork bomb in one guest must not exhaust the host's pids.
        pids: { limit: 4096 },
      },
      maskedPaths: ['/proc/acpi', '/proc/asound', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list', '/proc/timer_stats', '/proc/sched_debug', '/sys/firmware', '/proc/scsi'],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
  };
}

/** The VM's metadata files (`<vm dir>/meta`, the guest's /run/flotilla). Only validated values
 *  reach them: the hostname is a DNS label (schema), interface names are
 *  derived from device ids, name servers are canonical addresses. */
export function guestFiles(spec: VmSpec, defaultNic: number | undefined, resolvConf: string): Record<string, string | Buffer> {
  const host = spec.hostname ?? spec.name;
  if (!/^[A-Za-z0-9-]{1,63}$/.test(host)) throw new AgentError('INVALID_ARGUMENT', `hostname ${JSON.stringify(host)} is not a DNS label`);
  const files: Record<string, string | Buffer> = {
    hostname: `${host}\n`,
    hosts: `127.0.0.1\tlocalhost\n127.0.1.1\t${host}\n`,
    'resolv.conf': resolvConf,
    'index.html': `${host}\n`,
    // NICs the guest configures itself (rcS starts a DHCP client on each); static ones the host
    // configures, as a cloud's metadata would tell a guest.
    dhcp: spec.nics.filter((n) => !n.ipv4).map((n) => `eth${n.deviceId} ${n.deviceId === defaultNic ? 1 : 0}\n`).join(''),
  };
  if (spec.userData) files['user-data'] = Buffer.from(spec.userData, 'base64');
  return files;
}

/** A DHCP client for a NIC plugged into a running guest (`runc exec`), as rcS starts them. */
export function dhcpArgv(deviceId: number, host: string, isDefault: boolean): string[] {
  return ['/bin/env', `FLT_DEFAULT_ROUTE=${isDefault ? 1 : 0}`, '/bin/udhcpc', '-f', '-i', `eth${deviceId}`, '-s', '/etc/udhcpc.script',
    '-x', `hostname:${host}`, '-t', '5', '-T', '1', '-A', '2'];
}

/** Writes the VM's metadata directory (host-owned, 0755): the guest's root may rewrite only
 *  resolv.conf (its DHCP hook does), nothing else, and cannot add files. */
export async function writeMetaFiles(dir: string, files: Record<string, string | Buffer>, owner: number): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o755 });
  for (const [name, data] of Object.entries(files)) {
    const full = join(dir, name);
    await writeFile(`${full}.tmp`, data, { mode: 0o644 });
    if (name === 'resolv.conf') await chown(`${full}.tmp`, owner, owner);
    await rename(`${full}.tmp`, full);
  }
}

/** Whether this kernel lets root create a user namespace with a mapped range (it can be off:
 *  user.max_user_namespaces = 0, or a hardened kernel). Probed once, by doing it. */
export function probeUserNamespaces(): { ok: boolean; why?: string } {
  const max = Number(readFileSafe('/proc/sys/user/max_user_namespaces') ?? '1');
  if (max === 0) return { ok: false, why: 'user.max_user_namespaces is 0' };
  const r = spawnSync('unshare', ['-U', 'true'], { encoding: 'utf8' });
  if (r.status !== 0) return { ok: false, why: `unshare -U failed: ${(r.stderr || r.error?.message || '').trim()}` };
  return { ok: true };
}

function readFileSafe(p: string): string | undefined { try { return readFileSync(p, 'utf8').trim(); } catch { return undefined; } }

/**
 * The VM's network namespace, owned by a user namespace of its own whose root is the host range
 * `ids` — so the guest's root has CAP_NET_ADMIN over its own NICs (its DHCP client configures
 * them) and over nothing else. Both are persisted by bind mounts: the netns at /run/netns/<ns>
 * (`ip netns attach`, so every `ip -n` keeps working), the userns at `usernsPath`, which runc
 * joins on every (re)boot. A short-lived `unshare -U -n sleep` holds them while that happens.
 */
export async function createUsernsNetns(ns: string, usernsPath: string, ids: IdRange): Promise<void> {
  const holder = spawn('unshare', ['-U', '-n', 'sleep', '30'], { stdio: 'ignore' });
  holder.on('error', () => undefined);
  const pid = holder.pid;
  if (!pid) throw new AgentError('DRIVER_FAILURE', `could not start unshare for ${ns}`);
  try {
    const mine = await readlink('/proc/self/ns/net');
    const deadline = Date.now() + 5000;
    while ((await readlink(`/proc/${pid}/ns/net`).catch(() => mine)) === mine) {
      if (holder.exitCode !== null || Date.now() > deadline) throw new AgentError('DRIVER_FAILURE', `unshare -U -n for ${ns} did not start`);
      await new Promise((r) => setTimeout(r, 2));
    }
    // sleep may not be exec'd yet, but the namespaces exist once the netns link changed.
    await writeFile(`/proc/${pid}/uid_map`, `0 ${ids.base} ${ids.size}\n`);
    await writeFile(`/proc/${pid}/gid_map`, `0 ${ids.base} ${ids.size}\n`);
    closeSync(openSync(usernsPath, 'w'));
    // Independent: both pin a namespace of the holder (which lives until both are done).
    await Promise.all([run(['ip', 'netns', 'attach', ns, String(pid)]), run(['mount', '--bind', `/proc/${pid}/ns/user`, usernsPath])]);
  } finally {
    holder.kill('SIGKILL');
  }
}

/** Removes a bind mount (a persisted namespace, an overlay) and then the file or directory. */
export async function unmountAndRemove(path: string): Promise<void> {
  for (let i = 0; i < 5 && await isMountPoint(path); i++) {
    if (!await tryRun(['umount', path])) await tryRun(['umount', '-l', path]);
  }
  await rm(path, { recursive: true, force: true });
}

export async function isMountPoint(path: string): Promise<boolean> {
  const mounts = await readFile('/proc/self/mountinfo', 'utf8');
  const esc = path.replace(/[ \t\n\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);
  return mounts.split('\n').some((l) => l.split(' ')[4] === esc);
}

/** Number of OOM kills in a container's memory cgroup (v1: memory.oom_control, v2:
 *  memory.events); undefined when the cgroup is gone. */
export function oomKills(cgroup: string): number | undefined {
  const v1 = readFileSafe(`/sys/fs/cgroup/memory${cgroup}/memory.oom_control`);
  const text = v1 ?? readFileSafe(`/sys/fs/cgroup${cgroup}/memory.events`);
  if (text === undefined) return undefined;
  return Number(/^oom_kill (\d+)$/m.exec(text)?.[1] ?? 0);
}

export function swapAccounting(): boolean {
  return existsSync('/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes');
}

/** Every cgroup directory a container of this path may leave behind (v1 controllers, the
 *  unified hierarchy): what "no cgroup left" is checked against. */
export async function cgroupDirs(cgroup: string): Promise<string[]> {
  const out: string[] = [];
  const roots = await readdir('/sys/fs/cgroup').catch(() => [] as string[]);
  for (const r of roots) if (existsSync(`/sys/fs/cgroup/${r}${cgroup}`)) out.push(`/sys/fs/cgroup/${r}${cgroup}`);
  if (existsSync(`/sys/fs/cgroup${cgroup}`)) out.push(`/sys/fs/cgroup${cgroup}`);
  return out;
}

/** runc's CLI with a state root of the agent's own (`--root`), so `runc list` there is exactly
 *  this host's guests. */
export class Runc {
  constructor(readonly root: string, readonly bin = 'runc') {}
  private argv(...args: string[]): string[] { return [this.bin, '--root', this.root, ...args]; }
  create(id: string, bundle: string, consoleSocket: string, pidFile: string): Promise<unknown> {
    return run(this.argv('create', '--bundle', bundle, '--console-socket', consoleSocket, '--pid-file', pidFile, id), { timeoutMs: 30_000 });
  }
  start(id: string): Promise<unknown> { return run(this.argv('start', id)); }
  /** create + start in one command; returns once the init runs (detached). */
  run(id: string, bundle: string, consoleSocket: string, pidFile: string): Promise<unknown> {
    return run(this.argv('run', '--detach', '--bundle', bundle, '--console-socket', consoleSocket, '--pid-file', pidFile, id), { timeoutMs: 30_000 });
  }
  kill(id: string, signal: string, all = false): Promise<boolean> { return tryRun(this.argv('kill', ...(all ? ['--all'] : []), id, signal)); }
  delete(id: string): Promise<boolean> { return tryRun(this.argv('delete', '--force', id)); }
  /** A detached process in a running container (a DHCP client for a hot-plugged NIC). Its stdio
   *  is /dev/null: runc hands its own stdio to the process, and a pipe of ours would both tie the
   *  guest to the agent and keep execFile waiting for the guest process to end. */
  exec(id: string, argv: string[]): Promise<void> {
    const args = this.argv('exec', '--detach', id, ...argv);
    return new Promise((resolve, reject) => {
      const c = spawn(args[0]!, args.slice(1), { stdio: 'ignore' });
      c.on('error', (e) => reject(new AgentError('DRIVER_FAILURE', `${args.join(' ')}: ${e.message}`)));
      c.on('exit', (code) => (code === 0 ? resolve() : reject(new AgentError('DRIVER_FAILURE', `${args.join(' ')}: exit code ${code}`))));
    });
  }
  async state(id: string): Promise<{ status: string; pid: number } | undefined> {
    try { return JSON.parse((await run(this.argv('state', id))).stdout) as { status: string; pid: number }; } catch { return undefined; }
  }
  async list(): Promise<string[]> {
    if (!existsSync(this.root)) return [];
    return (await readdir(this.root, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name);
  }
}

const CONSOLE_SOURCE = fileURLToPath(new URL('../../native/console-relay.c', import.meta.url));
const CONSOLE_BINARY = fileURLToPath(new URL('../../native/build/flt-console-relay', import.meta.url));

/** The console relay (native/console-relay.c), compiled on first use with the host's C compiler
 *  (gcc is in .ci/run). */
export async function consoleRelayBinary(): Promise<string> {
  const src = statSync(CONSOLE_SOURCE);
  const bin = statSync(CONSOLE_BINARY, { throwIfNoEntry: false });
  if (bin && bin.mtimeMs >= src.mtimeMs) return CONSOLE_BINARY;
  await mkdir(dirname(CONSOLE_BINARY), { recursive: true });
  const tmp = `${CONSOLE_BINARY}.${process.pid}`;
  await run(['cc', '-O2', '-Wall', '-o', tmp, CONSOLE_SOURCE]).catch((e: Error) => {
    throw new AgentError('DRIVER_FAILURE', `cannot build the console helper (needs a C compiler): ${e.message}`);
  });
  await rename(tmp, CONSOLE_BINARY);
  return CONSOLE_BINARY;
}

/**
 * A template from an image store, unpacked once per host (docs/decisions/0420): fetched from its
 * signed URL to a temporary file while its sha256 is computed (it must be the one the manager
 * names), unpacked by GNU tar (which refuses members with ".." and strips leading "/"; the
 * storage service has already refused device nodes and escaping links), its owners shifted into
 * the guests' host id range, then moved into place. Concurrent VMs of one template share one
 * fetch. Returns the directory to use as the overlay's lower layer.
 */
export async function templateImageRootfs(dir: string, image: { id: string; url: string; sha256: string }, ids: IdRange | undefined,
  inflight: Map<string, Promise<string>>, hostNs?: string): Promise<string> {
  const rootfs = join(dir, `img-${image.id}-${image.sha256.slice(0, 16)}`);
  if (existsSync(join(rootfs, '.flotilla-template'))) return rootfs;
  let p = inflight.get(rootfs);
  if (!p) {
    p = (async () => {
      await mkdir(dir, { recursive: true });
      const tmp = `${rootfs}.tmp-${process.pid}`;
      const file = `${tmp}.tar`;
      await rm(tmp, { recursive: true, force: true });
      try {
        const hash = createHash('sha256');
        const { Readable, Transform } = await import('node:stream');
        const { pipeline } = await import('node:stream/promises');
        const { createWriteStream } = await import('node:fs');
        const hashing = () => new Transform({ transform(c: Buffer, _e, done) { hash.update(c); done(null, c); } });
        if (hostNs && /^http:\/\/169\.254\.\d+\.\d+(:\d+)?\//.test(image.url)) {
          // The secondary storage VM's control address: on this host's control network, which
          // only the host namespace reaches (the agent itself runs outside it). curl there, its
          // output streamed here; the URL is the manager's (signed), passed as one argv element.
          const { spawn } = await import('node:child_process');
          const curl = spawn('ip', ['netns', 'exec', hostNs, 'curl', '-fsS', '--max-time', '1800', '--', image.url], { stdio: ['ignore', 'pipe', 'pipe'] });
          let err = '';
          curl.stderr.on('data', (d: Buffer) => { err = (err + d.toString()).slice(-500); });
          const exited = new Promise<number>((r) => curl.on('close', (code) => r(code ?? 1)));
          await pipeline(curl.stdout, hashing(), createWriteStream(file));
          const code = await exited;
          if (code !== 0) throw new AgentError('DRIVER_FAILURE', `fetching template ${image.id} from its secondary storage VM: ${err.trim() || `curl exited ${code}`}`);
        } else {
          const res = await fetch(image.url, { signal: AbortSignal.timeout(30 * 60_000) });
          if (!res.ok || !res.body) throw new AgentError('DRIVER_FAILURE', `fetching template ${image.id} from its image store: HTTP ${res.status}`);
          await pipeline(Readable.fromWeb(res.body as import('node:stream/web').ReadableStream), hashing(), createWriteStream(file));
        }
        const got = hash.digest('hex');
        if (got !== image.sha256) throw new AgentError('DRIVER_FAILURE', `template ${image.id}: sha256 ${got} is not the ${image.sha256} the manager expects`);
        await mkdir(tmp, { recursive: true });
        await run(['tar', '-x', '-f', file, '-C', tmp, '--numeric-owner', '--no-overwrite-dir'], { timeoutMs: 30 * 60_000 });
        if (ids) await shiftOwners(tmp, ids);
        await writeFile(join(tmp, '.flotilla-template'), `${image.id}\n${image.sha256}\n`);
        await rm(rootfs, { recursive: true, force: true });
        await rename(tmp, rootfs);
        return rootfs;
      } catch (e) {
        await rm(tmp, { recursive: true, force: true });
        throw e instanceof AgentError ? e : new AgentError('DRIVER_FAILURE', `template ${image.id}: ${(e as Error).message}`);
      } finally {
        await rm(file, { force: true });
        inflight.delete(rootfs);
      }
    })();
    inflight.set(rootfs, p);
  }
  return p;
}

/** uid/gid n inside the template → base + n on the host (ids beyond the range → its nobody),
 *  keeping set-id bits that chown clears. */
async function shiftOwners(path: string, ids: IdRange): Promise<void> {
  const { lstat } = await import('node:fs/promises');
  const map = (n: number) => ids.base + (n < ids.size ? n : Math.min(65534, ids.size - 1));
  const walk = async (p: string): Promise<void> => {
    const st = await lstat(p);
    await lchown(p, map(st.uid), map(st.gid));
    if (!st.isSymbolicLink() && (st.mode & 0o6000)) await chmod(p, st.mode & 0o7777);
    if (st.isDirectory()) for (const e of await readdir(p)) await walk(join(p, e));
  };
  await walk(path);
}
