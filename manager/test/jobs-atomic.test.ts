// Issue 16, item 2: a database-only async command's work and its job's completion commit in ONE
// transaction. The completion statement is made to fail (as a kill between the two would leave
// it unwritten): the work must be rolled back with it, never committed under a job that says
// otherwise. A host-talking command is refused the shared transaction (its steps commit apart).
import test from 'ava';
import { createManager } from '../src/app.ts';
import { keysFor } from '../src/client.ts';
import { execute } from '../src/api/dispatch.ts';
import { loadCaller } from '../src/api/auth.ts';
import { ADMIN_PASSWORD, DIALECTS, createLogger, faulty, freshDatabase } from './helpers.ts';

for (const dialect of DIALECTS) {
  test(`a database-only job's work rolls back with its completion [${dialect}]`, async (t) => {
    const { db: raw } = await freshDatabase(t, dialect);
    const db = faulty(raw);
    const m = await createManager({
      settings: { port: 0, host: '127.0.0.1', dataDir: '', sessionTimeout: 1800, jobDelayMs: 0 },
      db, memory: true, adminPassword: ADMIN_PASSWORD, log: createLogger('silent'), env: {},
    });
    t.teardown(() => m.close());
    await m.app.listen({ port: 0, host: '127.0.0.1' });
    const addr = m.app.server.address();
    const url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
    const admin = await keysFor(url, 'admin', ADMIN_PASSWORD);

    const dom = (await admin.ok('createDomain', { name: 'kept' })).domain;
    db.arm(/SET status = 1, result_code = 0/);
    const job = await admin.job('deleteDomain', { id: dom.id });
    t.is(job.jobstatus, 2, JSON.stringify(job));
    // The handler deleted the domain inside the transaction; the completion's failure undid it.
    t.is((await raw.query('SELECT 1 FROM domains WHERE id = $1', [dom.id])).length, 1, 'the domain was deleted although its job failed');
    t.is((await raw.query(`SELECT 1 FROM events WHERE type = 'DOMAIN.DELETE' AND result = 'SUCCESS'`)).length, 0);

    // Control: the same command without a fault deletes it, and the job says so.
    const ok = await admin.job('deleteDomain', { id: dom.id });
    t.is(ok.jobstatus, 1, JSON.stringify(ok));
    t.is((await raw.query('SELECT 1 FROM domains WHERE id = $1', [dom.id])).length, 0);
    t.is((await raw.query(`SELECT 1 FROM events WHERE type = 'DOMAIN.DELETE' AND result = 'SUCCESS'`)).length, 1);

    // A command that talks to hosts is never given the job's transaction.
    const caller = (await loadCaller(m.services, (await raw.query<{ id: string }>(`SELECT id FROM users WHERE username = 'admin'`))[0]!.id))!;
    await t.throwsAsync(execute(m.services, caller, m.services.registry.get('restartNetwork')!, { id: dom.id }, { complete: async () => undefined }), { message: /cannot join its work/ });
  });
}
