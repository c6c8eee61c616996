// The console proxy's VNC path in a real browser (playwright-core driving Debian's chromium,
// headless): a real VNC server — Xvfb (its own display, picked with -displayfd) + x11vnc (on a
// free loopback port) — is the console of a Simulator host's VM (SimulatorConfig.vnc, the
// driver seam the KVM driver will fill with qemu's -vnc). createConsoleEndpoint names the VNC
// page; the page (noVNC from npm, served by the proxy) shows the server's screen (its root
// colour, set with xsetroot, read back from the canvas, and a change of it), a key press and a
// paste reach the X server (xev on the root window prints them), the same URL again is refused,
// a dropped connection shows "disconnected — …" and Reconnect brings the screen back.
// Screenshots go to tests/artifacts/console/ (gitignored), next to the serial page's.
import test from 'ava';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Page } from 'playwright-core';
import { keysFor } from '@flotilla/manager/client';
import { SimulatorDriver } from '@flotilla/agent/drivers/simulator';
import { addHost, createZone, startCloud, waitFor } from '../src/cloud.ts';
import { missingVncTools, startVncServer, waitPixel } from '../src/xvnc.ts';

const CHROMIUM = '/usr/bin/chromium';
const missing = [...(existsSync(CHROMIUM) ? [] : [CHROMIUM]), ...missingVncTools()];
// In CI a missing tool is a failure, never a skip counted as passed (.ci/run installs them).
if (missing.length && process.env.CI === 'true') throw new Error(`console-vnc: missing ${missing.join(', ')} in CI`);
const vncTest = missing.length ? test.skip : test.serial;
if (missing.length) console.warn(`console-vnc: skipped, missing ${missing.join(', ')} (.ci/run installs them)`);
const ARTIFACTS = join(import.meta.dirname, '..', 'artifacts', 'console');

const statusText = (page: Page) => page.locator('#status').innerText();

