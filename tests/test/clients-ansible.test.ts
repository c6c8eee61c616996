// Ansible's ngine_io.cloudstack modules (Debian `ansible`, with python3-cs) against a manager
// with a Simulator host: tests/clients/ansible/site.yml (an operator's play with admin keys, a
// tenant's play with the tenant's keys) runs twice. The first run must succeed and change
// things; the second must succeed with changed=0, as operators rely on.
import test from 'ava';
import { join } from 'node:path';
import { clientCloud, runClient, scratch, CLIENTS_DIR, type Ran } from '../src/client-suites.ts';

interface Recap { ok: number; changed: number; failures: number; unreachable: number }

/** The json callback's stats for localhost, and each task's changed/failed result. */
function recap(r: Ran): { stats?: Recap; tasks: Array<{ task: string; changed: boolean; failed: boolean; msg?: string }> } {
  const start = r.stdout.indexOf('{');
  if (start < 0) throw new Error(`ansible-playbook printed no result (exit ${r.code}): ${r.stderr.slice(-2000)}`);
  const out = JSON.parse(r.stdout.slice(start)) as { plays: Array<{ tasks: Array<{ task: { name: string }; hosts: Record<string, any> }> }>; stats: Record<string, Recap> };
  const tasks = out.plays.flatMap((p) => p.tasks).map((x) => {
    const h = x.hosts.localhost ?? {};
    return { task: x.task.name, changed: Boolean(h.changed), failed: Boolean(h.failed), msg: h.msg ?? h.exception };
  });
  return { stats: out.stats.localhost, tasks };
}

test('ansible: cs_physical_network, cs_vlan_ip_range, cs_account, cs_disk_offering, cs_sshkeypair, cs_network, cs_instance, cs_instance_info, cs_ip_address, cs_firewall, cs_portforward, cs_staticnat, cs_volume; the second run changes nothing; then changes and removes it all', async (t) => {
  t.timeout(600_000, 'a real client through a whole cycle (loaded CI machines are slow)');
  const c = await clientCloud(t, 'ans');
  const dir = await scratch(t, 'ansible');
  const env = {
    ...c.env, HOME: dir, ANSIBLE_LOCAL_TEMP: join(dir, 'tmp'), ANSIBLE_REMOTE_TEMP: join(dir, 'tmp'), ANSIBLE_STDOUT_CALLBACK: 'json',
    ANSIBLE_PYTHON_INTERPRETER: '/usr/bin/python3', ANSIBLE_NOCOLOR: '1', ANSIBLE_RETRY_FILES_ENABLED: '0', ANSIBLE_LOCALHOST_WARNING: '0',
    ANSIBLE_INVENTORY_UNPARSED_WARNING: '0', ANSIBLE_FORCE_COLOR: '0',
  };
  const play = () => runClient('/usr/bin/ansible-playbook', ['-i', 'localhost,', join(CLIENTS_DIR, 'ansible/site.yml')], { env, timeoutMs: 600_000 });

  const first = await play();
  const r1 = recap(first);
  const failed1 = r1.tasks.find((x) => x.failed);
  t.is(failed1, undefined, `first run: task "${failed1?.task}" failed: ${failed1?.msg}\n${first.stderr.slice(-1500)}`);
  t.is(first.code, 0, first.stderr.slice(-1500));
  t.like(r1.stats, { failures: 0, unreachable: 0 });
  t.true((r1.stats?.changed ?? 0) >= 12, `the first run creates things: ${JSON.stringify(r1.tasks.filter((x) => x.changed).map((x) => x.task))}`);

  const second = await play();
  const r2 = recap(second);
  const failed2 = r2.tasks.find((x) => x.failed);
  t.is(failed2, undefined, `second run: task "${failed2?.task}" failed: ${failed2?.msg}`);
  t.is(second.code, 0, second.stderr.slice(-1500));
  t.deepEqual(r2.tasks.filter((x) => x.changed).map((x) => x.task), [], 'second run: tasks that reported a change');
  t.like(r2.stats, { changed: 0, failures: 0 });

  // what the playbook built, seen by the admin through the API
  const a = c.cloud.admin;
  const dom = (await a.ok('listAccounts', { name: c.tenantName })).account[0].domainid;
  const mine = { listall: true, account: c.tenantName, domainid: dom };
  const vms = (await a.ok('listVirtualMachines', { ...mine, name: 'ans-vm1' })).virtualmachine ?? [];
  t.is(vms.length, 1);
  t.is(vms[0].state, 'Running');
  const ips = (await a.ok('listPublicIpAddresses', { ...mine, allocatedonly: true })).publicipaddress ?? [];
  t.truthy(ips.find((x: any) => x.ipaddress === '203.0.113.32' && x.isstaticnat && x.virtualmachineid === vms[0].id));
  t.is((await a.ok('listPortForwardingRules', mine)).count, 1);
  t.is((await a.ok('listAccounts', { name: 'ops-team' })).count, 1);
  t.is((await a.ok('listVlanIpRanges', { zoneid: c.z.zoneId })).count, 2);

  // then the tenant changes and removes it all with the same modules: every task changes something
  const life = await runClient('/usr/bin/ansible-playbook', ['-i', 'localhost,', join(CLIENTS_DIR, 'ansible/lifecycle.yml')], { env, timeoutMs: 600_000 });
  const r3 = recap(life);
  const failed3 = r3.tasks.find((x) => x.failed);
  t.is(failed3, undefined, `lifecycle: task "${failed3?.task}" failed: ${failed3?.msg}`);
  t.is(life.code, 0, life.stderr.slice(-1500));
  t.deepEqual(r3.tasks.filter((x) => !x.changed && !x.task.startsWith('The instance runs') && !x.task.startsWith('The volume is') && !x.task.startsWith('Recovered')).map((x) => x.task), [],
    'lifecycle: tasks that changed nothing');
  t.is((await a.ok('listVirtualMachines', mine)).count ?? 0, 0);
  t.is((await a.ok('listNetworks', mine)).count ?? 0, 0);
  t.is((await a.ok('listPublicIpAddresses', { ...mine, allocatedonly: true })).count ?? 0, 0);
  t.is((await a.ok('listVolumes', mine)).count ?? 0, 0);
  t.is((await a.ok('listSSHKeyPairs', mine)).count ?? 0, 0);
});
