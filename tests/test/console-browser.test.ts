// The console proxy in a real browser (playwright-core driving Debian's chromium, headless):
// a tenant's guest VM (a runc container on the netns driver) deployed through the API, its
// createConsoleEndpoint URL opened in the page the proxy serves (xterm.js, screen-reader mode,
// whose accessibility tree is what we read), `hostname` typed and the VM's name read back,
// `ls /root` showing the guest's files (not the host's), a paste reaching the shell, the same
// URL refused the second time, an expired token refused, another tenant refused an endpoint,
// a stopped VM refused with 431, the legacy /client/console redirect with a session, and an
// event for the console opened; the page fits a resized window and Backspace follows the Keys
// choice; the console behind HAProxy forwarding another prefix; and a VNC console (a Simulator
// host of the same zone pointing at Xvfb + x11vnc) through the proxy VM. Screenshots go to
// tests/artifacts/console/ (gitignored).
import test from 'ava';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { chromium, type Browser, type Page } from 'playwright-core';
import { keysFor, login } from '@flotilla/manager/client';
import { Lab, kernelTestsUnavailable } from '../src/lab.ts';
import { addHost, addUplink, createZone, netnsHosts, startCloud, waitFor } from '../src/cloud.ts';
import { setConsoleNetns } from '@flotilla/manager/console/index';
import { SimulatorDriver } from '@flotilla/agent/drivers/simulator';
import { freePort, missingVncTools, startVncServer, waitPixel } from '../src/xvnc.ts';

const CHROMIUM = '/usr/bin/chromium';
// (The VNC part needs Xvfb, x11vnc, xsetroot and xev, which .ci/run installs: missing, it fails.)
const why = kernelTestsUnavailable() ?? (existsSync(CHROMIUM) ? undefined : 'no /usr/bin/chromium');
const kernelTest = why ? test.skip : test.serial;
const ARTIFACTS = join(import.meta.dirname, '..', 'artifacts', 'console');

