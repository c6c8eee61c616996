// Load balancing through go-cloudstack as Debian ships it: tests/clients/lb/main.go (the calls of
// the Terraform provider's cloudstack_loadbalancer_rule resource, stickiness and health-check
// policies, lbvmips, and the Lb capabilities of listNetworks / listNetworkOfferings) is built at
// test time with Debian's Go (GOPATH mode, /usr/share/gocode; no module proxy) into a temp dir,
// then run against a manager with a Simulator host. The traffic side of the same API is
// tests/test/lb.test.ts (real router, kernel and HAProxy).
import test from 'ava';
import { join } from 'node:path';
import { clientCloud, runClient, scratch, steps, CLIENTS_DIR } from '../src/client-suites.ts';

test('go-cloudstack drives the LB API as the Terraform provider does (create openfirewall=false, assign, read, update, members, delete, gone id), stickiness and health-check policies, lbvmips, Lb capabilities', async (t) => {
  t.timeout(600_000, 'a Go build and a real client through a whole cycle (loaded CI machines are slow)');
  const dir = await scratch(t, 'golb');
  const bin = join(dir, 'lb-calls');
  const built = await runClient('/usr/bin/go', ['build', '-o', bin, '.'], {
    cwd: join(CLIENTS_DIR, 'lb'), timeoutMs: 600_000,
    env: { GO111MODULE: 'off', GOPATH: `${join(dir, 'gopath')}:/usr/share/gocode`, GOCACHE: join(dir, 'gocache'), HOME: dir, GOTOOLCHAIN: 'local' },
  });
  t.is(built.code, 0, `go build: ${built.stderr}`);
  const c = await clientCloud(t, 'golb');
  const r = await runClient(bin, [], { env: c.env });
  const done = steps(r.stdout);
  const failed = done.find((s) => s.error);
  t.is(failed, undefined, `step ${failed?.step} failed: ${failed?.error}\n${r.stderr.slice(-2000)}`);
  t.is(r.code, 0, r.stderr.slice(-2000));
  t.deepEqual(done.map((s) => s.step), ['retrieve_ids', 'offering_capabilities', 'network_capabilities', 'instances', 'loadbalancer_rule_create', 'lbvmips',
    'loadbalancer_rule_update', 'stickiness_policy', 'healthcheck_policy', 'loadbalancer_rule_delete', 'cleanup', 'done']);
  t.deepEqual(done.find((s) => s.step === 'network_capabilities')!.protocols, ['tcp', 'udp', 'tcp-proxy', 'ssl']);
  // What the router was told while the rule lived is not checked here (Simulator host); the
  // cloud afterwards holds nothing of the tenant's.
  const a = c.cloud.admin;
  const dom = (await a.ok('listAccounts', { name: c.tenantName })).account[0].domainid;
  const mine = { listall: true, account: c.tenantName, domainid: dom };
  t.is((await a.ok('listLoadBalancerRules', mine)).count ?? 0, 0);
  t.is((await a.ok('listNetworks', mine)).count ?? 0, 0);
  t.is((await a.ok('listVirtualMachines', mine)).count ?? 0, 0);
});
