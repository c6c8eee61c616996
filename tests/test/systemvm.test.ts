// The zone's system VMs on the real netns driver (root): the manager makes one console proxy VM
// and one secondary storage VM per zone, each with a public address from the zone's range, and
// keeps them alive. The console proxy VM serves the console on its public address (reached from
// the uplink namespace, and through the manager's forward of /console/); a console opened through
// it reaches the guest's own terminal; its appliance killed → re-created and a new endpoint
// works; stop/start/reboot/destroy through the API; the token key rotates (a token of the
// previous key opens after one rotation, not after two).
import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket from 'ws';
import { Lab, kernelTestsUnavailable } from '../src/lab.ts';
import { addHost, addUplink, createZone, netnsHosts, startCloud, waitFor } from '../src/cloud.ts';
import { setConsoleNetns } from '@flotilla/manager/console/index';
import { rotateConsoleKeyNow } from '@flotilla/manager/systemvm/console-role';

const why = kernelTestsUnavailable();
const kernelTest = why ? test.skip : test.serial;

interface Session { ws: WebSocket; text: () => string; closed: Promise<{ code: number; reason: string }>; ready: Promise<string> }

/** A console WebSocket as the page opens it: `ws?token=…` next to the URL's path. */
function openConsole(url: string): Session {
  const u = new URL(url);
  const ws = new WebSocket(`ws://${u.host}${u.pathname}ws?token=${encodeURIComponent(u.searchParams.get('token') ?? '')}`);
  let out = '';
  let readyFn: (vm: string) => void = () => undefined;
  const ready = new Promise<string>((r) => { readyFn = r; });
  ws.on('message', (d, bin) => {
    if (bin) { out += d.toString(); return; }
    const m = JSON.parse(d.toString()) as { type: string; vm?: string };
    if (m.type === 'ready') { readyFn(m.vm ?? ''); ws.send(Buffer.from('\r')); }
  });
  const closed = new Promise<{ code: number; reason: string }>((r) => ws.on('close', (code, reason) => r({ code, reason: reason.toString() })));
  return { ws, text: () => out, closed, ready };
}

async function hostnameThrough(url: string, expect: string): Promise<void> {
  const s = openConsole(url);
  const first = await Promise.race([s.ready.then((vm) => ({ vm })), s.closed.then((c) => ({ closed: c }))]);
  if ('closed' in first) throw new Error(`console refused: ${first.closed.code} ${first.closed.reason}`);
  s.ws.send(Buffer.from('hostname\r'));
  await waitFor(async () => new RegExp(`^${expect}\\s*$`, 'm').test(s.text()), `hostname ${expect} on the console (got ${JSON.stringify(s.text().slice(-200))})`, 20_000);
  s.ws.close();
}

/** Keystroke → echo on the socket, p50 over `n` keys (logged, for the decision record; the
 *  target lives in bench:console). */
async function echoP50(url: string, n = 40): Promise<number> {
  const s = openConsole(url);
  await s.ready;
  // The shell answered the page's Enter (its prompt, raw, may end in terminal escapes).
  await waitFor(async () => s.text().length > 0, 'the shell\'s first output', 20_000);
  await new Promise((r) => setTimeout(r, 300));
  const times: number[] = [];
  let echoed: () => void = () => undefined;
  s.ws.on('message', (d, bin) => { if (bin && d.toString().includes('q')) echoed(); });
  for (let i = 0; i < n; i++) {
    const got = new Promise<void>((r) => { echoed = r; });
    const t0 = performance.now();
    s.ws.send(Buffer.from('q'));
    await Promise.race([got, new Promise((_r, rej) => setTimeout(() => rej(new Error('no echo in 10 s')), 10_000))]);
    times.push(performance.now() - t0);
  }
  s.ws.send(Buffer.from('\x15'));
  s.ws.close();
  times.sort((a, b) => a - b);
  return times[Math.floor(n / 2)]!;
}

async function refusal(url: string): Promise<{ code: number; reason: string }> {
  const s = openConsole(url);
  return Promise.race([s.closed, s.ready.then(async (vm) => { s.ws.close(); return { code: 0, reason: `opened (${vm})` }; })]);
}

