// `npm start`'s single-machine cloud: on the embedded database, a ready zone `local` (pod,
// cluster, host, a physical network with Guest/Public/Management traffic, the public range
// 203.0.113.0/24, a flat shared network 198.51.100.0/24) and one host agent on this machine.
// As root the agent runs the netns driver with its host in namespace `flt-host`, joined to an
// uplink namespace `flt-uplink` (203.0.113.1 public, 198.51.100.1 flat) by two veth pairs —
// nothing is created in the root namespace. Without root (or with FLOTILLA_LOCAL_DRIVER=simulator)
// it runs the simulator driver.
// Everything goes through the API's own commands (as admin), so the same validation applies.
// The agent is a separate process (the manager never runs host code in-process).
//
// The API answers while this runs, so tenants and admins may act on a half-made zone. The set-up
// is therefore a list of idempotent steps — each looks for its object first and makes only what
// is missing, and tolerates what users made meanwhile (their networks, addresses, VMs) — run in
// the background and retried with back-off until all are done. A failure is reported (log line +
// BACKGROUND.FAILURE event) and never ends the manager; the next attempt, or the next start,
// completes what is missing. The agent is supervised the same way: restarted if it exits.
//
// One agent per host (issue 16): the agent gets a pipe as stdin and ends when it closes
// (--exit-with-stdin), which the kernel does however the manager dies, kill -9 included; and each
// start re-adds the local host with a fresh token (the old one is revoked and any session on it
// closed), so an agent of an earlier manager that is somehow still alive is refused, not let in
// beside the new one.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { chmodSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Manager } from '../app.ts';
import type { Services } from '../services.ts';
import { dispatch } from '../api/dispatch.ts';
import { loadCaller } from '../api/auth.ts';
import { hashToken } from '../agents/gateway.ts';
import { newToken } from '../api/crypto.ts';
import { guard, reportFailure } from '../background.ts';
import { setConsoleNetns } from '../console/index.ts';

const run = promisify(execFile);
const repoRoot = new URL('../../../', import.meta.url).pathname;

/** The local cloud's names; FLOTILLA_LOCAL_NAME (default `flt`) prefixes its namespaces, so a
 *  test can run its own local cloud beside a developer's. */
export function localNames(name = process.env.FLOTILLA_LOCAL_NAME ?? 'flt') {
  if (!/^flt(-[a-z0-9]{1,12})?$/.test(name)) throw new Error(`FLOTILLA_LOCAL_NAME must be flt or flt-<a-z0-9, at most 12> (got ${name})`);
  return {
    zone: 'local', hostNs: `${name}-host`, uplinkNs: `${name}-uplink`,
    hostTag: name === 'flt' ? 'locl' : createHash('sha256').update(name).digest('hex').slice(0, 4),
    public: { hostIf: 'upl0', uplinkIf: 'pub0', gateway: '203.0.113.1', netmask: '255.255.255.0', start: '203.0.113.10', end: '203.0.113.250' },
    flat: { hostIf: 'upl1', uplinkIf: 'flat0', gateway: '198.51.100.1', netmask: '255.255.255.0', start: '198.51.100.10', end: '198.51.100.250' },
    vnis: '5000-5999',
  } as const;
}
const LOCAL = localNames();

type Params = Record<string, string | number | boolean>;

/** FLOTILLA_LOCAL_STEP_DELAY_MS: a pause before each mutating set-up step (a debugging knob; the
 *  start-up race test uses it to act between steps). */
const STEP_DELAY_MS = Number(process.env.FLOTILLA_LOCAL_STEP_DELAY_MS ?? 0);
/** An async set-up command whose job does not end within this is treated as failed (and retried). */
const JOB_WAIT_MS = 300_000;

