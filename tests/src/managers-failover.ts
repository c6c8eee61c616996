// Two managers on one PostgreSQL behind a real HAProxy, the leader killed with SIGKILL under 100
// concurrent deployVirtualMachine calls (issue 16, item 3; decision 0282). The managers are
// `npm start`'s real entry point as child processes (manager-proc.ts) on one fresh database with
// one master key; the host agent (simulator driver) lives in THIS process with both managers'
// URLs, as a standalone agent would; HAProxy (loopback, health check on /healthz, redispatch and
// retry-on conn-failure/empty-response) is what every client talks to. Measured:
//   gapMs      — the largest gap between two successful listZones answers through HAProxy
//                (a probe every 50 ms from before the storm until the end);
//   lost       — accepted jobs (a jobid answered) that never end;
//   problems   — the cloud not as the database says after convergence (host vs database, a VM
//                name twice, a VM or router in a transitional state);
//   agentOnSurvivor — the agent's channel is with the surviving manager, the host Up;
//   routed     — a follower-served deleteVolume (sync, talks to the host) removed the file on
//                the host through the leader;
//   consoleViaFollower — a VM's console opened on the follower (its in-process proxy role: the
//                system VMs are off): the agent, asked through the leader, dialled the follower
//                with the console, and bytes went both ways (the VM's "VNC server" is an echo
//                server on loopback that greets first, as RFB does);
//   managers   — listManagementServers (Debian's `cs` CLI through HAProxy): the killed one Down.
import { Agent, SimulatorDriver } from '@flotilla/agent';
import { keysFor, signedClient, type Api } from '@flotilla/manager/client';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer, type AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { consoleSocket, createZone, destroyAll, waitFor } from './cloud.ts';
import { csCli } from './clients.ts';
import { freePort, startManager, stopManager, type ManagerProc } from './manager-proc.ts';

export interface FailoverOptions {
  /** a fresh PostgreSQL database's URL */
  databaseUrl: string;
  deploys?: number;
  convergeMs?: number;
  /** the fault at the random instant: SIGKILL of the leader (default), or this function (e.g.
   *  every connection of the database terminated, as a PostgreSQL restart does to its clients) */
  fault?: 'kill' | (() => Promise<void>);
  log?: (line: string) => void;
}

export interface FailoverReport {
  gapMs: number; probes: number; probeFailures: number;
  deploys: number; accepted: number; refused: number; ended: number; lost: number;
  /** accepted jobs that ended failed (a result: not lost); `failed` also lists refused submissions */
  failedJobs: number; failed: string[];
  killedAfterMs: number; problems: string[];
  /** the agent is connected to the manager that leads after the fault (the survivor after a kill) */
  agentOnSurvivor: boolean; routed: boolean; consoleViaFollower: boolean; leaderBefore: string; leaderAfter: string;
  running: number;
  /** listManagementServers after the failover: name → state */
  managers: Record<string, string>;
}

const PASSWORD = 'failover-pw';

/** HAProxy in front of the managers, as an operator runs it (README: "Several managers"). */
export function haproxyConfig(port: number, backends: string[]): string {
  return `global
  maxconn 4096
defaults
  mode http
  timeout connect 1s
  timeout client 120s
  timeout server 120s
  retries 3
  option redispatch 1
  retry-on conn-failure empty-response
  # L7 retries replay a request HAProxy still holds: the whole POST body is buffered first.
  option http-buffer-request
frontend api
  bind 127.0.0.1:${port}
  default_backend managers
backend managers
  balance roundrobin
  option httpchk GET /healthz
  http-check expect status 200
${backends.map((b, i) => `  server m${i + 1} ${new URL(b).host} check inter 300ms fall 2 rise 2`).join('\n')}
`;
}