async function launch(t: { teardown(fn: () => unknown): void }): Promise<Browser> {
  // launch() gives every browser a fresh temporary user-data-dir of its own (Playwright
  // refuses --user-data-dir with launch()); it is removed at close.
  const browser = await chromium.launch({
    executablePath: CHROMIUM, headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  t.teardown(() => browser.close());
  return browser;
}

/** The terminal's text as assistive technology reads it (xterm's screen-reader mode). */
// (Browser code as strings: this package's TypeScript has no DOM types.)
const screenText = (page: Page) => page.evaluate<string>(`document.querySelector('.xterm-accessibility-tree')?.innerText ?? ''`);
const statusText = (page: Page) => page.locator('#status').innerText();
async function waitText(page: Page, re: RegExp, what: string, ms = 20_000): Promise<string> {
  let last = '';
  await waitFor(async () => re.test(last = await screenText(page)), `${what} (screen: ${JSON.stringify(last.slice(-400))})`, ms);
  return last;
}
async function typeLine(page: Page, line: string): Promise<void> {
  await page.locator('.xterm-helper-textarea').focus();
  await page.keyboard.type(line);
  await page.keyboard.press('Enter');
}

kernelTest('a VM console in a real browser: xterm.js page, the guest\'s shell, paste, single use, expiry, tenants', async (t) => {
  mkdirSync(ARTIFACTS, { recursive: true });
  const lab = Lab.create(t, 'cons');
  // The zone's console proxy VM serves the console: on its public address in the uplink
  // namespace, which the manager forwards /console/ to (as on the single-machine cloud).
  const cloud = await startCloud(t, { systemVms: true, systemVmCheckMs: 1000 });
  await cloud.admin.ok('updateConfiguration', { name: 'secondary.storage.vm', value: 'false' });
  const z = await createZone(cloud.admin);
  const [h1] = await netnsHosts(lab, 1);
  await addHost(t, cloud, z, { name: 'host1', driver: h1!.driver, tag: h1!.tag, hostNs: h1!.hostNs });
  const up = await addUplink(lab, cloud, z, [h1!]);
  await setConsoleNetns(cloud.m.services, up.ns);
  let cpvm: { id: string } | undefined;
  await waitFor(async () => {
    cpvm = ((await cloud.admin.ok('listSystemVms', { systemvmtype: 'consoleproxy' })).systemvm ?? []).find((v: { state: string; agentstate: string }) => v.state === 'Running' && v.agentstate === 'Up');
    return Boolean(cpvm);
  }, 'the console proxy VM running', 90_000);
  const off = (await cloud.admin.ok('listNetworkOfferings', { name: 'DefaultSharedNetworkOffering' })).networkoffering[0];
  const net = (await cloud.admin.ok('createNetwork', {
    name: 'consnet', zoneid: z.zoneId, networkofferingid: off.id, vlan: 'vxlan://6600', gateway: '10.82.0.1', netmask: '255.255.255.0', startip: '10.82.0.10', endip: '10.82.0.99',
  })).network.id;
  const tpl = (await cloud.admin.ok('listTemplates', { templatefilter: 'featured', name: 'Flotilla netns guest' })).template[0];
  const small = (await cloud.admin.ok('listServiceOfferings', { name: 'Small Instance' })).serviceoffering[0];
  for (const name of ['alice', 'bob']) {
    await cloud.admin.ok('createAccount', { username: name, account: name, password: `pw-${name}-1`, email: `${name}@example.org`, firstname: name, lastname: 'T', accounttype: 0 });
  }
  const alice = await keysFor(cloud.url, 'alice', 'pw-alice-1');
  const bob = await keysFor(cloud.url, 'bob', 'pw-bob-1');
  const vm = (await alice.jobOk('deployVirtualMachine', { zoneid: z.zoneId, serviceofferingid: small.id, templateid: tpl.id, networkids: net, name: 'webcons' }, 120_000)).virtualmachine;

  // The browser first: the times logged below are the console's, not chromium's start (which the
  // first version of this test counted: its "4.5 s to the prompt" was mostly that).
  const browser = await launch(t);
  const ctx = await browser.newContext({ viewport: { width: 1000, height: 600 } });
  // The bytes the page sends (its WebSocket's binary frames), to check what a key produced.
  await ctx.addInitScript(`(() => {
    const send = WebSocket.prototype.send;
    window.__sent = [];
    WebSocket.prototype.send = function (d) { if (typeof d !== 'string') window.__sent.push(Array.from(new Uint8Array(d.buffer ? d.buffer.slice(d.byteOffset, d.byteOffset + d.byteLength) : d))); return send.call(this, d); };
  })()`);
  const page = await ctx.newPage();
  page.on('pageerror', (e) => t.log(`page error: ${e.message}`));
  // CloudStack 4.18's answer.
  const t0 = Date.now();
  const ep = (await alice.ok('createConsoleEndpoint', { virtualmachineid: vm.id })).consoleendpoint;
  t.true(ep.success);
  t.is(ep.websocket.extra, '');
  t.regex(ep.url, /^http:\/\/127\.0\.0\.1:\d+\/console\/\?token=c1\./);
  t.is(ep.websocket.path, '/console/ws');
  t.is(ep.websocket.host, '127.0.0.1');
  t.is(ep.url, `http://${ep.websocket.host}:${ep.websocket.port}/console/?token=${encodeURIComponent(ep.websocket.token)}`);

  await page.goto(ep.url);
  t.log(`page loaded: ${Date.now() - t0} ms`);
  let first = '';
  await waitFor(async () => /connected to/.test(first = await statusText(page)), 'page connected', 30_000).catch((e) => { throw new Error(`${(e as Error).message}; status ${JSON.stringify(first)}`); });
  t.log(`connected: ${Date.now() - t0} ms`);
  await waitText(page, /[#$] ?$/m, 'a prompt');
  t.log(`endpoint to prompt: ${Date.now() - t0} ms`);

  await typeLine(page, 'hostname');
  await waitText(page, /^webcons\s*$/m, 'the VM name from hostname');
  // The guest's /root, not the host's: a file made there is listed, and the host has no such file.
  const mark = `flt-guest-${randomBytes(4).toString('hex')}`;
  await typeLine(page, `touch /root/${mark}; ls /root; echo done-$((6*7))`);
  const ls = await waitText(page, /done-42/, 'ls /root');
  t.regex(ls, new RegExp(mark));
  t.false(existsSync(`/root/${mark}`), 'the console shell is not on the host');
  // Paste: a clipboard paste event on xterm's input reaches the shell as typed text.
  await page.evaluate(`(() => {
    const dt = new DataTransfer();
    dt.setData('text/plain', 'echo pasted-$((40+2))-ok\\r');
    document.querySelector('.xterm-helper-textarea').dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));
  })()`);
  await waitText(page, /^pasted-42-ok\s*$/m, 'the pasted command\'s output');
  await page.screenshot({ path: join(ARTIFACTS, 'console-open.png') });

  // Resize: the terminal follows the window (fit addon).
  const size = () => page.evaluate<number[]>('[window.flotillaTerm.cols, window.flotillaTerm.rows]');
  const [cols0, rows0] = await size();
  await page.setViewportSize({ width: 600, height: 400 });
  await waitFor(async () => { const [c = 0, r = 0] = await size(); return c < cols0! && r < rows0!; }, 'the terminal fits the smaller window', 10_000);
  await page.setViewportSize({ width: 1000, height: 600 });
  await waitFor(async () => (await size())[0] === cols0, 'the terminal fits the window again', 10_000);
  // Keys: Backspace sends DEL by default, ^H when chosen (the choice is kept for the next console).
  const lastSent = () => page.evaluate<number[]>('window.__sent[window.__sent.length - 1]');
  await page.locator('.xterm-helper-textarea').focus();
  await page.keyboard.press('Backspace');
  await waitFor(async () => (await lastSent()).join() === '127', 'Backspace sends DEL', 5_000);
  await page.selectOption('#keys', 'ctrlh');
  await page.locator('.xterm-helper-textarea').focus();
  await page.keyboard.press('Backspace');
  await waitFor(async () => (await lastSent()).join() === '8', 'Backspace sends ^H when chosen', 5_000);
  await page.selectOption('#keys', 'layout');

  // One event per console opened: who, which VM, from where.
  const events = await cloud.m.services.db.query<{ username: string; resource_id: string; params: string }>(`SELECT username, resource_id, params::text AS params FROM events WHERE type = 'VM.CONSOLE.OPEN'`);
  t.is(events.length, 1);
  t.is(events[0]!.username, 'alice');
  t.is(events[0]!.resource_id, vm.id);
  t.regex(events[0]!.params, /127\.0\.0\.1/);
  t.true(events[0]!.params.includes(cpvm!.id), 'opened through the console proxy VM');

  // The same URL a second time: refused, and the page says so.
  const again = await ctx.newPage();
  await again.goto(ep.url);
  let st = '';
  await waitFor(async () => /disconnected — token already used/.test(st = await statusText(again)), `reuse refused (status: ${JSON.stringify(st)})`, 30_000).catch((e) => { throw new Error(`${(e as Error).message}; status ${JSON.stringify(st)}`); });
  await again.screenshot({ path: join(ARTIFACTS, 'console-reused.png') });
  t.is((await cloud.m.services.db.query(`SELECT 1 FROM events WHERE type = 'VM.CONSOLE.OPEN'`)).length, 1);

  // An expired token: refused.
  await cloud.admin.ok('updateConfiguration', { name: 'consoleproxy.session.timeout', value: '1000' });
  const short = (await alice.ok('createConsoleEndpoint', { virtualmachineid: vm.id })).consoleendpoint;
  await new Promise((r) => setTimeout(r, 1500));
  const late = await ctx.newPage();
  await late.goto(short.url);
  await waitFor(async () => /disconnected — token expired/.test(await statusText(late)), 'expired refused', 15_000);
  await late.screenshot({ path: join(ARTIFACTS, 'console-expired.png') });
  await cloud.admin.ok('updateConfiguration', { name: 'consoleproxy.session.timeout', value: '30000' });
  // A tampered token: refused.
  const fresh = (await alice.ok('createConsoleEndpoint', { virtualmachineid: vm.id })).consoleendpoint;
  const bad = await ctx.newPage();
  await bad.goto(fresh.url.replace(/token=c1\.(.)/, (_m: string, c: string) => `token=c1.${c === 'A' ? 'B' : 'A'}`));
  await waitFor(async () => /disconnected — invalid token/.test(await statusText(bad)), 'tampered refused', 15_000);

  // Another tenant gets no endpoint; a stopped VM gets a clear 431.
  const other = await bob.call('createConsoleEndpoint', { virtualmachineid: vm.id });
  t.is(other.status, 531);
  t.is(other.body.errorcode, 531);
  t.is((await alice.call('createConsoleEndpoint', {})).status, 431);

  // The legacy redirect with a session (CloudStack's UI): a 302 to a console URL; none without.
  const s = await login(cloud.url, 'alice', 'pw-alice-1');
  const legacy = await fetch(`${cloud.url}/client/console?cmd=access&vm=${vm.id}`, { headers: { cookie: s.cookie }, redirect: 'manual' });
  t.is(legacy.status, 302);
  t.regex(legacy.headers.get('location') ?? '', /\/console\/\?token=c1\./);
  t.is((await fetch(`${cloud.url}/client/console?cmd=access&vm=${vm.id}`, { redirect: 'manual' })).status, 401);
  const viaLegacy = await ctx.newPage();
  await viaLegacy.goto(legacy.headers.get('location')!);
  await waitFor(async () => /connected to/.test(await statusText(viaLegacy)), 'legacy URL connected', 20_000);

  // A dropped socket: the page says disconnected and reconnects with the proxy's fresh token.
  await viaLegacy.evaluate('window.flotillaDrop()');
  await waitFor(async () => /disconnected/.test(await statusText(viaLegacy)) && await viaLegacy.locator('#reconnect').isVisible(), 'reconnect offered', 10_000);
  await viaLegacy.locator('#reconnect').click();
  await waitFor(async () => /connected to webcons/.test(await statusText(viaLegacy)), 'reconnected', 20_000);
  await typeLine(viaLegacy, 'echo again-$((2+3))');
  await waitText(viaLegacy, /^again-5\s*$/m, 'a command after reconnecting');
  t.is((await cloud.m.services.db.query(`SELECT 1 FROM events WHERE type = 'VM.CONSOLE.OPEN'`)).length, 3);

  // Behind a reverse proxy that forwards one prefix (HAProxy, as users put one in front): the
  // URL's host and prefix come from configuration, the pages' relative paths do the rest.
  const hpPort = await freePort();
  const hpDir = mkdtempSync(join(tmpdir(), 'flt-cons-hp-'));
  t.teardown(() => rmSync(hpDir, { recursive: true, force: true }));
  writeFileSync(join(hpDir, 'haproxy.cfg'), [
    'defaults', '  mode http', '  timeout connect 5s', '  timeout client 60s', '  timeout server 60s', '  timeout tunnel 60s',
    'frontend console', `  bind 127.0.0.1:${hpPort}`, '  http-request replace-path ^/vmconsole/(.*) /console/\\1', '  default_backend manager',
    'backend manager', `  server m 127.0.0.1:${new URL(cloud.url).port}`, ''].join('\n'));
  const hp = spawn('haproxy', ['-db', '-f', join(hpDir, 'haproxy.cfg')], { stdio: 'ignore' });
  t.teardown(() => { if (hp.exitCode === null && hp.pid) hp.kill('SIGTERM'); });
  await waitFor(async () => (await fetch(`http://127.0.0.1:${hpPort}/vmconsole/console.css`)).status === 200, 'HAProxy forwarding /vmconsole/', 15_000);
  await cloud.admin.ok('updateConfiguration', { name: 'consoleproxy.url.domain', value: `127.0.0.1:${hpPort}` });
  await cloud.admin.ok('updateConfiguration', { name: 'consoleproxy.url.path', value: '/vmconsole/' });
  const behind = (await alice.ok('createConsoleEndpoint', { virtualmachineid: vm.id })).consoleendpoint;
  t.regex(behind.url, new RegExp(`^http://127\\.0\\.0\\.1:${hpPort}/vmconsole/\\?token=c1\\.`));
  const viaProxy = await ctx.newPage();
  await viaProxy.goto(behind.url);
  await waitFor(async () => /connected to webcons/.test(await statusText(viaProxy)), 'connected behind HAProxy', 30_000);
  await typeLine(viaProxy, 'echo behind-$((3*3))');
  await waitText(viaProxy, /^behind-9\s*$/m, 'a command behind HAProxy');
  await viaProxy.close();
  await cloud.admin.ok('updateConfiguration', { name: 'consoleproxy.url.domain', value: '' });
  await cloud.admin.ok('updateConfiguration', { name: 'consoleproxy.url.path', value: '/console/' });

  // The VM stopped: the open console shows the disconnected state; no new endpoint (431).
  await alice.jobOk('stopVirtualMachine', { id: vm.id }, 120_000);
  await waitFor(async () => /disconnected/.test(await statusText(viaLegacy)), 'disconnected after stop', 20_000);
  await viaLegacy.screenshot({ path: join(ARTIFACTS, 'console-disconnected.png') });
  const stopped = await alice.call('createConsoleEndpoint', { virtualmachineid: vm.id });
  t.is(stopped.status, 431);
  t.regex(stopped.body.errortext, /Stopped/);

  // VNC through the proxy VM: a VM whose host reports a VNC console (a Simulator cluster of the
  // same zone pointing at Xvfb + x11vnc, until the KVM driver's qemu -vnc) gets the noVNC page,
  // served by the proxy VM; RFB flows browser ↔ manager's forward ↔ proxy VM ↔ manager ↔ agent ↔
  // server. The canvas shows the server's screen and a key press reaches it.
  t.deepEqual(missingVncTools(), [], '.ci/run installs the VNC tools');
  const vnc = await startVncServer(t, '#3366cc');
  const simCluster = (await cloud.admin.ok('addCluster', { zoneid: z.zoneId, podid: z.podId, clustername: 'vnc-sim', clustertype: 'CloudManaged', hypervisor: 'Simulator' })).cluster[0];
  const simHost = await addHost(t, cloud, { ...z, clusterId: simCluster.id }, { name: 'vnc1', driver: new SimulatorDriver({ vnc: { host: '127.0.0.1', port: vnc.port } }), tag: 'vnc1' });
  const vvm = (await cloud.admin.jobOk('deployVirtualMachine', { zoneid: z.zoneId, serviceofferingid: small.id, templateid: tpl.id, networkids: net, hostid: simHost.hostId, name: 'vnccons' }, 60_000)).virtualmachine;
  const vep = (await cloud.admin.ok('createConsoleEndpoint', { virtualmachineid: vvm.id })).consoleendpoint;
  t.regex(vep.url, /\/console\/vnc\.html\?token=c1\./);
  // The page itself comes from the proxy VM (straight from its public address on the uplink too).
  const cpip = ((await cloud.admin.ok('listSystemVms', { systemvmtype: 'consoleproxy' })).systemvm ?? []).find((v: { id: string }) => v.id === cpvm!.id).publicip;
  t.regex((await lab.exec(up.ns, ['curl', '-sS', '--max-time', '10', `http://${cpip}/console/vnc.html`])).stdout, /novnc|noVNC|vnc\.js/);
  const vpage = await ctx.newPage();
  await vpage.goto(vep.url);
  await waitFor(async () => /connected to vnccons/.test(await statusText(vpage)), 'VNC page connected through the proxy VM', 30_000);
  await waitPixel(vpage, '51,102,204', 'the canvas shows the server\'s screen');
  await vnc.setRoot('#cc6633');
  await waitPixel(vpage, '204,102,51', 'the canvas follows the server');
  await vpage.locator('#screen canvas').click();
  await vpage.keyboard.press('q');
  await waitFor(async () => /KeyPress event[\s\S]*keysym 0x71, q\)/.test(vnc.keys()), 'the key press reached the VNC server', 20_000);
  await vpage.screenshot({ path: join(ARTIFACTS, 'vnc-proxyvm.png') });
  const vev = await cloud.m.services.db.query<{ params: string }>(`SELECT params::text AS params FROM events WHERE type = 'VM.CONSOLE.OPEN' AND resource_id = $1`, [vvm.id]);
  t.is(vev.length, 1);
  t.regex(vev[0]!.params, /"console":\s*"vnc"/);
  t.true(vev[0]!.params.includes(cpvm!.id), 'the VNC console went through the console proxy VM');
});
