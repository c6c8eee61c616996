// Kill at random points (issue 16, item 2): the real manager (`npm start`'s entry point, a child
// process on PGlite in its data dir or on a PostgreSQL database) runs a mix of async commands —
// deploy, associate IP, firewall, port forwarding and load balancer rules (with a member), a data
// volume created and attached, a remote access VPN with a user, destroy, VPN user, volume and
// network deletes, beside createNetwork — and is killed with SIGKILL at an instant drawn uniformly over the workload's
// measured span (not in a sleep: FLOTILLA_JOB_DELAY_MS is not set), then started again. The host
// agent runs in THIS process (simulator or the real netns driver), so the host outlives the
// manager as a real host does; only the manager dies. After the restart the harness waits for
// convergence and counts, per run:
//   lost       — an accepted job (its jobid answered) that never ends with a result;
//   duplicated — a resource made twice: two VMs or rules for one request, one public address or
//                guest address held twice, two routers or one VNI for two networks, two LB rules
//                on one public port, two volumes of one name, two VPNs on one address or two
//                VPN users of one name;
//   orphaned   — what one side has and the other does not want: a VM or guest network on the
//                host that the database does not run there (or the reverse), a VM or router stuck
//                in a transitional state, an Implemented network whose router is not Running with
//                its spec generation applied, an address held for a network that is gone, a
//                router spec whose LB rules or members differ from the database's, a volume
//                attached to a VM that is gone or stuck in a transitional state, a volume file on
//                the host that no volume has (or the reverse), a router spec with a VPN the
//                database does not have (or the reverse), a VPN or VPN user stuck in a state.
// Each kill records the phase in flight (the commands submitted and not yet seen ending).
import { Agent, NetnsDriver, SimulatorDriver, type Driver } from '@flotilla/agent';
import { keysFor, signedClient, type Api } from '@flotilla/manager/client';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addUplink, createZone, destroyAll, netnsHosts, waitFor, type Cloud, type Zone } from './cloud.ts';
import type { Lab } from './lab.ts';
import { freePort, startManager, stopManager, type ManagerProc } from './manager-proc.ts';

export interface KillRunOptions {
  runs: number;
  driver: 'simulator' | 'netns';
  /** netns only: the lab whose namespaces the host lives in */
  lab?: Lab;
  /** a PostgreSQL database URL (a fresh database); else PGlite in the data dir */
  databaseUrl?: string;
  /** how long a run may take to converge after the restart */
  convergeMs?: number;
  log?: (line: string) => void;
}

export interface KillRunReport {
  runs: number; lost: number; duplicated: number; orphaned: number;
  /** phase in flight at each kill → how many kills */
  phases: Record<string, number>;
  /** what each counted problem was (first of each run) */
  problems: string[];
  spanMs: number;
  jobs: number;
  /** jobs that ended failed (a result, so not lost), with their error text: first 20 */
  failed: string[];
  failedJobs: number;
  /** NETWORK.REPAIR events the manager wrote over all runs (the repair loop's work) */
  repairs: number;
  /** the managers' error log lines (an unexpected error behind a 530 names its cause here): first 20 */
  managerErrors: string[];
}

const PASSWORD = 'kill-runs-pw';

interface Tracked { command: string; jobid: string; run: number }

