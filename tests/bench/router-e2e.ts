// bench router-e2e — the manager's half of `router:`: through the API, on a netns host with the
// real router appliance, the time from createNetwork to a VM holding its DHCP lease and
// reaching the uplink namespace through source NAT (ready_ms), and from createPortForwardingRule
// to the forwarded port answering from the uplink (rule_live_ms). Medians of a few runs; the
// first network of a run also pays the router appliance's cold start. Lab namespaces only.
// Run: npm run bench -w tests -- router-e2e   Ends with: router: ready_ms=<n> rule_live_ms=<n>
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { signedClient } from '@flotilla/manager/client';
import { Lab } from '../src/lab.ts';
import { addHost, addUplink, createZone, netnsHosts, startCloud } from '../src/cloud.ts';

const run = promisify(execFile);
const cleanups: Array<() => unknown> = [];
const t = { teardown: (fn: () => unknown) => { cleanups.push(fn); } };
const PROBER = `
const net = require('node:net');
const [host, port] = process.argv.slice(1);
let done = false;
const attempt = () => {
  if (done) return;
  const c = net.connect({ host, port: Number(port) });
  c.setTimeout(200, () => c.destroy());
  c.on('connect', () => { if (!done) { done = true; process.stdout.write(String(Date.now())); process.exit(0); } });
  c.on('error', () => undefined);
};
setInterval(attempt, 2);
setTimeout(() => process.exit(1), 55000);
`;
const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]!; };

async function main(): Promise<void> {
  const lab = Lab.create(t, 'rbn');
  const cloud = await startCloud(t);
  const z = await createZone(cloud.admin);
  const [h1] = await netnsHosts(lab, 1);
  await addHost(t, cloud, z, { name: 'host1', driver: h1!.driver, tag: h1!.tag, hostNs: h1!.hostNs });
  const up = await addUplink(lab, cloud, z, [h1!]);
  lab.spawn(up.ns, ['socat', 'TCP-LISTEN:9000,reuseaddr,fork', 'SYSTEM:echo $SOCAT_PEERADDR']);
  const acc = (await cloud.admin.ok('createAccount', { username: 'bench', account: 'bench', password: 'pw-bench-1', email: 'b@example.org', firstname: 'b', lastname: 'b', accounttype: 0 })).account;
  const keys = (await cloud.admin.ok('registerUserKeys', { id: acc.user[0].id })).userkeys;
  const api = signedClient(cloud.url, keys.apikey, keys.secretkey);
  const services = ['Dhcp', 'Dns', 'UserData', 'Firewall', 'SourceNat', 'StaticNat', 'PortForwarding'];
  const op: Record<string, string | boolean> = { name: 'bench-allow', displaytext: 'bench', guestiptype: 'Isolated', traffictype: 'Guest', supportedservices: services.join(','), egressdefaultpolicy: true, enable: true };
  services.forEach((s, i) => { op[`serviceproviderlist[${i}].service`] = s; op[`serviceproviderlist[${i}].provider`] = 'VirtualRouter'; });
  const offering = (await cloud.admin.ok('createNetworkOffering', op)).networkoffering.id;
  const so = (await api.ok('listServiceOfferings', { name: 'Small Instance' })).serviceoffering[0].id;
  const tpl = (await api.ok('listTemplates', { templatefilter: 'featured', name: 'Flotilla netns guest' })).template[0].id;

  const ready: number[] = [];
  const live: number[] = [];
  const jobs: number[] = [];
  const phases: string[] = [];
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    const net = (await api.ok('createNetwork', { name: `n${i}`, zoneid: z.zoneId, networkofferingid: offering, gateway: `10.${20 + i}.0.1`, netmask: '255.255.255.0' })).network;
    const tNet = performance.now();
    const vm = (await api.jobOk('deployVirtualMachine', { zoneid: z.zoneId, serviceofferingid: so, templateid: tpl, networkids: net.id, name: `vm${i}` }, 120_000)).virtualmachine;
    const tJob = performance.now();
    const inst = (await cloud.admin.ok('listVirtualMachines', { id: vm.id, listall: true })).virtualmachine[0].instancename;
    const ns = h1!.driver.names.vmNamespace(inst);
    const snat = (await api.ok('listPublicIpAddresses', { associatednetworkid: net.id, issourcenat: true })).publicipaddress[0];
    // Lease held and SNAT through: one connection to the uplink that comes back with the source NAT address.
    // Polled every 20 ms (waitFor's backoff would add up to 250 ms to the measurement).
    // `-u` (read the connection only): a bidirectional socat meets EOF on its empty stdin first
    // and then waits its half-close timeout (0.5 s) even after the answer came, which earlier
    // runs of this bench counted as time to ready.
    const until = Date.now() + 60_000;
    while ((await lab.tryExec(ns, ['socat', '-u', '-T', '1', `TCP:${up.gateway}:9000,connect-timeout=0.2`, '-'], { timeoutMs: 3000 })).stdout.trim() !== snat.ipaddress) {
      if (Date.now() > until) throw new Error('no SNAT within 60 s');
      await new Promise((r) => setTimeout(r, 20));
    }
    ready.push(performance.now() - t0);
    phases.push(`createNetwork ${(tNet - t0).toFixed(0)} + deploy job ${(tJob - tNet).toFixed(0)} + lease and SNAT ${(performance.now() - tJob).toFixed(0)}`);

    for (const port of [8000 + i * 10, 8001 + i * 10]) {
      // A prober in the uplink, started before the API call: a TCP connect every 2 ms (a dropped
      // SYN does not stall the next attempt, unlike a curl loop whose connect timeout set the
      // resolution), printing the wall clock (ms) of the first connection that succeeds.
      const probe = run('ip', ['netns', 'exec', up.ns, process.execPath, '-e', PROBER, snat.ipaddress, String(port)], { timeout: 60_000 });
      await new Promise((r) => setTimeout(r, 200));
      const start = Date.now();
      await api.jobOk('createPortForwardingRule', { ipaddressid: snat.id, protocol: 'tcp', publicport: port, privateport: 80, virtualmachineid: vm.id });
      jobs.push(Date.now() - start);
      const answered = Number((await probe).stdout.trim());
      live.push(answered - start);
    }
  }
  process.stdout.write(`ready runs (ms): ${ready.map((x) => x.toFixed(0)).join(' ')}; rule-live runs (ms): ${live.map((x) => x.toFixed(0)).join(' ')}; job done (ms): ${jobs.join(' ')}\n`);
  process.stdout.write(`ready phases (ms): ${phases.join('; ')}\n`);
  process.stdout.write(`router: ready_ms=${median(ready).toFixed(0)} rule_live_ms=${median(live).toFixed(0)}\n`);
}

try { await main(); } finally { for (const fn of cleanups.reverse()) { try { await fn(); } catch { /* keep cleaning */ } } }
process.exit(0);