/** Runs a command as the admin user, waiting for async ones; returns the answer's inner object. */
async function asAdmin(s: Services, command: string, params: Params = {}): Promise<Record<string, any>> {
  if (STEP_DELAY_MS > 0 && !command.startsWith('list')) await sleep(STEP_DELAY_MS);
  const adminId = (await s.db.query<{ id: string }>(`SELECT u.id FROM users u JOIN domains d ON d.id = u.domain_id WHERE u.username = 'admin' AND d.path = 'ROOT'`))[0]?.id;
  const caller = adminId ? await loadCaller(s, adminId) : undefined;
  if (!caller) throw new Error('the admin user is missing');
  const raw = Object.fromEntries(Object.entries(params).map(([k, v]) => [k, String(v)]));
  // The event should say which step failed (an unexpected error's cause is logged by dispatch).
  const ans = await dispatch(s, caller, command, raw).catch((e: unknown) => { throw new Error(`${command} failed: ${e instanceof Error ? e.message : String(e)}`, { cause: e }); });
  const jobid = ans.inner.jobid as string | undefined;
  if (!jobid) return ans.inner;
  const deadline = Date.now() + JOB_WAIT_MS;
  for (;;) {
    const j = (await s.db.query<{ status: number; result: any }>('SELECT status, result FROM async_jobs WHERE id = $1', [jobid]))[0]!;
    if (j.status === 1) return j.result;
    if (j.status === 2) throw new Error(`${command} failed: ${j.result?.errortext}`);
    if (Date.now() > deadline) throw new Error(`${command} (job ${jobid}) did not end within ${JOB_WAIT_MS / 1000} s`);
    await sleep(50);
  }
}

async function ip(ns: string | undefined, ...args: string[]): Promise<string> {
  const r = ns ? await run('ip', ['netns', 'exec', ns, 'ip', ...args]) : await run('ip', args);
  return r.stdout;
}

/** flt-host and flt-uplink, joined by two veth pairs, created inside the namespaces. Idempotent. */
async function ensureNamespaces(): Promise<void> {
  const have = (await ip(undefined, 'netns', 'list')).split('\n').map((l) => l.split(' ')[0]);
  for (const ns of [LOCAL.hostNs, LOCAL.uplinkNs]) {
    if (!have.includes(ns)) await ip(undefined, 'netns', 'add', ns);
    await ip(ns, 'link', 'set', 'lo', 'up');
  }
  const hostLinks = await ip(LOCAL.hostNs, '-o', 'link');
  for (const l of [LOCAL.public, LOCAL.flat]) {
    if (!hostLinks.includes(` ${l.hostIf}@`)) {
      await ip(undefined, 'link', 'add', l.hostIf, 'netns', LOCAL.hostNs, 'type', 'veth', 'peer', 'name', l.uplinkIf, 'netns', LOCAL.uplinkNs);
    }
    await ip(LOCAL.hostNs, 'link', 'set', l.hostIf, 'up');
    await ip(LOCAL.uplinkNs, 'link', 'set', l.uplinkIf, 'up');
    await ip(LOCAL.uplinkNs, 'addr', 'replace', `${l.gateway}/24`, 'dev', l.uplinkIf);
  }
}

export interface LocalZone { zoneId: string; podId: string; clusterId: string; physicalNetworkId: string }

/**
 * The zone and its parts, each step made only if missing, so an attempt that failed half-way is
 * completed by the next one and objects users made meanwhile are left alone. The zone is
 * enabled last: tenants see it only when it is complete.
 */