export async function managersFailover(o: FailoverOptions): Promise<FailoverReport> {
  const log = o.log ?? (() => undefined);
  const cleanups: Array<() => unknown> = [];
  const deploys = o.deploys ?? 100;
  try {
    const masterKey = randomBytes(32).toString('base64');
    const start = async (name: string) => {
      const dataDir = mkdtempSync(join(tmpdir(), `flt-mgr-${name}-`));
      cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
      const m = await startManager({
        PORT: String(await freePort()), FLOTILLA_DATA_DIR: dataDir, FLOTILLA_ADMIN_PASSWORD: PASSWORD, FLOTILLA_MASTER_KEY: masterKey,
        FLOTILLA_LOCAL_CLOUD: 'off', FLOTILLA_SYSTEM_VMS: 'off', DATABASE_URL: o.databaseUrl,
        FLOTILLA_ROUTER_CHECK_MS: '1000', FLOTILLA_VM_CHECK_MS: '1000', FLOTILLA_REPAIR_CHECK_MS: '1000', FLOTILLA_JOB_RESUME_GRACE_MS: '20000',
        FLOTILLA_LOG_LEVEL: process.env.FLT_FAILOVER_LOG ?? 'error',
      });
      cleanups.push(() => stopManager(m));
      return m;
    };
    // One after the other: the first migrates the database and leads.
    const m1 = await start('a');
    const m2 = await start('b');
    const managers = [m1, m2];
    const health = async (m: ManagerProc) => (await (await fetch(`${m.url}/healthz`)).json()) as { leader: boolean };
    await waitFor(async () => (await health(m1)).leader && !(await health(m2)).leader, 'the first manager leading', 30_000);

    const haPort = await freePort();
    const cfgDir = mkdtempSync(join(tmpdir(), 'flt-haproxy-'));
    cleanups.push(() => rmSync(cfgDir, { recursive: true, force: true }));
    writeFileSync(join(cfgDir, 'haproxy.cfg'), haproxyConfig(haPort, managers.map((m) => m.url)));
    const ha: ChildProcess = spawn('haproxy', ['-db', '-f', join(cfgDir, 'haproxy.cfg')], { stdio: ['ignore', 'ignore', 'pipe'] });
    let haErr = '';
    ha.stderr!.on('data', (b) => { haErr += b; });
    cleanups.push(() => { if (ha.exitCode === null) ha.kill('SIGTERM'); });
    const lb = `http://127.0.0.1:${haPort}`;
    await waitFor(async () => (await fetch(`${lb}/healthz`).then((r) => r.status, () => 0)) === 200, `HAProxy answering (${haErr.slice(-500)})`, 20_000);

    const admin = await keysFor(lb, 'admin', PASSWORD);
    const z = await createZone(admin, 'fz', 'Simulator');
    await admin.jobOk('addTrafficType', { physicalnetworkid: z.physicalNetworkId, traffictype: 'Public' });
    await admin.ok('createVlanIpRange', { zoneid: z.zoneId, physicalnetworkid: z.physicalNetworkId, forvirtualnetwork: true, vlan: 'untagged', gateway: '203.0.113.1', netmask: '255.255.255.0', startip: '203.0.113.10', endip: '203.0.113.60' });
    // Every VM's console: an echo server that greets first (as a VNC server does).
    const echo = createServer((c) => { c.on('error', () => undefined); c.write('RFB 003.008\n'); c.pipe(c); });
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise((r) => echo.close(r)));
    const vnc = { host: '127.0.0.1', port: (echo.address() as AddressInfo).port };
    const driver = new SimulatorDriver({ capacity: { cpus: 1024, cpuMhz: 2000, memoryMb: 4 * 1024 * 1024 }, delayMs: { min: 5, max: 40 }, vnc });
    const host = (await admin.ok('addHost', { zoneid: z.zoneId, podid: z.podId, clusterid: z.clusterId, url: 'agent://failover-host', hypervisor: driver.hypervisor })).host[0];
    const ws = (m: ManagerProc) => `${m.url.replace(/^http/, 'ws')}/agent`;
    // Both URLs, the follower's first: it refuses (NOT_LEADER) and the agent moves on to the leader.
    const agent = new Agent({ url: [ws(m2), ws(m1)].join(','), token: host.agenttoken, driver, hostName: 'failover-host', backoff: { initialMs: 100, maxMs: 1000 } });
    cleanups.push(async () => { await agent.stop(); await destroyAll(driver); });
    agent.start();
    await waitFor(async () => (await admin.ok('listHosts', { id: host.id })).host[0].state === 'Up', 'the host Up', 60_000);
    if (agent.url !== ws(m1)) throw new Error(`the agent is connected to ${agent.url}, not to the leader ${ws(m1)}`);

    const acc = (await admin.ok('createAccount', { username: 'foten', account: 'foten', password: 'pw-foten-1', email: 'f@example.org', firstname: 'f', lastname: 'f', accounttype: 0 })).account;
    const keys = (await admin.ok('registerUserKeys', { id: acc.user[0].id })).userkeys;
    const ten: Api = signedClient(lb, keys.apikey, keys.secretkey);
    const iso = (await admin.ok('listNetworkOfferings', { name: 'DefaultIsolatedNetworkOfferingWithSourceNatService' })).networkoffering[0].id;
    const so = (await admin.ok('listServiceOfferings', { name: 'Small Instance' })).serviceoffering[0].id;
    const tpl = (await admin.ok('listTemplates', { templatefilter: 'featured', zoneid: z.zoneId })).template[0].id;
    const disk = (await admin.ok('listDiskOfferings', { name: 'Small' })).diskoffering[0].id;
    const net = (await ten.ok('createNetwork', { zoneid: z.zoneId, name: 'fo-net', displaytext: 'fo-net', networkofferingid: iso })).network;
    // The network implemented (router Running) by a first VM, before the storm.
    const first = (await ten.jobOk('deployVirtualMachine', { zoneid: z.zoneId, serviceofferingid: so, templateid: tpl, networkids: net.id, name: 'fo-first' })).virtualmachine;

    // A sync command that talks to the host, served by the follower: deleteVolume of a volume
    // whose file is on the host (made there by attachVolume, run by the leader's job runner).
    const follower = signedClient(m2.url, keys.apikey, keys.secretkey);
    const vol = (await ten.jobOk('createVolume', { zoneid: z.zoneId, diskofferingid: disk, name: 'fo-vol' })).volume;
    await ten.jobOk('attachVolume', { id: vol.id, virtualmachineid: first.id });
    await ten.jobOk('detachVolume', { id: vol.id });
    const hadFile = [...driver.volumes.keys()].some((f) => f.includes(vol.id));
    const del = await follower.call('deleteVolume', { id: vol.id });
    const routed = hadFile && del.status === 200 && del.body.success === true && ![...driver.volumes.keys()].some((f) => f.includes(vol.id));
    log(`failover: follower deleteVolume ${del.status} ${JSON.stringify(del.body)}; file on the host before ${hadFile}, after ${[...driver.volumes.keys()].some((f) => f.includes(vol.id))}`);
    const consoleViaFollower = await followerConsole(follower, m2.url, first.id, log);

    // The probe: listZones through HAProxy every 50 ms.
    let probing = true;
    let last = Date.now();
    let gapMs = 0; let probes = 0; let probeFailures = 0;
    const probe = (async () => {
      while (probing) {
        const ok = await admin.call('listZones', {}).then((r) => r.status === 200, () => false);
        const now = Date.now();
        if (ok) { gapMs = Math.max(gapMs, now - last); last = now; probes++; } else probeFailures++;
        await new Promise((r) => setTimeout(r, 50));
      }
      gapMs = Math.max(gapMs, Date.now() - last);
    })();

    // The storm, and the kill at a random instant of it.
    const accepted: string[] = [];
    const failed: string[] = [];
    let refused = 0;
    let failedJobs = 0;
    const stormStart = Date.now();
    const until = () => stormStart + (o.convergeMs ?? 180_000);
    const one = async (i: number) => {
      const r = await ten.call('deployVirtualMachine', { zoneid: z.zoneId, serviceofferingid: so, templateid: tpl, networkids: net.id, name: `fo-${i}` }).catch((e: Error) => ({ status: 0, body: { errortext: e.message } as Record<string, any> }));
      if (r.status !== 200 || !r.body.jobid) { refused++; failed.push(`submit fo-${i}: ${r.status} ${r.body?.errortext ?? ''}`); return; }
      const jobid = r.body.jobid as string;
      accepted.push(jobid);
      while (Date.now() < until()) {
        const q = await ten.call('queryAsyncJobResult', { jobid }).catch(() => undefined);
        if (q?.status === 200 && q.body.jobstatus !== 0) {
          if (q.body.jobstatus !== 1) { failedJobs++; failed.push(`fo-${i}: ${q.body.jobresult?.errortext}`); }
          return true;
        }
        await new Promise((res) => setTimeout(res, 100));
      }
      return false;
    };
    const killAt = 200 + Math.random() * 2800;
    const storm = Promise.all(Array.from({ length: deploys }, (_, i) => one(i)));
    await new Promise((r) => setTimeout(r, killAt));
    if (typeof o.fault === 'function') {
      await o.fault();
      log(`failover: fault injected ${Math.round(killAt)} ms into ${deploys} deploys (${accepted.length} accepted so far)`);
    } else {
      m1.child.kill('SIGKILL');
      await new Promise((r) => (m1.alive() ? m1.child.once('exit', r) : r(undefined)));
      log(`failover: killed the leader ${m1.url} ${Math.round(killAt)} ms into ${deploys} deploys (${accepted.length} accepted so far)`);
    }
    const ends = await storm;
    const ended = ends.filter((x) => x === true).length;
    const lost = ends.filter((x) => x === false).length;

    // Convergence: the host runs exactly what the database says, nothing twice, nothing stuck.
    const check = async (): Promise<string[]> => {
      const out: string[] = [];
      const vms: any[] = (await admin.ok('listVirtualMachines', { listall: true })).virtualmachine ?? [];
      const routers: any[] = (await admin.ok('listRouters', { listall: true })).router ?? [];
      const names = new Set<string>();
      for (const v of vms.filter((x) => x.state !== 'Destroyed')) { if (names.has(v.name)) out.push(`VM name ${v.name} twice`); names.add(v.name); }
      for (const v of vms) if (!['Running', 'Stopped', 'Destroyed', 'Error'].includes(v.state)) out.push(`VM ${v.name} stuck ${v.state}`);
      for (const r of routers) if (r.state !== 'Running') out.push(`router ${r.name} ${r.state}`);
      const want = new Set([...vms.filter((v) => v.state === 'Running').map((v) => v.instancename), ...routers.filter((r) => r.state === 'Running').map((r) => r.name)]);
      const st = await driver.listState({});
      const have = new Set(st.vms.filter((v) => v.state === 'Running').map((v) => v.name));
      for (const n of have) if (!want.has(n)) out.push(`host runs ${n}, the database does not`);
      for (const n of want) if (!have.has(n)) out.push(`database runs ${n}, the host does not`);
      return out;
    };
    let problems: string[] = [];
    for (;;) {
      problems = await check().catch((e) => [`check failed: ${(e as Error).message}`]);
      if (!problems.length || Date.now() > until()) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    if (problems.length || failedJobs || lost) {
      for (const m of managers) {
        log(`failover: output of ${m.url}: ${m.output().slice(-4000)}`);
        // FLT_FAILOVER_DUMP=<dir>: each manager's whole output there (with FLT_FAILOVER_LOG=info).
        if (process.env.FLT_FAILOVER_DUMP) writeFileSync(join(process.env.FLT_FAILOVER_DUMP, `manager-${new URL(m.url).port}.log`), m.output());
      }
    }
    probing = false;
    await probe;
    const running = ((await admin.ok('listVirtualMachines', { listall: true, state: 'Running' })).virtualmachine ?? []).length;
    // The killed manager's heartbeat lapses (LEASE_MS, 5 s): it is listed Down.
    let managersList: Record<string, string> = {};
    await waitFor(async () => {
      // Through HAProxy with Debian's `cs` CLI (a real CloudStack client).
      managersList = Object.fromEntries(((await csCli(admin, ['listManagementServers'])).managementserver ?? []).map((x: any) => [x.name, x.state]));
      return typeof o.fault === 'function' || Object.values(managersList).includes('Down');
    }, 'the killed manager listed Down', 30_000).catch(() => undefined);
    // The agent follows the leader: at once when its manager refuses it NOT_LEADER, else at its
    // heartbeat timeout. The cloud can converge before a leadership change at the very end has
    // reached the agent (the PostgreSQL restart test: once in four runs here, 2026-12-02; 165 ms
    // in another), so this is awaited for a bounded time, not sampled once.
    const alive = managers.filter((m) => m.alive());
    const seen: { leaders: ManagerProc[]; hostUp: boolean } = { leaders: [], hostUp: false };
    const leaderOf = () => (seen.leaders.length === 1 ? seen.leaders[0]! : undefined);
    const settled = async (): Promise<boolean> => {
      seen.leaders = [];
      for (const m of alive) if ((await health(m).catch(() => ({ leader: false }))).leader) seen.leaders.push(m);
      seen.hostUp = (await admin.ok('listHosts', { id: host.id })).host[0].state === 'Up';
      const leader = leaderOf();
      return seen.hostUp && agent.status === 'connected' && leader !== undefined && agent.url === ws(leader);
    };
    const settleStart = Date.now();
    const agentOnSurvivor = await waitFor(settled, 'the agent with the one leader', 15_000).then(() => true, () => false);
    log(`failover: agent with the leader ${agentOnSurvivor ? `after ${Date.now() - settleStart} ms` : 'not within 15 s'} (agent ${agent.status} at ${agent.url}; host ${seen.hostUp ? 'Up' : 'not Up'}; ${seen.leaders.length} leaders)`);
    return {
      gapMs, probes, probeFailures, deploys, accepted: accepted.length, refused, ended, lost, failedJobs, failed: failed.slice(0, 20),
      killedAfterMs: Math.round(killAt), problems, agentOnSurvivor, routed, consoleViaFollower, leaderBefore: m1.url, leaderAfter: leaderOf()?.url ?? `${seen.leaders.length} leaders`, running, managers: managersList,
    };
  } finally {
    for (const f of cleanups.reverse()) await Promise.resolve().then(f).catch(() => undefined);
  }
}

