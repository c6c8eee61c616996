// Pure-stage profile (no root): what each O(peers) step of a one-peer change costs with 10,000 peers.
import { createHash } from 'node:crypto';
import { generateKeyPair } from '../src/keys.ts';
import { compileVpn, diffPeers } from '../src/compile.ts';
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
t('diffServices (slices JSON)', () => diffServices(mk(peers, 1), mk(b.vpn!.peers, 2)));
