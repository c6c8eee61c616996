// Load balancing end to end: a tenant's signed client (and libcloud's CloudStackLBDriver) drive
// CloudStack's LB API; real HTTP/HTTPS traffic from the uplink namespace reaches three guest VMs
// (their HTTP answers their name) through the real router appliance (kernel L4 rules, HAProxy
// for cookies and TLS).
import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { kernelTestsUnavailable } from '../src/lab.ts';
import { waitFor } from '../src/cloud.ts';
import { deploy, leased, nsOf, tenant, world, type World } from '../src/router-world.ts';
import type { Api } from '@flotilla/manager/client';

const run = promisify(execFile);
const skip = kernelTestsUnavailable();
const kernelTest = skip ? test.skip : test.serial;

async function lbOffering(w: World): Promise<string> {
  const services = ['Dhcp', 'Dns', 'UserData', 'Firewall', 'SourceNat', 'StaticNat', 'PortForwarding', 'Lb'];
  const params: Record<string, string | boolean> = { name: 'iso-lb', displaytext: 'iso-lb', guestiptype: 'Isolated', traffictype: 'Guest', supportedservices: services.join(','), egressdefaultpolicy: true, enable: true };
  services.forEach((s, i) => { params[`serviceproviderlist[${i}].service`] = s; params[`serviceproviderlist[${i}].provider`] = 'VirtualRouter'; });
  return (await w.cloud.admin.ok('createNetworkOffering', params)).networkoffering.id;
}
/** Where a long test is (stderr, shown live): this one takes minutes on a shared machine. */
const progress = (what: string) => process.stderr.write(`lb e2e: ${new Date().toISOString().slice(11, 19)} ${what}\n`);
const tally = (xs: string[]) => xs.reduce<Record<string, number>>((o, x) => ({ ...o, [x]: (o[x] ?? 0) + 1 }), {});
async function names(w: World, url: string, n: number, extra: string[] = [], src = '203.0.113.1'): Promise<string[]> {
  const r = await w.lab.tryExec(w.uplink, ['sh', '-c', `for i in $(seq ${n}); do curl -sS --max-time 3 --interface ${src} ${extra.join(' ')} ${url} || echo FAIL; done`], { timeoutMs: 120_000 });
  return r.stdout.trim().split('\n').map((l) => l.trim());
}

