// A small load-balancing lab: `outside` (203.0.113.1 and .2) — `router` (pub0 203.0.113.10,
// gst0 10.1.1.1/24) — a bridge in `lan` — backends be1…beN (10.1.1.11…) whose HTTP (busybox
// httpd, port 80) and UDP (socat, port 5353) answer their name.
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Lab } from '@flotilla/tests/lab';

export interface LbTopology { outside: string; router: string; lan: string; backends: Array<{ ns: string; ip: string; name: string }>; dir: string }

export async function lbTopology(lab: Lab, n: number): Promise<LbTopology> {
  const [outside, router, lan] = await Promise.all([lab.netns('out'), lab.netns('rtr'), lab.netns('lan')]);
  await lab.veth(outside, 'up0', router, 'pub0');
  await lab.veth(router, 'gst0', lan, 'lr0');
  await lab.exec(lan, ['ip', 'link', 'add', 'br0', 'type', 'bridge']);
  await lab.exec(lan, ['ip', 'link', 'set', 'br0', 'up']);
  await lab.exec(lan, ['ip', 'link', 'set', 'lr0', 'master', 'br0']);
  await lab.exec(outside, ['ip', 'addr', 'add', '203.0.113.1/24', 'dev', 'up0']);
  await lab.exec(outside, ['ip', 'addr', 'add', '203.0.113.2/24', 'dev', 'up0']);
  await lab.exec(router, ['ip', 'addr', 'add', '203.0.113.10/24', 'dev', 'pub0']);
  await lab.exec(router, ['ip', 'addr', 'add', '10.1.1.1/24', 'dev', 'gst0']);
  await lab.exec(router, ['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
  const dir = mkdtempSync(join(tmpdir(), 'flt-lb-'));
  lab.onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  const backends: LbTopology['backends'] = [];
  for (let i = 1; i <= n; i++) {
    const name = `be${i}`;
    const ns = await lab.netns(name);
    const ip = `10.1.1.${10 + i}`;
    await lab.veth(ns, 'eth0', lan, `lb${i}`);
    await lab.exec(lan, ['ip', 'link', 'set', `lb${i}`, 'master', 'br0']);
    await lab.exec(ns, ['ip', 'addr', 'add', `${ip}/24`, 'dev', 'eth0']);
    await lab.exec(ns, ['ip', 'route', 'add', 'default', 'via', '10.1.1.1']);
    backends.push({ ns, ip, name });
    startServers(lab, ns, name, dir);
  }
  return { outside, router, lan, backends, dir };
}

/** HTTP (busybox httpd: / answers the name, /health answers ok) and UDP servers of a backend. */
export function startServers(lab: Lab, ns: string, name: string, dir: string): void {
  const www = join(dir, name);
  mkdirSync(www, { recursive: true });
  writeFileSync(join(www, 'index.html'), `${name}\n`);
  writeFileSync(join(www, 'health'), 'ok\n');
  lab.spawn(ns, ['busybox', 'httpd', '-f', '-p', '80', '-h', www]);
  // One socket for every peer (socat's UDP fork loses datagrams while it re-binds).
  lab.spawn(ns, [process.execPath, '-e', `const s=require('dgram').createSocket('udp4');s.on('message',(m,r)=>s.send('${name}\\n',r.port,r.address));s.bind(5353)`]);
}

/** N HTTP GETs from `from` (bound to `src`): the answering names in order. */
export async function httpNames(lab: Lab, ns: string, url: string, n: number, src = '203.0.113.1', extra: string[] = []): Promise<string[]> {
  const script = `for i in $(seq ${n}); do curl -sS --max-time 3 --interface ${src} ${extra.join(' ')} ${url} || echo FAIL; done`;
  const r = await lab.exec(ns, ['sh', '-c', script], { timeoutMs: 120_000 });
  return r.stdout.trim().split('\n').map((l) => l.trim());
}

export function tally(xs: string[]): Record<string, number> {
  const o: Record<string, number> = {};
  for (const x of xs) o[x] = (o[x] ?? 0) + 1;
  return o;
}
