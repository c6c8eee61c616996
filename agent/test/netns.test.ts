// The netns driver on the real kernel, in Lab namespaces: two hosts joined by a fabric bridge,
// guest networks as bridges + VXLAN between them, guests that get their address from a real
// DHCP server (busybox udhcpd) and serve their name over HTTP, isolation between networks, and
// complete cleanup when a VM or network goes.
import test from 'ava';
import { existsSync, readFileSync } from 'node:fs';
import { readFile, writeFile, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { kernelTestsUnavailable, execIn } from '@flotilla/tests/lab';
import type { VmSpec } from '@flotilla/protocol/agent';
import { makeHosts, waitFor, type TestHost } from './helpers/hosts.ts';

const skip = kernelTestsUnavailable();
const kernel = skip ? test.skip : test.serial;
if (skip) test('netns driver tests', (t) => t.pass(`skipped: ${skip}`));

const guest = (name: string, mac: string, networkId: string, ipv4?: { address: string; gateway?: string }): VmSpec => ({
  name, cpus: 1, memoryMb: 64, template: { kind: 'guest' },
  nics: [{ deviceId: 0, mac, networkId, ...(ipv4 ? { ipv4 } : {}) }],
});

/** A pid that exists and is not a zombie (an exited child the agent has not reaped yet). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch { return false; }
}

async function links(ns: string): Promise<Array<{ ifname: string; ifalias?: string; master?: string }>> {
  return JSON.parse((await execIn(ns, ['ip', '-j', 'link', 'show'])).stdout);
}

async function leaseOf(h: TestHost, vm: string): Promise<string> {
  return waitFor(`a DHCP lease for ${vm}`, async () => {
    const s = await h.driver.vmState(vm);
    return s.nics[0]?.addresses.find((a) => a.startsWith('10.10.1.'))?.split('/')[0];
  });
}

kernel('VMs of one network reach each other across hosts over VXLAN; another network cannot; destroy removes everything', async (t) => {
  const rootBefore = await rootNamespace();
  const { lab, hosts: [h1, h2] } = await makeHosts(t, 2);
  const peers = [h1!.fabricIp, h2!.fabricIp];
  for (const h of [h1!, h2!]) {
    const a = await h.driver.prepareNetwork({ id: 'net-a', kind: 'guest', vni: 4097, peers });
    t.deepEqual(a.peers, peers.filter((p) => p !== h.fabricIp)); // own address skipped
    t.is(a.mtu, 1450);
    await h.driver.prepareNetwork({ id: 'net-b', kind: 'guest', vni: 4098, peers });
  }
  // Re-preparing is idempotent.
  t.deepEqual(await h1!.driver.prepareNetwork({ id: 'net-a', kind: 'guest', vni: 4097, peers }),
    { id: 'net-a', kind: 'guest', vni: 4097, bridge: h1!.driver.names.bridge('guest', 4097), peers: [h2!.fabricIp], mtu: 1450 });

  // A DHCP server on network A, attached to host 1's bridge: a namespace of its own.
  const dhcp = await lab.netns('dhcp');
  await lab.veth(dhcp, 'eth0', h1!.ns, 'dhcp0');
  await lab.exec(h1!.ns, ['ip', 'link', 'set', 'dhcp0', 'master', h1!.driver.names.bridge('guest', 4097)]);
  await lab.exec(dhcp, ['ip', 'addr', 'add', '10.10.1.1/24', 'dev', 'eth0']);
  const dir = await mkdtemp('/tmp/flt-udhcpd-');
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'udhcpd.conf'), [
    'start 10.10.1.100', 'end 10.10.1.150', 'interface eth0', `lease_file ${dir}/leases`, `pidfile ${dir}/pid`,
    'option subnet 255.255.255.0', 'option router 10.10.1.1', 'option dns 10.10.1.1', 'option domain flt.test', 'option lease 600', '',
  ].join('\n'));
  await writeFile(join(dir, 'leases'), '');
  lab.spawn(dhcp, ['busybox', 'udhcpd', '-f', join(dir, 'udhcpd.conf')]);

  const a1 = await h1!.driver.startVm({ spec: guest('vm-a1', '02:00:0a:00:00:01', 'net-a') });
  const a2 = await h2!.driver.startVm({ spec: guest('vm-a2', '02:00:0a:00:00:02', 'net-a') });
  await h2!.driver.startVm({ spec: guest('vm-b1', '02:00:0b:00:00:01', 'net-b', { address: '10.10.1.60/24' }) });
  await h1!.driver.startVm({ spec: guest('vm-b2', '02:00:0b:00:00:02', 'net-b', { address: '10.10.1.61/24' }) });
  t.is(a1.state, 'Running');
  t.is(a2.nics[0]!.mac, '02:00:0a:00:00:02');
  const ns = (h: TestHost, vm: string) => h.driver.names.vmNamespace(vm);

  const ip1 = await leaseOf(h1!, 'vm-a1');
  const ip2 = await leaseOf(h2!, 'vm-a2');
  t.not(ip1, ip2);
  // The lease hook applied route and resolver like a real guest's.
  t.regex((await execIn(ns(h2!, 'vm-a2'), ['ip', 'route', 'show', 'default'])).stdout, /default via 10\.10\.1\.1 dev eth0/);
  // (a guest container's /etc/resolv.conf is its metadata file, which its DHCP hook rewrote)
  const resolv = await readFile(h2!.driver.guestMetaPath('vm-a2', 'resolv.conf'), 'utf8');
  t.regex(resolv, /^search flt\.test$/m);
  t.regex(resolv, /^nameserver 10\.10\.1\.1$/m);

  // Same network, different hosts: ping and HTTP on port 80 answering the VM's name.
  await execIn(ns(h1!, 'vm-a1'), ['ping', '-c', '1', '-W', '5', ip2]);
  t.is((await execIn(ns(h1!, 'vm-a1'), ['curl', '-sS', '--max-time', '5', `http://${ip2}/`])).stdout, 'vm-a2\n');
  t.is((await execIn(ns(h2!, 'vm-a2'), ['curl', '-sS', '--max-time', '5', `http://${ip1}/`])).stdout, 'vm-a1\n');
  // Network B works across hosts too (so the failure below is isolation, not a broken network).
  t.is((await execIn(ns(h1!, 'vm-b2'), ['curl', '-sS', '--max-time', '5', 'http://10.10.1.60/'])).stdout, 'vm-b1\n');
  // Same subnet, other network: nothing gets through, either way, on either host.
  const cross = [
    await lab.tryExec(ns(h2!, 'vm-b1'), ['ping', '-c', '2', '-W', '1', ip2]),
    await lab.tryExec(ns(h1!, 'vm-b2'), ['ping', '-c', '2', '-W', '1', ip1]),
    await lab.tryExec(ns(h1!, 'vm-a1'), ['curl', '-sS', '--max-time', '2', 'http://10.10.1.60/']),
  ];
  t.deepEqual(cross.map((r) => r.code !== 0), [true, true, true]);

  // listState: what the manager reconciles against after a reconnect.
  const state = await h2!.driver.listState({});
  t.deepEqual(state.vms.map((v) => [v.name, v.state]), [['vm-a2', 'Running'], ['vm-b1', 'Running']]);
  t.deepEqual(state.networks.map((n) => [n.id, n.vni, n.peers]).sort(), [['net-a', 4097, [h1!.fabricIp]], ['net-b', 4098, [h1!.fabricIp]]]);
  t.truthy(state.vms[0]!.consoles.serial);
  const stats = await h2!.driver.vmStats({ names: ['vm-a2'] });
  t.true(stats.stats[0]!.nics[0]!.rxBytes > 0);
  t.true(stats.stats[0]!.memoryKb > 0);

  // Destroy removes every object of the VM: processes, namespace, host veth, files.
  const vmNs = ns(h2!, 'vm-a2');
  const pids = (await lab.exec(h2!.ns, ['ip', 'netns', 'pids', vmNs])).stdout.trim().split('\n').map(Number);
  t.true(pids.length >= 3); // console, httpd, udhcpc
  const veth = h2!.driver.names.hostVeth('vm-a2', 0);
  t.true((await links(h2!.ns)).some((l) => l.ifname === veth && l.ifalias === 'vm-a2/0'));
  t.deepEqual(await h2!.driver.destroyVm({ name: 'vm-a2' }), { name: 'vm-a2', existed: true });
  t.false(existsSync(`/run/netns/${vmNs}`));
  t.false(existsSync(`/etc/netns/${vmNs}`));
  t.false(existsSync(join(h2!.stateDir, 'vms', 'vm-a2')));
  t.deepEqual((await links(h2!.ns)).filter((l) => l.ifname.startsWith(h2!.driver.names.vethStem('vm-a2'))), []);
  t.deepEqual(pids.filter(alive), []);
  t.deepEqual(await h2!.driver.destroyVm({ name: 'vm-a2' }), { name: 'vm-a2', existed: false });

  // A network with VM NICs is not released; once empty, bridge and VXLAN go.
  await t.throwsAsync(h2!.driver.releaseNetwork({ id: 'net-b' }), { message: /network net-b still has VM NICs on bridge .*\(vm-b1\/0\)/ });
  await h2!.driver.stopVm({ name: 'vm-b1' });
  t.deepEqual(await h2!.driver.releaseNetwork({ id: 'net-b' }), { id: 'net-b', existed: true });
  const left = (await links(h2!.ns)).map((l) => l.ifname);
  t.false(left.includes(h2!.driver.names.bridge('guest', 4098)));
  t.false(left.includes(h2!.driver.names.vxlan(4098)));
  t.true(left.includes(h2!.driver.names.bridge('guest', 4097)));
  // Nothing of this happened in the root namespace.
  t.deepEqual(await rootNamespace(), rootBefore);
});

/** The root namespace's links and routes, as a fingerprint. */
async function rootNamespace(): Promise<{ links: string[]; routes: string }> {
  const { execFile } = await import('node:child_process');
  const { promisify } = await import('node:util');
  const run = promisify(execFile);
  const links = (JSON.parse((await run('ip', ['-j', 'link', 'show'])).stdout) as Array<{ ifname: string }>).map((l) => l.ifname).sort();
  return { links, routes: (await run('ip', ['route', 'show', 'table', 'all'])).stdout };
}
