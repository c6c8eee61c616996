// The Terraform provider's calls (apache/cloudstack-terraform-provider's resources) through
// go-cloudstack as Debian ships it: tests/clients/terraform/main.go is built at test time with
// Debian's Go (GOPATH mode, /usr/share/gocode; no module proxy) into a temp dir, then run
// against a manager with a Simulator host. It checks every resource's Create/Read/Delete, the
// reads and deletes of gone ids (CloudStack's not-found text), openfirewall=false and tags.
import test from 'ava';
import { join } from 'node:path';
import { clientCloud, runClient, scratch, steps, CLIENTS_DIR } from '../src/client-suites.ts';

test('go-cloudstack makes the Terraform provider\'s calls: instance (ROOT volume read), network, ipaddress, firewall, port_forward (openfirewall=false), egress_firewall, static_nat, ssh_keypair, tags, deletes of gone ids', async (t) => {
  t.timeout(600_000, 'a real client through a whole cycle (loaded CI machines are slow)');
  const dir = await scratch(t, 'tf');
  const bin = join(dir, 'tf-calls');
  const built = await runClient('/usr/bin/go', ['build', '-o', bin, '.'], {
    cwd: join(CLIENTS_DIR, 'terraform'), timeoutMs: 600_000,
    env: { GO111MODULE: 'off', GOPATH: `${join(dir, 'gopath')}:/usr/share/gocode`, GOCACHE: join(dir, 'gocache'), HOME: dir, GOTOOLCHAIN: 'local' },
  });
  t.is(built.code, 0, `go build: ${built.stderr}`);
  const c = await clientCloud(t, 'tf');
  const r = await runClient(bin, [], { env: c.env });
  const done = steps(r.stdout);
  const failed = done.find((s) => s.error);
  t.is(failed, undefined, `step ${failed?.step} failed: ${failed?.error}\n${r.stderr.slice(-2000)}`);
  t.is(r.code, 0, r.stderr.slice(-2000));
  t.deepEqual(done.map((s) => s.step), ['retrieve_ids', 'ssh_keypair', 'network', 'instance', 'ipaddress', 'firewall', 'port_forward',
    'egress_firewall', 'static_nat', 'tags_update', 'instance_update', 'delete', 'read_gone', 'delete_gone', 'done']);
  const vm = done.find((s) => s.step === 'instance')!;
  t.true(vm.root_disk_size_gib > 0, 'the ROOT volume has a size');
  const a = c.cloud.admin;
  const dom = (await a.ok('listAccounts', { name: c.tenantName })).account[0].domainid;
  const mine = { listall: true, account: c.tenantName, domainid: dom };
  t.is((await a.ok('listVirtualMachines', mine)).count ?? 0, 0);
  t.is((await a.ok('listNetworks', mine)).count ?? 0, 0);
  t.is((await a.ok('listPublicIpAddresses', { ...mine, allocatedonly: true })).count ?? 0, 0);
  t.is((await a.ok('listVolumes', mine)).count ?? 0, 0, 'the expunged instance\'s ROOT volume is gone');
  t.is((await a.ok('listTags', mine)).count ?? 0, 0, 'tags go with their resources');
});
