// Pure-stage profile (no root, no daemons): what each in-process step of a one-peer change costs
// with 10,000 peers, on the whole-spec path (JSON, schema, compile, diffs) and on the delta path
// (VpnCompiler.compile with one peer changed, VpnCompiler.patch, the delta message's JSON).
// `node --import tsx bench/stages.ts` in vpn/; p50 of 20 after 3 warm-ups. The end-to-end cost
// with the manager, the agent and wireguard-go is `npm run bench`.
import { createHash } from 'node:crypto';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { VpnPeersDeltaMessage } from '@flotilla/protocol/vpn';
import { generateKeyPair } from '../src/keys.ts';
import { compileVpn, diffPeers, VpnCompiler } from '../src/compile.ts';
import { validateSpec } from '@flotilla/routers/validate';
import { diffServices } from '@flotilla/routers/router';
import type { RouterSpec } from '@flotilla/protocol/router';

const peerAddr = (i: number) => `10.8.${(i + 16) >> 8}.${(i + 16) & 255}`;
const peers = Array.from({ length: 10_000 }, (_, i) => ({ publicKey: generateKeyPair().publicKey, address: peerAddr(i) }));
const server = generateKeyPair();
const mk = (ps: typeof peers, generation: number): RouterSpec => ({
  version: '1.0', routerId: 'r', generation, routes: [], guestNetworks: [], interfaces: [],
  vpn: { version: 1, id: '0b0b0b0b-0000-4000-8000-000000000001', interface: 'wgx', publicIp: '203.0.113.10', listenPort: 51820, privateKey: server.privateKey, range: { start: '10.8.0.1', end: '10.8.255.254' }, openFirewall: true, peers: ps },
});
const a = mk(peers, 1);
const b = mk([...peers, { publicKey: generateKeyPair().publicKey, address: peerAddr(10_001) }], 2);
const t = (name: string, fn: () => unknown) => {
  for (let i = 0; i < 3; i++) fn();
  const xs: number[] = [];
  for (let i = 0; i < 20; i++) { const t0 = performance.now(); fn(); xs.push(performance.now() - t0); }
  xs.sort((x, y) => x - y);
  console.log(`${name.padEnd(40)} p50 ${xs[10]!.toFixed(2)} ms`);
};
const text = JSON.stringify({ type: 'apply', id: 'x', spec: b });
console.log(`spec bytes ${text.length}`);
t('JSON.stringify(apply msg)', () => JSON.stringify({ type: 'apply', id: 'x', spec: b }));
t('sha256(JSON body)', () => createHash('sha256').update(JSON.stringify(b)).digest('hex'));
t('JSON.parse(apply msg)', () => JSON.parse(text));
t('validateSpec (TypeBox + semantics)', () => validateSpec(b));
t('compileVpn', () => compileVpn(b.vpn!));
const ca = compileVpn(a.vpn!); const cb = compileVpn(b.vpn!);
t('diffPeers', () => diffPeers(ca.peers, cb.peers));
t('diffServices (slices, VPN device part)', () => diffServices(mk(peers, 1), mk(b.vpn!.peers, 2)));
// The incremental compiler: a whole spec with one peer changed, against the previous one.
const vc = new VpnCompiler();
let flip = false;
t('VpnCompiler.compile (1 of 10,001 changed)', () => { vc.compile((flip = !flip) ? b.vpn! : a.vpn!); });
// A delta: one peer added, then removed (alternately), on 10,000.
const extra = b.vpn!.peers[b.vpn!.peers.length - 1]!;
const pc = new VpnCompiler(); pc.compile(a.vpn!);
let on = false;
t('VpnCompiler.patch (1 peer)', () => { if ((on = !on)) pc.patch(a.vpn!.id, [extra], []); else pc.patch(a.vpn!.id, [], [extra.publicKey]); });
const delta = { type: 'applyVpnPeers', id: 'x', version: 1, base: 1, generation: 2, vpnId: a.vpn!.id, set: [extra], remove: [] };
const deltaText = JSON.stringify(delta);
console.log(`delta bytes ${deltaText.length}`);
const dc = TypeCompiler.Compile(VpnPeersDeltaMessage);
t('delta: JSON.stringify + parse + schema', () => dc.Check(JSON.parse(JSON.stringify(delta))));
