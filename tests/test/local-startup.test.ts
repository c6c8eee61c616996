// Issue 18: tenants and admins act while `npm start`'s single-machine cloud is still being set
// up. The real entry point (manager/src/main.ts) runs as a child process with a pause before
// each set-up step (FLOTILLA_LOCAL_STEP_DELAY_MS), and the test fires isolated networks, VMs and
// public IPs the moment each stage of the zone appears. Every time the manager must survive and
// finish a complete local cloud that then serves those same requests. The simulator driver runs
// it without namespaces; one run uses the netns driver (root).
import test, { type ExecutionContext } from 'ava';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { keysFor, signedClient, type Api } from '@flotilla/manager/client';
import { kernelTestsUnavailable } from '../src/lab.ts';
import { waitFor } from '../src/cloud.ts';

const root = new URL('../../', import.meta.url).pathname;
const PASSWORD = 'startup-pw';

interface Running { child: ChildProcess; url: string; output: () => string; name: string }

/** Processes whose command line mentions our data dir (the agent the manager started). */
function strays(dataDir: string): number[] {
  const pids: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try { if (readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(dataDir)) pids.push(Number(p)); } catch { /* gone */ }
  }
  return pids;
}

async function startMain(t: ExecutionContext, driver: 'simulator' | 'netns', stepDelayMs: number): Promise<Running> {
  const name = `flt-s${randomBytes(3).toString('hex')}`;
  const dataDir = mkdtempSync(join(tmpdir(), 'flt-startup-'));
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'manager/src/main.ts')], {
    env: { ...process.env, PORT: '0', FLOTILLA_LISTEN: '127.0.0.1', FLOTILLA_DATA_DIR: dataDir, FLOTILLA_ADMIN_PASSWORD: PASSWORD,
      FLOTILLA_LOCAL_NAME: name, FLOTILLA_LOCAL_DRIVER: driver, FLOTILLA_LOCAL_STEP_DELAY_MS: String(stepDelayMs), FLOTILLA_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) { child.kill('SIGTERM'); await new Promise((r) => child.once('exit', r)); }
    // A manager that died cannot stop its agent: stop it here, by the PID we found.
    for (const pid of strays(dataDir)) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
    if (driver === 'netns') execFileSync(join(root, 'scripts/local-cloud-clean.sh'), [name]);
    rmSync(dataDir, { recursive: true, force: true });
  });
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no start: ${out}`)), 90_000);
    child.stdout!.on('data', (b) => { out += b; const m = /listening on (http:\/\/localhost:\d+)/.exec(out); if (m) { clearTimeout(timer); resolve(m[1]!.replace('localhost', '127.0.0.1')); } });
    child.stderr!.on('data', (b) => { out += b; });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`manager exited (${code}) before listening: ${out}`)); });
  });
  return { child, url, output: () => out, name };
}

const alive = (r: Running) => r.child.exitCode === null && r.child.signalCode === null;

/** The stages of the set-up, in order, as an admin sees them appear. */
const STAGES: Record<string, (admin: Api) => Promise<boolean>> = {
  zone: async (a) => Boolean((await a.ok('listZones', { name: 'local' })).zone?.length),
  'physical network': async (a) => Boolean((await a.ok('listPhysicalNetworks', { name: 'local-physical' })).physicalnetwork?.length),
  // The issue's crash: tenants' isolated networks become possible here, before local-flat exists.
  'guest traffic': async (a) => {
    const pn = (await a.ok('listPhysicalNetworks', { name: 'local-physical' })).physicalnetwork?.[0];
    return Boolean(pn && ((await a.ok('listTrafficTypes', { physicalnetworkid: pn.id })).traffictype ?? []).some((x: any) => x.traffictype === 'Guest'));
  },
  'public range': async (a) => Boolean((await a.ok('listVlanIpRanges', {})).vlaniprange?.length),
  // The zone is enabled (tenants see it in listZones) just before the host is added.
  'zone enabled': async (a) => (await a.ok('listZones', { name: 'local' })).zone?.[0]?.allocationstate === 'Enabled',
};

interface Answer { what: string; status: number; text?: string }

/** What a script would fire at a fresh zone: networks, addresses and VMs, as tenant and admin. */
async function fire(admin: Api, tenant: Api, zoneId: string, tag: string): Promise<Answer[]> {
  const out: Answer[] = [];
  const rec = (what: string, r: { status: number; body: any }) => { out.push({ what, status: r.status, ...(r.status === 200 ? {} : { text: r.body?.errortext }) }); return r; };
  const iso = (await admin.ok('listNetworkOfferings', { name: 'DefaultIsolatedNetworkOfferingWithSourceNatService' })).networkoffering[0].id;
  const so = (await admin.ok('listServiceOfferings', { name: 'Small Instance' })).serviceoffering[0].id;
  const tpl = (await admin.ok('listTemplates', { templatefilter: 'featured' })).template[0].id;
  const asTenant = async () => {
    const n = rec('tenant createNetwork', await tenant.call('createNetwork', { zoneid: zoneId, name: `t-${tag}`, displaytext: 'tenant', networkofferingid: iso }));
    rec('tenant associateIpAddress', await tenant.call('associateIpAddress', { zoneid: zoneId }));
    if (n.status === 200) {
      rec('tenant deployVirtualMachine', await tenant.call('deployVirtualMachine', { zoneid: zoneId, serviceofferingid: so, templateid: tpl, networkids: n.body.network.id, name: `vm-${tag}` }));
      rec('tenant associateIpAddress networkid', await tenant.call('associateIpAddress', { networkid: n.body.network.id }));
    }
  };
  const asAdmin = async () => {
    const n = rec('admin createNetwork', await admin.call('createNetwork', { zoneid: zoneId, name: `a-${tag}`, displaytext: 'admin', networkofferingid: iso }));
    if (n.status === 200) rec('admin deployVirtualMachine', await admin.call('deployVirtualMachine', { zoneid: zoneId, serviceofferingid: so, templateid: tpl, networkids: n.body.network.id, name: `avm-${tag}` }));
    rec('admin associateIpAddress', await admin.call('associateIpAddress', { zoneid: zoneId }));
  };
  await Promise.all([asTenant(), asAdmin()]);
  return out;
}

/** The whole local cloud is there, and a tenant can use it. */
async function assertComplete(t: ExecutionContext, admin: Api, tenant: Api): Promise<void> {
  const zone = (await admin.ok('listZones', { name: 'local' })).zone[0];
  t.is(zone.allocationstate, 'Enabled');
  t.is((await admin.ok('listPods', { zoneid: zone.id, name: 'local-pod' })).pod.length, 1);
  t.is((await admin.ok('listClusters', { zoneid: zone.id, name: 'local-cluster' })).cluster.length, 1);
  const pn = (await admin.ok('listPhysicalNetworks', { zoneid: zone.id, name: 'local-physical' })).physicalnetwork;
  t.is(pn.length, 1);
  t.is(pn[0].state, 'Enabled');
  t.deepEqual(((await admin.ok('listTrafficTypes', { physicalnetworkid: pn[0].id })).traffictype as any[]).map((x) => x.traffictype).sort(), ['Guest', 'Management', 'Public']);
  const ranges = (await admin.ok('listVlanIpRanges', { zoneid: zone.id })).vlaniprange;
  t.deepEqual(ranges.map((r: any) => `${r.startip}-${r.endip}`), ['203.0.113.10-203.0.113.250']);
  const flat = (await admin.ok('listNetworks', { zoneid: zone.id, name: 'local-flat', listall: true })).network;
  t.is(flat?.length, 1);
  t.is(flat[0].type, 'Shared');
  await waitFor(async () => (await admin.ok('listHosts', { name: 'local' })).host?.[0]?.state === 'Up', 'the local host Up', 60_000);
  t.like((await admin.ok('listImageStores', { zoneid: zone.id })).imagestore?.[0], { name: 'local-images', providername: 'Local', zoneid: zone.id });
  t.is((await admin.ok('listConfigurations', { name: 'cpu.overprovisioning.factor' })).configuration[0].value, '16');
  // …and serves a tenant: an isolated network, an address on it, a VM on the flat network.
  const iso = (await admin.ok('listNetworkOfferings', { name: 'DefaultIsolatedNetworkOfferingWithSourceNatService' })).networkoffering[0].id;
  const net = await tenant.ok('createNetwork', { zoneid: zone.id, name: 'after', displaytext: 'after', networkofferingid: iso });
  t.truthy(net.network.id);
  const so = (await admin.ok('listServiceOfferings', { name: 'Small Instance' })).serviceoffering[0].id;
  const tpl = (await admin.ok('listTemplates', { templatefilter: 'featured' })).template[0].id;
  const vm = await tenant.job('deployVirtualMachine', { zoneid: zone.id, serviceofferingid: so, templateid: tpl, networkids: flat[0].id, name: 'after' }, 120_000);
  t.is(vm.jobstatus, 1, JSON.stringify(vm.jobresult));
}

async function race(t: ExecutionContext, driver: 'simulator' | 'netns', stage: string): Promise<void> {
  const r = await startMain(t, driver, 300);
  const admin = await keysFor(r.url, 'admin', PASSWORD);
  const acc = (await admin.ok('createAccount', { username: 'tenant', account: 'tenant', password: 'tenant-pw', email: 't@example.org', firstname: 't', lastname: 't', accounttype: 0 })).account;
  const keys = (await admin.ok('registerUserKeys', { id: acc.user[0].id })).userkeys;
  const tenant = signedClient(r.url, keys.apikey, keys.secretkey);
  await waitFor(() => STAGES[stage]!(admin), `stage ${stage}`, 60_000);
  t.false(r.output().includes('Local cloud ready'), `the race at "${stage}" came after the set-up had ended`);
  const zoneId = (await admin.ok('listZones', { name: 'local' })).zone[0].id;
  const answers = await fire(admin, tenant, zoneId, stage.replace(/\W/g, ''));
  t.log(`${stage}: ${answers.map((a) => `${a.what} ${a.status}${a.text ? ` (${a.text})` : ''}`).join('; ')}`);
  // Every answer is a CloudStack answer; none is an internal error.
  for (const a of answers) t.true(a.status === 200 || (a.status >= 401 && a.status <= 537 && a.status !== 530 && Boolean(a.text)), `${a.what}: ${a.status} ${a.text}`);
  await waitFor(async () => r.output().includes('Local cloud ready') || !alive(r), 'the local cloud set-up to end', 90_000);
  t.true(alive(r), `the manager died: ${r.output().slice(-3000)}`);
  await assertComplete(t, admin, tenant);
  t.true(alive(r), `the manager died: ${r.output().slice(-3000)}`);
  t.notRegex(r.output(), /Node\.js v\d|UnhandledPromiseRejection|uncaught exception/i);
}

for (const stage of Object.keys(STAGES)) {
  test.serial(`start-up race at "${stage}" (simulator): the manager survives with a complete local cloud`, (t) => race(t, 'simulator', stage));
}

const skip = kernelTestsUnavailable();
(skip ? test.skip : test.serial)('start-up race at "guest traffic" (netns driver, root): the manager survives with a complete local cloud', (t) => race(t, 'netns', 'guest traffic'));