kernelTest('system VMs: a console proxy and a secondary storage VM per zone, kept alive, driven by the API; the console through the proxy VM; key rotation', async (t) => {
  const lab = Lab.create(t, 'svm');
  const cloud = await startCloud(t, { systemVms: true, systemVmCheckMs: 1000 });
  const z = await createZone(cloud.admin, 'svm');
  const [h1] = await netnsHosts(lab, 1);
  await addHost(t, cloud, z, { name: 'host1', driver: h1!.driver, tag: h1!.tag, hostNs: h1!.hostNs });
  const up = await addUplink(lab, cloud, z, [h1!]);
  await setConsoleNetns(cloud.m.services, up.ns);
  const s = cloud.m.services;

  const list = async (type: string) => (await cloud.admin.ok('listSystemVms', { zoneid: z.zoneId, systemvmtype: type })).systemvm ?? [];
  const running = async (type: string) => {
    let vm: Record<string, any> | undefined;
    await waitFor(async () => { const l = await list(type); vm = l.find((v: any) => v.state === 'Running' && v.agentstate === 'Up'); return Boolean(vm); }, `a Running ${type} VM`, 90_000);
    return vm!;
  };

  // One of each per zone, with CloudStack's fields and a public address of the zone's range.
  const cp = await running('consoleproxy');
  const ss = await running('secondarystoragevm');
  t.is((await list('consoleproxy')).length, 1);
  t.is((await list('secondarystoragevm')).length, 1);
  t.regex(cp.name, /^v-\d+-VM$/);
  t.regex(ss.name, /^s-\d+-VM$/);
  for (const v of [cp, ss]) {
    t.regex(v.publicip, /^203\.0\.113\.\d+$/);
    t.is(v.publicnetmask, '255.255.255.0');
    t.is(v.gateway, up.gateway);
    t.regex(v.linklocalip, /^169\.254\.\d+\.\d+$/);
    t.truthy(v.hostid);
    t.is(v.zoneid, z.zoneId);
    t.is(v.hypervisor, 'LXC');
  }
  t.not(cp.publicip, ss.publicip);
  t.is(cp.activeviewersessions, 0);
  // Their addresses are the zone's: a tenant's allocation does not get them.
  const addrs = (await s.db.query<{ address: string }>('SELECT address FROM public_ip_addresses WHERE zone_id = $1', [z.zoneId])).map((r) => r.address);
  t.true(addrs.includes(cp.publicip) && addrs.includes(ss.publicip));

  // The proxy VM serves the console page on its public address (from the uplink, as a browser
  // there would), and the storage VM's stand-in its health.
  const page = await lab.exec(up.ns, ['curl', '-sS', '--max-time', '10', `http://${cp.publicip}/console/`]);
  t.regex(page.stdout, /xterm/);
  const health = await lab.exec(up.ns, ['curl', '-sS', '--max-time', '10', `http://${ss.publicip}/health`]);
  t.like(JSON.parse(health.stdout), { ok: true, role: 'storage' });

  // A guest and its console through the proxy VM.
  const off = (await cloud.admin.ok('listNetworkOfferings', { name: 'DefaultSharedNetworkOffering' })).networkoffering[0];
  const net = (await cloud.admin.ok('createNetwork', {
    name: 'svmnet', zoneid: z.zoneId, networkofferingid: off.id, vlan: 'vxlan://6610', gateway: '10.83.0.1', netmask: '255.255.255.0', startip: '10.83.0.10', endip: '10.83.0.99',
  })).network.id;
  const tpl = (await cloud.admin.ok('listTemplates', { templatefilter: 'featured', name: 'Flotilla netns guest' })).template[0];
  const small = (await cloud.admin.ok('listServiceOfferings', { name: 'Small Instance' })).serviceoffering[0];
  const vm = (await cloud.admin.jobOk('deployVirtualMachine', { zoneid: z.zoneId, serviceofferingid: small.id, templateid: tpl.id, networkids: net, name: 'svmguest' }, 120_000)).virtualmachine;
  const endpoint = async () => (await cloud.admin.ok('createConsoleEndpoint', { virtualmachineid: vm.id })).consoleendpoint;

  const ep = await endpoint();
  t.regex(ep.url, /^http:\/\/127\.0\.0\.1:\d+\/console\/\?token=c1\./);
  await hostnameThrough(ep.url, 'svmguest');
  const ev = await s.db.query<{ params: string }>(`SELECT params::text AS params FROM events WHERE type = 'VM.CONSOLE.OPEN' ORDER BY created DESC LIMIT 1`);
  t.true(ev[0]!.params.includes(cp.id), 'the console was opened by the proxy VM');
  t.regex(ev[0]!.params, /127\.0\.0\.1/, 'the browser\'s address, forwarded');
  t.like(await refusal(ep.url), { code: 4403, reason: 'token already used' });
  t.log(`keystroke echo p50 through the proxy VM: ${(await echoP50((await endpoint()).url)).toFixed(1)} ms`);
  // CloudStack's wildcard domain: the URL names the proxy VM's address, dashed.
  await cloud.admin.ok('updateConfiguration', { name: 'consoleproxy.url.domain', value: '*.console.example.org' });
  t.regex((await endpoint()).url, new RegExp(`^http://${cp.publicip.replaceAll('.', '-')}\\.console\\.example\\.org/console/\\?token=`));
  await cloud.admin.ok('updateConfiguration', { name: 'consoleproxy.url.domain', value: '' });

  // Key rotation: a token of the previous key opens after one rotation, not after two.
  await cloud.admin.ok('updateConfiguration', { name: 'consoleproxy.session.timeout', value: '600000' });
  const a1 = await endpoint();
  const a2 = await endpoint();
  const epochOf = async () => ((await s.db.query<{ report: { epochs: number[] } }>('SELECT report FROM system_vms WHERE vm_id = $1', [cp.id]))[0]!.report.epochs);
  const e0 = (await epochOf())[0]!;
  await rotateConsoleKeyNow(s);
  await waitFor(async () => (await epochOf())[0] === e0 + 1, 'the proxy VM holds the new key');
  t.deepEqual(await epochOf(), [e0 + 1, e0]);
  await hostnameThrough(a1.url, 'svmguest');
  await hostnameThrough((await endpoint()).url, 'svmguest');
  await rotateConsoleKeyNow(s);
  await waitFor(async () => (await epochOf())[0] === e0 + 2, 'the proxy VM holds the newest key');
  t.like(await refusal(a2.url), { code: 4403, reason: 'invalid token' });
  // The proxy VM itself refuses it too (not only the manager's forward): straight to its address.
  const direct = await lab.tryExec(up.ns, ['curl', '-sS', '--max-time', '5', '-o', '/dev/null', '-w', '%{http_code}', `http://${cp.publicip}/console/?token=${encodeURIComponent(new URL(a2.url).searchParams.get('token')!)}`]);
  t.is(direct.stdout, '200', 'the page itself carries no secret');
  // The rotation interval: the monitor rotates by itself.
  await cloud.admin.ok('updateConfiguration', { name: 'consoleproxy.key.rotation.interval', value: '1000' });
  await waitFor(async () => (await epochOf())[0]! >= e0 + 3, 'a rotation by the interval', 30_000);
  await cloud.admin.ok('updateConfiguration', { name: 'consoleproxy.key.rotation.interval', value: '86400000' });
  await cloud.admin.ok('updateConfiguration', { name: 'consoleproxy.session.timeout', value: '30000' });

  // The proxy VM's appliance killed: the manager re-creates it (same VM, same address) and a new
  // endpoint works.
  const pidsFile = join(h1!.driver.stateDir, 'vms', cp.name, 'pids.json');
  const before = JSON.parse(readFileSync(pidsFile, 'utf8')) as Record<string, number>;
  process.kill(before.appliance!, 'SIGKILL');
  await waitFor(async () => {
    const now = JSON.parse(readFileSync(pidsFile, 'utf8')) as Record<string, number>;
    const l = await list('consoleproxy');
    return now.appliance !== before.appliance && l[0]?.state === 'Running' && l[0]?.agentstate === 'Up';
  }, 'the proxy VM re-created', 60_000);
  const again = await list('consoleproxy');
  t.is(again.length, 1);
  t.is(again[0].id, cp.id);
  t.is(again[0].publicip, cp.publicip);
  await hostnameThrough((await endpoint()).url, 'svmguest');

  // Bad input is refused before any job.
  t.is((await cloud.admin.call('startSystemVm', { id: cp.id })).status, 431);
  t.is((await cloud.admin.call('stopSystemVm', { id: vm.id })).status, 431);
  t.is((await cloud.admin.call('rebootSystemVm', {})).status, 431);

  // stop: the monitor leaves it stopped; consoles fall back to the manager's own proxy role.
  const stopped = (await cloud.admin.jobOk('stopSystemVm', { id: cp.id }, 120_000)).systemvm;
  t.is(stopped.state, 'Stopped');
  t.false(await h1!.driver.listState({}).then((st) => st.vms.some((v) => v.name === cp.name)));
  await new Promise((r) => setTimeout(r, 2500));
  t.is((await list('consoleproxy'))[0].state, 'Stopped');
  const viaManager = await endpoint();
  await hostnameThrough(viaManager.url, 'svmguest');
  t.log(`keystroke echo p50 through the manager's own role: ${(await echoP50((await endpoint()).url)).toFixed(1)} ms`);
  const ev2 = await s.db.query<{ params: string }>(`SELECT params::text AS params FROM events WHERE type = 'VM.CONSOLE.OPEN' ORDER BY created DESC LIMIT 1`);
  t.false(ev2[0]!.params.includes(cp.id), 'served by the manager while the proxy VM is stopped');
  t.is((await cloud.admin.call('rebootSystemVm', { id: cp.id })).status, 431);
  // start, reboot: back, and consoles through it again.
  t.is((await cloud.admin.jobOk('startSystemVm', { id: cp.id }, 120_000)).systemvm.state, 'Running');
  t.is((await cloud.admin.jobOk('rebootSystemVm', { id: cp.id }, 120_000)).systemvm.state, 'Running');
  await hostnameThrough((await endpoint()).url, 'svmguest');
  t.true((await s.db.query<{ params: string }>(`SELECT params::text AS params FROM events WHERE type = 'VM.CONSOLE.OPEN' ORDER BY created DESC LIMIT 1`))[0]!.params.includes(cp.id));

  // destroy: gone with its address; the zone gets a new one.
  const gone = (await cloud.admin.jobOk('destroySystemVm', { id: cp.id }, 120_000)).systemvm;
  t.is(gone.state, 'Destroyed');
  t.false(await h1!.driver.listState({}).then((st) => st.vms.some((v) => v.name === cp.name)));
  const next = await running('consoleproxy');
  t.not(next.id, cp.id);
  t.is((await list('consoleproxy')).length, 1);
  await hostnameThrough((await endpoint()).url, 'svmguest');

  // Scale-out: more open sessions than consoleproxy.session.max per proxy → one more proxy VM,
  // and the next endpoint goes to the least busy one.
  await cloud.admin.ok('updateConfiguration', { name: 'consoleproxy.session.max', value: '1' });
  const held = openConsole((await endpoint()).url);
  await held.ready;
  let pair: Array<Record<string, any>> = [];
  await waitFor(async () => { pair = (await list('consoleproxy')).filter((v: any) => v.state === 'Running' && v.agentstate === 'Up'); return pair.length === 2; }, 'a second console proxy VM', 90_000);
  const spare = pair.find((v) => v.id !== next.id)!;
  t.not(spare.publicip, next.publicip);
  await hostnameThrough((await endpoint()).url, 'svmguest');
  t.true((await s.db.query<{ params: string }>(`SELECT params::text AS params FROM events WHERE type = 'VM.CONSOLE.OPEN' ORDER BY created DESC LIMIT 1`))[0]!.params.includes(spare.id), 'the least busy proxy VM');
  held.ws.close();
  await cloud.admin.ok('updateConfiguration', { name: 'consoleproxy.session.max', value: '50' });

  // Disabled by configuration: the zone gets no new one.
  await cloud.admin.ok('updateConfiguration', { name: 'secondary.storage.vm', value: 'false' });
  await cloud.admin.jobOk('destroySystemVm', { id: ss.id }, 120_000);
  await new Promise((r) => setTimeout(r, 3000));
  t.is((await list('secondarystoragevm')).length, 0);
});