vncTest('a VM\'s VNC console in a real browser: noVNC page, the server\'s screen, a key press, paste, single use, reconnect', async (t) => {
  mkdirSync(ARTIFACTS, { recursive: true });
  // The VNC server: Xvfb + x11vnc on loopback, xev printing the root window's key events.
  const vnc = await startVncServer(t, '#3366cc');
  const port = vnc.port;

  const cloud = await startCloud(t);
  const z = await createZone(cloud.admin, 'vncz', 'Simulator');
  await addHost(t, cloud, z, { name: 'vnc1', driver: new SimulatorDriver({ vnc: { host: '127.0.0.1', port } }), tag: 'vnc1' });
  const off = (await cloud.admin.ok('listNetworkOfferings', { name: 'DefaultSharedNetworkOffering' })).networkoffering[0];
  const netId = (await cloud.admin.ok('createNetwork', {
    name: 'vncnet', zoneid: z.zoneId, networkofferingid: off.id, vlan: 'vxlan://6710', gateway: '10.84.0.1', netmask: '255.255.255.0', startip: '10.84.0.10', endip: '10.84.0.99',
  })).network.id;
  const tpl = (await cloud.admin.ok('listTemplates', { templatefilter: 'featured', hypervisor: 'Simulator' })).template?.[0]
    ?? (await cloud.admin.ok('listTemplates', { templatefilter: 'featured' })).template[0];
  const small = (await cloud.admin.ok('listServiceOfferings', { name: 'Small Instance' })).serviceoffering[0];
  await cloud.admin.ok('createAccount', { username: 'erin', account: 'erin', password: 'pw-erin-1', email: 'erin@example.org', firstname: 'erin', lastname: 'T', accounttype: 0 });
  const erin = await keysFor(cloud.url, 'erin', 'pw-erin-1');
  const vm = (await erin.jobOk('deployVirtualMachine', { zoneid: z.zoneId, serviceofferingid: small.id, templateid: tpl.id, networkids: netId, name: 'vnccons' }, 60_000)).virtualmachine;

  // The host reports a VNC console for the VM: the token names `vnc` and the URL the noVNC page.
  const ep = (await erin.ok('createConsoleEndpoint', { virtualmachineid: vm.id })).consoleendpoint;
  t.true(ep.success);
  t.is(ep.url, `http://${ep.websocket.host}:${ep.websocket.port}/console/vnc.html?token=${encodeURIComponent(ep.websocket.token)}`);
  t.is(ep.websocket.path, '/console/ws');

  const browser = await chromium.launch({
    executablePath: CHROMIUM, headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  t.teardown(() => browser.close());
  const page = await (await browser.newContext({ viewport: { width: 900, height: 640 } })).newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  // (noVNC draws the remote cursor as a data: image: the pages' CSP must allow it.)
  page.on('console', (m) => { if (m.type() === 'error') { t.log(`page error: ${m.text()}`); if (/Content Security Policy/.test(m.text())) pageErrors.push(m.text()); } });
  await page.goto(ep.url);
  await waitFor(async () => /connected to vnccons/.test(await statusText(page)), 'page connected', 30_000);
  // The server's screen on the canvas: its root colour #3366cc.
  await waitPixel(page, '51,102,204', 'the canvas shows the server\'s screen');
  // A change on the server reaches the page (framebuffer updates flow).
  await vnc.setRoot('#cc6633');
  await waitPixel(page, '204,102,51', 'the canvas follows the server');
  await page.screenshot({ path: join(ARTIFACTS, 'vnc-open.png') });

  // A key press in the page reaches the X server (keysym 0x71 = q).
  await page.locator('#screen canvas').click();
  await page.keyboard.press('q');
  await waitFor(async () => /KeyPress event[\s\S]*keysym 0x71, q\)/.test(vnc.keys()), 'the key press reached the server', 20_000);
  // Paste: a paste event types the text as key presses (here "Zw": an upper-case letter too).
  await page.evaluate(`(() => {
    const dt = new DataTransfer();
    dt.setData('text/plain', 'Zw');
    document.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));
  })()`);
  await waitFor(async () => /keysym 0x5a, Z\)[\s\S]*keysym 0x77, w\)/.test(vnc.keys()), 'the pasted text reached the server', 20_000);
  // Resize: the view choice scales the remote screen into the window (the canvas' CSS size follows the window, not 640x480).
  const cssWidth = () => page.evaluate<number>(`document.querySelector('#screen canvas').getBoundingClientRect().width`);
  t.not(Math.round(await cssWidth()), 640, 'scaled to the window');
  await page.selectOption('#view', 'none');
  await waitFor(async () => Math.round(await cssWidth()) === 640, 'actual size', 10_000);

  // The console-open event names the VNC console.
  const events = await cloud.m.services.db.query<{ username: string; params: string }>(`SELECT username, params::text AS params FROM events WHERE type = 'VM.CONSOLE.OPEN'`);
  t.is(events.length, 1);
  t.is(events[0]!.username, 'erin');
  t.regex(events[0]!.params, /"console":\s*"vnc"/);

  // The same URL a second time is refused, and the page says so.
  const again = await (await browser.newContext()).newPage();
  await again.goto(ep.url);
  await waitFor(async () => /disconnected — token already used/.test(await statusText(again)), 'reuse refused', 20_000);

  // A drop shows the disconnected state; Reconnect (a fresh single-use token from the proxy) brings the screen back.
  await page.evaluate('window.flotillaDrop()');
  await waitFor(async () => /^disconnected — /.test(await statusText(page)), 'disconnected shown', 20_000);
  await page.screenshot({ path: join(ARTIFACTS, 'vnc-disconnected.png') });
  t.true(await page.locator('#reconnect').isVisible());
  await page.locator('#reconnect').click();
  await waitFor(async () => /connected to vnccons/.test(await statusText(page)), 'reconnected', 30_000);
  await waitPixel(page, '204,102,51', 'the screen is back');
  t.deepEqual(pageErrors, []);
});
