// `npm run bench` (root: `npm run bench:vpn`): the router's VPN on the path production uses,
// against a bare wireguard-go pair.
//   add_peer_10k_ms / remove_peer_10k_ms: through the whole product — a manager, its host agent
//     (netns driver), an isolated network's router appliance with a VPN of 10,000 users: one user
//     more (less) is written to the database as addVpnUser (removeVpnUser) writes it, and timed
//     from there (the spec change) through the manager's sync of the router (spec build, push
//     through the agent, the appliance's check, diff and wireguard-go UAPI set) to its answer,
//     which comes once wireguard-go holds the peer; then checked live with `wg show` (untimed).
//     p50 of 20 each. Also printed: the same with the whole spec pushed (the path before peer
//     deltas and still the fallback, p50 of 10), the per-stage costs of both, addVpnUser's
//     whole API call (job, password hash, address allocation) and the appliance alone sent whole
//     specs on its control socket (appliance_full_spec_add_ms).
//   tunnel_gbps_ratio_wggo: one iperf3 TCP flow, client → router's tunnel → guest behind the
//     router (its nftables firewall included), over the same flow between a bare wireguard-go
//     pair in two namespaces, configured as their users configure them (wg setconf), measured
//     alternately in the same run; medians of 3 each.
//   first_handshake_ms: through the whole product — a manager, a host agent (netns driver), an
//     isolated network with its router and a VPN — from `addVpnUser` (a tenant's signed request)
//     through its job, the answered wg-quick configuration taken by a client on the uplink
//     (wireguard-go started, wg setconf) and its first packet, to its first completed handshake
//     (wg show latest-handshakes), p50 of 5. Also printed: the same from the appliance's spec
//     change alone (router_first_handshake_ms).
import { execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Lab, isRoot } from '@flotilla/tests/lab';
import { RouterControl, MAIN_PATH } from '@flotilla/routers';
import type { RouterSpec } from '@flotilla/protocol/router';
import type { FirewallSpec } from '@flotilla/protocol/firewall';
import { generateKeyPair } from '../src/keys.ts';
import { addHost, addUplink, createZone, netnsHosts, startCloud, waitFor } from '@flotilla/tests/cloud';
import { signedClient } from '@flotilla/manager/client';
import { syncRouter } from '@flotilla/manager/orchestrator/router';
import { lastDeltaTimings, lastFullTimings } from '@flotilla/manager/commands/vpn/push';
import { vpnInterfaceOf, vpnSpecOf } from '@flotilla/manager/commands/vpn/spec';
import { createHash, randomUUID } from 'node:crypto';

const NA = 'vpn: add_peer_10k_ms=NA remove_peer_10k_ms=NA tunnel_gbps_ratio_wggo=NA first_handshake_ms=NA';
if (!isRoot()) { console.log(`${NA} (needs root)`); process.exit(0); }

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor((s.length - 1) / 2)]!; };
const peerAddr = (i: number) => `10.8.${(i + 16) >> 8}.${(i + 16) & 255}`;

const lab = Lab.create(undefined, 'vpnb');
const dir = mkdtempSync(join(tmpdir(), 'flt-vpnb-'));
const children: ChildProcess[] = [];
const mine: string[] = [];
/** wireguard-go interfaces the bench (or its appliance) starts: their sockets in /var/run/wireguard
 *  are removed at the end (a killed daemon leaves its socket behind). */
