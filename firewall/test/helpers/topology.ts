// outside ── router ── guest, three namespaces of a Lab (used by kernel tests and the bench).
//   outside: ext0 203.0.113.1/24, 203.0.113.2/24, 2001:db8:ff::1/64   (no route to the guests)
//   router:  pub0 203.0.113.10/24, .11/24, 2001:db8:ff::10/64; gst0 10.1.1.1/24, fd00:1::1/64
//   guest:   vm0  10.1.1.5/24, 10.1.1.7/24, fd00:1::5/64; default via the router
import { setTimeout as sleep } from 'node:timers/promises';
import type { Lab } from '@flotilla/tests/lab';

export interface Topology { outside: string; router: string; guest: string }

export async function buildTopology(lab: Lab): Promise<Topology> {
  const [outside, router, guest] = await Promise.all([lab.netns('out'), lab.netns('rtr'), lab.netns('gst')]);
  await lab.veth(outside, 'ext0', router, 'pub0');
  await lab.veth(router, 'gst0', guest, 'vm0');
  const ip = (ns: string, ...args: string[]) => lab.exec(ns, ['ip', ...args]);
  // Sequential where order matters: the first address of a subnet is the primary (source) one.
  await ip(outside, 'addr', 'add', '203.0.113.1/24', 'dev', 'ext0');
  await ip(outside, 'addr', 'add', '203.0.113.2/24', 'dev', 'ext0');
  await ip(router, 'addr', 'add', '203.0.113.10/24', 'dev', 'pub0');
  await ip(router, 'addr', 'add', '203.0.113.11/24', 'dev', 'pub0');
  await ip(guest, 'addr', 'add', '10.1.1.5/24', 'dev', 'vm0');
  await ip(guest, 'addr', 'add', '10.1.1.7/24', 'dev', 'vm0');
  await Promise.all([
    ip(outside, '-6', 'addr', 'add', '2001:db8:ff::1/64', 'dev', 'ext0', 'nodad'),
    ip(router, '-6', 'addr', 'add', '2001:db8:ff::10/64', 'dev', 'pub0', 'nodad'),
    ip(router, 'addr', 'add', '10.1.1.1/24', 'dev', 'gst0'),
    ip(router, '-6', 'addr', 'add', 'fd00:1::1/64', 'dev', 'gst0', 'nodad'),
    ip(guest, '-6', 'addr', 'add', 'fd00:1::5/64', 'dev', 'vm0', 'nodad'),
  ]);
  await ip(guest, 'route', 'add', 'default', 'via', '10.1.1.1');
  await ip(guest, '-6', 'route', 'add', 'default', 'via', 'fd00:1::1');
  await lab.exec(router, ['sysctl', '-qw', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1']);
  return { outside, router, guest };
}

/** Waits until something listens on `port` in `ns` (tcp or udp). */
export async function waitListening(lab: Lab, ns: string, port: number, proto: 'tcp' | 'udp' = 'tcp'): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const r = await lab.tryExec(ns, ['ss', proto === 'tcp' ? '-Hltn' : '-Hlun', `sport = :${port}`]);
    if (r.stdout.trim()) return;
    await sleep(20);
  }
  throw new Error(`nothing listens on ${proto}/${port} in ${ns}`);
}

/** A TCP server answering each connection with the peer address it sees, then closing. */
export async function tcpPeerServer(lab: Lab, ns: string, port: number, family: 4 | 6 = 4): Promise<void> {
  lab.spawn(ns, ['socat', `TCP${family === 6 ? '6' : ''}-LISTEN:${port},fork,reuseaddr`, 'SYSTEM:echo $SOCAT_PEERADDR']);
  await waitListening(lab, ns, port);
}

export async function udpPeerServer(lab: Lab, ns: string, port: number): Promise<void> {
  lab.spawn(ns, ['node', new URL('./udp-peer-server.mjs', import.meta.url).pathname, String(port)]);
  await waitListening(lab, ns, port, 'udp');
}

/** (UDP: -t1, since socat waits only 0.5 s for the answer after its stdin ends by default.)
 *  Connects and returns what the server said (its view of our address), or null on failure. */
export async function tcpProbe(lab: Lab, ns: string, host: string, port: number, bind?: string): Promise<string | null> {
  const target = host.includes(':') ? `TCP6:[${host}]:${port}` : `TCP:${host}:${port}`;
  const r = await lab.tryExec(ns, ['socat', '-u', `${target},connect-timeout=1${bind ? `,bind=${bind}` : ''}`, '-'], { timeoutMs: 5000 });
  return r.code === 0 && r.stdout.trim() ? r.stdout.trim() : null;
}

export async function udpProbe(lab: Lab, ns: string, host: string, port: number, bind?: string): Promise<string | null> {
  const r = await lab.tryExec(ns, ['sh', '-c', `echo x | socat -t1 -T2 - UDP:${host}:${port}${bind ? `,bind=${bind}` : ''}`], { timeoutMs: 5000 });
  return r.code === 0 && r.stdout.trim() ? r.stdout.trim() : null;
}

export async function ping(lab: Lab, ns: string, host: string, bind?: string): Promise<boolean> {
  const r = await lab.tryExec(ns, ['ping', '-c1', '-W1', '-n', ...(bind ? ['-I', bind] : []), host], { timeoutMs: 5000 });
  return r.code === 0;
}
