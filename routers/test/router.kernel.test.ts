// The router appliance for real: src/main.ts runs in a Lab namespace, receives specs on its
// control socket, and guests in other namespaces use it with stock clients (busybox udhcpc,
// dig, curl, socat). A stub upstream DNS (dnsmasq) runs in its own namespace.
import test from 'ava';
import { join } from 'node:path';
import { Lab, kernelTestsUnavailable } from '@flotilla/tests/lab';
import type { RouterSpec } from '@flotilla/protocol/router';
import { eventFields, makeSwitch, plug, setMac, sleep, startRouter, tempDir, udhcpcScript, until } from './kernel-helpers.ts';
import { guestNet } from './fixtures.ts';
import { compileLinks, type KernelLink } from '../src/links.ts';

/** A reply without its per-stage timings (milliseconds, different every run). */
const untimed = (r: object): object => { const { timings: _t, ...rest } = r as { timings?: unknown }; return rest; };

const skip = kernelTestsUnavailable();
const kt = skip ? test.skip : test.serial;
// Without root these show as skipped, with the reason in the title (never as passed).
if (skip) test.skip(`router kernel tests: ${skip}`, () => undefined);

const VM1 = '02:00:00:00:01:0a';
const VM2 = '02:00:00:00:01:0b';
const POOL_VM = '02:00:00:00:09:09';

function spec(generation: number, over: Partial<RouterSpec> = {}): RouterSpec {
  return {
    version: '1.0', routerId: 'r-kernel', generation,
    interfaces: [
      { name: 'gst0', mac: '02:00:00:aa:00:01', role: 'guest', addresses: ['10.1.0.1/24'] },
      { name: 'pub0', mac: '02:00:00:bb:00:01', role: 'public', addresses: ['192.0.2.1/24'] },
    ],
    routes: [],
    guestNetworks: [guestNet({ dnsForwarders: ['192.0.2.53'], dynamicRange: { start: '10.1.0.100', end: '10.1.0.110' } })],
    ...over,
  };
}

/** Router + switch + two VMs + upstream DNS namespace with a stub dnsmasq. */
async function world(t: { teardown(fn: () => unknown): void }, tag: string) {
  const lab = Lab.create(t, tag);
  const dir = await tempDir(lab, tag);
  const r = await lab.netns('r');
  const sw = await makeSwitch(lab);
  const vm1 = await lab.netns('vm1');
  const vm2 = await lab.netns('vm2');
  const up = await lab.netns('up');
  await plug(lab, sw, 'p0', r, 'gst0');
  await plug(lab, sw, 'p1', vm1, 'eth0', VM1);
  await plug(lab, sw, 'p2', vm2, 'eth0', VM2);
  await lab.veth(r, 'pub0', up, 'eth0');
  await lab.exec(up, ['ip', 'addr', 'add', '192.0.2.53/24', 'dev', 'eth0']);
  return { lab, dir, r, sw, vm1, vm2, up };
}

