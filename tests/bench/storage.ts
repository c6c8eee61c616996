// bench:storage — the secondary storage path, loopback and lab namespaces only.
//  - download_ratio_curl: a 200 MB template (a root filesystem tarball) downloaded by the storage
//    service from a local HTTP server (busybox httpd, its own process) (streamed to its store while its MD5 is checked and the TAR
//    validated, as registerTemplate with a checksum does) against `curl -o <file>` from the same
//    server in the same run: throughput ratio service/curl, median of 5 alternating rounds.
//  - download_ratio_curl_sha256: the same with a {SHA-256} checksum (one hash: the hosts' check
//    uses that same digest) against the same curl;
//  - download_ratio_curl_md5sum: the MD5 download against `curl -o` followed by `md5sum` of the
//    file: what CloudStack's SSVM does (the file first, then its checksum read back from it).
//  - first_deploy_ms: deployVirtualMachine of a just-registered 50 MB template (downloaded by the
//    zone's secondary storage VM from a server in the uplink namespace) on a netns host (runc)
//    whose cache does not have it — the host fetches it from the storage VM's control address,
//    checks and unpacks it — until the
//    guest answers HTTP on its network (curl from another VM);
//  - cached_deploy_ms: the same for a second VM of that template (cached on the host);
//  - vm_rss_overhead_mb: host-side memory per idle container VM beyond the guest's own processes:
//    its console relay (runc itself is not resident after the start), mean over the VMs; the
//    guests' own RSS is printed on the detail line.
// Ends with: storage: download_ratio_curl= download_ratio_curl_sha256= download_ratio_curl_md5sum= first_deploy_ms= cached_deploy_ms= vm_rss_overhead_mb=
import { execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync, readFileSync, readlinkSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startStorageServer, StorageClient } from '@flotilla/storage';
import { md5, rootfsTar, serve, sha256 } from '@flotilla/storage/testing';
import { Lab } from '../src/lab.ts';
import { addHost, addUplink, createZone, netnsHosts, startCloud, waitFor } from '../src/cloud.ts';
import { setConsoleNetns } from '@flotilla/manager/console/index';
import { guestTemplateTar } from '../src/template-tar.ts';

const sh = promisify(execFile);
const cleanups: Array<() => unknown> = [];
const t = { teardown: (fn: () => unknown) => { cleanups.push(fn); } };
const out = (s: string) => { writeSync(1, s); };
const phase = (s: string) => { writeSync(2, `[${new Date().toISOString().slice(11, 19)}] ${s}\n`); };
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

interface Download { ratio: number; ratioSha256: number; ratioMd5sum: number; serviceMBs: number; sha256MBs: number; curlMBs: number }

async function downloadRatio(): Promise<Download> {
  phase('building a 200 MB template');
  const tar = rootfsTar(200 * 2 ** 20 - 20_000);
  const sum = md5(tar);
  const sumSha = `{SHA-256}${sha256(tar)}`;
  const dir = mkdtempSync(join(tmpdir(), 'flt-bench-store-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  // The file server is a process of its own (busybox httpd), so neither client shares its CPU
  // time with the server's event loop.
  mkdirSync(join(dir, 'www'));
  writeFileSync(join(dir, 'www', 't.tar'), tar);
  const web = await busyboxHttpd(join(dir, 'www'));
  const key = Buffer.alloc(32, 9);
  const s = await startStorageServer({ dir: join(dir, 'store'), key });
  cleanups.push(() => s.close());
  const c = new StorageClient(s.url, key);
  const service = async (checksum: string) => {
    const id = randomUUID();
    const t0 = performance.now();
    await c.download({ id, kind: 'template', format: 'TAR', checksum }, `${web.url}/t.tar`);
    for (;;) {
      const st = s.store.get(id)!;
      if (st.state === 'Ready') break;
      if (st.state === 'Error') throw new Error(st.status);
      await new Promise((r) => setTimeout(r, 5));
    }
    const ms = performance.now() - t0;
    await c.delete(id);
    return ms;
  };
  const peer = async (round: number, check: boolean) => {
    const file = join(dir, `curl-${round}.tar`);
    const t0 = performance.now();
    await sh('curl', ['-sS', '-o', file, `${web.url}/t.tar`]);
    // What CloudStack's SSVM does: the file first, then its checksum read back from it.
    if (check && (await sh('md5sum', [file])).stdout.split(' ')[0] !== sum) throw new Error('md5sum disagrees');
    const ms = performance.now() - t0;
    rmSync(file);
    return ms;
  };
  const svc: number[] = []; const svcSha: number[] = []; const curl: number[] = []; const curlMd5: number[] = [];
  for (let round = 0; round < 5; round++) {
    svc.push(await service(sum));
    curl.push(await peer(round, false));
    svcSha.push(await service(sumSha));
    curlMd5.push(await peer(round, true));
    phase(`round ${round + 1}: service MD5 ${svc[round]!.toFixed(0)} ms, curl ${curl[round]!.toFixed(0)} ms, service SHA-256 ${svcSha[round]!.toFixed(0)} ms, curl + md5sum ${curlMd5[round]!.toFixed(0)} ms`);
  }
  const mb = tar.length / 2 ** 20;
  const rate = (ms: number[]) => mb / (median(ms) / 1000);
  return { ratio: median(curl) / median(svc), ratioSha256: median(curl) / median(svcSha), ratioMd5sum: median(curlMd5) / median(svc), serviceMBs: rate(svc), sha256MBs: rate(svcSha), curlMBs: rate(curl) };
}

async function busyboxHttpd(root: string): Promise<{ url: string }> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 40000);
    const child = spawn('busybox', ['httpd', '-f', '-p', `127.0.0.1:${port}`, '-h', root], { stdio: 'ignore' });
    cleanups.push(() => child.kill('SIGKILL'));
    const url = `http://127.0.0.1:${port}`;
    for (let i = 0; i < 50 && child.exitCode === null; i++) {
      if (await fetch(`${url}/t.tar`, { method: 'HEAD' }).then((r) => r.ok, () => false)) return { url };
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill('SIGKILL');
  }
  throw new Error('busybox httpd did not start');
}

