// The applier for real, inside the router appliance (routers/src/main.ts in a Lab namespace,
// specs on its control socket): wireguard-go serves clients of the test's own (wireguard-go +
// wg in their namespaces). Peers change one by one: a remaining client keeps its session (its
// handshake is not redone), a removed one stops at once; invalid specs change nothing; the
// appliance restarted on the same state directory comes back with the same key and peers.
import test from 'ava';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Lab, kernelTestsUnavailable } from '@flotilla/tests/lab';
import { RouterControl, MAIN_PATH } from '@flotilla/routers';
import type { RouterSpec } from '@flotilla/protocol/router';
import { generateKeyPair } from '../src/keys.ts';

const skip = kernelTestsUnavailable();
const kt = skip ? test.skip : test.serial;
// Without root these show as skipped, with the reason in the title (never as passed).
if (skip) test.skip(`vpn kernel tests: ${skip}`, () => undefined);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(fn: () => Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await fn().catch(() => false))) { if (Date.now() > end) throw new Error(`timed out: ${what}`); await sleep(50); }
}

async function appliance(lab: Lab, ns: string, stateDir: string, dir: string): Promise<{ ctl: RouterControl; proc: ChildProcess; stop(): Promise<void> }> {
  const sock = join(dir, `ctl-${randomBytes(3).toString('hex')}.sock`);
  const proc = lab.spawn(ns, [process.execPath, '--import', 'tsx', MAIN_PATH, '--control', sock, '--state-dir', stateDir]);
  proc.stdout?.resume(); proc.stderr?.resume();
  let ctl: RouterControl | undefined;
  await until(async () => { ctl = await RouterControl.connect(sock).catch(() => undefined); return ctl !== undefined; }, 'control socket', 30_000);
  return {
    ctl: ctl!, proc,
    async stop() {
      ctl!.close();
      const done = new Promise((r) => proc.once('exit', r));
      if (proc.exitCode === null) proc.kill('SIGTERM');
      await Promise.race([done, sleep(5000)]);
    },
  };
}

