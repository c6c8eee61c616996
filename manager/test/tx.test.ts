// A command that fails part-way leaves nothing behind: its writes roll back, and the failure
// is still recorded in the audit log.
import { eachDialect, startManager } from './helpers.ts';

eachDialect('a command failing after its first write rolls back and is audited as a failure', async (t, dialect) => {
  const { admin } = await startManager(t, dialect);
  await admin.ok('createAccount', { username: 'taken', account: 'first', password: 'p', email: 't@example.org', firstname: 'a', lastname: 'b', accounttype: 0 });
  // The account row is inserted before the user; the user's name clashes, so all rolls back.
  const r = await admin.call('createAccount', { username: 'taken', account: 'second', password: 'p', email: 't@example.org', firstname: 'a', lastname: 'b', accounttype: 0 });
  t.is(r.status, 431);
  t.regex(r.body.errortext, /The user taken already exists/);
  t.deepEqual(await admin.ok('listAccounts', { name: 'second', listall: true }), {});
  const events = await admin.ok('listEvents', { type: 'ACCOUNT.CREATE', listall: true });
  t.true(events.event.some((e: any) => e.level === 'ERROR' && /already exists/.test(e.description)));
  t.true(events.event.some((e: any) => e.level === 'INFO'));
});

eachDialect('deleteDomain refuses a domain in use unless cleanup=true, then removes the subtree', async (t, dialect) => {
  const { admin } = await startManager(t, dialect);
  const a = (await admin.ok('createDomain', { name: 'a' })).domain;
  await admin.ok('createDomain', { name: 'b', parentdomainid: a.id });
  await admin.ok('createAccount', { username: 'u', password: 'p', email: 'u@example.org', firstname: 'u', lastname: 'u', accounttype: 0, domainid: a.id });
  const refused = await admin.job('deleteDomain', { id: a.id });
  t.is(refused.jobstatus, 2);
  t.is(refused.jobresultcode, 536);
  t.is(refused.jobresult.errorcode, 536);
  t.regex(refused.jobresult.errortext, /1 sub-domain\(s\) and 1 account\(s\)/);
  t.is((await admin.ok('listDomains', { listall: true })).count, 3);
  const done = await admin.job('deleteDomain', { id: a.id, cleanup: true });
  t.is(done.jobstatus, 1);
  t.is((await admin.ok('listDomains', { listall: true })).count, 1);
  t.deepEqual(await admin.ok('listAccounts', { name: 'u', listall: true }), {});
});

eachDialect('an empty networkdomain clears it, as CloudStack documents', async (t, dialect) => {
  const { admin } = await startManager(t, dialect);
  const d = (await admin.ok('createDomain', { name: 'nd', networkdomain: 'corp.example' })).domain;
  t.is(d.networkdomain, 'corp.example');
  const cleared = (await admin.ok('updateDomain', { id: d.id, networkdomain: '' })).domain;
  t.is(cleared.networkdomain, undefined);
  // an empty value of an ordinary parameter still counts as absent: the name stays
  t.is((await admin.ok('updateDomain', { id: d.id, name: '' })).domain.name, 'nd');
});