function rssKb(pid: number): number {
  try { return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0); } catch { return 0; }
}
function pidsInNetns(ns: string): number[] {
  const want = `net:[${statSync(`/run/netns/${ns}`).ino}]`;
  return readdirSync('/proc').filter((p) => /^\d+$/.test(p)).map(Number).filter((p) => { try { return readlinkSync(`/proc/${p}/ns/net`) === want; } catch { return false; } });
}

async function deploys(): Promise<{ first: number; cached: number; builtin: number; overheadMb: number; guestMb: number }> {
  const lab = Lab.create(t, 'stbn');
  // As production runs it: the zone's secondary storage VM serves the image store (it downloads
  // the template; the host fetches it from the VM's control address).
  // (the system VM monitor at its production interval: a 1 s check keeps the host agent busy
  // with listings and would slow every deploy measured here)
  const cloud = await startCloud(t, { systemVms: true });
  const z = await createZone(cloud.admin, 'stbn');
  const [h1] = await netnsHosts(lab, 1);
  await addHost(t, cloud, z, { name: 'host1', driver: h1!.driver, tag: h1!.tag, hostNs: h1!.hostNs });
  const up = await addUplink(lab, cloud, z, [h1!]);
  await setConsoleNetns(cloud.m.services, up.ns);
  const off = (await cloud.admin.ok('listNetworkOfferings', { name: 'DefaultSharedNetworkOffering' })).networkoffering[0];
  const net = (await cloud.admin.ok('createNetwork', {
    name: 'bnet', zoneid: z.zoneId, networkofferingid: off.id, vlan: 'vxlan://6520', gateway: '10.83.0.1', netmask: '255.255.255.0', startip: '10.83.0.10', endip: '10.83.0.99',
  })).network.id;
  const dir = mkdtempSync(join(tmpdir(), 'flt-bench-store-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  await waitFor(async () => ((await cloud.admin.ok('listSystemVms', { zoneid: z.zoneId, systemvmtype: 'secondarystoragevm' })).systemvm ?? []).some((v: any) => v.state === 'Running' && v.agentstate === 'Up'), 'the storage VM', 120_000);
  const store = (await cloud.admin.ok('addImageStore', { provider: 'Local', name: 'bench', url: `file://${dir}/store`, zoneid: z.zoneId })).imagestore;
  await waitFor(async () => /^http:\/\/169\.254\./.test((await cloud.m.services.db.query<{ service_url: string | null }>('SELECT service_url FROM image_stores WHERE id = $1', [store.id]))[0]?.service_url ?? ''), 'the storage VM serves the store', 60_000);
  const small = (await cloud.admin.ok('listServiceOfferings', { name: 'Small Instance' })).serviceoffering[0];
  const deploy = async (name: string, templateid: string) => (await cloud.admin.jobOk('deployVirtualMachine', { zoneid: z.zoneId, serviceofferingid: small.id, templateid, networkids: net, name }, 300_000)).virtualmachine;
  // The vantage point: a VM of the built-in template.
  const builtin = (await cloud.admin.ok('listTemplates', { templatefilter: 'featured', name: 'Flotilla netns guest' })).template[0];
  const probe = await deploy('probe', builtin.id);
  phase('building a 50 MB template');
  const tar = await guestTemplateTar({ padBytes: 50 * 2 ** 20 });
  // The file server sits in the uplink namespace (where the storage VM's public side is): a
  // server on a unix socket of the bench, bridged to the uplink gateway's address by socat.
  const sockDir = mkdtempSync(join(tmpdir(), 'flt-bench-web-'));
  cleanups.push(() => rmSync(sockDir, { recursive: true, force: true }));
  const web = await serve({ 'g.tar': tar }, { socket: join(sockDir, 'web.sock') });
  cleanups.push(() => web.close());
  lab.spawn(up.ns, ['socat', `TCP-LISTEN:8080,bind=${up.gateway},fork,reuseaddr`, `UNIX-CONNECT:${join(sockDir, 'web.sock')}`], { stdio: 'ignore' });
  const tpl = (await cloud.admin.ok('registerTemplate', { name: 'b50', format: 'TAR', hypervisor: 'LXC', zoneid: z.zoneId, url: `http://${up.gateway}:8080/g.tar`, checksum: md5(tar) })).template[0];
  await waitFor(async () => (await cloud.admin.ok('listTemplates', { templatefilter: 'all', id: tpl.id })).template[0].isready, 'template ready', 120_000);
  const answers = async (ip: string, want: string) => (await lab.tryExec(h1!.driver.names.vmNamespace(probe.instancename), ['curl', '-sS', '--max-time', '1', `http://${ip}/`])).stdout.trim() === want;
  const timed = async (name: string, templateId = tpl.id) => {
    const t0 = performance.now();
    const vm = await deploy(name, templateId);
    phase(`${name}: job ${(performance.now() - t0).toFixed(0)} ms`);
    await waitFor(() => answers(vm.nic[0].ipaddress, name), `${name} answers`, 30_000);
    return { ms: performance.now() - t0, vm };
  };
  // Peer in the same run: a VM of the built-in template (the host's own busybox tree, no image store).
  const peer = await timed('vmbuiltin', builtin.id);
  phase('first deploy (host fetches the template)');
  const first = await timed('vmfirst');
  phase('cached deploys');
  const cached: number[] = [];
  const vms = [first.vm];
  for (const n of ['vmc1', 'vmc2', 'vmc3']) { const r = await timed(n); cached.push(r.ms); vms.push(r.vm); }
  await new Promise((r) => setTimeout(r, 2000)); // idle
  let relay = 0; let guest = 0;
  for (const vm of vms) {
    for (const p of await h1!.driver.hostSidePids(vm.instancename)) relay += rssKb(p);
    for (const p of pidsInNetns(h1!.driver.names.vmNamespace(vm.instancename))) guest += rssKb(p);
  }
  return { first: first.ms, cached: median(cached), builtin: peer.ms, overheadMb: relay / vms.length / 1024, guestMb: guest / vms.length / 1024 };
}

async function main(): Promise<void> {
  // Knobs for working on one half: FLT_BENCH_STORAGE_SKIP_DOWNLOAD, FLT_BENCH_STORAGE_SKIP_DEPLOYS.
  const d: Download = process.env.FLT_BENCH_STORAGE_SKIP_DOWNLOAD ? { ratio: NaN, ratioSha256: NaN, ratioMd5sum: NaN, serviceMBs: NaN, sha256MBs: NaN, curlMBs: NaN } : await downloadRatio();
  const v = process.env.FLT_BENCH_STORAGE_SKIP_DEPLOYS ? { first: NaN, cached: NaN, builtin: NaN, overheadMb: NaN, guestMb: NaN } : await deploys();
  out(`storage detail: service_MBps=${d.serviceMBs.toFixed(0)} service_sha256_MBps=${d.sha256MBs.toFixed(0)} curl_MBps=${d.curlMBs.toFixed(0)} guest_rss_per_vm_mb=${v.guestMb.toFixed(1)} builtin_template_deploy_ms=${v.builtin.toFixed(0)} (download_ratio_curl target >= 0.8; cached_deploy_ms target <= 1000)\n`);
  out(`storage: download_ratio_curl=${d.ratio.toFixed(2)} download_ratio_curl_sha256=${d.ratioSha256.toFixed(2)} download_ratio_curl_md5sum=${d.ratioMd5sum.toFixed(2)} first_deploy_ms=${v.first.toFixed(0)} cached_deploy_ms=${v.cached.toFixed(0)} vm_rss_overhead_mb=${v.overheadMb.toFixed(1)}\n`);
}

main().then(async () => { for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => undefined); process.exit(0); },
  async (e) => { writeSync(2, `${(e as Error).stack}\n`); for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => undefined); process.exit(1); });