async function ensureZone(s: Services, hypervisor: 'LXC' | 'Simulator'): Promise<LocalZone> {
  const zone = (await asAdmin(s, 'listZones', { name: LOCAL.zone })).zone?.[0]
    ?? (await asAdmin(s, 'createZone', { name: LOCAL.zone, networktype: 'Advanced', dns1: LOCAL.public.gateway, internaldns1: LOCAL.public.gateway, guestcidraddress: '10.1.0.0/16', localstorageenabled: true })).zone;
  const pod = (await asAdmin(s, 'listPods', { zoneid: zone.id, name: 'local-pod' })).pod?.[0]
    ?? (await asAdmin(s, 'createPod', { zoneid: zone.id, name: 'local-pod', gateway: '172.30.0.1', netmask: '255.255.255.0', startip: '172.30.0.10', endip: '172.30.0.250' })).pod;
  const cluster = (await asAdmin(s, 'listClusters', { zoneid: zone.id, name: 'local-cluster' })).cluster?.[0]
    ?? (await asAdmin(s, 'addCluster', { zoneid: zone.id, podid: pod.id, clustername: 'local-cluster', clustertype: 'CloudManaged', hypervisor })).cluster[0];
  const pn = (await asAdmin(s, 'listPhysicalNetworks', { zoneid: zone.id, name: 'local-physical' })).physicalnetwork?.[0]
    ?? (await asAdmin(s, 'createPhysicalNetwork', { zoneid: zone.id, name: 'local-physical', isolationmethods: 'VXLAN', vlan: LOCAL.vnis })).physicalnetwork;
  const traffic = new Set(((await asAdmin(s, 'listTrafficTypes', { physicalnetworkid: pn.id })).traffictype ?? []).map((t: { traffictype: string }) => t.traffictype));
  if (!traffic.has('Guest')) await asAdmin(s, 'addTrafficType', { physicalnetworkid: pn.id, traffictype: 'Guest', kvmnetworklabel: LOCAL.flat.hostIf });
  if (!traffic.has('Public')) await asAdmin(s, 'addTrafficType', { physicalnetworkid: pn.id, traffictype: 'Public', kvmnetworklabel: LOCAL.public.hostIf });
  if (!traffic.has('Management')) await asAdmin(s, 'addTrafficType', { physicalnetworkid: pn.id, traffictype: 'Management' });
  for (const nsp of (await asAdmin(s, 'listNetworkServiceProviders', { physicalnetworkid: pn.id })).networkserviceprovider ?? []) {
    if (nsp.name !== 'VirtualRouter' && nsp.name !== 'VpcVirtualRouter') continue;
    for (const el of (await asAdmin(s, 'listVirtualRouterElements', { nspid: nsp.id })).virtualrouterelement ?? []) {
      if (!el.enabled) await asAdmin(s, 'configureVirtualRouterElement', { id: el.id, enabled: true });
    }
    if (nsp.state !== 'Enabled') await asAdmin(s, 'updateNetworkServiceProvider', { id: nsp.id, state: 'Enabled' });
  }
  if (pn.state !== 'Enabled') await asAdmin(s, 'updatePhysicalNetwork', { id: pn.id, state: 'Enabled' });
  const ranges = (await asAdmin(s, 'listVlanIpRanges', { zoneid: zone.id })).vlaniprange ?? [];
  if (!ranges.some((r: { startip?: string }) => r.startip === LOCAL.public.start)) {
    await asAdmin(s, 'createVlanIpRange', { zoneid: zone.id, physicalnetworkid: pn.id, forvirtualnetwork: true, vlan: 'untagged',
      gateway: LOCAL.public.gateway, netmask: LOCAL.public.netmask, startip: LOCAL.public.start, endip: LOCAL.public.end });
  }
  // (A tenant's isolated network may be called local-flat too: only a shared one counts.)
  const flat = (await asAdmin(s, 'listNetworks', { zoneid: zone.id, name: 'local-flat', type: 'Shared', listall: true })).network?.[0];
  if (!flat) {
    // An admin may have put an untagged shared network of their own on local-physical meanwhile:
    // it holds the uplink, so local-flat cannot exist beside it. Say so, and leave it theirs.
    const other = (await s.db.query<{ id: string; name: string }>(
      `SELECT id, name FROM networks WHERE physical_network_id = $1 AND vni IS NULL AND guest_type = 'Shared'`, [pn.id]))[0];
    if (other) {
      await reportFailure(s, 'local cloud set-up', new Error(`local-flat was not created: physical network local-physical already has the untagged shared network ${other.name} (id ${other.id})`));
    } else {
      const shared = (await asAdmin(s, 'listNetworkOfferings', { name: 'DefaultSharedNetworkOffering' })).networkoffering[0];
      await asAdmin(s, 'createNetwork', { zoneid: zone.id, name: 'local-flat', displaytext: 'flat network on the uplink (198.51.100.0/24)', networkofferingid: shared.id,
        vlan: 'untagged', gateway: LOCAL.flat.gateway, netmask: LOCAL.flat.netmask, startip: LOCAL.flat.start, endip: LOCAL.flat.end });
    }
  }
  // Namespace VMs reserve no CPU of their own: the one local host may place 16 × its cores.
  const factor = (await asAdmin(s, 'listConfigurations', { name: 'cpu.overprovisioning.factor' })).configuration?.find((c: { name: string }) => c.name === 'cpu.overprovisioning.factor');
  if (factor?.value !== '16') await asAdmin(s, 'updateConfiguration', { name: 'cpu.overprovisioning.factor', value: '16' });
  if (zone.allocationstate !== 'Enabled') await asAdmin(s, 'updateZone', { id: zone.id, allocationstate: 'Enabled' });
  return { zoneId: zone.id, podId: pod.id, clusterId: cluster.id, physicalNetworkId: pn.id };
}

