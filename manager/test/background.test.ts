// Issue 18 (2, and "no error outside a request ends the process"): a fault is injected into each
// background path — the local cloud's set-up, its agent process, an agent's hello, the
// reconciliation after it, a disconnect, the heartbeat check, the router monitor, the job
// runner — by making exactly the database statement that path runs fail once. Each must end as
// a log line and a BACKGROUND.FAILURE event, and the manager must go on (ava fails a test on
// any unhandled rejection or uncaught exception, so a crash cannot pass unseen). The local
// cloud runs in-process with its real agent process on the simulator driver.
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { createManager } from '../src/app.ts';
import { keysFor } from '../src/client.ts';
import { startLocalCloud } from '../src/local/cloud.ts';
import { BACKGROUND_EVENT, guard, guarded } from '../src/background.ts';
import { ADMIN_PASSWORD, DIALECTS, faulty, freshDatabase } from './helpers.ts';

async function until(what: string, fn: () => Promise<boolean> | boolean, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

for (const dialect of DIALECTS) {
  test.serial(`a fault in every background path becomes an event and a log line, never a crash [${dialect}]`, async (t) => {
    const { db: real } = await freshDatabase(t, dialect);
    const db = faulty(real);
    const lines: Array<Record<string, any>> = [];
    const log = pino({ level: 'info', base: { svc: 'manager' } }, { write: (s: string) => { lines.push(JSON.parse(s)); } });
    const dataDir = mkdtempSync(join(tmpdir(), 'flt-bg-'));
    const m = await createManager({
      settings: { port: 0, host: '127.0.0.1', dataDir, sessionTimeout: 1800, jobDelayMs: 0 },
      db, memory: true, adminPassword: ADMIN_PASSWORD, log, env: { FLOTILLA_ROUTER_CHECK_MS: '300' },
    });
    const url = await m.app.listen({ port: 0, host: '127.0.0.1' });
    const admin = await keysFor(url, 'admin', ADMIN_PASSWORD);

    const events = async (task: RegExp) => (await real.query<{ command: string; description: string; level: string; result: string }>(
      `SELECT command, description, level, result FROM events WHERE type = $1`, [BACKGROUND_EVENT])).filter((e) => task.test(e.command));
    const logged = (task: RegExp) => lines.some((l) => l.level === 50 && typeof l.task === 'string' && task.test(l.task) && typeof l.err?.stack === 'string');
    // The log has every failure; events are one per task per minute (background.ts), so when an
    // earlier failure of the same task holds the window (a reconciliation of the dying channel,
    // "disconnected during listState", can come first) the injected one is in the log only.
    const loggedWith = (task: RegExp, text: RegExp) => lines.some((l) => l.level === 50 && typeof l.task === 'string' && task.test(l.task) && text.test(`${l.msg} failed: ${l.err?.message}`));
    const expectReport = async (what: string, task: RegExp, text = /failed: injected fault/) => {
      await until(`an event for ${what}`, async () => (await events(task)).length > 0 && logged(task) && ((await events(task)).some((x) => text.test(x.description)) || loggedWith(task, text)));
      const all = await events(task);
      t.true(all.every((x) => x.level === 'ERROR' && x.result === 'FAILURE'), JSON.stringify(all));
      const e = all.find((x) => text.test(x.description));
      if (!e) t.true(loggedWith(task, text), `no ${text} among ${JSON.stringify(all.map((x) => x.description))} nor in the log`);
    };

    // 1. The local cloud's set-up: its first createZone fails; it is reported and retried.
    db.arm(/^\s*INSERT INTO zones/);
    const local = startLocalCloud(m, url, dataDir, 'simulator');
    t.teardown(async () => { await local.stop(); await m.close(); rmSync(dataDir, { recursive: true, force: true }); });
    // (The command's own error is the API's generic 530; its cause is logged by the dispatcher.)
    await expectReport('the set-up', /^local cloud set-up$/, /createZone failed/);
    t.true(lines.some((l) => l.command === 'createZone' && /injected fault/.test(String(l.err?.message))));
    await until('the local host Up', async () => (await admin.ok('listHosts', { name: 'local' })).host?.[0]?.state === 'Up');
    t.is((await admin.ok('listZones', { name: 'local' })).zone[0].allocationstate, 'Enabled');

    // 2. The agent process dies while its disconnect, its next hello and the reconciliation
    //    after that each fail once: four reports, then the host is Up again by itself.
    const first = local.agent()!;
    db.arm(/UPDATE hosts SET state = 'Disconnected'/);
    db.arm(/FROM hosts WHERE token_hash/);
    db.arm(/SELECT id, instance_name, type FROM vm_instances WHERE host_id/);
    first.kill('SIGKILL');
    await expectReport('the agent process', /^local host agent$/, /exited \(SIGKILL\); restarting it/);
    await expectReport('the disconnect', /^agent disconnect$/);
    await expectReport('the hello', /^agent hello$/);
    await expectReport('the reconciliation', /^reconciliation of host /);
    await until('the local host Up again', async () => (await admin.ok('listHosts', { name: 'local' })).host?.[0]?.state === 'Up' && local.agent() !== first);
    t.is(db.pending(), 0);

    // 3. Timers: the heartbeat check and the router monitor.
    db.arm(/UPDATE hosts SET last_ping/);
    await expectReport('the heartbeat check', /^agent heartbeat check$/);
    db.arm(/SELECT DISTINCT v.host_id FROM vm_instances v WHERE v.type = 'DomainRouter'/);
    await expectReport('the router monitor', /^router monitor$/);

    // 4. The job runner: the claim of a job fails; it is reported and the job still runs.
    const zoneId = (await admin.ok('listZones', { name: 'local' })).zone[0].id;
    db.arm(/UPDATE async_jobs SET owner/);
    const so = (await admin.ok('listServiceOfferings', { name: 'Small Instance' })).serviceoffering[0].id;
    const tpl = (await admin.ok('listTemplates', { templatefilter: 'featured' })).template[0].id;
    const flat = (await admin.ok('listNetworks', { name: 'local-flat', listall: true })).network[0].id;
    const job = await admin.job('deployVirtualMachine', { zoneid: zoneId, serviceofferingid: so, templateid: tpl, networkids: flat, name: 'after-fault' }, 60_000);
    t.is(job.jobstatus, 1, JSON.stringify(job.jobresult));
    await expectReport('the job runner', /^job runner \(job /);

    // Operators see them through the API (CloudStack's system events: listall=true).
    const listed = (await admin.ok('listEvents', { type: BACKGROUND_EVENT, listall: true })).event as Array<{ level: string; description: string; account?: string }>;
    const seen = listed.map((e) => e.description.replace(/ failed: .*/, '').replace(/[0-9a-f-]{36}/g, 'ID'));
    for (const task of ['local cloud set-up', 'local host agent', 'agent disconnect', 'agent hello', 'reconciliation of host ID', 'agent heartbeat check', 'router monitor', 'job runner (job ID)']) {
      t.true(seen.includes(task), `${task} not in ${JSON.stringify(seen)}`);
    }
    t.true(listed.every((e) => e.level === 'ERROR' && e.account === 'system'));
    // And the manager is still serving.
    t.is((await admin.call('listZones', {})).status, 200);
  });
}

test('guard and guarded: sync throws and rejections are reported, never rethrown; one event a minute per task', async (t) => {
  const rows: unknown[][] = [];
  const lines: string[] = [];
  const r = { db: { query: async (_text: string, params?: readonly unknown[]) => { rows.push([...(params ?? [])]); return []; } }, log: pino({ level: 'info' }, { write: (s: string) => { lines.push(s); } }) };
  await guard(r, 'sync', () => { throw new Error('boom'); });
  await guard(r, 'async', async () => { throw new Error('later'); });
  await guard(r, 'async', async () => { throw new Error('again'); });
  await new Promise<void>((resolve) => { guarded(r, 'callback', () => { resolve(); throw new Error('in a callback'); })(); });
  await new Promise((res) => setTimeout(res, 50));
  t.is(lines.length, 4);
  t.deepEqual(rows.map((p) => p[3]), ['sync', 'async', 'callback']);
  // A broken event store still leaves the log line, and nothing escapes.
  const broken = { db: { query: async () => { throw new Error('db down'); } }, log: r.log };
  await t.notThrowsAsync(() => guard(broken, 'with the db down', () => { throw new Error('x'); }));
  t.true(lines.some((l) => l.includes('could not record the background failure')));
});