kt('guests get their reserved IPs with router/DNS/domain options; DNS answers names and PTR and forwards the rest', async (t) => {
  const { lab, dir, r, vm1, vm2, up } = await world(t, 'rdns');
  lab.spawn(up, ['dnsmasq', '-k', '--conf-file=/dev/null', '--no-resolv', '--no-hosts', '--bind-interfaces', '--listen-address=192.0.2.53',
    `--pid-file=${join(dir, 'up.pid')}`, '--address=/upstream.test/198.51.100.7']);
  const router = await startRouter(lab, r, join(dir, 'state'), dir);
  t.teardown(() => router.stop());
  const applied = await router.ctl.apply(spec(1));
  t.like(applied, { type: 'applied', generation: 1 });

  for (const [ns, ip, host] of [[vm1, '10.1.0.10', 'web1'], [vm2, '10.1.0.11', 'db1']] as const) {
    const u = await udhcpcScript(dir, host);
    await lab.exec(ns, ['busybox', 'udhcpc', '-i', 'eth0', '-n', '-q', '-f', '-t', '5', '-T', '1', '-s', u.script]);
    const bound = (await u.events()).map(eventFields).find((e) => e.event === 'bound');
    t.like(bound, { ip, mask: '24', router: '10.1.0.1', dns: '10.1.0.1', domain: 'tenant.internal', lease: '3600', serverid: '10.1.0.1', hostname: host });
  }
  const dig = async (ns: string, ...args: string[]) => (await lab.exec(ns, ['dig', '+short', '+time=2', '+tries=1', '@10.1.0.1', ...args])).stdout.trim();
  t.is(await dig(vm1, 'db1.tenant.internal'), '10.1.0.11');
  t.is(await dig(vm2, 'WEB1.tenant.internal'), '10.1.0.10');
  t.is(await dig(vm1, '-x', '10.1.0.11'), 'db1.tenant.internal.');
  t.is(await dig(vm1, 'data-server.tenant.internal'), '10.1.0.1');
  const nx = (await lab.exec(vm1, ['dig', '+time=2', '+tries=1', '@10.1.0.1', 'ghost.tenant.internal'])).stdout;
  t.regex(nx, /status: NXDOMAIN/);
  t.regex(nx, /flags: qr aa/);
  // Outside the domain: forwarded to the zone DNS (the stub upstream) and relayed back.
  t.is(await until(async () => (await dig(vm1, 'www.upstream.test')) || undefined, 'forwarded answer'), '198.51.100.7');
  // The same over TCP (clients retry there after a truncated UDP answer).
  t.is(await dig(vm2, '+tcp', 'db1.tenant.internal'), '10.1.0.11');
  t.is(await dig(vm2, '+tcp', 'api.upstream.test'), '198.51.100.7');
  const rep = await router.ctl.report();
  t.is(rep.appliedGeneration, 1);
  t.true((rep.counters.dhcp.ack ?? 0) >= 2);
  t.true((rep.counters.dns.forwarded ?? 0) >= 1);
  t.true((rep.counters.dns.answered ?? 0) >= 4);
  t.is(rep.counters.dns.tcp_answered, 1);
  t.is(rep.counters.dns.tcp_forwarded, 1);
  t.true(rep.health.dhcp?.ok && rep.health.dns?.ok);
  // The public side has no DNS service: no open resolver.
  const pub = await lab.tryExec(up, ['dig', '+time=1', '+tries=1', '@192.0.2.1', 'web1.tenant.internal']);
  t.notRegex(pub.stdout, /status: NOERROR/);
});