export async function killRuns(o: KillRunOptions): Promise<KillRunReport> {
  const log = o.log ?? (() => undefined);
  const cleanups: Array<() => unknown> = [];
  const report: KillRunReport = { runs: 0, lost: 0, duplicated: 0, orphaned: 0, phases: {}, problems: [], spanMs: 0, jobs: 0, repairs: 0, failed: [], failedJobs: 0, managerErrors: [] };
  try {
    const port = await freePort();
    const dataDir = mkdtempSync(join(tmpdir(), 'flt-kill-'));
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const env: Record<string, string> = {
      PORT: String(port), FLOTILLA_DATA_DIR: dataDir, FLOTILLA_ADMIN_PASSWORD: PASSWORD, FLOTILLA_LOCAL_CLOUD: 'off', FLOTILLA_SYSTEM_VMS: 'off',
      FLOTILLA_ROUTER_CHECK_MS: '1000', FLOTILLA_VM_CHECK_MS: '1000', FLOTILLA_REPAIR_CHECK_MS: '1000', FLOTILLA_JOB_RESUME_GRACE_MS: '20000',
      FLOTILLA_LOG_LEVEL: process.env.FLT_KILL_LOG ?? 'error',
      ...(o.databaseUrl ? { DATABASE_URL: o.databaseUrl } : {}),
    };
    let m: ManagerProc = await startManager(env);
    cleanups.push(() => stopManager(m));
    const admin = await keysFor(m.url, 'admin', PASSWORD);
    const wsUrl = `${m.url.replace(/^http/, 'ws')}/agent`;

    // The zone, one host whose agent lives here, a public range, a tenant.
    let z: Zone;
    let driver: Driver;
    if (o.driver === 'netns') {
      if (!o.lab) throw new Error('the netns driver needs a lab');
      z = await createZone(admin, 'kz', 'LXC');
      const [h] = await netnsHosts(o.lab, 1);
      driver = h!.driver as NetnsDriver;
      await addUplink(o.lab, { admin } as unknown as Cloud, z, [h!], '203.0.113');
    } else {
      z = await createZone(admin, 'kz', 'Simulator');
      // A small delay per host call spreads the host steps over the span, as a real host's do.
      driver = new SimulatorDriver({ capacity: { cpus: 64, cpuMhz: 2000, memoryMb: 262144 }, delayMs: { min: 5, max: 40 } });
      await admin.jobOk('addTrafficType', { physicalnetworkid: z.physicalNetworkId, traffictype: 'Public' });
      await admin.ok('createVlanIpRange', { zoneid: z.zoneId, physicalnetworkid: z.physicalNetworkId, forvirtualnetwork: true, vlan: 'untagged', gateway: '203.0.113.1', netmask: '255.255.255.0', startip: '203.0.113.10', endip: '203.0.113.60' });
    }
    const host = (await admin.ok('addHost', { zoneid: z.zoneId, podid: z.podId, clusterid: z.clusterId, url: 'agent://kill-host', hypervisor: driver.hypervisor })).host[0];
    const agent = new Agent({ url: wsUrl, token: host.agenttoken, driver, hostName: 'kill-host', backoff: { initialMs: 100, maxMs: 500 } });
    cleanups.push(async () => { await agent.stop(); if (o.driver === 'simulator') await destroyAll(driver); });
    agent.start();
    await waitFor(async () => (await admin.ok('listHosts', { id: host.id })).host[0].state === 'Up', 'the host Up', 60_000);
    const acc = (await admin.ok('createAccount', { username: 'killten', account: 'killten', password: 'pw-killten-1', email: 'k@example.org', firstname: 'k', lastname: 'k', accounttype: 0 })).account;
    const keys = (await admin.ok('registerUserKeys', { id: acc.user[0].id })).userkeys;
    const ten: Api = signedClient(m.url, keys.apikey, keys.secretkey);
    const iso = (await admin.ok('listNetworkOfferings', { name: 'DefaultIsolatedNetworkOfferingWithSourceNatService' })).networkoffering[0].id;
    const so = (await admin.ok('listServiceOfferings', { name: 'Small Instance' })).serviceoffering[0].id;
    const tpl = (await admin.ok('listTemplates', { templatefilter: 'featured', zoneid: z.zoneId })).template[0].id;
    const disk = ((await admin.ok('listDiskOfferings', {})).diskoffering as any[]).find((d) => !d.iscustomized).id as string;

    const keepErrors = (p: ManagerProc) => {
      for (const line of p.output().split('\n')) {
        if (report.managerErrors.length < 20 && /"level":50/.test(line)) report.managerErrors.push(line.slice(0, 1500));
      }
    };
    const tracked: Tracked[] = [];
    const inFlight = new Map<number, string>();
    let seq = 0;
    /** Submits an async command and waits for its end; undefined when the manager died meanwhile. */
    const job = async (run: number, api: Api, command: string, params: Record<string, string>): Promise<Record<string, any> | undefined> => {
      const key = seq++;
      inFlight.set(key, command);
      try {
        const r = await api.call(command, params).catch(() => undefined);
        if (!r || r.status !== 200 || !r.body.jobid) return undefined;
        tracked.push({ command, jobid: r.body.jobid, run });
        for (;;) {
          const q = await api.call('queryAsyncJobResult', { jobid: r.body.jobid }).catch(() => undefined);
          if (!q) return undefined; // the manager is gone: the job is checked after the restart
          if (q.body.jobstatus !== 0) return q.body;
          await new Promise((res) => setTimeout(res, 25));
        }
      } finally { inFlight.delete(key); }
    };
    const sync = async (api: Api, command: string, params: Record<string, string>) => {
      const key = seq++;
      inFlight.set(key, command);
      try { return await api.call(command, params).catch(() => undefined); } finally { inFlight.delete(key); }
    };

    /** One run's workload: a new network with a VM, an address and rules; the earlier runs' go. */
    const workload = async (run: number) => {
      const build = async () => {
        const net = await sync(ten, 'createNetwork', { zoneid: z.zoneId, name: `kn-${run}`, displaytext: `kn-${run}`, networkofferingid: iso });
        const netId = net?.status === 200 ? net.body.network.id as string : undefined;
        if (!netId) return;
        const vm = await job(run, ten, 'deployVirtualMachine', { zoneid: z.zoneId, serviceofferingid: so, templateid: tpl, networkids: netId, name: `kv-${run}` });
        const ip = await job(run, ten, 'associateIpAddress', { networkid: netId });
        const ipId = ip?.jobstatus === 1 ? ip.jobresult.ipaddress.id as string : undefined;
        if (!ipId) return;
        const vmId = vm?.jobstatus === 1 ? vm.jobresult.virtualmachine.id as string : undefined;
        await Promise.all([
          job(run, ten, 'createFirewallRule', { ipaddressid: ipId, protocol: 'tcp', startport: '22', endport: '22', cidrlist: '192.0.2.0/24' }),
          vmId ? job(run, ten, 'createPortForwardingRule', { ipaddressid: ipId, protocol: 'tcp', publicport: '80', privateport: '80', virtualmachineid: vmId }) : undefined,
          (async () => {
            const lb = await job(run, ten, 'createLoadBalancerRule', { publicipid: ipId, name: `kl-${run}`, algorithm: 'roundrobin', publicport: '8080', privateport: '80' });
            const lbId = lb?.jobstatus === 1 ? lb.jobresult.loadbalancer.id as string : undefined;
            if (lbId && vmId) await job(run, ten, 'assignToLoadBalancerRule', { id: lbId, virtualmachineids: vmId });
          })(),
          (async () => {
            const snat = (await ten.call('listPublicIpAddresses', { associatednetworkid: netId, issourcenat: 'true' }).catch(() => undefined))?.body.publicipaddress?.[0];
            if (!snat) return;
            const vpn = await job(run, ten, 'createRemoteAccessVpn', { publicipid: snat.id, iprange: '192.168.250.1-192.168.250.20' });
            if (vpn?.jobstatus === 1) await job(run, ten, 'addVpnUser', { username: `ku${run}`, password: `pw-ku-${run}-secret` });
          })(),
          (async () => {
            const vol = await job(run, ten, 'createVolume', { name: `kd-${run}`, zoneid: z.zoneId, diskofferingid: disk });
            const volId = vol?.jobstatus === 1 ? vol.jobresult.volume.id as string : undefined;
            if (volId && vmId) await job(run, ten, 'attachVolume', { id: volId, virtualmachineid: vmId });
          })(),
        ]);
      };
      const teardown = async () => {
        // Whatever earlier runs left (whole or half-made by a kill) goes: VMs, then networks.
        const vms = (await ten.call('listVirtualMachines', {}).catch(() => undefined))?.body.virtualmachine ?? [];
        await Promise.all(vms.filter((v: any) => !v.name.endsWith(`-${run}`)).map((v: any) => job(run, ten, 'destroyVirtualMachine', { id: v.id, expunge: 'true' })));
        // Their data volumes are detached by the destroy (CloudStack keeps them): deleted now.
        const vols = (await ten.call('listVolumes', { type: 'DATADISK' }).catch(() => undefined))?.body.volume ?? [];
        await Promise.all(vols.filter((v: any) => v.name !== `kd-${run}` && !v.virtualmachineid).map((v: any) => sync(ten, 'deleteVolume', { id: v.id })));  // deleteVolume is synchronous
        const users = (await ten.call('listVpnUsers', {}).catch(() => undefined))?.body.vpnuser ?? [];
        await Promise.all(users.filter((u: any) => u.username !== `ku${run}`).map((u: any) => job(run, ten, 'removeVpnUser', { username: u.username })));
        const nets = (await ten.call('listNetworks', {}).catch(() => undefined))?.body.network ?? [];
        await Promise.all(nets.filter((n: any) => n.name !== `kn-${run}`).map((n: any) => job(run, ten, 'deleteNetwork', { id: n.id })));
      };
      await Promise.all([build(), teardown()]);
    };

    /** Problems now, as [kind, text]; empty when the cloud is as the database wants it. */
    const check = async (): Promise<Array<['lost' | 'duplicated' | 'orphaned', string]>> => {
      const out: Array<['lost' | 'duplicated' | 'orphaned', string]> = [];
      const vms: any[] = (await admin.ok('listVirtualMachines', { listall: true })).virtualmachine ?? [];
      const routers: any[] = (await admin.ok('listRouters', { listall: true })).router ?? [];
      const nets: any[] = (await admin.ok('listNetworks', { listall: true })).network ?? [];
      const ips: any[] = (await admin.ok('listPublicIpAddresses', { listall: true, allocatedonly: true })).publicipaddress ?? [];
      const fws: any[] = (await admin.ok('listFirewallRules', { listall: true })).firewallrule ?? [];
      const pfs: any[] = (await admin.ok('listPortForwardingRules', { listall: true })).portforwardingrule ?? [];
      const lbs: any[] = (await admin.ok('listLoadBalancerRules', { listall: true })).loadbalancerrule ?? [];
      const vols: any[] = (await admin.ok('listVolumes', { listall: true })).volume ?? [];
      const vpns: any[] = (await admin.ok('listRemoteAccessVpns', { listall: true })).remoteaccessvpn ?? [];
      const vpnUsers: any[] = (await admin.ok('listVpnUsers', { listall: true })).vpnuser ?? [];
      const dup = (what: string, keys: string[]) => {
        const seen = new Set<string>();
        for (const k of keys) { if (seen.has(k)) out.push(['duplicated', `${what} ${k}`]); seen.add(k); }
      };
      dup('VM name', vms.filter((v) => v.state !== 'Destroyed').map((v) => v.name));
      dup('guest address', vms.flatMap((v) => (v.nic ?? []).map((n: any) => `${n.networkid}/${n.ipaddress}`)));
      dup('public address', ips.map((i) => i.ipaddress));
      dup('router of network', routers.map((r) => r.guestnetworkid));
      dup('VNI', nets.filter((n) => n.vlan).map((n) => String(n.vlan)));
      dup('firewall rule', fws.map((f) => `${f.ipaddressid}/${f.protocol}/${f.startport}/${f.cidrlist}`));
      dup('port forward', pfs.map((p) => `${p.ipaddressid}/${p.protocol}/${p.publicport}`));
      dup('LB rule', lbs.map((l) => `${l.publicipid}/${l.publicport}`));
      dup('volume name', vols.filter((v) => v.type === 'DATADISK').map((v) => v.name));
      dup('VPN on address', vpns.map((v) => v.publicipid));
      dup('VPN user', vpnUsers.map((u) => `${u.accountid ?? u.account}/${u.username}`));
      for (const v of vpns) if (v.state !== 'Running') out.push(['orphaned', `VPN on ${v.publicip} stuck ${v.state}`]);
      for (const u of vpnUsers) if (u.state !== 'Active') out.push(['orphaned', `VPN user ${u.username} stuck ${u.state}`]);
      const vmIds = new Set(vms.filter((v) => v.state !== 'Destroyed').map((v) => v.id));
      for (const v of vols) {
        if (v.virtualmachineid && !vmIds.has(v.virtualmachineid)) out.push(['orphaned', `volume ${v.name} attached to a VM that is gone`]);
        if (!['Ready', 'Allocated'].includes(v.state)) out.push(['orphaned', `volume ${v.name} stuck ${v.state}`]);
      }
      const netIds = new Set(nets.map((n) => n.id));
      for (const i of ips) if (i.associatednetworkid && !netIds.has(i.associatednetworkid)) out.push(['orphaned', `address ${i.ipaddress} held for a deleted network`]);
      for (const v of vms) if (!['Running', 'Stopped', 'Destroyed'].includes(v.state)) out.push(['orphaned', `VM ${v.name} stuck ${v.state}`]);
      for (const r of routers) {
        if (!netIds.has(r.guestnetworkid)) out.push(['orphaned', `router ${r.name} of a deleted network`]);
        if (r.state !== 'Running') out.push(['orphaned', `router ${r.name} ${r.state}`]);
      }
      for (const n of nets) {
        if (n.state === 'Implemented' && !routers.some((r) => r.guestnetworkid === n.id)) out.push(['orphaned', `network ${n.name} Implemented without a router`]);
      }
      // Spec generations: every running router applied its current one.
      const metrics = await (await fetch(`${m.url}/metrics`)).text().catch(() => '');
      for (const line of metrics.split('\n')) {
        const g = /^flotilla_router_generation_lag\{[^}]*router="([^"]+)"[^}]*\} (\S+)/.exec(line);
        if (g && Number(g[2]) !== 0) out.push(['orphaned', `router ${g[1]} generation lag ${g[2]}`]);
      }
      // The simulator keeps each router's applied spec: it must hold exactly the database's rules
      // of its network and a reservation for each VM there (the netns router is checked by its
      // applied generation above and by the repair loop's spec hash).
      if (driver instanceof SimulatorDriver) {
        for (const r of routers.filter((x) => x.state === 'Running')) {
          const spec = driver.appliedSpecs.get(r.name) as any;
          const ruleIds = new Set<string>((spec?.firewall?.publicIps ?? []).flatMap((p: any) => [...p.rules, ...p.portForwards].map((x: any) => x.id)));
          const dbIds = new Set<string>([...fws, ...pfs].filter((x) => x.networkid === r.guestnetworkid || ips.some((i) => i.id === x.ipaddressid && i.associatednetworkid === r.guestnetworkid)).map((x) => x.id));
          for (const id of dbIds) if (!ruleIds.has(id)) out.push(['orphaned', `router ${r.name} lacks rule ${id}`]);
          for (const id of ruleIds) if (!dbIds.has(id)) out.push(['orphaned', `router ${r.name} keeps deleted rule ${id}`]);
          // Load balancer rules and their members, as the database has them.
          const lbHave = new Map<string, string>(((spec?.lb?.rules ?? []) as any[]).map((x) => [x.id as string, (x.backends as any[]).map((b) => b.ip).sort().join(',')]));
          const netLbs = lbs.filter((l) => l.networkid === r.guestnetworkid);
          for (const l of netLbs) {
            const members = ((await admin.ok('listLoadBalancerRuleInstances', { id: l.id, lbvmips: true })).lbrulevmidip ?? []) as any[];
            const want = members.flatMap((x) => x.lbvmipaddresses ?? []).sort().join(',');
            if (!lbHave.has(l.id)) out.push(['orphaned', `router ${r.name} lacks LB rule ${l.name}`]);
            else if (lbHave.get(l.id) !== want) out.push(['orphaned', `router ${r.name} LB rule ${l.name} members ${lbHave.get(l.id)} ≠ ${want}`]);
          }
          for (const id of lbHave.keys()) if (!netLbs.some((l) => l.id === id)) out.push(['orphaned', `router ${r.name} keeps deleted LB rule ${id}`]);
          const vpn = vpns.find((v) => ips.some((i) => i.id === v.publicipid && i.associatednetworkid === r.guestnetworkid));
          if ((spec?.vpn?.id ?? null) !== (vpn?.id ?? null)) out.push(['orphaned', `router ${r.name} VPN ${spec?.vpn?.id ?? 'none'}, the database ${vpn?.id ?? 'none'}`]);
          const reserved = new Set<string>((spec?.guestNetworks?.[0]?.reservations ?? []).map((x: any) => x.ip));
          for (const v of vms.filter((x) => x.state === 'Running')) {
            for (const n of (v.nic ?? []).filter((c: any) => c.networkid === r.guestnetworkid)) if (!reserved.has(n.ipaddress)) out.push(['orphaned', `router ${r.name} lacks VM ${v.name}'s reservation`]);
          }
        }
      }
      // The host against the database: the VMs and routers it should run, and its guest networks.
      const want = new Set([...vms.filter((v) => v.state === 'Running').map((v) => v.instancename), ...routers.filter((r) => r.state === 'Running').map((r) => r.name)]);
      const st = await driver.listState({});
      const have = new Set(st.vms.filter((v) => v.state === 'Running').map((v) => v.name));
      for (const n of have) if (!want.has(n)) out.push(['orphaned', `host runs ${n}, the database does not`]);
      for (const n of want) if (!have.has(n)) out.push(['orphaned', `database runs ${n}, the host does not`]);
      const used = new Set([...vms.filter((v) => v.state === 'Running').flatMap((v) => (v.nic ?? []).map((c: any) => c.networkid)), ...routers.filter((r) => r.state === 'Running').map((r) => r.guestnetworkid)]);
      for (const n of st.networks) if (n.kind === 'guest' && !used.has(n.id)) out.push(['orphaned', `host keeps guest network ${n.id}, nothing uses it`]);
      // Volume files: the host's (the simulator records them) against the volumes that have one.
      if (driver instanceof SimulatorDriver) {
        const files = new Set(vols.filter((v) => v.path).map((v) => v.path as string));
        for (const f of driver.volumes.keys()) if (!files.has(f)) out.push(['orphaned', `host keeps volume file ${f} that no volume has`]);
        for (const v of vols) if (v.path && v.state === 'Ready' && !driver.volumes.has(v.path)) out.push(['orphaned', `volume ${v.name}'s file ${v.path} is not on the host`]);
      }
      return out;
    };

    const ended = new Set<string>();
    const endAllJobs = async (deadline: number) => {
      const open = new Set(tracked.filter((x) => !ended.has(x.jobid)).map((x) => x.jobid));
      while (open.size && Date.now() < deadline) {
        for (const id of [...open]) {
          const q = await admin.call('queryAsyncJobResult', { jobid: id }).catch(() => undefined);
          if (q?.status === 200 && q.body.jobstatus !== 0) {
            open.delete(id); ended.add(id);
            if (q.body.jobstatus === 2) {
              report.failedJobs++;
              if (report.failed.length < 20) report.failed.push(`${tracked.find((x) => x.jobid === id)?.command}: ${q.body.jobresult?.errortext}`);
            }
          }
        }
        if (open.size) await new Promise((r) => setTimeout(r, 200));
      }
      return open;
    };

    // Calibration: one run not killed measures the workload's span (its teardown part is not
    // in it: the first killed run's span is a little longer; the kill still falls inside it).
    let t0 = Date.now();
    await workload(0);
    let spanMs = Math.max(500, Date.now() - t0);
    report.spanMs = Math.round(spanMs);
    log(`kill-runs: workload span ${report.spanMs} ms (calibration)`);

    for (let run = 1; run <= o.runs; run++) {
      if (run % 10 === 0) {
        // The machine's load changes over 100 runs: the span is measured again (a run not killed,
        // not counted), so the kills keep falling inside the workload rather than after it.
        t0 = Date.now();
        await workload(10_000 + run);
        spanMs = Math.max(500, Date.now() - t0);
        log(`kill-runs: workload span ${Math.round(spanMs)} ms (measured again)`);
      }
      const delay = Math.random() * spanMs;
      const w = workload(run);
      await Promise.race([w, new Promise((r) => setTimeout(r, delay))]);
      const phase = [...new Set(inFlight.values())].sort().join('+') || (m.alive() ? 'between steps' : 'idle');
      report.phases[phase] = (report.phases[phase] ?? 0) + 1;
      m.child.kill('SIGKILL');
      await new Promise((r) => (m.alive() ? m.child.once('exit', r) : r(undefined)));
      keepErrors(m);
      await w; // its calls fail now; what it had accepted is checked below
      t0 = Date.now();
      m = await startManager(env);
      const startedMs = Date.now() - t0;
      report.runs++;
      const deadline = Date.now() + (o.convergeMs ?? 120_000);
      const open = await endAllJobs(deadline);
      for (const id of open) { report.lost++; report.problems.push(`run ${run}: lost job ${id} (${tracked.find((x) => x.jobid === id)?.command})`); }
      let left: Array<['lost' | 'duplicated' | 'orphaned', string]> = [];
      for (;;) {
        left = await check().catch((e) => [['orphaned', `check failed: ${(e as Error).message}`]] as Array<['orphaned', string]>);
        if (!left.length || Date.now() > deadline) break;
        await new Promise((r) => setTimeout(r, 500));
      }
      const dups = left.filter((x) => x[0] === 'duplicated').length;
      const orph = left.filter((x) => x[0] === 'orphaned').length;
      report.duplicated += dups;
      report.orphaned += orph;
      if (left.length) report.problems.push(`run ${run} (killed in ${phase} after ${Math.round(delay)} ms): ${left.map((x) => x[1]).join('; ')}`);
      log(`kill-runs: run ${run}/${o.runs} killed after ${Math.round(delay)} ms in ${phase}; restarted in ${startedMs} ms, converged in ${Date.now() - t0} ms${left.length ? `; LEFT: ${left.map((x) => x[1]).join('; ')}` : ''}`);
    }
    keepErrors(m);
    report.jobs = tracked.length;
    report.repairs = Number((await admin.ok('listEvents', { listall: true, type: 'NETWORK.REPAIR', pagesize: 1, page: 1 })).count ?? 0);
    return report;
  } finally {
    for (const f of cleanups.reverse()) await Promise.resolve().then(f).catch(() => undefined);
  }
}
