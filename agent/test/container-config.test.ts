// The pure half of guest containers (no kernel, no root): the OCI config compiled from a VM spec,
// the CPU limits of an offering, the guest's metadata files. The kernel half is in
// guest-container.test.ts (real runc).
import test from 'ava';
import type { VmSpec } from '@flotilla/protocol/agent';
import { cpuLimits, guestFiles, guestOciConfig } from '../src/drivers/container.ts';

const spec: VmSpec = {
  name: 'i-2-9-VM', hostname: 'web1', cpus: 2, cpuMhz: 1000, memoryMb: 256, template: { kind: 'guest' },
  nics: [
    { deviceId: 0, mac: '02:00:00:00:00:01', networkId: 'n1' },
    { deviceId: 1, mac: '02:00:00:00:00:02', networkId: 'n2', ipv4: { address: '10.0.0.5/24' } },
    { deviceId: 2, mac: '02:00:00:00:00:03', networkId: 'n3' },
  ],
  userData: Buffer.from([0xff, 0x00, 0x41]).toString('base64'),
};
const plan = { rootfs: '/s/vms/x/rootfs', meta: '/s/vms/x/meta', netns: '/run/netns/flt-vm-ab12-x', cgroupsPath: '/flt-vm-ab12-x', hostMhz: 2000, swapAccounting: true };

test('CPU shares = cpus × MHz; quota = cpus × (MHz / host MHz) of a period, capped at the cpus', (t) => {
  t.deepEqual(cpuLimits(2, 1000, 2000), { shares: 2000, quota: 100_000, period: 100_000 });
  t.deepEqual(cpuLimits(1, 500, 2000), { shares: 500, quota: 25_000, period: 100_000 });
  // An offering faster than the host gets whole CPUs, no more.
  t.deepEqual(cpuLimits(4, 3000, 2000), { shares: 12000, quota: 400_000, period: 100_000 });
  // Tiny offerings keep a usable floor; no MHz known: the host's clock.
  t.is(cpuLimits(1, 1, 3000).quota, 1000);
  t.is(cpuLimits(1, 1, 3000).shares, 2);
  t.deepEqual(cpuLimits(1, undefined, 2400), { shares: 2400, quota: 100_000, period: 100_000 });
});

test('OCI config: own pid/ipc/uts/mount namespaces, the VM netns and userns by path, hostname, limits', (t) => {
  const c = guestOciConfig(spec, { ...plan, userns: '/s/vms/x/userns', ids: { base: 1_000_000, size: 65536 } }) as any;
  t.deepEqual(c.linux.namespaces, [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, { type: 'user', path: '/s/vms/x/userns' }, { type: 'network', path: '/run/netns/flt-vm-ab12-x' }]);
  t.deepEqual(c.linux.uidMappings, [{ containerID: 0, hostID: 1_000_000, size: 65536 }]);
  t.deepEqual(c.linux.gidMappings, c.linux.uidMappings);
  t.is(c.hostname, 'web1');
  t.deepEqual(c.root, { path: '/s/vms/x/rootfs', readonly: false });
  t.deepEqual(c.process.args, ['/sbin/init']);
  t.true(c.process.terminal);
  t.deepEqual(c.linux.resources.memory, { limit: 256 * 1048576, swap: 256 * 1048576 });
  t.deepEqual(c.linux.resources.cpu, { shares: 2000, quota: 100_000, period: 100_000 });
  t.is(c.linux.cgroupsPath, '/flt-vm-ab12-x');
  t.true(c.process.capabilities.bounding.includes('CAP_NET_ADMIN'));
  t.false(c.process.capabilities.bounding.includes('CAP_SYS_ADMIN'));
  t.deepEqual(c.mounts.find((m: any) => m.destination === '/run/flotilla'), { destination: '/run/flotilla', type: 'bind', source: '/s/vms/x/meta', options: ['rbind', 'rw', 'nosuid', 'nodev', 'noexec'] });
  // No user namespace (a kernel that refuses them): no mappings, the rest the same.
  const plain = guestOciConfig(spec, { ...plan, swapAccounting: false }) as any;
  t.false(plain.linux.namespaces.some((n: any) => n.type === 'user'));
  t.is(plain.linux.uidMappings, undefined);
  t.deepEqual(plain.linux.resources.memory, { limit: 256 * 1048576 });
  // hostname defaults to the VM name
  t.is((guestOciConfig({ ...spec, hostname: undefined } as unknown as VmSpec, plan) as any).hostname, 'i-2-9-VM');
});

test('guest metadata: hostname, DHCP only on NICs without a static address, default route on the default NIC, user data bytes', (t) => {
  const f = guestFiles(spec, 0, 'nameserver 10.0.0.1\n');
  t.is(f.hostname, 'web1\n');
  t.is(f['index.html'], 'web1\n');
  t.is(f.dhcp, 'eth0 1\neth2 0\n');
  t.is(f['resolv.conf'], 'nameserver 10.0.0.1\n');
  t.deepEqual(f['user-data'], Buffer.from([0xff, 0x00, 0x41]));
  t.is(guestFiles({ ...spec, userData: undefined }, 2, '')['user-data'], undefined);
  t.is(guestFiles(spec, 2, '').dhcp, 'eth0 0\neth2 1\n');
  // Only a DNS label reaches the files (the schema already refuses others; this is the last line).
  t.throws(() => guestFiles({ ...spec, hostname: 'a b' }, 0, ''), { message: 'hostname "a b" is not a DNS label' });
});
