// The parts of the LB bench that must run inside the router namespace (started by lb.bench.ts
// with `ip netns exec`): the appliance's own LbService (health checks → element update) and
// Haproxy (reloads under load). Speaks lines on stdout: `ready`, `down <epoch ms>`, `done`.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { compile } from '@flotilla/firewall/compile';
import { NftApplier } from '@flotilla/firewall/apply';
import type { FirewallSpec } from '@flotilla/protocol/firewall';
import type { LbSpec } from '@flotilla/protocol/lb';
import { LbService } from '../../routers/src/lb/service.ts';
import { Haproxy } from '../../routers/src/lb/haproxy.ts';

const [mode, fwJson, lbJson] = process.argv.slice(2);
const fwSpec = JSON.parse(fwJson!) as FirewallSpec;
const lb = JSON.parse(lbJson!) as LbSpec;
const dir = mkdtempSync(join(tmpdir(), 'flt-lbb-'));
const say = (s: string) => process.stdout.write(`${s}\n`);

if (mode === 'failover') {
  const fw = new NftApplier();
  let svc: LbService;
  let wasDown = false;
  const load = async () => { const d = compile(fwSpec); d.nftables.push(...svc.nftCommands()); await fw.apply(d); };
  svc = new LbService(dir, () => {
    void load().then(async () => {
      const st = await svc.status(undefined);
      const down = Object.values(st).some((r) => Object.values(r.backends).includes('Inactive'));
      if (down && !wasDown) { wasDown = true; say(`down ${Date.now()}`); }
    });
  });
  await svc.apply(lb);
  await load();
  say('ready');
  // Wait for the parent to close stdin.
  for await (const _ of createInterface({ input: process.stdin })) { /* lines ignored */ }
  await svc.close();
  await fw.close();
} else if (mode === 'reload') {
  const hp = new Haproxy(dir);
  await hp.apply(lb);
  say('ready');
  const rl = createInterface({ input: process.stdin });
  for await (const line of rl) {
    if (line !== 'go') continue;
    const r = lb.rules[0]!;
    for (let i = 0; i < 20; i++) {
      // 20 rule changes: the backend list (runtime API: add/del server, same worker) and the
      // stickiness (a reload: new worker, listeners handed over).
      const next: LbSpec = { rules: [{ ...r, backends: i % 2 ? r.backends.slice(0, 1) : r.backends, ...(i % 4 === 1 ? { stickiness: { method: 'LbCookie' as const, cookieName: `C${i}` } } : {}) }] };
      await hp.apply(next);
      await new Promise((res) => setTimeout(res, 100));
    }
    say(`done ${hp.reloads} runtime ${hp.runtimeChanges}`);
    // HAProxy keeps serving until the parent closes stdin (its load has ended): stopping it at
    // `done` failed every request of the load's remaining seconds, which the bench counted as
    // requests lost to the changes (7,741 on an idle machine, where the 20 changes end early).
  }
  await hp.stop();
}
rmSync(dir, { recursive: true, force: true });
process.exit(0);