kt('user data and metadata per VM over HTTP; password fetched once then acknowledged', async (t) => {
  const { lab, dir, r, vm1, vm2 } = await world(t, 'rmd');
  const router = await startRouter(lab, r, join(dir, 'state'), dir);
  t.teardown(() => router.stop());
  t.like(await router.ctl.apply(spec(1)), { type: 'applied' });
  await lab.exec(vm1, ['ip', 'addr', 'add', '10.1.0.10/24', 'dev', 'eth0']);
  await lab.exec(vm2, ['ip', 'addr', 'add', '10.1.0.11/24', 'dev', 'eth0']);
  const curl = async (ns: string, url: string, ...h: string[]) => (await lab.exec(ns, ['curl', '-s', '-m', '5', ...h.flatMap((x) => ['-H', x]), '-w', ' %{http_code}', url])).stdout;
  t.is(await curl(vm1, 'http://10.1.0.1/latest/user-data'), '#cloud-config\nhostname: web1\n 200');
  t.is(await curl(vm2, 'http://10.1.0.1/latest/user-data'), 'Not Found\n 404');
  t.is(await curl(vm1, 'http://10.1.0.1/latest/meta-data/instance-id'), 'i-web1 200');
  t.is(await curl(vm2, 'http://10.1.0.1/latest/meta-data/instance-id'), 'i-db1 200');
  t.is(await curl(vm2, 'http://10.1.0.1/latest/local-hostname'), 'db1 200');
  t.regex(await curl(vm1, 'http://10.1.0.1/latest/meta-data/'), /^service-offering\navailability-zone\n.*public-keys\ncloud-identifier\n 200$/s);
  t.is(await curl(vm1, 'http://10.1.0.1/latest/meta-data/public-keys'), 'ssh-ed25519 AAAA web1@test 200');
  // Password service, CloudStack's DomU_Request protocol (wget, as cloud-init fetches it).
  const wget = async (ns: string, hdr: string) => (await lab.tryExec(ns, ['busybox', 'wget', '-q', '-O', '-', '--header', `DomU_Request: ${hdr}`, 'http://10.1.0.1:8080/'], { timeoutMs: 10_000 })).stdout;
  t.is(await wget(vm1, 'send_my_password'), 'S3cret-web1');
  t.is(await wget(vm1, 'send_my_password'), 'S3cret-web1'); // not yet acknowledged: served again
  t.is(await wget(vm2, 'send_my_password'), 'saved_password'); // no password for this VM
  t.is(await wget(vm1, 'saved_password'), 'saved_password');
  t.is(await wget(vm1, 'send_my_password'), 'saved_password');
  t.is(await curl(vm1, 'http://10.1.0.1:8080/', 'DomU_Request: save_password'), 'bad_request 400');
  // An acknowledged password stays acknowledged across a router restart with the same spec.
  await router.stop();
  const again = await startRouter(lab, r, join(dir, 'state'), dir);
  t.teardown(() => again.stop());
  t.like(await again.ctl.apply(spec(1)), { type: 'applied' });
  t.is(await wget(vm1, 'send_my_password'), 'saved_password');
  // A new password from the manager (next generation) is served again.
  const next = spec(2); next.guestNetworks[0]!.vms[0]!.password = 'N3w-pass';
  t.like(await again.ctl.apply(next), { type: 'applied', changed: ['password'] });
  t.is(await wget(vm1, 'send_my_password'), 'N3w-pass');
  const rep = await again.ctl.report();
  t.is(rep.counters.password.served, 1);
});

