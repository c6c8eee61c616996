#!/usr/bin/env node
// `npm run bench:router`: the router's end-to-end times through the manager (tests/bench/
// router-e2e.ts: createNetwork → lease + SNAT, createPortForwardingRule → port answers) and its
// DNS server against dnsmasq (routers/bench/router.bench.ts), merged into one line:
// router: ready_ms=… rule_live_ms=… dns_qps=… dns_ratio_dnsmasq=… dns_qps_10k=… … dns_ratio_dnsmasq_forward=…
// (its DHCP server is measured by `npm run bench:dhcp`)
import { spawn } from 'node:child_process';

const root = new URL('..', import.meta.url).pathname;
const runs = [
  ['npm', ['run', '--silent', 'bench', '-w', 'tests', '--', 'router-e2e']],
  ['npm', ['run', '--silent', 'bench', '-w', 'routers']],
];
const fields = {};
let failed = false;
for (const [cmd, args] of runs) {
  const text = await new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (b) => { out += b; process.stdout.write(b); });
    child.on('close', (code) => { if (code !== 0) failed = true; resolve(out); });
  });
  const line = text.split('\n').reverse().find((l) => l.startsWith('router: '));
  for (const kv of line?.slice('router: '.length).split(' ') ?? []) {
    const [k, v] = kv.split('=');
    if (k && v !== undefined && (v !== 'NA' || !(k in fields))) fields[k] = v;
  }
}
const order = ['ready_ms', 'rule_live_ms', 'dns_qps', 'dns_ratio_dnsmasq', 'dns_qps_10k', 'dns_ratio_dnsmasq_10k', 'dns_qps_forward', 'dns_ratio_dnsmasq_forward'];
process.stdout.write(`\nrouter: ${order.map((k) => `${k}=${fields[k] ?? 'NA'}`).join(' ')}\n`);
process.exit(failed ? 1 : 0);