/** A VM's console opened on a follower: the endpoint from its API, the WebSocket to its own
 *  `/console/ws`; true when the console's greeting arrives and a line sent comes back. */
async function followerConsole(follower: Api, followerUrl: string, vmId: string, log: (l: string) => void): Promise<boolean> {
  const ep = (await follower.ok('createConsoleEndpoint', { virtualmachineid: vmId })).consoleendpoint;
  const ws = consoleSocket(followerUrl, ep.websocket.token);
  const line = `through the follower ${randomBytes(4).toString('hex')}`;
  let bytes = '';
  const ok = await new Promise<boolean>((resolve) => {
    let done = false;
    let sent = false;
    const finish = (v: boolean, why = '') => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (!v) log(`failover: console through the follower: ${why}; got ${JSON.stringify(bytes.slice(-200))}`);
      resolve(v);
    };
    const timer = setTimeout(() => finish(false, 'no echo within 20 s'), 20_000);
    ws.on('message', (d, bin) => {
      if (!bin) return;
      bytes += d.toString();
      if (bytes.includes(line)) finish(true);
      else if (!sent && bytes.includes('RFB 003.008')) { sent = true; ws.send(Buffer.from(line)); }
    });
    ws.on('close', (code, reason) => finish(false, `closed ${code} ${reason.toString()}`));
    ws.on('error', (e) => finish(false, e.message));
  });
  ws.close();
  return ok;
}