kt('leases survive a router restart and a re-created router namespace: renewals get ACK, not NAK', async (t) => {
  const { lab, dir, r, sw, vm1, vm2 } = await world(t, 'rlease');
  await setMac(lab, vm2, 'eth0', POOL_VM); // not reserved: its address comes from the pool
  const state = join(dir, 'state');
  let router = await startRouter(lab, r, state, dir);
  t.like(await router.ctl.apply(spec(1)), { type: 'applied' });
  const u1 = await udhcpcScript(dir, 'vm1');
  const u2 = await udhcpcScript(dir, 'vm2');
  const c1 = lab.spawn(vm1, ['busybox', 'udhcpc', '-i', 'eth0', '-f', '-s', u1.script]);
  const c2 = lab.spawn(vm2, ['busybox', 'udhcpc', '-i', 'eth0', '-f', '-s', u2.script]);
  const bound = async (u: typeof u1) => until(async () => (await u.events()).map(eventFields).find((e) => e.event === 'bound'), 'bound');
  t.is((await bound(u1)).ip, '10.1.0.10');
  const poolIp = (await bound(u2)).ip!;
  t.regex(poolIp, /^10\.1\.0\.1(0[0-9]|10)$/);

  const renewOk = async (u: typeof u1, c: typeof c1, ip: string, what: string) => {
    const before = (await u.events()).length;
    process.kill(c.pid!, 'SIGUSR1');
    const e = await until(async () => (await u.events()).slice(before).map(eventFields).find((x) => x.event !== 'deconfig' || true), `${what} renewal`);
    t.like(e, { event: 'renew', ip }, what);
  };
  // 1. restart the appliance process (same namespace, same state dir).
  await router.stop();
  router = await startRouter(lab, r, state, dir);
  t.like(await router.ctl.apply(spec(1)), { type: 'applied' });
  await renewOk(u1, c1, '10.1.0.10', 'reserved VM after restart');
  await renewOk(u2, c2, poolIp, 'pool VM after restart');
  t.is((await router.ctl.report()).counters.dhcp.nak, undefined);

  // 2. destroy the router namespace and build a new one from the same spec + state.
  await router.stop();
  await lab.exec(sw, ['ip', 'link', 'del', 'p0']);
  const r2 = await lab.netns('r2');
  await plug(lab, sw, 'p0', r2, 'gst0');
  await lab.veth(r2, 'pub0', (await lab.netns('up2')), 'eth0');
  router = await startRouter(lab, r2, state, dir);
  t.teardown(() => router.stop());
  t.like(await router.ctl.apply(spec(1)), { type: 'applied' });
  await renewOk(u1, c1, '10.1.0.10', 'reserved VM after re-creation');
  await renewOk(u2, c2, poolIp, 'pool VM after re-creation');
  const rep = await router.ctl.report();
  t.is(rep.counters.dhcp.nak, undefined);
  t.is(rep.counters.dhcp.leases, 2);

  // Control: a router WITHOUT the persisted leases does not know the pool VM (no ACK) — this is
  // what the lease file buys.
  await router.stop();
  const bare = await startRouter(lab, r2, join(dir, 'empty-state'), dir);
  t.teardown(() => bare.stop());
  t.like(await bare.ctl.apply(spec(1)), { type: 'applied' });
  process.kill(c2.pid!, 'SIGUSR1');
  await until(async () => ((await bare.ctl.report()).counters.dhcp.request ?? 0) >= 1 || undefined, 'renewal seen');
  const rb = await bare.ctl.report();
  t.is(rb.counters.dhcp.ack, undefined);
  t.is(rb.counters.dhcp.ignored_unknown_client, 1);
});

kt('two guest interfaces: each DHCP reply leaves the interface its request came in on', async (t) => {
  const lab = Lab.create(t, 'rtier');
  const dir = await tempDir(lab, 'rtier');
  const r = await lab.netns('r');
  const a = await lab.netns('a');
  const b = await lab.netns('b');
  await lab.veth(r, 'gst0', a, 'eth0');
  await lab.veth(r, 'gst1', b, 'eth0');
  await setMac(lab, a, 'eth0', '02:00:00:00:0a:01');
  await setMac(lab, b, 'eth0', '02:00:00:00:0b:01');
  const s: RouterSpec = {
    version: '1.0', routerId: 'vpc', generation: 1, routes: [],
    interfaces: [
      { name: 'gst0', mac: '02:00:00:aa:00:01', role: 'guest', addresses: ['10.1.0.1/24'] },
      { name: 'gst1', mac: '02:00:00:aa:00:02', role: 'guest', addresses: ['10.2.0.1/24'] },
    ],
    guestNetworks: [
      guestNet({ interface: 'gst0', cidr: '10.1.0.0/24', gateway: '10.1.0.1', domain: 'tier1.internal', vms: [], reservations: [{ mac: '02:00:00:00:0a:01', ip: '10.1.0.10', hostname: 'a1' }, { mac: '02:00:00:00:0c:01', ip: '10.1.0.30', hostname: 'c1' }] }),
      guestNet({ interface: 'gst1', cidr: '10.2.0.0/24', gateway: '10.2.0.1', domain: 'tier2.internal', vms: [], reservations: [{ mac: '02:00:00:00:0b:01', ip: '10.2.0.20', hostname: 'b1' }] }),
    ],
  };
  const router = await startRouter(lab, r, join(dir, 'state'), dir);
  t.teardown(() => router.stop());
  t.like(await router.ctl.apply(s), { type: 'applied' });
  for (const [ns, ip, sid, dom] of [[a, '10.1.0.10', '10.1.0.1', 'tier1.internal'], [b, '10.2.0.20', '10.2.0.1', 'tier2.internal']] as const) {
    const u = await udhcpcScript(dir, ns);
    await lab.exec(ns, ['busybox', 'udhcpc', '-i', 'eth0', '-n', '-q', '-f', '-t', '5', '-T', '1', '-s', u.script]);
    t.like((await u.events()).map(eventFields).find((e) => e.event === 'bound'), { ip, serverid: sid, router: sid, domain: dom });
  }
  // A MAC reserved on tier 1 asking from tier 2's wire gets nothing: the request reached only
  // tier 2's socket, which does not know it (a server keyed by MAC alone would answer it).
  await setMac(lab, b, 'eth0', '02:00:00:00:0c:01');
  const u = await udhcpcScript(dir, 'c');
  const res = await lab.tryExec(b, ['busybox', 'udhcpc', '-i', 'eth0', '-n', '-q', '-f', '-t', '2', '-T', '1', '-s', u.script]);
  t.not(res.code, 0);
  t.falsy((await u.events()).find((e) => e.startsWith('bound')));
  const rep = await router.ctl.report();
  t.true((rep.counters.dhcp.ignored_unknown_client ?? 0) >= 1);
  t.is(rep.counters.dhcp.ack, 2);
});

