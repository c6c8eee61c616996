// The authorization matrix: users see and change only their own account; domain admins only
// their domain subtree; root admins everything. Every refusal leaves the object unchanged.
import { eachDialect, makeAccount, startManager } from './helpers.ts';

eachDialect('authorization matrix across accounts and domains', async (t, dialect) => {
  const { url, admin } = await startManager(t, dialect);
  const sales = (await admin.ok('createDomain', { name: 'sales' })).domain;
  const eu = (await admin.ok('createDomain', { name: 'eu', parentdomainid: sales.id })).domain;
  const eng = (await admin.ok('createDomain', { name: 'eng' })).domain;
  t.is(eu.path, 'ROOT/sales/eu');

  const alice = await makeAccount(admin, url, { name: 'alice', domainid: eu.id });
  const bob = await makeAccount(admin, url, { name: 'bob', domainid: eu.id });
  const carol = await makeAccount(admin, url, { name: 'carol', domainid: eng.id });
  const salesAdmin = await makeAccount(admin, url, { name: 'salesadmin', type: 2, domainid: sales.id });

  // a user sees only its own account and users
  const aliceAccounts = await alice.api.ok('listAccounts', { listall: true });
  t.deepEqual(aliceAccounts.account.map((a: any) => a.name), ['alice']);
  const aliceUsers = await alice.api.ok('listUsers', { listall: true });
  t.deepEqual(aliceUsers.user.map((u: any) => u.username), ['alice']);
  // … cannot read another account's user, keys, or by naming it
  t.is((await alice.api.call('listUsers', { id: bob.userId })).status, 531);
  t.is((await alice.api.call('getUserKeys', { id: bob.userId })).status, 531);
  t.is((await alice.api.call('listAccounts', { id: carol.accountId })).status, 531);
  t.is((await alice.api.call('registerUserKeys', { id: bob.userId })).status, 531);
  t.is((await alice.api.call('updateUser', { id: bob.userId, firstname: 'Mallory' })).status, 531);
  t.is((await admin.ok('listUsers', { id: bob.userId })).user[0].firstname, 'bob');
  // … and admin-only commands do not exist for it
  const denied = await alice.api.call('createDomain', { name: 'x' });
  t.is(denied.status, 432);
  t.regex(denied.body.errortext, /does not exist or it is not available/);
  t.false((await alice.api.ok('listApis')).api.some((a: any) => a.name === 'createAccount'));

  // a domain admin sees its subtree, not other domains
  const seen = await salesAdmin.api.ok('listAccounts', { listall: true });
  t.deepEqual(seen.account.map((a: any) => a.name).sort(), ['alice', 'bob', 'salesadmin']);
  const doms = await salesAdmin.api.ok('listDomains', { listall: true });
  t.deepEqual(doms.domain.map((d: any) => d.path), ['ROOT/sales', 'ROOT/sales/eu']);
  t.is((await salesAdmin.api.call('listAccounts', { id: carol.accountId })).status, 531);
  t.is((await salesAdmin.api.call('listAccounts', { domainid: eng.id })).status, 531);
  t.is((await salesAdmin.api.call('createAccount', { username: 'x', password: 'p', email: 'x@example.org', firstname: 'x', lastname: 'x', accounttype: 0, domainid: eng.id })).status, 531);
  t.is((await salesAdmin.api.call('createDomain', { name: 'rogue', parentdomainid: eng.id })).status, 531);
  t.is((await salesAdmin.api.call('updateDomain', { id: eng.id, name: 'hijacked' })).status, 531);
  t.is((await salesAdmin.api.call('createAccount', { username: 'root2', password: 'p', email: 'r@example.org', firstname: 'r', lastname: 'r', accounttype: 1, domainid: sales.id })).status, 531);
  // … but may manage inside it
  const dave = (await salesAdmin.api.ok('createAccount', { username: 'dave', password: 'pw-dave', email: 'd@example.org', firstname: 'd', lastname: 'd', accounttype: 0, domainid: eu.id })).account;
  t.is(dave.domain, 'eu');
  const disabled = await salesAdmin.api.job('disableAccount', { id: bob.accountId, lock: true });
  t.is(disabled.jobstatus, 1);
  t.is(disabled.jobresult.account.state, 'locked');
  // a job of another domain's admin is not visible to it
  const rootJob = await admin.ok('deleteAccount', { id: carol.accountId });
  t.is((await salesAdmin.api.call('queryAsyncJobResult', { jobid: rootJob.jobid })).status, 431);
  t.is((await alice.api.call('queryAsyncJobResult', { jobid: disabled.jobid })).status, 431);

  // events: a user sees only its own account's; the root admin sees all
  await alice.api.ok('updateUser', { id: alice.userId, firstname: 'Alicia' });
  const aliceEvents = await alice.api.ok('listEvents');
  t.true(aliceEvents.count >= 1);
  t.true(aliceEvents.event.every((e: any) => e.account === 'alice'));
  const all = await admin.ok('listEvents', { listall: true, type: 'USER.UPDATE' });
  t.true(all.event.some((e: any) => e.account === 'alice' && e.resourceid === alice.userId));
});
