// createConsoleEndpoint through CloudStack's own CLI (`cs`, Debian's python3-cs) on both
// database dialects, on a Simulator host: CloudStack 4.18's answer, the URL following the
// consoleproxy.url.* configuration (as behind a reverse proxy), bad configuration refused, other
// tenants and stopped VMs refused; and the proxy's WebSocket refusing tokens by reason (the
// simulator has no console: the first use gets "console unavailable", then the token is spent).
import test from 'ava';
import { keysFor } from '@flotilla/manager/client';
import { addHost, consoleSocket, createZone, simulatorDriver } from '../src/cloud.ts';
import { DIALECTS, cloudOn, csCli } from '../src/clients.ts';

// The manager on either database and Debian's cs CLI: the helpers every API suite shares.
const cs = csCli;

/** Opens the proxy's WebSocket with a token; resolves with the close code and reason. */
function wsClose(base: string, token: string): Promise<{ code: number; reason: string }> {
  return new Promise((resolve, reject) => {
    const ws = consoleSocket(base, token);
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
    ws.on('error', reject);
  });
}

for (const dialect of DIALECTS) {
  test.serial(`createConsoleEndpoint with the cs CLI; URL from configuration; refusals (${dialect})`, async (t) => {
    const cloud = await cloudOn(t, dialect);
    const z = await createZone(cloud.admin, 'sim', 'Simulator');
    await addHost(t, cloud, z, { name: 'sim1', driver: simulatorDriver(), tag: 'sim1' });
    const off = (await cloud.admin.ok('listNetworkOfferings', { name: 'DefaultSharedNetworkOffering' })).networkoffering[0];
    const net = (await cloud.admin.ok('createNetwork', {
      name: 'cnet', zoneid: z.zoneId, networkofferingid: off.id, vlan: 'vxlan://6700', gateway: '10.83.0.1', netmask: '255.255.255.0', startip: '10.83.0.10', endip: '10.83.0.99',
    })).network.id;
    const tpl = (await cloud.admin.ok('listTemplates', { templatefilter: 'featured', hypervisor: 'Simulator' })).template?.[0]
      ?? (await cloud.admin.ok('listTemplates', { templatefilter: 'featured' })).template[0];
    const small = (await cloud.admin.ok('listServiceOfferings', { name: 'Small Instance' })).serviceoffering[0];
    for (const name of ['carol', 'dave']) await cloud.admin.ok('createAccount', { username: name, account: name, password: `pw-${name}-1`, email: `${name}@example.org`, firstname: name, lastname: 'T', accounttype: 0 });
    const carol = await keysFor(cloud.url, 'carol', 'pw-carol-1');
    const dave = await keysFor(cloud.url, 'dave', 'pw-dave-1');
    const vm = (await carol.jobOk('deployVirtualMachine', { zoneid: z.zoneId, serviceofferingid: small.id, templateid: tpl.id, networkids: net, name: 'simcons' }, 60_000)).virtualmachine;

    const port = new URL(cloud.url).port;
    const a = (await cs(carol, ['createConsoleEndpoint', `virtualmachineid=${vm.id}`, 'token=extra-1'])).consoleendpoint;
    t.like(a, { success: true, websocket: { host: '127.0.0.1', port, path: '/console/ws', extra: 'extra-1' } });
    t.is(a.url, `http://127.0.0.1:${port}/console/?token=${encodeURIComponent(a.websocket.token)}`);
    t.deepEqual(Object.keys(a).sort(), ['success', 'url', 'websocket']);

    // Behind a reverse proxy: scheme, host and prefix are configuration.
    await cloud.admin.ok('updateConfiguration', { name: 'consoleproxy.url.domain', value: 'console.example.org' });
    await cloud.admin.ok('updateConfiguration', { name: 'consoleproxy.url.scheme', value: 'https' });
    await cloud.admin.ok('updateConfiguration', { name: 'consoleproxy.url.path', value: '/vmconsole/' });
    const b = (await cs(carol, ['createConsoleEndpoint', `virtualmachineid=${vm.id}`])).consoleendpoint;
    t.regex(b.url, /^https:\/\/console\.example\.org\/vmconsole\/\?token=c1\./);
    t.like(b.websocket, { host: 'console.example.org', port: '443', path: '/vmconsole/ws', extra: '' });
    for (const [name, value] of [['consoleproxy.url.scheme', 'ftp'], ['consoleproxy.url.domain', 'evil.org/x?y'], ['consoleproxy.url.path', '/a b/'], ['consoleproxy.session.timeout', '5']] as const) {
      const r = await cloud.admin.call('updateConfiguration', { name, value });
      t.is(r.status, 431, `${name}=${value}`);
    }
    t.is((await cloud.admin.ok('listConfigurations', { name: 'consoleproxy.url.scheme' })).configuration[0].value, 'https');

    // Another tenant: 531; no VM id: 431; an admin may.
    const other = await dave.call('createConsoleEndpoint', { virtualmachineid: vm.id });
    t.is(other.status, 531);
    t.is((await carol.call('createConsoleEndpoint', {})).status, 431);
    t.true((await cloud.admin.ok('createConsoleEndpoint', { virtualmachineid: vm.id })).consoleendpoint.success);

    // The proxy's socket (served by the manager under /console/ whatever the public prefix):
    // first use reaches for the console (the simulator has none), then the token is spent.
    const first = await wsClose(cloud.url, a.websocket.token);
    t.is(first.code, 4404);
    t.regex(first.reason, /console unavailable/);
    t.deepEqual(await wsClose(cloud.url, a.websocket.token), { code: 4403, reason: 'token already used' });
    const tampered = `${b.websocket.token.slice(0, -2)}${b.websocket.token.endsWith('AA') ? 'BB' : 'AA'}`;
    t.deepEqual(await wsClose(cloud.url, tampered), { code: 4403, reason: 'invalid token' });
    await cloud.admin.ok('updateConfiguration', { name: 'consoleproxy.session.timeout', value: '1000' });
    const c = (await carol.ok('createConsoleEndpoint', { virtualmachineid: vm.id })).consoleendpoint;
    await new Promise((r) => setTimeout(r, 1300));
    t.deepEqual(await wsClose(cloud.url, c.websocket.token), { code: 4403, reason: 'token expired' });
    // The page is served with relative paths only, under the manager's /console/.
    const page = await fetch(`${cloud.url}/console/`);
    t.is(page.status, 200);
    const html = await page.text();
    t.regex(html, /src="xterm\.js"/);
    t.notRegex(html, /(src|href)="(\/|https?:)/);
    const xterm = await fetch(`${cloud.url}/console/xterm.js`);
    t.is(xterm.status, 200);
    // Scripts are revalidated, not fetched again: the same ETag answers 304; the page itself is never stored.
    const etag = xterm.headers.get('etag')!;
    t.regex(etag, /^"[\w-]+"$/);
    t.is(xterm.headers.get('cache-control'), 'no-cache');
    t.is((await fetch(`${cloud.url}/console/xterm.js`, { headers: { 'if-none-match': etag } })).status, 304);
    t.is((await fetch(`${cloud.url}/console/xterm.js`, { headers: { 'if-none-match': '"other"' } })).status, 200);
    t.is(page.headers.get('cache-control'), 'no-store');
    await cloud.admin.ok('updateConfiguration', { name: 'consoleproxy.session.timeout', value: '30000' });

    // A VM that moved to another host since its token was made: refused (the token names the host).
    const host2 = await addHost(t, cloud, z, { name: 'sim2', driver: simulatorDriver(), tag: 'sim2' });
    const before = (await carol.ok('createConsoleEndpoint', { virtualmachineid: vm.id })).consoleendpoint;
    const oldHost = (await cloud.admin.ok('listVirtualMachines', { id: vm.id })).virtualmachine[0].hostid as string;
    await carol.jobOk('stopVirtualMachine', { id: vm.id }, 60_000);
    const target = oldHost === host2.hostId ? (await cloud.admin.ok('listHosts', { name: 'sim1' })).host[0].id : host2.hostId;
    t.is((await cloud.admin.jobOk('startVirtualMachine', { id: vm.id, hostid: target }, 60_000)).virtualmachine.hostid, target);
    const moved = await wsClose(cloud.url, before.websocket.token);
    t.is(moved.code, 4404);
    t.regex(moved.reason, /moved to another host/);

    // A stopped VM: 431 naming its state.
    await carol.jobOk('stopVirtualMachine', { id: vm.id }, 60_000);
    const out = await cs(carol, ['createConsoleEndpoint', `virtualmachineid=${vm.id}`]);
    const stopped = out.createconsoleendpointresponse ?? out;
    t.is(stopped.errorcode, 431, JSON.stringify(out));
    t.regex(stopped.errortext, /Stopped/);
  });
}