kt('apply is idempotent per generation; stale and invalid specs are refused and change nothing', async (t) => {
  const { lab, dir, r } = await world(t, 'ridem');
  const router = await startRouter(lab, r, join(dir, 'state'), dir);
  t.teardown(() => router.stop());
  const s3 = spec(3);
  s3.interfaces[0]!.addresses.push('fd00:0001:0000::0001/64'); // non-canonical on purpose
  s3.interfaces[0]!.mtu = 1450;
  s3.routes = [{ destination: '198.51.100.0/24', gateway: '192.0.2.53' }, { destination: 'fd00:99::/64', interface: 'gst0' }];
  const first = await router.ctl.apply(s3);
  t.deepEqual(untimed(first), { type: 'applied', generation: 3, changed: ['links', 'firewall', 'dhcp', 'dns', 'metadata', 'password'] });
  const addrs = JSON.parse((await lab.exec(r, ['ip', '-j', 'addr', 'show', 'gst0'])).stdout) as Array<{ address: string; addr_info: Array<{ local: string }> }>;
  t.is(addrs[0]!.address, '02:00:00:aa:00:01');
  t.is((addrs[0] as unknown as { mtu: number }).mtu, 1450);
  t.true(addrs[0]!.addr_info.some((x) => x.local === '10.1.0.1'));
  t.true(addrs[0]!.addr_info.some((x) => x.local === 'fd00:1::1'));
  t.regex((await lab.exec(r, ['ip', 'route', 'show', '198.51.100.0/24'])).stdout, /via 192\.0\.2\.53 dev pub0/);
  t.regex((await lab.exec(r, ['ip', '-6', 'route', 'show', 'fd00:99::/64'])).stdout, /dev gst0/);
  // The compiler reads the kernel's own JSON back as "nothing to do" (address forms normalised).
  const kernel = JSON.parse((await lab.exec(r, ['ip', '-j', 'addr', 'show'])).stdout) as KernelLink[];
  t.deepEqual(compileLinks(s3, s3, kernel), { removals: [], batch: [
    'route replace 198.51.100.0/24 via 192.0.2.53', 'route replace fd00:99::/64 dev gst0',
  ] });
  t.deepEqual(await router.ctl.apply(spec(3)), { type: 'applied', generation: 3, changed: [] });
  // Same generation with different content is still a no-op: the generation names the state.
  const sneaky = spec(3); sneaky.guestNetworks[0]!.domain = 'other.internal';
  t.deepEqual(await router.ctl.apply(sneaky), { type: 'applied', generation: 3, changed: [] });
  t.like(await router.ctl.apply(spec(2)), { type: 'error', code: 'stale_generation' });
  const bad = spec(4); bad.guestNetworks[0]!.reservations.push({ mac: '02:00:00:00:01:0f', ip: '10.99.0.1' });
  bad.interfaces[0]!.addresses = ['10.1.0.1/24', '10.1.0.2/24'];
  const refused = await router.ctl.apply(bad);
  t.like(refused, { type: 'error', code: 'invalid_spec' });
  t.regex((refused as { errors: string[] }).errors.join('\n'), /10\.99\.0\.1 is outside 10\.1\.0\.0\/24/);
  // Nothing of the invalid spec reached the kernel.
  t.notRegex((await lab.exec(r, ['ip', 'addr', 'show', 'gst0'])).stdout, /10\.1\.0\.2/);
  t.like(await router.ctl.request('{"type":"apply","spec":'), { type: 'error', code: 'invalid_message' });
  t.like(await router.ctl.request('{"type":"frobnicate"}'), { type: 'error', code: 'invalid_message' });
  t.is((await router.ctl.report()).appliedGeneration, 3);
  const { statSync, readdirSync } = await import('node:fs');
  const sockFile = readdirSync(dir).find((f) => f.endsWith('.sock'))!;
  t.is(statSync(join(dir, sockFile)).mode & 0o777, 0o600, 'control socket is root-only');
  // The next generation applies only what changed.
  const next = spec(4); next.guestNetworks[0]!.reservations.push({ mac: '02:00:00:00:01:0c', ip: '10.1.0.12', hostname: 'app1' });
  next.interfaces = s3.interfaces;
  next.routes = s3.routes;
  t.deepEqual(untimed(await router.ctl.apply(next)), { type: 'applied', generation: 4, changed: ['dhcp', 'dns'] });
  // Dropping a route and an address from the spec removes them from the kernel.
  const n5 = spec(5); n5.guestNetworks = next.guestNetworks;
  t.deepEqual(untimed(await router.ctl.apply(n5)), { type: 'applied', generation: 5, changed: ['links'] });
  t.is((await lab.exec(r, ['ip', 'route', 'show', '198.51.100.0/24'])).stdout.trim(), '');
  t.notRegex((await lab.exec(r, ['ip', 'addr', 'show', 'gst0'])).stdout, /fd00:1::1/);
});

