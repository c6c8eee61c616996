// libcloud's CloudStack compute driver (Debian python3-libcloud, run by /usr/bin/python3) through
// a whole cycle against a manager with a Simulator host: tests/clients/libcloud/cycle.py does
// the client's side and checks what libcloud parsed; this test checks that every step ran and
// that the cloud holds nothing of the tenant's afterwards.
import test from 'ava';
import { clientCloud, runClient, steps, CLIENTS_DIR } from '../src/client-suites.ts';

test('libcloud: networks, key pairs, create_node (ex_start_vm), list_nodes, reboot, public IPs, firewall, port and IP forwarding, volumes, tags, deletes', async (t) => {
  t.timeout(600_000, 'a real client through a whole cycle (loaded CI machines are slow)');
  // libcloud's create_volume picks the first customizable disk offering: CloudStack's seeded "Custom"
  const c = await clientCloud(t, 'lc');
  const r = await runClient('/usr/bin/python3', [`${CLIENTS_DIR}libcloud/cycle.py`], { env: c.env });
  const done = steps(r.stdout);
  const failed = done.find((s) => s.error);
  t.is(failed, undefined, `libcloud step ${failed?.step} failed: ${failed?.error}\n${r.stderr.slice(-3000)}`);
  t.is(r.code, 0, r.stderr.slice(-3000));
  t.deepEqual(done.map((s) => s.step), ['locations', 'catalogue', 'network', 'keypair', 'create_node', 'list_nodes', 'reboot', 'stop_start', 'resize', 'account_views',
    'public_ips', 'firewall', 'port_forwarding', 'ip_forwarding', 'volumes', 'tags', 'teardown', 'done']);
  // nothing of the tenant's is left, seen by the admin
  const a = c.cloud.admin;
  const mine = { listall: true, account: c.tenantName, domainid: (await a.ok('listAccounts', { name: c.tenantName })).account[0].domainid };
  t.is((await a.ok('listVirtualMachines', mine)).count ?? 0, 0);
  t.is((await a.ok('listNetworks', mine)).count ?? 0, 0);
  t.is((await a.ok('listPublicIpAddresses', { ...mine, allocatedonly: true })).count ?? 0, 0);
  t.is((await a.ok('listSSHKeyPairs', mine)).count ?? 0, 0);
  t.is((await a.ok('listVolumes', mine)).count ?? 0, 0, 'the expunged node\'s ROOT volume and the data volume are gone');
});