/** The local host record and its agent token (kept in the data dir, 0600). The token is new on
 *  every start (the host is re-added): the previous one is revoked and its session closed. */
async function ensureHost(s: Services, z: LocalZone, hypervisor: string, dataDir: string): Promise<string> {
  const tokenFile = join(dataDir, 'local-agent.token');
  const write = (token: string) => {
    const tmp = `${tokenFile}.${process.pid}.tmp`;
    writeFileSync(tmp, token, { mode: 0o600 });
    chmodSync(tmp, 0o600);
    renameSync(tmp, tokenFile);
  };
  const host = (await asAdmin(s, 'listHosts', { zoneid: z.zoneId, name: 'local' })).host?.[0];
  if (!host) {
    const added = await asAdmin(s, 'addHost', { zoneid: z.zoneId, podid: z.podId, clusterid: z.clusterId, url: 'agent://local', hypervisor });
    write(added.host[0].agenttoken);
  } else {
    const token = newToken(32);
    await s.db.query('UPDATE hosts SET token_hash = $2 WHERE id = $1', [host.id, hashToken(token)]);
    s.agents.disconnect(host.id);
    write(token);
  }
  return tokenFile;
}

export type LocalDriver = 'netns' | 'simulator';

export interface LocalCloud {
  driver: LocalDriver;
  /** Resolves when the zone is complete and the agent started (never rejects; failures are
   *  reported and retried); resolves early if stop() is called first. */
  ready: Promise<void>;
  /** The running agent process, if any. */
  agent(): ChildProcess | undefined;
  stop(): Promise<void>;
}

/** FLOTILLA_LOCAL_DRIVER: `netns` (the default as root) or `simulator` (the default otherwise). */
export function localDriver(env: NodeJS.ProcessEnv = process.env): LocalDriver {
  const want = env.FLOTILLA_LOCAL_DRIVER;
  if (want !== undefined && want !== 'netns' && want !== 'simulator') throw new Error(`FLOTILLA_LOCAL_DRIVER must be netns or simulator (got ${want})`);
  if (want === 'netns' && process.getuid?.() !== 0) throw new Error('FLOTILLA_LOCAL_DRIVER=netns needs root (network namespaces)');
  return want ?? (process.getuid?.() === 0 ? 'netns' : 'simulator');
}

/** Back-off between attempts: 1 s, 2 s, 4 s … at most 30 s. */
const backoff = (attempt: number) => Math.min(30_000, 1000 * 2 ** Math.min(attempt - 1, 5));

/**
 * Starts the single-machine cloud in the background and returns at once: the set-up is retried
 * until complete, then the agent is started and kept running. Nothing here throws or rejects.
 */