kt('a reload drops nothing: an HTTP request in flight across an apply completes on its connection', async (t) => {
  const { lab, dir, r, vm1 } = await world(t, 'rrel');
  const router = await startRouter(lab, r, join(dir, 'state'), dir);
  t.teardown(() => router.stop());
  t.like(await router.ctl.apply(spec(1)), { type: 'applied' });
  await lab.exec(vm1, ['ip', 'addr', 'add', '10.1.0.10/24', 'dev', 'eth0']);
  const conn = lab.spawn(vm1, ['socat', '-t', '5', '-', 'TCP:10.1.0.1:80']);
  let out = '';
  conn.stdout!.on('data', (d) => { out += String(d); });
  const closed = new Promise((res) => conn.once('exit', res));
  conn.stdin!.write('GET /latest/meta-data/instance-id HTTP/1.1\r\nHost: 10.1.0.1\r\n');
  await sleep(300);
  // New generation while the request is half sent: VM data, DNS and DHCP all change.
  const next = spec(2);
  next.guestNetworks[0]!.vms[0]!.metadata['instance-id'] = 'i-web1-v2';
  next.guestNetworks[0]!.reservations.push({ mac: '02:00:00:00:01:0c', ip: '10.1.0.12', hostname: 'app1' });
  t.like(await router.ctl.apply(next), { type: 'applied', generation: 2 });
  conn.stdin!.end('Connection: close\r\n\r\n');
  await closed;
  t.regex(out, /^HTTP\/1\.1 200 OK/);
  t.true(out.endsWith('\r\n\r\ni-web1-v2'), out);
});