kernelTest('load balancing: CloudStack\'s API drives kernel L4 rules and HAProxy (cookies, TLS) on the router; health checks, counters, conflicts, tenants, bad input', async (t) => {
  // Three deploys and a dozen rule changes on 2 shared cores: longer than ava's default timeout.
  t.timeout(15 * 60_000);
  const w = await world(t, 'lbe', 1000);
  const { api } = await tenant(w.cloud, 'alice');
  const net = (await api.ok('createNetwork', { name: 'net1', zoneid: w.z.zoneId, networkofferingid: await lbOffering(w) })).network;
  const vms = [await deploy(w, api, 'vm1', net.id), await deploy(w, api, 'vm2', net.id), await deploy(w, api, 'vm3', net.id)];
  for (const v of vms) await leased(w, await nsOf(w, v.id), v.nic[0].ipaddress);
  const pub = (await api.jobOk('associateIpAddress', { networkid: net.id })).ipaddress;
  await w.lab.exec(w.uplink, ['ip', 'addr', 'add', '203.0.113.2/24', 'dev', 'br0']);

  // Bad input: 431 at once, no job, nothing recorded.
  progress('Bad input: 431 at once, no job, nothing ');
  for (const [p, why] of [[{ algorithm: 'fastest' }, /algorithm/], [{ publicport: 0 }, /publicport/], [{ cidrlist: '10.0.0.0/33' }, /cidrlist/], [{ protocol: 'sctp' }, /protocol/], [{ name: 'a"b' }, /name/]] as const) {
    const r = await api.call('createLoadBalancerRule', { publicipid: pub.id, name: 'web', privateport: 80, ...{ algorithm: 'roundrobin', publicport: 80 }, ...p });
    t.is(r.status, 431, JSON.stringify(r.body));
    t.regex(JSON.stringify(r.body), why);
    t.falsy(r.body.jobid);
  }
  t.deepEqual(await api.ok('listLoadBalancerRules', {}), {});

  // An async create: {id, jobid} at once, the rule listable before its job ends.
  progress('An async create: {id, jobid} at once, th');
  const created = await api.call('createLoadBalancerRule', { publicipid: pub.id, name: 'web', algorithm: 'roundrobin', publicport: 80, privateport: 80 });
  t.is(created.status, 200, JSON.stringify(created.body));
  const { id: ruleId, jobid } = created.body;
  t.truthy(ruleId && jobid);
  t.is((await api.ok('listLoadBalancerRules', { id: ruleId })).loadbalancerrule[0].id, ruleId);
  const done = await waitJob(api, jobid);
  t.like(done.loadbalancer, { id: ruleId, name: 'web', algorithm: 'roundrobin', publicport: '80', privateport: '80', publicip: pub.ipaddress, protocol: 'tcp', state: 'Active' });
  // openfirewall (default true): the matching firewall rule exists.
  progress('openfirewall (default true): the matchin');
  const fws = (await api.ok('listFirewallRules', { ipaddressid: pub.id })).firewallrule;
  t.like(fws[0], { protocol: 'tcp', startport: 80, endport: 80 });
  await api.jobOk('assignToLoadBalancerRule', { id: ruleId, virtualmachineids: vms.map((v) => v.id).join(',') });
  const c = tally(await names(w, `http://${pub.ipaddress}/`, 30));
  t.deepEqual(Object.keys(c).sort(), ['vm1', 'vm2', 'vm3'], JSON.stringify(c));
  for (const n of ['vm1', 'vm2', 'vm3']) t.true(c[n]! >= 6, JSON.stringify(c));
  const inst = await api.ok('listLoadBalancerRuleInstances', { id: ruleId });
  t.is(inst.count, 3);
  t.deepEqual(inst.loadbalancerruleinstance.map((v: { name: string }) => v.name).sort(), ['vm1', 'vm2', 'vm3']);
  // Counters on the rule, kept across a change that reloads the whole table (source algorithm).
  progress('Counters on the rule, kept across a chan');
  const listed = (await api.ok('listLoadBalancerRules', { id: ruleId })).loadbalancerrule[0];
  t.is(listed.engine, 'kernel');
  t.true(listed.packets >= 30, JSON.stringify(listed));
  // Per backend (kernel: connections by the slot each was sent to).
  t.is(listed.backendcounters.length, 3, JSON.stringify(listed));
  t.true(listed.backendcounters.every((b: { packets: number }) => b.packets >= 6), JSON.stringify(listed));

  // Conflicts with port forwards on the same public port: 537 with CloudStack's text.
  progress('Conflicts with port forwards on the same');
  const pf = await api.job('createPortForwardingRule', { ipaddressid: pub.id, protocol: 'tcp', publicport: 80, privateport: 8080, virtualmachineid: vms[0].id });
  t.is(pf.jobresult.errorcode, 537, JSON.stringify(pf.jobresult));
  t.regex(pf.jobresult.errortext, /The range specified, 80-80, conflicts with rule/);
  await api.jobOk('createPortForwardingRule', { ipaddressid: pub.id, protocol: 'tcp', publicport: 2222, privateport: 22, virtualmachineid: vms[0].id });
  const lbOnPf = await api.call('createLoadBalancerRule', { publicipid: pub.id, name: 'ssh', algorithm: 'roundrobin', publicport: 2222, privateport: 22 });
  t.is(lbOnPf.status, 537, JSON.stringify(lbOnPf.body));
  t.regex(lbOnPf.body.errortext, /The range specified, 2222-2222, conflicts with rule/);
  const twice = await api.call('createLoadBalancerRule', { publicipid: pub.id, name: 'again', algorithm: 'source', publicport: 80, privateport: 80 });
  t.is(twice.status, 537);

  // Health check: a stopped VM leaves the rotation, comes back after it starts.
  progress('Health check: a stopped VM leaves the ro');
  await api.jobOk('createLBHealthCheckPolicy', { lbruleid: ruleId, pingpath: '/', intervaltime: 2, responsetimeout: 2, healthythreshold: 2, unhealthythreshold: 2 });
  const states = async () => {
    const r = await api.ok('listLoadBalancerRuleInstances', { id: ruleId, lbvmips: true });
    return Object.fromEntries(r.lbrulevmidip.map((x: { loadbalancerruleinstance: { name: string }; lbvmipstates: Array<{ state: string }> }) => [x.loadbalancerruleinstance.name, x.lbvmipstates[0]!.state]));
  };
  await waitFor(async () => JSON.stringify(await states()) === JSON.stringify({ vm1: 'Active', vm2: 'Active', vm3: 'Active' }), 'all backends Active', 20_000);
  await api.jobOk('stopVirtualMachine', { id: vms[1].id });
  await waitFor(async () => (await states()).vm2 === 'Inactive', 'vm2 Inactive', 20_000);
  t.deepEqual(Object.keys(tally(await names(w, `http://${pub.ipaddress}/`, 12))).sort(), ['vm1', 'vm3']);
  const hc = (await api.ok('listLBHealthCheckPolicies', { lbruleid: ruleId })).healthcheckpolicies[0].healthcheckpolicy[0];
  t.like(hc, { pingpath: '/', healthcheckinterval: 2, responsetime: 2, healthcheckthresshold: 2, unhealthcheckthresshold: 2 });
  // The policy lists each member's state as the router's checks see it.
  t.deepEqual(hc.backends.find((b: { ip: string }) => b.ip === vms[1].nic[0].ipaddress), { ip: vms[1].nic[0].ipaddress, state: 'Inactive' });
  t.deepEqual(hc.backends.filter((b: { state: string }) => b.state === 'Active').length, 2);
  // updateLBHealthCheckPolicy (CloudStack's UpdateLBHealthCheckPolicyCmd): the display flag, stored and filtered.
  const hcUpd = (await api.jobOk('updateLBHealthCheckPolicy', { id: hc.id, fordisplay: false })).healthcheckpolicies;
  t.is(hcUpd.healthcheckpolicy[0].fordisplay, false);
  t.deepEqual((await api.ok('listLBHealthCheckPolicies', { lbruleid: ruleId, fordisplay: true })).healthcheckpolicies[0].healthcheckpolicy ?? [], []);
  t.is((await api.ok('listLBHealthCheckPolicies', { lbruleid: ruleId, fordisplay: false })).healthcheckpolicies[0].healthcheckpolicy[0].id, hc.id);
  await api.jobOk('startVirtualMachine', { id: vms[1].id });
  await leased(w, await nsOf(w, vms[1].id), vms[1].nic[0].ipaddress);
  await waitFor(async () => (await states()).vm2 === 'Active', 'vm2 Active again', 30_000);
  t.true((await names(w, `http://${pub.ipaddress}/`, 12)).includes('vm2'));

  // A change under a running connection loop: no failed request; counters survive it.
  progress('A change under a running connection loop');
  const before = (await api.ok('listLoadBalancerRules', { id: ruleId })).loadbalancerrule[0].packets;
  const loop = w.lab.tryExec(w.uplink, ['sh', '-c', `for i in $(seq 150); do curl -sS --max-time 3 http://${pub.ipaddress}/ >/dev/null || echo FAIL; done`], { timeoutMs: 120_000 });
  await api.jobOk('updateLoadBalancerRule', { id: ruleId, algorithm: 'source' });
  await api.jobOk('removeFromLoadBalancerRule', { id: ruleId, virtualmachineids: vms[2].id });
  await api.jobOk('assignToLoadBalancerRule', { id: ruleId, 'vmidipmap[0].vmid': vms[2].id, 'vmidipmap[0].vmip': vms[2].nic[0].ipaddress });
  const out = await loop;
  t.false(out.stdout.includes('FAIL'), out.stdout);
  const after = (await api.ok('listLoadBalancerRules', { id: ruleId })).loadbalancerrule[0];
  t.true(after.packets >= before + 150, `${before} → ${after.packets}`);
  t.is(after.algorithm, 'source');
  t.is(Object.keys(tally(await names(w, `http://${pub.ipaddress}/`, 8))).length, 1, 'source: one client, one backend');

  // Cookie stickiness through HAProxy: one cookie jar, one backend.
  progress('Cookie stickiness through HAProxy: one c');
  const ck = (await api.jobOk('createLoadBalancerRule', { publicipid: pub.id, name: 'sticky', algorithm: 'roundrobin', publicport: 8080, privateport: 80 })).loadbalancer;
  await api.jobOk('assignToLoadBalancerRule', { id: ck.id, virtualmachineids: vms.map((v) => v.id).join(',') });
  const st = (await api.jobOk('createLBStickinessPolicy', { lbruleid: ck.id, name: 'c1', methodname: 'LbCookie', 'param[0].name': 'cookie-name', 'param[0].value': 'FLTSRV' })).stickinesspolicies;
  t.like(st.stickinesspolicy[0], { methodname: 'LbCookie', name: 'c1', fordisplay: true });
  const stUpd = (await api.jobOk('updateLBStickinessPolicy', { id: st.stickinesspolicy[0].id, fordisplay: false })).stickinesspolicies;
  t.is(stUpd.stickinesspolicy[0].fordisplay, false);
  t.is((await api.ok('listLoadBalancerRules', { id: ck.id })).loadbalancerrule[0].engine, 'haproxy');
  const jar = `/tmp/flt-lb-jar-${process.pid}`;
  t.teardown(() => rmSync(jar, { force: true }));
  const sticky = await names(w, `http://${pub.ipaddress}:8080/`, 8, ['-b', jar, '-c', jar]);
  t.is(Object.keys(tally(sticky)).length, 1, sticky.join());
  t.not(sticky[0], 'FAIL');
  t.is(Object.keys(tally(await names(w, `http://${pub.ipaddress}:8080/`, 9))).length, 3, 'without the cookie: round robin');
  const counted = (await api.ok('listLoadBalancerRules', { id: ck.id })).loadbalancerrule[0];
  t.true(counted.sessions >= 17, JSON.stringify(counted));
  // Per-backend counters on the rule (and beside each address's state in lbvmips).
  t.is(counted.backendcounters.length, 3, JSON.stringify(counted));
  t.true(counted.backendcounters.every((b: { sessions: number; bytes: number }) => b.sessions >= 1 && b.bytes > 0), JSON.stringify(counted));
  const ipStates = (await api.ok('listLoadBalancerRuleInstances', { id: ck.id, lbvmips: true })).lbrulevmidip.map((x: { lbvmipstates: Array<{ sessions?: number }> }) => x.lbvmipstates[0]!);
  t.true(ipStates.every((x: { state: string; sessions?: number }) => x.state === 'Active' && (x.sessions ?? 0) >= 1), JSON.stringify(ipStates));
  // HAProxy members change under a connection loop (runtime API, no reload): no failed request,
  // the removed member's counters stay on the rule.
  progress('HAProxy members change under a connecti');
  const hloop = w.lab.tryExec(w.uplink, ['sh', '-c', `for i in $(seq 60); do curl -sS --max-time 3 http://${pub.ipaddress}:8080/ >/dev/null || echo FAIL; done`], { timeoutMs: 120_000 });
  await api.jobOk('removeFromLoadBalancerRule', { id: ck.id, virtualmachineids: vms[2].id });
  await api.jobOk('assignToLoadBalancerRule', { id: ck.id, virtualmachineids: vms[2].id });
  const hout = await hloop;
  t.false(hout.stdout.includes('FAIL'), hout.stdout);

  // TLS termination with a certificate made by openssl here.
  progress('TLS termination with a certificate made ');
  const dir = mkdtempSync(join(tmpdir(), 'flt-lb-tls-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem'), '-days', '2', '-subj', `/CN=${pub.ipaddress}`]);
  const cert = (await api.ok('uploadSslCert', { name: 'site', certificate: readFileSync(join(dir, 'c.pem'), 'utf8'), privatekey: readFileSync(join(dir, 'k.pem'), 'utf8') })).sslcert;
  t.regex(cert.fingerprint, /^([0-9A-F]{2}:){19}[0-9A-F]{2}$/);
  const bad = await api.call('uploadSslCert', { name: 'bad', certificate: readFileSync(join(dir, 'c.pem'), 'utf8'), privatekey: 'not a key' });
  t.is(bad.status, 431);
  const tls = (await api.jobOk('createLoadBalancerRule', { publicipid: pub.id, name: 'tls', algorithm: 'leastconn', publicport: 443, privateport: 80, protocol: 'ssl' })).loadbalancer;
  await api.jobOk('assignToLoadBalancerRule', { id: tls.id, virtualmachineids: vms.map((v) => v.id).join(',') });
  await api.jobOk('assignCertToLoadBalancer', { lbruleid: tls.id, certid: cert.id });
  t.is((await api.ok('listSslCerts', { certid: cert.id })).sslcert[0].loadbalancerrulelist[0], tls.id);
  const https = await names(w, `https://${pub.ipaddress}/`, 6, ['--cacert', join(dir, 'c.pem')]);
  t.true(https.every((n) => /^vm[123]$/.test(n)), https.join());
  t.is((await api.call('deleteSslCert', { id: cert.id })).status, 536, 'in use');

  // cidrlist: only the listed sources are balanced.
  progress('cidrlist: only the listed sources are ba');
  const lim = (await api.jobOk('createLoadBalancerRule', { publicipid: pub.id, name: 'lim', algorithm: 'roundrobin', publicport: 81, privateport: 80, cidrlist: '203.0.113.1/32' })).loadbalancer;
  await api.jobOk('assignToLoadBalancerRule', { id: lim.id, virtualmachineids: vms[0].id });
  t.is((await names(w, `http://${pub.ipaddress}:81/`, 1))[0], 'vm1');
  // fordisplay on the rule: stored by update, filtered by list.
  t.is((await api.jobOk('updateLoadBalancerRule', { id: lim.id, fordisplay: false })).loadbalancer.fordisplay, false);
  t.deepEqual((await api.ok('listLoadBalancerRules', { fordisplay: false })).loadbalancerrule.map((x: { id: string }) => x.id), [lim.id]);
  t.is((await names(w, `http://${pub.ipaddress}:81/`, 1, [], '203.0.113.2'))[0], 'FAIL');

  // Another tenant sees and changes none of it.
  progress('Another tenant sees and changes none of ');
  const bob = await tenant(w.cloud, 'bob');
  t.deepEqual(await bob.api.ok('listLoadBalancerRules', {}), {});
  t.is((await bob.api.call('deleteLoadBalancerRule', { id: ruleId })).status, 531);
  t.is((await bob.api.call('assignToLoadBalancerRule', { id: ruleId, virtualmachineids: vms[0].id })).status, 531);
  t.is((await bob.api.call('listLoadBalancerRuleInstances', { id: ruleId })).status, 531);

  // libcloud's CloudStackLBDriver lists balancers and members, detaches and attaches one.
  progress("libcloud's CloudStackLBDriver lists bala");
  const py = `
import sys
from libcloud.loadbalancer.providers import get_driver
from libcloud.loadbalancer.types import Provider
from urllib.parse import urlparse
u = urlparse(sys.argv[1])
cls = get_driver(Provider.CLOUDSTACK)
d = cls(key=sys.argv[2], secret=sys.argv[3], host=u.hostname, port=u.port, path='/client/api', secure=False)
bs = {b.name: b for b in d.list_balancers()}
web = bs['web']
ms = d.balancer_list_members(web)
print('members', len(ms))
d.balancer_detach_member(web, ms[0])
print('after', len(d.balancer_list_members(web)))
d.balancer_attach_member(web, ms[0])
print('again', len(d.balancer_list_members(web)))
print('all', sorted(b.name for b in d.list_balancers()))
`;
  const lc = await run('/usr/bin/python3', ['-c', py, w.cloud.url, api.apiKey, api.secretKey], { timeout: 120_000 });
  t.is(lc.stdout.trim(), "members 3\nafter 2\nagain 3\nall ['lim', 'sticky', 'tls', 'web']", lc.stderr);

  // Deleting a rule removes its firewall rule too; the port closes.
  progress('Deleting a rule removes its firewall rul');
  await api.jobOk('deleteLoadBalancerRule', { id: ruleId });
  t.false((await api.ok('listFirewallRules', { ipaddressid: pub.id })).firewallrule?.some((f: { startport: number }) => f.startport === 80));
  t.is((await names(w, `http://${pub.ipaddress}/`, 1))[0], 'FAIL');
});

async function waitJob(api: Api, jobid: string): Promise<any> {
  let r: any;
  await waitFor(async () => { r = (await api.ok('queryAsyncJobResult', { jobid })); return r.jobstatus !== 0; }, `job ${jobid}`, 60_000);
  if (r.jobstatus !== 1) throw new Error(JSON.stringify(r.jobresult));
  return r.jobresult;
}