export function startLocalCloud(m: Manager, managerUrl: string, dataDir: string, driver: LocalDriver = localDriver()): LocalCloud {
  const s = m.services;
  const hypervisor = driver === 'netns' ? 'LXC' : 'Simulator';
  const stopping = new AbortController();
  let agent: ChildProcess | undefined;
  const pause = (ms: number) => sleep(ms, undefined, { signal: stopping.signal }).catch(() => undefined);

  const setUp = async (): Promise<string | undefined> => {
    for (let attempt = 1; !stopping.signal.aborted; attempt++) {
      try {
        if (driver === 'netns') await ensureNamespaces();
        // The console proxy VM's public address is inside the uplink namespace: the manager
        // forwards /console/ to it through there (a browser on this machine opens consoles).
        if (driver === 'netns' && !process.env.FLOTILLA_CONSOLE_NETNS) await setConsoleNetns(s, LOCAL.uplinkNs);
        const zone = await ensureZone(s, hypervisor);
        return await ensureHost(s, zone, hypervisor, dataDir);
      } catch (e) {
        if (stopping.signal.aborted) return undefined;
        const wait = backoff(attempt);
        await reportFailure(s, 'local cloud set-up', e, { attempt, retryInMs: wait });
        await pause(wait);
      }
    }
    return undefined;
  };

  /** The agent, restarted with back-off whenever it ends while the manager runs. */
  const superviseAgent = (tokenFile: string) => {
    const ws = `${managerUrl.replace(/^http/, 'ws')}/agent`;
    const args = ['--import', 'tsx', join(repoRoot, 'agent/src/main.ts'), '--manager', ws, '--token-file', tokenFile, '--driver', driver, '--host-name', 'local', '--exit-with-stdin',
      ...(driver === 'netns' ? ['--host-namespace', LOCAL.hostNs, '--host-tag', LOCAL.hostTag] : []),
      // Over TLS the agent pins this manager's certificate (wss:// from https://).
      ...(s.settings.tls ? ['--manager-fingerprint', s.settings.tls.fingerprint256] : [])];
    let failures = 0;
    const launch = () => {
      if (stopping.signal.aborted) return;
      const started = Date.now();
      // stdin is a pipe we never write to: its end closes with this process (--exit-with-stdin).
      const child = spawn(process.execPath, args, { stdio: ['pipe', 'inherit', 'inherit'], env: { ...process.env, FLOTILLA_RUN_ID: randomUUID() } });
      child.stdin?.on('error', () => undefined);
      agent = child;
      let ended = false;
      const ends = (why: Error) => guard(s, 'local host agent', async () => {
        if (ended) return;
        ended = true;
        if (stopping.signal.aborted) return;
        failures = Date.now() - started > 60_000 ? 1 : failures + 1;
        const wait = backoff(failures);
        await reportFailure(s, 'local host agent', new Error(`${why.message}; restarting it in ${wait / 1000} s`), { pid: child.pid });
        await pause(wait);
        launch();
      });
      child.once('error', (e) => void ends(e));
      child.once('exit', (code, signal) => void ends(new Error(`the local host agent (pid ${child.pid}) exited (${signal ?? `code ${code}`})`)));
    };
    launch();
  };

  const ready = guard(s, 'local cloud set-up', async () => {
    const tokenFile = await setUp();
    if (!tokenFile || stopping.signal.aborted) return;
    superviseAgent(tokenFile);
    s.log.info({ driver }, 'local cloud ready');
  });

  return {
    driver, ready,
    agent: () => agent,
    async stop() {
      stopping.abort();
      await ready;
      const a = agent;
      if (a && a.exitCode === null && a.signalCode === null && a.pid) {
        const exited = new Promise((r) => a.once('exit', r));
        a.kill('SIGTERM');
        await exited;
      }
    },
  };
}

/** For the README and the start banner. */
export function localCloudHelp(driver: 'netns' | 'simulator'): string {
  if (driver === 'simulator') {
    const why = process.getuid?.() === 0 ? 'FLOTILLA_LOCAL_DRIVER=simulator' : 'not running as root';
    return `Local cloud ready: zone "${LOCAL.zone}"; the local host runs the simulator driver (${why}: no namespaces, VMs are simulated).`;
  }
  return [
    `Local cloud ready: zone "${LOCAL.zone}", host namespace ${LOCAL.hostNs}, uplink namespace ${LOCAL.uplinkNs}`,
    `  (public ${LOCAL.public.gateway}/24, flat network "local-flat" ${LOCAL.flat.gateway}/24).`,
    `  A VM on local-flat answers from the uplink: ip netns exec ${LOCAL.uplinkNs} curl http://<VM address>/`,
  ].join('\n');
}