kt('firewall through the router: source NAT out, port forwarding in, per-rule counters in the report', async (t) => {
  const { lab, dir, r, vm1, up } = await world(t, 'rfw');
  const PF = '6f1c1a52-0000-4000-8000-000000000010';
  const s = spec(1);
  s.interfaces[1]!.addresses = ['192.0.2.1/24', '192.0.2.10/24'];
  s.firewall = {
    version: 1, publicInterfaces: ['pub0'], aclLists: [], securityGroups: [], securityGroupMembers: [],
    guestNetworks: [{ id: 'net-1', interface: 'gst0', cidrs: ['10.1.0.0/24'], sourceNatIp: '192.0.2.10', egress: { defaultPolicy: 'allow', rules: [] } }],
    publicIps: [{ address: '192.0.2.10', filter: 'rules', rules: [], portForwards: [
      { id: PF, protocol: 'tcp', publicPorts: { start: 8080, end: 8080 }, privateIp: '10.1.0.10', privatePorts: { start: 80, end: 80 }, sourceCidrs: [] },
    ] }],
  };
  const router = await startRouter(lab, r, join(dir, 'state'), dir);
  t.teardown(() => router.stop());
  t.like(await router.ctl.apply(s), { type: 'applied', changed: ['links', 'firewall', 'dhcp', 'dns', 'metadata', 'password'] });
  t.is((await lab.exec(r, ['cat', '/proc/sys/net/ipv4/ip_forward'])).stdout.trim(), '1');
  await lab.exec(vm1, ['ip', 'addr', 'add', '10.1.0.10/24', 'dev', 'eth0']);
  await lab.exec(vm1, ['ip', 'route', 'add', 'default', 'via', '10.1.0.1']);
  // Servers that answer with the peer address they see.
  lab.spawn(vm1, ['socat', 'TCP-LISTEN:80,reuseaddr,fork', 'SYSTEM:echo $SOCAT_PEERADDR']);
  lab.spawn(up, ['socat', 'TCP-LISTEN:9000,reuseaddr,fork', 'SYSTEM:echo $SOCAT_PEERADDR']);
  const ask = (ns: string, host: string, port: number) => until(async () => (await lab.tryExec(ns, ['socat', '-T', '2', '-', `TCP:${host}:${port},connect-timeout=2`])).stdout.trim() || undefined, `${host}:${port}`);
  t.is(await ask(vm1, '192.0.2.53', 9000), '192.0.2.10', 'the outside sees the source NAT address');
  t.is(await ask(up, '192.0.2.10', 8080), '192.0.2.53', 'port forwarding reaches the VM');
  const rep = await router.ctl.report();
  t.true((rep.firewallCounters?.[PF]?.packets ?? 0) >= 1, JSON.stringify(rep.firewallCounters));
  t.true(rep.health.firewall?.ok);
  // An invalid firewall refuses the whole generation, with the firewall compiler's diagnostics.
  const bad = structuredClone(s); bad.generation = 2;
  bad.firewall!.publicIps[0]!.portForwards[0]!.privatePorts = { start: 80, end: 90 };
  const refused = await router.ctl.apply(bad);
  t.like(refused, { type: 'error', code: 'invalid_spec' });
  t.regex((refused as { errors: string[] }).errors.join('\n'), /^\/firewall\/publicIps\/0\/portForwards\/0/m);
  // Firewall removed from the spec: the port forward stops working.
  const none = structuredClone(s); none.generation = 3; delete none.firewall;
  t.like(await router.ctl.apply(none), { type: 'applied', changed: ['firewall'] });
  t.is((await lab.tryExec(up, ['socat', '-T', '2', '-', 'TCP:192.0.2.10:8080,connect-timeout=2'])).stdout.trim(), '');
});