const wgNames: string[] = [];
const netns = async (name: string): Promise<string> => { const ns = await lab.netns(name); mine.push(ns); return ns; };
const uniq = randomBytes(4).toString('hex');
try {
  const cl = await netns('cl');
  const rt = await netns('rt');
  const gs = await netns('gs');
  await lab.veth(cl, 'eth0', rt, 'eth2');
  await lab.veth(rt, 'eth0', gs, 'eth0');
  await lab.exec(cl, ['ip', 'addr', 'add', '203.0.113.99/24', 'dev', 'eth0']);
  await lab.exec(gs, ['ip', 'addr', 'add', '10.1.0.10/16', 'dev', 'eth0']);
  await lab.exec(gs, ['ip', 'route', 'add', 'default', 'via', '10.1.0.1']);
  const mac = async (ns: string, i: string) => JSON.parse((await lab.exec(ns, ['ip', '-j', 'link', 'show', i])).stdout)[0].address as string;

  // The appliance, as the netns driver starts it.
  const control = join(dir, 'control.sock');
  const app = lab.spawn(rt, [process.execPath, '--import', 'tsx', MAIN_PATH, '--control', control, '--state-dir', join(dir, 'state')], { stdio: 'ignore' });
  children.push(app);
  // The socket file appears at bind, a moment before the appliance listens: retry a refused connect.
  let router: RouterControl | undefined;
  for (let i = 0; i < 600 && !router; i++) {
    router = await RouterControl.connect(control).catch(() => undefined);
    if (!router) await sleep(50);
  }
  if (!router) throw new Error('the appliance did not open its control socket');

  const server = generateKeyPair();
  const iface = `wgb${uniq}`;
  wgNames.push(iface);
  const firewall: FirewallSpec = {
    version: 1, publicInterfaces: ['eth2'], aclLists: [], securityGroups: [], securityGroupMembers: [],
    publicIps: [{ address: '203.0.113.10', filter: 'rules', rules: [], portForwards: [] }],
    guestNetworks: [{ id: 'net', interface: 'eth0', cidrs: ['10.1.0.0/16'], sourceNatIp: '203.0.113.10', egress: { defaultPolicy: 'allow', rules: [] } }],
  };
  const base = {
    version: '1.0' as const, routerId: 'r-bench', routes: [], guestNetworks: [], firewall,
    interfaces: [
      { name: 'eth0', mac: await mac(rt, 'eth0'), role: 'guest' as const, addresses: ['10.1.0.1/16'] },
      { name: 'eth2', mac: await mac(rt, 'eth2'), role: 'public' as const, addresses: ['203.0.113.10/24'] },
    ],
  };
  let generation = 0;
  const appTimings: Array<Record<string, number>> = [];
  const apply = async (peers: Array<{ publicKey: string; address: string }>) => {
    const spec: RouterSpec = {
      ...base, generation: ++generation,
      vpn: { version: 1, id: '0b0b0b0b-0000-4000-8000-000000000001', interface: iface, publicIp: '203.0.113.10', listenPort: 51820, privateKey: server.privateKey, range: { start: '10.8.0.1', end: '10.8.255.254' }, openFirewall: true, peers },
    };
    const t0 = performance.now();
    const r = await router.apply(spec);
    const ms = performance.now() - t0;
    if (r.type !== 'applied') throw new Error(`apply: ${JSON.stringify(r).slice(0, 500)}`);
    if (r.timings) appTimings.push(r.timings);
    return ms;
  };

  // ---- a client namespace's wireguard-go, configured as wg-quick would ----
  const wgUp = async (ns: string, name: string, conf: string, address: string, routes: string[]) => {
    wgNames.push(name);
    const c = lab.spawn(ns, ['wireguard-go', '-f', name], { stdio: 'ignore', env: { ...process.env, WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD: '1' } });
    children.push(c);
    for (let i = 0; i < 200 && !existsSync(`/var/run/wireguard/${name}.sock`); i++) await sleep(20);
    const f = join(dir, `${name}.conf`);
    writeFileSync(f, conf, { mode: 0o600 });
    await lab.exec(ns, ['wg', 'setconf', name, f]);
    await lab.exec(ns, ['ip', 'addr', 'add', address, 'dev', name]);
    await lab.exec(ns, ['ip', 'link', 'set', name, 'up']);
    for (const r of routes) await lab.exec(ns, ['ip', 'route', 'add', r, 'dev', name]);
  };

  // ---- the appliance alone, sent whole specs: 10,000 peers, then one more / one less ----
  const peers = Array.from({ length: 10_000 }, (_, i) => ({ publicKey: generateKeyPair().publicKey, address: peerAddr(i) }));
  const clientKey = generateKeyPair();
  const clientPeer = { publicKey: clientKey.publicKey, address: '10.8.0.2' };
  await apply([clientPeer, ...peers]);
  const appAdds: number[] = []; const appRemoves: number[] = [];
  // The appliance's CPU time per change (user + system, /proc ticks summed over the 20 rounds):
  // wall time on a machine shared by many jobs measures mostly the wait for a core.
  const ticks = () => { const f = readFileSync(`/proc/${app.pid}/stat`, 'utf8').split(') ')[1]!.split(' '); return Number(f[11]) + Number(f[12]); };
  const hz = 100;
  let cpuAdd = 0; let cpuRemove = 0;
  for (let i = 0; i < 20; i++) {
    const extra = { publicKey: generateKeyPair().publicKey, address: peerAddr(10_000 + i) };
    let c0 = ticks();
    appAdds.push(await apply([clientPeer, ...peers, extra]));
    cpuAdd += ticks() - c0; c0 = ticks();
    appRemoves.push(await apply([clientPeer, ...peers]));
    cpuRemove += ticks() - c0;
  }
  const cpuAddMs = (cpuAdd / 20) * (1000 / hz); const cpuRemoveMs = (cpuRemove / 20) * (1000 / hz);

  // ---- throughput: the router's tunnel vs a bare wireguard-go pair ----
  const clientIf = `wgc${uniq}`;
  await wgUp(cl, clientIf, `[Interface]\nPrivateKey = ${clientKey.privateKey}\n\n[Peer]\nPublicKey = ${server.publicKey}\nEndpoint = 203.0.113.10:51820\nAllowedIPs = 10.1.0.0/16\n`, '10.8.0.2/32', ['10.1.0.0/16']);
  const a = await netns('wa'); const b = await netns('wb');
  await lab.veth(a, 'eth0', b, 'eth0');
  await lab.exec(a, ['ip', 'addr', 'add', '192.168.77.1/24', 'dev', 'eth0']);
  await lab.exec(b, ['ip', 'addr', 'add', '192.168.77.2/24', 'dev', 'eth0']);
  const ka = generateKeyPair(); const kb = generateKeyPair();
  await wgUp(a, `wga${uniq}`, `[Interface]\nPrivateKey = ${ka.privateKey}\nListenPort = 51820\n\n[Peer]\nPublicKey = ${kb.publicKey}\nEndpoint = 192.168.77.2:51820\nAllowedIPs = 10.9.0.2/32\n`, '10.9.0.1/24', []);
  await wgUp(b, `wgd${uniq}`, `[Interface]\nPrivateKey = ${kb.privateKey}\nListenPort = 51820\n\n[Peer]\nPublicKey = ${ka.publicKey}\nEndpoint = 192.168.77.1:51820\nAllowedIPs = 10.9.0.1/32\n`, '10.9.0.2/24', []);
  const srvG = lab.spawn(gs, ['iperf3', '-s', '-p', '5201'], { stdio: 'ignore' });
  const srvB = lab.spawn(b, ['iperf3', '-s', '-p', '5201'], { stdio: 'ignore' });
  children.push(srvG, srvB);
  await sleep(500);
  await lab.tryExec(cl, ['ping', '-c', '3', '-i', '0.2', '-W', '2', '10.1.0.10']);
  await lab.tryExec(a, ['ping', '-c', '3', '-i', '0.2', '-W', '2', '10.9.0.2']);
  const iperf = async (ns: string, host: string): Promise<number> => {
    const r = await lab.exec(ns, ['iperf3', '-c', host, '-p', '5201', '-t', '3', '-J'], { timeoutMs: 30_000 });
    return JSON.parse(r.stdout).end.sum_received.bits_per_second / 1e9;
  };
  const viaRouter: number[] = []; const bare: number[] = [];
  for (let i = 0; i < 5; i++) { viaRouter.push(await iperf(cl, '10.1.0.10')); bare.push(await iperf(a, '10.9.0.2')); }

  // ---- first handshake: a client already sending, from the spec adding its peer ----
  const firsts: number[] = [];
  for (let i = 0; i < 5; i++) {
    const k = generateKeyPair();
    const ns = await netns(`f${i}`);
    await lab.veth(ns, 'eth0', rt, `eh${i}`);
    // One more public-side link of the router, as the uplink would be (the appliance owns only eth0/eth2).
    await lab.exec(rt, ['ip', 'addr', 'add', `198.18.${i}.1/24`, 'dev', `eh${i}`]);
    await lab.exec(ns, ['ip', 'addr', 'add', `198.18.${i}.2/24`, 'dev', 'eth0']);
    const name = `wgh${i}${uniq}`;
    // As a user does: the peer is added (addVpnUser's spec), then the client takes the
    // configuration it was answered, comes up and sends.
    const t0 = performance.now();
    await apply([clientPeer, ...peers, { publicKey: k.publicKey, address: peerAddr(20_000 + i) }]);
    await wgUp(ns, name, `[Interface]\nPrivateKey = ${k.privateKey}\n\n[Peer]\nPublicKey = ${server.publicKey}\nEndpoint = 198.18.${i}.1:51820\nAllowedIPs = 10.8.0.1/32\n`, `${peerAddr(20_000 + i)}/32`, ['10.8.0.1/32']);
    const pinger = lab.spawn(ns, ['ping', '-i', '0.2', '10.8.0.1'], { stdio: 'ignore' });
    children.push(pinger);
    let ms = NaN;
    for (let n = 0; n < 3000; n++) {
      const hs = (await lab.exec(ns, ['wg', 'show', name, 'latest-handshakes'])).stdout.trim().split(/\s+/)[1];
      if (hs && hs !== '0') { ms = performance.now() - t0; break; }
      await sleep(10);
    }
    pinger.kill('SIGKILL');
    firsts.push(ms);
    await apply([clientPeer, ...peers]);
  }
  // ---- first handshake through the API ----
  const teardowns: Array<() => unknown> = [];
  const apiFirsts: number[] = []; const apiAdds: number[] = [];
  const adds: number[] = []; const removes: number[] = [];
  const fullAdds: number[] = []; const fullRemoves: number[] = [];
  const deltaStages: Array<Record<string, number>> = []; const fullStages: Array<Record<string, number>> = [];
  const buildMs: number[] = []; const hashMs: number[] = []; const relayFloor: number[] = [];
  // CPU per change (user + system), summed over the rounds: the bench's own process (the manager
  // and the agent live in it) and the router's namespace (appliance + wireguard-go, /proc ticks).
  const cpu = { delta: { mgr: 0, rt: 0, n: 0 }, full: { mgr: 0, rt: 0, n: 0 } };
  try {
    const tt = { teardown: (fn: () => unknown) => { teardowns.push(fn); } };
    const cloud = await startCloud(tt);
    const z = await createZone(cloud.admin);
    const [h1] = await netnsHosts(lab, 1);
    await addHost(tt, cloud, z, { name: 'host1', driver: h1!.driver, tag: h1!.tag, hostNs: h1!.hostNs });
    const up = await addUplink(lab, cloud, z, [h1!]);
    const acc = (await cloud.admin.ok('createAccount', { username: 'bench', account: 'bench', password: 'pw-bench-1', email: 'b@example.org', firstname: 'b', lastname: 'b', accounttype: 0 })).account;
    const keys = (await cloud.admin.ok('registerUserKeys', { id: acc.user[0].id })).userkeys;
    const api = signedClient(cloud.url, keys.apikey, keys.secretkey);
    const services = ['Dhcp', 'Dns', 'UserData', 'Firewall', 'SourceNat', 'StaticNat', 'PortForwarding', 'Vpn'];
    const op: Record<string, string | boolean> = { name: 'vpnb', displaytext: 'vpnb', guestiptype: 'Isolated', traffictype: 'Guest', supportedservices: services.join(','), egressdefaultpolicy: true, enable: true };
    services.forEach((sv, i) => { op[`serviceproviderlist[${i}].service`] = sv; op[`serviceproviderlist[${i}].provider`] = 'VirtualRouter'; });
    const offering = (await cloud.admin.ok('createNetworkOffering', op)).networkoffering.id;
    const net = (await api.ok('createNetwork', { name: 'vnet', zoneid: z.zoneId, networkofferingid: offering })).network;
    const so = (await api.ok('listServiceOfferings', { name: 'Small Instance' })).serviceoffering[0];
    const tpl = (await api.ok('listTemplates', { templatefilter: 'featured', name: 'Flotilla netns guest' })).template[0];
    await api.jobOk('deployVirtualMachine', { zoneid: z.zoneId, serviceofferingid: so.id, templateid: tpl.id, networkids: net.id, name: 'vm1' }, 180_000);
    const snat = (await api.ok('listPublicIpAddresses', { associatednetworkid: net.id, issourcenat: true })).publicipaddress[0];
    // Room for 10,000 users and more (CloudStack's per-account limit raised as an operator would).
    await cloud.admin.ok('updateConfiguration', { name: 'remote.access.vpn.user.limit', value: '65535' });
    await api.jobOk('createRemoteAccessVpn', { publicipid: snat.id, iprange: '10.8.0.1-10.8.63.254' });

    // ---- 10,000 users in the database (as addVpnUser writes them), pushed once ----
    const s = cloud.m.services;
    const vpnId = (await s.db.query<{ id: string }>('SELECT id FROM remote_access_vpns WHERE network_id = $1', [net.id]))[0]!.id;
    const wgIf = vpnInterfaceOf(net.id);
    // The keys of the appliance-alone part (another server): no 10,000 key pairs made again, which
    // would hold this process's event loop (the manager's and the agent's too) for seconds.
    const users = peers.map((p, i) => ({ id: randomUUID(), key: p.publicKey, address: peerAddr(i) }));
    /** What addVpnUser's transaction writes for one user (the password hash aside). */
    const insertUsers = (us: typeof users) => s.db.tx(async (sql) => {
      await sql.query(`INSERT INTO vpn_users (id, username, account_id, domain_id, password_hash, public_key, state)
        SELECT id, 'u' || replace(id::text, '-', ''), $1, $2, 'bench', key, 'Active' FROM unnest($3::uuid[], $4::text[]) AS t(id, key)`, [acc.id, acc.domainid, us.map((u) => u.id), us.map((u) => u.key)]);
      await sql.query('INSERT INTO vpn_user_addresses (vpn_id, user_id, address) SELECT $1, id, address FROM unnest($2::uuid[], $3::text[]) AS t(id, address)', [vpnId, us.map((u) => u.id), us.map((u) => u.address)]);
    });
    // In slices, yielding between them: one 10,000-row statement in PGlite blocks the event loop
    // for seconds, past the agent's heartbeat timeout.
    for (let i = 0; i < users.length; i += 500) { await insertUsers(users.slice(i, i + 500)); await sleep(5); }
    await syncRouter(s, net.id);
    /** The server's live peers (wg show over wireguard-go's UAPI socket, shared by all namespaces). */
    const livePeers = async () => new Map(execFileSync('wg', ['show', wgIf, 'allowed-ips'], { maxBuffer: 64 << 20 }).toString().trim().split('\n').map((l) => l.split('\t') as [string, string]));
    const have = (await livePeers()).size;
    if (have < 10_000) throw new Error(`router holds ${have} peers, not 10,000`);
    const rtName = (await s.db.query<{ instance_name: string }>('SELECT v.instance_name FROM routers r JOIN vm_instances v ON v.id = r.vm_id WHERE r.network_id = $1', [net.id]))[0]!.instance_name;
    // The router VM's namespace as the netns driver names it (its host's tag: other runs on this
    // machine have routers of the same instance name).
    const rtNs = `flt-vm-${h1!.tag}-${rtName}`;
    if (!existsSync(`/run/netns/${rtNs}`)) throw new Error(`no namespace ${rtNs}`);
    const rtPids = () => execFileSync('ip', ['netns', 'pids', rtNs]).toString().split('\n').filter(Boolean);
    const rtTicks = (pids: string[]) => pids.reduce((sum, p) => { try { const f = readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]!.split(' '); return sum + Number(f[11]) + Number(f[12]); } catch { return sum; } }, 0);
    const timed = async (hint: boolean, key: string) => {
      const pids = rtPids();
      const r0 = rtTicks(pids); const c0 = process.cpuUsage(); const t0 = performance.now();
      await syncRouter(s, net.id, hint ? { vpnKeys: [key] } : undefined);
      const ms = performance.now() - t0; const c = process.cpuUsage(c0); const r = rtTicks(pids) - r0;
      const acc = hint ? cpu.delta : cpu.full;
      acc.mgr += (c.user + c.system) / 1000; acc.rt += r * 10; acc.n++;
      return ms;
    };
    const round = async (i: number, hint: boolean) => {
      const u = { id: randomUUID(), key: generateKeyPair().publicKey, address: peerAddr(10_000 + i) };
      await insertUsers([u]);
      const add = await timed(hint, u.key);
      if ((await livePeers()).get(u.key) !== `${u.address}/32`) throw new Error(`peer ${u.key} not live after its add`);
      if (hint) deltaStages.push({ ...lastDeltaTimings }); else fullStages.push({ ...lastFullTimings });
      await s.db.query('DELETE FROM vpn_users WHERE id = $1', [u.id]);
      const rm = await timed(hint, u.key);
      if ((await livePeers()).has(u.key)) throw new Error(`peer ${u.key} still live after its removal`);
      return [add, rm] as const;
    };
    for (let i = 0; i < 20; i++) { const [a, r] = await round(i, true); adds.push(a); removes.push(r); }
    // The floor of any push in this run: the manager → agent → appliance → back round trip of a
    // message the appliance answers at once (an unknown type: invalid_message), p50 of 20.
    const hostId = (await s.db.query<{ host_id: string }>('SELECT v.host_id FROM routers r JOIN vm_instances v ON v.id = r.vm_id WHERE r.network_id = $1', [net.id]))[0]!.host_id;
    for (let i = 0; i < 20; i++) {
      const t0 = performance.now();
      await s.agents.request(hostId, 'relay', { name: rtName, payload: { type: 'ping', id: `p${i}` }, timeoutMs: 10_000 }, 15_000);
      relayFloor.push(performance.now() - t0);
    }
    for (let i = 0; i < 10; i++) {
      const [a, r] = await round(100 + i, false); fullAdds.push(a); fullRemoves.push(r);
      // The whole-spec path's manager-side stages, measured alone: the 10,000-row spec section
      // and the spec's serialisation and hash (currentSpec).
      let t0 = performance.now();
      const v = await vpnSpecOf(s, s.db, net.id);
      buildMs.push(performance.now() - t0);
      t0 = performance.now();
      createHash('sha256').update(JSON.stringify({ vpn: v })).digest('hex');
      hashMs.push(performance.now() - t0);
    }
    for (let i = 0; i < 5; i++) {
      const ns = await netns(`a${i}`);
      await lab.veth(ns, 'eth0', up.ns, `a${i}u`);
      await lab.exec(up.ns, ['ip', 'link', 'set', `a${i}u`, 'master', 'br0']);
      await lab.exec(ns, ['ip', 'addr', 'add', `203.0.113.${210 + i}/24`, 'dev', 'eth0']);
      const t0 = performance.now();
      const u = await api.jobOk('addVpnUser', { username: `user${i}`, password: 'secret-1' });
      apiAdds.push(performance.now() - t0);
      const conf = u.vpnuser.wireguardconfig as string;
      const name = `wga${i}${uniq}`;
      const addr = /^Address = (.+)$/m.exec(conf)![1]!;
      await wgUp(ns, name, conf.split('\n').filter((l) => !/^(Address|DNS) =/.test(l)).join('\n'), addr, ['10.1.0.0/16']);
      const pinger = lab.spawn(ns, ['ping', '-i', '0.2', '10.1.0.1'], { stdio: 'ignore' });
      children.push(pinger);
      let ms = NaN;
      await waitFor(async () => {
        const hs = (await lab.exec(ns, ['wg', 'show', name, 'latest-handshakes'])).stdout.trim().split(/\s+/)[1];
        if (hs && hs !== '0') { ms = performance.now() - t0; return true; }
        return false;
      }, 'first handshake', 30_000);
      pinger.kill('SIGKILL');
      apiFirsts.push(ms);
      await api.jobOk('removeVpnUser', { username: `user${i}` });
    }
  } finally {
    for (const fn of teardowns.reverse()) await Promise.resolve(fn()).catch(() => undefined);
  }

  const ratio = median(viaRouter) / median(bare);
  const stageP50 = (rs: Array<Record<string, number>>) => [...new Set(rs.flatMap((r) => Object.keys(r)))].map((k) => `${k}=${median(rs.map((r) => r[k] ?? 0)).toFixed(2)}`).join(' ');
  console.error(`vpn bench stages, delta (p50 ms): ${stageP50(deltaStages)} relay_floor=${median(relayFloor).toFixed(2)}`);
  console.error(`vpn bench stages, whole spec (p50 ms): ${stageP50(fullStages)} manager_vpn_section_10k=${median(buildMs).toFixed(2)} manager_json_sha256=${median(hashMs).toFixed(2)}`);
  console.error(`vpn bench stages, appliance alone sent whole specs (p50 ms): ${stageP50(appTimings.slice(1))}`);
  console.error(`vpn bench: full-spec adds ${fullAdds.map((x) => x.toFixed(1)).join(' ')} | removes ${fullRemoves.map((x) => x.toFixed(1)).join(' ')}`);
  console.error(`vpn bench: adds ${adds.map((x) => x.toFixed(1)).join(' ')} | removes ${removes.map((x) => x.toFixed(1)).join(' ')} | router ${viaRouter.map((x) => x.toFixed(2)).join(' ')} Gbit/s, bare ${bare.map((x) => x.toFixed(2)).join(' ')} Gbit/s | first handshakes: router ${firsts.map((x) => x.toFixed(0)).join(' ')} ms, from addVpnUser ${apiFirsts.map((x) => x.toFixed(0)).join(' ')} ms`);
  console.log(`vpn: add_peer_10k_ms=${median(adds).toFixed(1)} remove_peer_10k_ms=${median(removes).toFixed(1)} tunnel_gbps_ratio_wggo=${ratio.toFixed(2)} first_handshake_ms=${median(apiFirsts).toFixed(0)}`
    + ` (cpu_ms_per_change: manager=${(cpu.delta.mgr / cpu.delta.n).toFixed(1)} router=${(cpu.delta.rt / cpu.delta.n).toFixed(1)} full_spec_manager=${(cpu.full.mgr / cpu.full.n).toFixed(1)} full_spec_router=${(cpu.full.rt / cpu.full.n).toFixed(1)}`
    + ` relay_floor_ms=${median(relayFloor).toFixed(1)} full_spec_add_ms=${median(fullAdds).toFixed(1)} full_spec_remove_ms=${median(fullRemoves).toFixed(1)} api_add_user_ms=${median(apiAdds).toFixed(0)} appliance_full_spec_add_ms=${median(appAdds).toFixed(1)} appliance_full_spec_remove_ms=${median(appRemoves).toFixed(1)}`
    + ` router_first_handshake_ms=${median(firsts).toFixed(0)} appliance_cpu_ms_add=${cpuAddMs.toFixed(1)} appliance_cpu_ms_remove=${cpuRemoveMs.toFixed(1)} tunnel_gbps=${median(viaRouter).toFixed(2)} wggo_pair_gbps=${median(bare).toFixed(2)} loadavg=${loadavg()[0]!.toFixed(1)})`);
} finally {
  // wireguard-go processes the appliance started live in its namespace: stop every process of
  // the bench's own namespaces (by PID) before they go.
  for (const ns of mine) {
    let pids: string[] = [];
    try { pids = execFileSync('ip', ['netns', 'pids', ns]).toString().split('\n').filter(Boolean); } catch { /* no such namespace */ }
    for (const p of pids) { try { process.kill(Number(p), 'SIGKILL'); } catch { /* gone */ } }
  }
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await lab.cleanup();
  for (const n of wgNames) rmSync(`/var/run/wireguard/${n}.sock`, { force: true });
  rmSync(dir, { recursive: true, force: true });
}
