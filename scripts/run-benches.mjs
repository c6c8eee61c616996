#!/usr/bin/env node
// `npm run bench`: every benchmark in turn, each ending with its summary line:
//   firewall: …   (firewall/bench)            hosts: …   (tests/bench/hosts.ts, through the API)
//   router: …     (scripts/bench-router.mjs)  api: …     (manager/bench)
//   dhcp: …       (routers/bench/dhcp.bench.ts: reservations, against dnsmasq and Kea)
//   hosts-driver: … (agent/bench, the netns driver and simulated agents below the manager)
//   guests: … (agent/bench/guests.bench.ts: guest containers until they answer, RSS per VM)
//   vpn: …        (vpn/bench, the router appliance's WireGuard VPN)
//   console: … (tests/bench/console.ts: console proxy open time, echo, 100 sessions)
//   scale: …   (tests/bench/scale.ts: 1,000 routers on simulated hosts, a manager kill -9 and resync)
//   faults: … (tests/bench/faults.ts: 100 random-point kills of the manager, two managers behind HAProxy with the leader killed, API fuzz, CSRF and lockout checks)
//   storage: … (tests/bench/storage.ts: template download vs curl, deploy from a new/cached template)
// Usage: node scripts/run-benches.mjs [name …]  (names: the keys of `all` below)
import { spawnSync } from 'node:child_process';

const root = new URL('..', import.meta.url).pathname;
const all = {
  firewall: ['npm', ['run', '--silent', 'bench', '-w', 'firewall']],
  hosts: ['npm', ['run', '--silent', 'bench', '-w', 'tests', '--', 'hosts']],
  router: ['node', ['scripts/bench-router.mjs']],
  dhcp: ['npm', ['run', '--silent', 'bench:dhcp', '-w', 'routers']],
  api: ['npm', ['run', '--silent', 'bench', '-w', 'manager']],
  'hosts-driver': ['npm', ['run', '--silent', 'bench', '-w', 'agent']],
  guests: ['npm', ['run', '--silent', 'bench:guests', '-w', 'agent']],
  ui: ['npm', ['run', '--silent', 'bench', '-w', 'ui']],
  vpn: ['npm', ['run', '--silent', 'bench', '-w', 'vpn']],
  lb: ['npm', ['run', '--silent', 'bench', '-w', 'lb']],
  console: ['npm', ['run', '--silent', 'bench', '-w', 'tests', '--', 'console']],
  scale: ['npm', ['run', '--silent', 'bench', '-w', 'tests', '--', 'scale']],
  faults: ['npm', ['run', '--silent', 'bench', '-w', 'tests', '--', 'faults']],
  storage: ['npm', ['run', '--silent', 'bench', '-w', 'tests', '--', 'storage']],
};
const wanted = process.argv.slice(2);
let failed = 0;
for (const [name, [cmd, args]] of Object.entries(all)) {
  if (wanted.length && !wanted.includes(name)) continue;
  process.stdout.write(`\n=== bench ${name} ===\n`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