kt('peers added and removed one by one: sessions kept, removed peer cut at once, bad specs refused whole, same key and peers after a restart', async (t) => {
  const lab = Lab.create(t, 'vpnk');
  const dir = mkdtempSync(join(tmpdir(), 'flt-vpnk-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const stateDir = join(dir, 'state');
  const srv = await lab.netns('srv');
  const uniq = randomBytes(4).toString('hex');
  const iface = `wgk${uniq}`;
  const server = generateKeyPair();
  // Clients on the server's "public" link.
  const clients: Array<{ ns: string; ifc: string; key: ReturnType<typeof generateKeyPair>; addr: string }> = [];
  for (const [i, name] of ['ca', 'cb'].entries()) {
    const ns = await lab.netns(name);
    await lab.veth(ns, 'eth0', srv, `p${i}`);
    await lab.exec(srv, ['ip', 'addr', 'add', `198.18.${i}.1/24`, 'dev', `p${i}`]);
    await lab.exec(ns, ['ip', 'addr', 'add', `198.18.${i}.2/24`, 'dev', 'eth0']);
    clients.push({ ns, ifc: `wgc${i}${uniq}`, key: generateKeyPair(), addr: `10.8.0.${i + 2}` });
  }
  let gen = 0;
  const spec = (peers: Array<{ publicKey: string; address: string }>): RouterSpec => ({
    version: '1.0', routerId: 'r-vpnk', generation: ++gen, interfaces: [], routes: [], guestNetworks: [],
    vpn: { version: 1, id: '0c0c0c0c-0000-4000-8000-000000000001', interface: iface, publicIp: '198.18.0.1', listenPort: 51820, privateKey: server.privateKey, range: { start: '10.8.0.1', end: '10.8.7.254' }, openFirewall: false, peers },
  });
  lab.onCleanup(() => rmSync(`/var/run/wireguard/${iface}.sock`, { force: true }));
  let app = await appliance(lab, srv, stateDir, dir);
  t.teardown(() => app.stop());
  const [a, b] = clients as [typeof clients[0], typeof clients[0]];
  const both = [{ publicKey: a.key.publicKey, address: a.addr }, { publicKey: b.key.publicKey, address: b.addr }];
  t.like(await app.ctl.apply(spec(both)), { type: 'applied', changed: ['links', 'firewall', 'dhcp', 'dns', 'metadata', 'password', 'vpn'] });
  t.true(existsSync(`/var/run/wireguard/${iface}.sock`));

  for (const [i, c] of clients.entries()) {
    lab.spawn(c.ns, ['wireguard-go', '-f', c.ifc], { env: { ...process.env, WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD: '1' } });
    lab.onCleanup(() => rmSync(`/var/run/wireguard/${c.ifc}.sock`, { force: true })); // SIGKILL leaves it
    await until(async () => existsSync(`/var/run/wireguard/${c.ifc}.sock`), 'client socket');
    const conf = join(dir, `${c.ifc}.conf`);
    writeFileSync(conf, `[Interface]\nPrivateKey = ${c.key.privateKey}\n\n[Peer]\nPublicKey = ${server.publicKey}\nEndpoint = 198.18.${i}.1:51820\nAllowedIPs = 10.8.0.1/32\n`, { mode: 0o600 });
    await lab.exec(c.ns, ['wg', 'setconf', c.ifc, conf]);
    await lab.exec(c.ns, ['ip', 'addr', 'add', `${c.addr}/32`, 'dev', c.ifc]);
    await lab.exec(c.ns, ['ip', 'link', 'set', c.ifc, 'up']);
    await lab.exec(c.ns, ['ip', 'route', 'add', '10.8.0.1/32', 'dev', c.ifc]);
  }
  const ping = async (c: typeof a) => (await lab.tryExec(c.ns, ['ping', '-c', '1', '-W', '1', '10.8.0.1'], { timeoutMs: 4000 })).code === 0;
  await until(() => ping(a), 'client a through the tunnel');
  await until(() => ping(b), 'client b through the tunnel');
  const handshakes = async () => new Map((await lab.exec(srv, ['wg', 'show', iface, 'latest-handshakes'])).stdout.trim().split('\n').map((l) => l.split('\t') as [string, string]));
  const hsA = (await handshakes()).get(a.key.publicKey);
  t.truthy(hsA && hsA !== '0');

  // 500 peers more and b removed, in one generation: one UAPI operation per peer.
  const more = Array.from({ length: 500 }, (_, i) => ({ publicKey: generateKeyPair().publicKey, address: `10.8.${1 + (i >> 8)}.${i & 255}` }));
  await sleep(1100); // a re-handshake would show as a later timestamp (seconds resolution)
  t.like(await app.ctl.apply(spec([both[0]!, ...more])), { type: 'applied', changed: ['vpn'] });
  t.false(await ping(b), 'the removed peer is cut at once');
  t.true(await ping(a), 'the remaining peer keeps working');
  const after = await handshakes();
  t.is(after.size, 501);
  t.is(after.get(a.key.publicKey), hsA, "a's session survived the change: no new handshake");
  t.false(after.has(b.key.publicKey));

  // Invalid: a duplicate key and an address outside the range; nothing applied.
  const bad = await app.ctl.apply(spec([both[0]!, { publicKey: a.key.publicKey, address: '10.8.0.9' }, { publicKey: b.key.publicKey, address: '10.9.0.1' }]));
  t.like(bad, { type: 'error', code: 'invalid_spec' });
  t.is((bad as { errors: string[] }).errors.length, 2, JSON.stringify(bad));
  t.is((await handshakes()).size, 501);

  // The appliance stops (its wireguard-go with it) and starts again on the same state directory.
  await app.stop();
  await until(async () => !(await ping(a)), 'tunnel down with the appliance');
  const journal = readFileSync(join(stateDir, 'vpn-journal.jsonl'), 'utf8');
  t.true(journal.includes(server.privateKey) && journal.includes(a.key.publicKey));
  app = await appliance(lab, srv, stateDir, dir);
  t.like(await app.ctl.apply(spec([both[0]!, ...more])), { type: 'applied' });
  t.is((await lab.exec(srv, ['wg', 'show', iface, 'public-key'])).stdout.trim(), server.publicKey);
  await until(() => ping(a), 'the same client reconnects', 30_000);
  // Removing the VPN stops its daemon.
  // The firewall changes too: the VPN's rule and client network go.
  t.like(await app.ctl.apply({ ...spec([]), vpn: undefined } as RouterSpec), { type: 'applied', changed: ['firewall', 'vpn'] });
  await until(async () => !existsSync(`/var/run/wireguard/${iface}.sock`), 'daemon gone', 5000);
});

kt('peer deltas (applyVpnPeers) on the applied generation: only the changed peers, base_mismatch and invalid deltas change nothing, whole specs still diff right after', async (t) => {
  const lab = Lab.create(t, 'vpnd');
  const dir = mkdtempSync(join(tmpdir(), 'flt-vpnd-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const srv = await lab.netns('srv');
  const uniq = randomBytes(4).toString('hex');
  const iface = `wgd${uniq}`;
  const server = generateKeyPair();
  const vpnId = '0d0d0d0d-0000-4000-8000-000000000001';
  const spec = (generation: number, peers: Array<{ publicKey: string; address: string }>): RouterSpec => ({
    version: '1.0', routerId: 'r-vpnd', generation, interfaces: [], routes: [], guestNetworks: [],
    vpn: { version: 1, id: vpnId, interface: iface, publicIp: '198.18.0.1', listenPort: 51820, privateKey: server.privateKey, range: { start: '10.8.0.1', end: '10.8.7.254' }, openFirewall: false, peers },
  });
  lab.onCleanup(() => rmSync(`/var/run/wireguard/${iface}.sock`, { force: true }));
  const app = await appliance(lab, srv, join(dir, 'state'), dir);
  t.teardown(() => app.stop());
  // Two clients: a is a peer from the start, b comes and goes by deltas.
  const cs: Array<{ ns: string; ifc: string; key: ReturnType<typeof generateKeyPair>; addr: string }> = [];
  for (const [i, name] of ['da', 'db'].entries()) {
    const ns = await lab.netns(name);
    await lab.veth(ns, 'eth0', srv, `p${i}`);
    await lab.exec(srv, ['ip', 'addr', 'add', `198.18.${i}.1/24`, 'dev', `p${i}`]);
    await lab.exec(ns, ['ip', 'addr', 'add', `198.18.${i}.2/24`, 'dev', 'eth0']);
    cs.push({ ns, ifc: `wge${i}${uniq}`, key: generateKeyPair(), addr: `10.8.0.${i + 2}` });
  }
  const [a, b] = cs as [typeof cs[0], typeof cs[0]];
  const more = Array.from({ length: 300 }, (_, i) => ({ publicKey: generateKeyPair().publicKey, address: `10.8.${1 + (i >> 8)}.${i & 255}` }));
  const pa = { publicKey: a.key.publicKey, address: a.addr };
  const pb = { publicKey: b.key.publicKey, address: b.addr };
  t.like(await app.ctl.apply(spec(1, [pa, ...more])), { type: 'applied', generation: 1 });
  for (const [i, c] of cs.entries()) {
    lab.spawn(c.ns, ['wireguard-go', '-f', c.ifc], { env: { ...process.env, WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD: '1' } });
    lab.onCleanup(() => rmSync(`/var/run/wireguard/${c.ifc}.sock`, { force: true }));
    await until(async () => existsSync(`/var/run/wireguard/${c.ifc}.sock`), 'client socket');
    const conf = join(dir, `${c.ifc}.conf`);
    writeFileSync(conf, `[Interface]\nPrivateKey = ${c.key.privateKey}\n\n[Peer]\nPublicKey = ${server.publicKey}\nEndpoint = 198.18.${i}.1:51820\nAllowedIPs = 10.8.0.1/32\n`, { mode: 0o600 });
    await lab.exec(c.ns, ['wg', 'setconf', c.ifc, conf]);
    await lab.exec(c.ns, ['ip', 'addr', 'add', `${c.addr}/32`, 'dev', c.ifc]);
    await lab.exec(c.ns, ['ip', 'link', 'set', c.ifc, 'up']);
    await lab.exec(c.ns, ['ip', 'route', 'add', '10.8.0.1/32', 'dev', c.ifc]);
  }
  const ping = async (c: typeof a) => (await lab.tryExec(c.ns, ['ping', '-c', '1', '-W', '1', '10.8.0.1'], { timeoutMs: 4000 })).code === 0;
  await until(() => ping(a), 'client a through the tunnel');
  t.false(await ping(b), 'b is no peer yet');
  /** The server's live peers as wireguard-go reports them (wg show over its UAPI socket). */
  const live = async () => new Map((await lab.exec(srv, ['wg', 'show', iface, 'allowed-ips'])).stdout.trim().split('\n').map((l) => l.split('\t') as [string, string]));
  const hs = async (k: string) => new Map((await lab.exec(srv, ['wg', 'show', iface, 'latest-handshakes'])).stdout.trim().split('\n').map((l) => l.split('\t') as [string, string])).get(k);
  const hsA = await hs(a.key.publicKey);
  const delta = (base: number, generation: number, set: typeof more, remove: string[]) => app.ctl.request(JSON.stringify({ type: 'applyVpnPeers', id: `d${generation}`, version: 1, base, generation, vpnId, set, remove }));

  // b added and one of the 300 removed: the reply comes when both are live.
  await sleep(1100); // a re-handshake of a would show as a later timestamp (seconds resolution)
  t.like(await delta(1, 2, [pb], [more[0]!.publicKey]), { type: 'applied', id: 'd2', generation: 2, changed: ['vpn'] });
  let peers = await live();
  t.is(peers.size, 301);
  t.is(peers.get(b.key.publicKey), `${b.addr}/32`);
  t.false(peers.has(more[0]!.publicKey));
  await until(() => ping(b), 'b through the tunnel after the delta');
  t.true(await ping(a));
  t.is(await hs(a.key.publicKey), hsA, "a's session survived the delta");
  t.is((await app.ctl.report()).appliedGeneration, 2);

  // Not on the applied generation, another VPN, or invalid: refused, nothing changes.
  t.like(await delta(1, 3, [more[0]!], []), { type: 'error', code: 'base_mismatch' });
  t.like(await app.ctl.request(JSON.stringify({ type: 'applyVpnPeers', version: 1, base: 2, generation: 3, vpnId: '0d0d0d0d-0000-4000-8000-000000000002', set: [], remove: [] })), { type: 'error', code: 'base_mismatch' });
  const bad = await delta(2, 3, [{ publicKey: more[0]!.publicKey, address: a.addr }, { publicKey: 'not-a-key', address: '10.8.0.50' }], [server.publicKey]);
  t.like(bad, { type: 'error', code: 'invalid_spec' });
  const bad2 = await delta(2, 3, [{ publicKey: more[0]!.publicKey, address: a.addr }], [more[0]!.publicKey]);
  t.like(bad2, { type: 'error', code: 'invalid_spec' });
  t.regex((bad2 as { errors: string[] }).errors.join('\n'), /\/remove\/0: .* is not a peer[\s\S]*\/set\/0\/address: 10\.8\.0\.2 given to two peers/);
  const sorted = (m: Map<string, string>) => [...m].sort((x, y) => x[0].localeCompare(y[0]));
  t.deepEqual(sorted(await live()), sorted(peers));
  t.is((await app.ctl.report()).appliedGeneration, 2);

  // b removed by a delta: cut at once, a untouched.
  t.like(await delta(2, 3, [], [b.key.publicKey]), { type: 'applied', generation: 3, changed: ['vpn'] });
  t.false(await ping(b), 'the removed peer is cut at once');
  t.true(await ping(a));
  // A whole spec after deltas diffs against what the deltas made: the same peers → no change;
  // one more → that one only.
  const now = [pa, ...more.slice(1)];
  t.like(await app.ctl.apply(spec(4, now)), { type: 'applied', generation: 4, changed: [] });
  t.like(await app.ctl.apply(spec(5, [...now, pb])), { type: 'applied', generation: 5, changed: ['vpn'] });
  peers = await live();
  t.is(peers.size, 301);
  t.is(peers.get(b.key.publicKey), `${b.addr}/32`);
  await until(() => ping(b), 'b back by a whole spec');
  // And deltas continue on top of the whole spec.
  t.like(await delta(5, 6, [{ publicKey: more[0]!.publicKey, address: '10.8.0.77' }], []), { type: 'applied', generation: 6 });
  t.is((await live()).get(more[0]!.publicKey), '10.8.0.77/32');
});
