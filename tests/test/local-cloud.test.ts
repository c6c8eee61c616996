// `npm start`'s single-machine cloud, run as the real entry point: a zone ready at once, a host
// agent in a host namespace, and a VM on the flat network answering from the uplink namespace.
// The cloud gets its own namespace names (FLOTILLA_LOCAL_NAME) and is removed afterwards.
import test from 'ava';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { keysFor } from '@flotilla/manager/client';
import { kernelTestsUnavailable } from '../src/lab.ts';
import { consoleSocket, waitFor } from '../src/cloud.ts';

const run = promisify(execFile);
const root = new URL('../../', import.meta.url).pathname;
const skip = kernelTestsUnavailable();

(skip ? test.skip : test)('npm start: a ready zone, a netns host, and a VM reachable from the uplink', async (t) => {
  const name = `flt-t${randomBytes(3).toString('hex')}`;
  const dataDir = mkdtempSync(join(tmpdir(), 'flt-local-'));
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'manager/src/main.ts')], {
    env: { ...process.env, PORT: '0', FLOTILLA_LISTEN: '127.0.0.1', FLOTILLA_DATA_DIR: dataDir, FLOTILLA_ADMIN_PASSWORD: 'local-pw', FLOTILLA_LOCAL_NAME: name, FLOTILLA_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.teardown(async () => {
    if (child.exitCode === null) { child.kill('SIGTERM'); await new Promise((r) => child.once('exit', r)); }
    execFileSync(join(root, 'scripts/local-cloud-clean.sh'), [name]);
    rmSync(dataDir, { recursive: true, force: true });
  });
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no start: ${out}`)), 120_000);
    child.stdout!.on('data', (b) => { out += b; const m = /listening on (http:\/\/localhost:\d+)/.exec(out); if (m) { clearTimeout(timer); resolve(m[1]!.replace('localhost', '127.0.0.1')); } });
    child.stderr!.on('data', (b) => { out += b; });
  });
  const api = await keysFor(url, 'admin', 'local-pw');
  await waitFor(async () => (await api.ok('listHosts', { name: 'local' })).host?.[0]?.state === 'Up', 'the local host Up', 60_000);
  t.regex(out, new RegExp(`uplink namespace ${name}-uplink`));
  const zone = (await api.ok('listZones', { name: 'local' })).zone[0];
  t.is(zone.allocationstate, 'Enabled');
  const ranges = await api.ok('listVlanIpRanges', { zoneid: zone.id });
  t.is(ranges.vlaniprange[0].startip, '203.0.113.10');
  const so = (await api.ok('listServiceOfferings', { name: 'Small Instance' })).serviceoffering[0];
  const tpl = (await api.ok('listTemplates', { templatefilter: 'featured', name: 'Flotilla netns guest' })).template[0];
  const net = (await api.ok('listNetworks', { name: 'local-flat' })).network[0];
  const job = await api.job('deployVirtualMachine', { zoneid: zone.id, serviceofferingid: so.id, templateid: tpl.id, networkids: net.id, name: 'hello' }, 120_000);
  t.is(job.jobstatus, 1, JSON.stringify(job.jobresult));
  const ip = job.jobresult.virtualmachine.nic[0].ipaddress;
  t.is(ip, '198.51.100.10');
  const r = await run('ip', ['netns', 'exec', `${name}-uplink`, 'curl', '-sS', '--max-time', '5', `http://${ip}/`]);
  t.is(r.stdout.trim(), 'hello');

  // The zone's console proxy VM: its address is inside the uplink namespace; the manager forwards
  // /console/ to it, so the endpoint's URL on the manager works from this (root) namespace.
  let cp: { id: string; publicip: string } | undefined;
  await waitFor(async () => {
    cp = ((await api.ok('listSystemVms', { systemvmtype: 'consoleproxy' })).systemvm ?? []).find((v: { state: string; agentstate: string }) => v.state === 'Running' && v.agentstate === 'Up');
    return Boolean(cp);
  }, 'the local console proxy VM', 90_000);
  t.regex(cp!.publicip, /^203\.0\.113\.\d+$/);
  const page = await run('ip', ['netns', 'exec', `${name}-uplink`, 'curl', '-sS', '--max-time', '5', `http://${cp!.publicip}/console/`]);
  t.regex(page.stdout, /xterm/);
  const ep = (await api.ok('createConsoleEndpoint', { virtualmachineid: job.jobresult.virtualmachine.id })).consoleendpoint;
  t.true(ep.url.startsWith(`${url}/console/?token=`));
  const ws = consoleSocket(url, ep.websocket.token);
  let text = '';
  ws.on('message', (d, bin) => {
    if (bin) text += d.toString();
    else if (JSON.parse(d.toString()).type === 'ready') ws.send(Buffer.from('hostname\r'));
  });
  await waitFor(async () => /^hello\s*$/m.test(text), `hostname through the console proxy VM (got ${JSON.stringify(text.slice(-200))})`, 30_000);
  ws.close();
});
