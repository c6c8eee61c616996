// The built-in guest template (I/O): a busybox root filesystem (Debian's `busybox` or
// `busybox-static`, no internet needed) that boots with busybox init, asks DHCP on each NIC
// listed by its metadata, and serves its metadata's index page on port 80.
//
// Every image store builds it at its first start (`guestTemplateTar`, then the store's own
// intake, the path of any upload: counted, hashed, TAR-checked) under the fixed id
// GUEST_TEMPLATE_ID, and hosts fetch it from the store like any registered template. A host in
// a zone without an image store builds the same tree itself (`buildGuestTemplate`).
import { execFile, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { chmod, copyFile, lchown, mkdir, mkdtemp, readdir, readlink, realpath, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

/** The built-in guest template's id (the templates row the manager seeds, and its file in every image store). */
export const GUEST_TEMPLATE_ID = '3b1b2a6e-0000-4000-8000-00000000a001';

/** The busybox a template is built from: FLT_GUEST_BUSYBOX, else Debian's. */
export function findBusybox(env: NodeJS.ProcessEnv = process.env): string {
  return env.FLT_GUEST_BUSYBOX ?? ['/usr/bin/busybox', '/bin/busybox'].find((p) => existsSync(p)) ?? 'busybox';
}

/** What the built tree depends on (busybox itself and the recipe): a store rebuilds its copy
 *  when this changes, a host keys its own build by it. */
export async function guestRecipeStamp(busybox: string): Promise<string> {
  const bin = await realpath(busybox);
  return createHash('sha256').update(`${bin}\n${statSync(bin).size}\n${RCS}\n${INITTAB}\n${UDHCPC_SCRIPT}\nv1`).digest('hex').slice(0, 12);
}

/** The template as a GNU tarball at `out` (owners 0: a host shifts them into its guests' id range). */
export async function guestTemplateTar(out: string, opts: { busybox: string; files?: Record<string, string | Buffer> }): Promise<void> {
  const work = await mkdtemp(join(dirname(out), '.guest-build-'));
  try {
    const root = await buildGuestTemplate(work, { busybox: opts.busybox, owner: 0 });
    await rm(join(root, '.flotilla-template'), { force: true });
    for (const [path, data] of Object.entries(opts.files ?? {})) {
      await mkdir(dirname(join(root, path)), { recursive: true });
      await writeFile(join(root, path), data);
    }
    await promisify(execFile)('tar', ['-C', root, '--owner=0', '--group=0', '--numeric-owner', '-cf', out, '.']);
  } finally { await rm(work, { recursive: true, force: true }); }
}

/** udhcpc hook run inside the VM, as a distribution's would: applies the lease from the
 *  environment udhcpc passes (every value quoted), the default route and resolv.conf only on the
 *  default NIC (FLT_DEFAULT_ROUTE=1). It is the guest template's /etc/udhcpc.script; the guest's
 *  /etc/resolv.conf links to its metadata file (the agent's guestFiles). */
const UDHCPC_SCRIPT = `#!/bin/sh
# flotilla netns guest: DHCP lease hook for busybox udhcpc
case "$1" in
  deconfig)
    ip -4 addr flush dev "$interface"
    ip link set dev "$interface" up
    ;;
  bound|renew)
    prefix="\${mask:-$subnet}"
    [ "$1" = bound ] && ip -4 addr flush dev "$interface"
    ip addr replace "$ip/$prefix" dev "$interface"
    [ -n "\${mtu:-}" ] && ip link set dev "$interface" mtu "$mtu"
    if [ "\${FLT_DEFAULT_ROUTE:-}" = 1 ]; then
      if [ -n "\${router:-}" ]; then
        set -- $router
        ip route replace default via "$1" dev "$interface"
      fi
      if [ -n "\${dns:-}" ]; then
        { [ -n "\${domain:-}" ] && echo "search $domain"; for s in $dns; do echo "nameserver $s"; done; } > /etc/resolv.conf
      fi
    fi
    ;;
esac
exit 0
`;

const INITTAB = `# flotilla guest (busybox init)
::sysinit:/etc/init.d/rcS
::respawn:/bin/httpd -f -p 80 -h /var/www
# The console: a login shell on the container's own terminal, started again after exit.
console::respawn:-/bin/sh
::ctrlaltdel:/sbin/poweroff
`;

const RCS = `#!/bin/sh
# flotilla guest: early boot (busybox init's sysinit). A DHCP client per NIC listed in
# /run/flotilla/dhcp ("ethN <1 if it carries the default route>"), in the background.
ip link set lo up
if [ -f /run/flotilla/dhcp ]; then
  while read dev def; do
    FLT_DEFAULT_ROUTE="$def" udhcpc -f -i "$dev" -s /etc/udhcpc.script -x "hostname:$(hostname)" -t 5 -T 1 -A 2 >"/var/log/udhcpc-$dev.log" 2>&1 &
  done < /run/flotilla/dhcp
fi
exit 0
`;

/** Builds the guest template's root filesystem once per host (at first start): busybox with
 *  its applets as symlinks, plus its shared libraries when it is not static (Debian's `busybox`
 *  is dynamic; `busybox-static` conflicts with it). Owned by the container root's host uid. */
export async function buildGuestTemplate(dir: string, opts: { busybox: string; owner: number }): Promise<string> {
  const bin = await realpath(opts.busybox);
  const stamp = createHash('sha256').update(`${await guestRecipeStamp(bin)}\n${opts.owner}`).digest('hex').slice(0, 12);
  const rootfs = join(dir, `guest-${stamp}`);
  if (existsSync(join(rootfs, '.flotilla-template'))) return rootfs;
  const tmp = `${rootfs}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  for (const d of ['bin', 'etc/init.d', 'dev', 'proc', 'sys', 'run', 'root', 'tmp', 'var/www', 'var/log', 'usr', 'mnt', 'home']) await mkdir(join(tmp, d), { recursive: true });
  await symlink('bin', join(tmp, 'sbin'));
  await symlink('../bin', join(tmp, 'usr/bin'));
  await symlink('../bin', join(tmp, 'usr/sbin'));
  await copyFile(bin, join(tmp, 'bin/busybox'));
  await chmod(join(tmp, 'bin/busybox'), 0o755);
  const applets = spawnSync(bin, ['--list'], { encoding: 'utf8' }).stdout.split('\n').filter((a) => /^[a-z0-9_.[-]+$/.test(a) && a !== 'busybox');
  for (const a of applets) await symlink('busybox', join(tmp, 'bin', a)).catch(() => undefined);
  for (const lib of sharedLibraries(bin)) {
    await mkdir(join(tmp, dirname(lib)), { recursive: true });
    await copyFile(await realpath(lib), join(tmp, lib));
  }
  await writeFile(join(tmp, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n');
  await writeFile(join(tmp, 'etc/group'), 'root:x:0:\ntty:x:5:\nnogroup:x:65534:\n');
  await writeFile(join(tmp, 'etc/shells'), '/bin/sh\n');
  await writeFile(join(tmp, 'etc/profile'), 'export PS1="\\h:\\w\\$ "\n');
  // Links into the VM's metadata mount (guestFiles), so the host never writes into the rootfs.
  for (const [at, to] of [['etc/hostname', 'hostname'], ['etc/hosts', 'hosts'], ['etc/resolv.conf', 'resolv.conf'], ['var/www/index.html', 'index.html']] as const) {
    await symlink(`/run/flotilla/${to}`, join(tmp, at));
  }
  await writeFile(join(tmp, 'etc/init.d/rcS'), RCS, { mode: 0o755 });
  await writeFile(join(tmp, 'etc/inittab'), INITTAB);
  await writeFile(join(tmp, 'etc/udhcpc.script'), UDHCPC_SCRIPT, { mode: 0o755 });
  await writeFile(join(tmp, 'root/README'), 'A flotilla guest: busybox in its own container.\n');
  await chmod(join(tmp, 'tmp'), 0o1777);
  await chmod(join(tmp, 'root'), 0o700);
  await chownTree(tmp, opts.owner);
  await writeFile(join(tmp, '.flotilla-template'), `${bin}\n`);
  await rm(rootfs, { recursive: true, force: true });
  await rename(tmp, rootfs);
  return rootfs;
}

/** The libraries a dynamic executable loads (ldd's absolute paths); none for a static one. */
function sharedLibraries(bin: string): string[] {
  const r = spawnSync('ldd', [bin], { encoding: 'utf8' });
  if (r.status !== 0) return []; // "not a dynamic executable"
  return [...r.stdout.matchAll(/(\/[^\s]+) \(0x[0-9a-f]+\)/g)].map((m) => m[1]!);
}

async function chownTree(path: string, id: number): Promise<void> {
  await lchown(path, id, id);
  const st = statSync(path, { throwIfNoEntry: false });
  if (!st?.isDirectory() || (await readlink(path).then(() => true, () => false))) return;
  for (const e of await readdir(path)) await chownTree(join(path, e), id);
}
