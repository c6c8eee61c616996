// Lists paged in SQL (api/paging.ts): for every kind of caller and the ownership parameters,
// listNetworks answers exactly what the in-memory rules answered before (the rows the caller may
// use — canUseNetwork, the same function the lookups use — then listall/domainid/account), and
// every list's pages concatenate to the whole list in the same order with count = all matching.
import { eachDialect, makeAccount, startManager, type Api } from './helpers.ts';
import { seedScale } from '../bench/seed.ts';
import { canUseNetwork } from '../src/commands/compute/lookup.ts';
import type { Context, Caller } from '../src/api/context.ts';
import type { NetworkRow } from '../src/commands/compute/views.ts';
import type { ExecutionContext } from 'ava';

type Params = Record<string, string | number | boolean>;

/** Every page of `pagesize`, walked until an empty page, checking counts; returns the ids. */
async function walk(t: ExecutionContext, api: Api, command: string, key: string, params: Params, total: number, pagesize: number): Promise<string[]> {
  const ids: string[] = [];
  for (let page = 1; ; page++) {
    const r = await api.ok(command, { ...params, page, pagesize });
    if (total === 0) { t.deepEqual(r, {}, `${command} ${JSON.stringify(params)}: nothing matches, nothing answered`); return ids; }
    t.is(r.count, total, `${command} ${JSON.stringify(params)} page ${page}: count is all matching`);
    if (!r[key]) { t.is(page, Math.ceil(total / pagesize) + 1, 'the first empty page is the one after the last'); return ids; }
    t.true(r[key].length <= pagesize);
    ids.push(...r[key].map((x: { id: string }) => x.id));
  }
}

eachDialect('listNetworks and listVirtualMachines filter, order and page in SQL with the answers of the in-memory rules', async (t, dialect) => {
  const { url, admin, db } = await startManager(t, dialect);
  const d1 = (await admin.ok('createDomain', { name: 'pd1' })).domain;
  const sub = (await admin.ok('createDomain', { name: 'pd1sub', parentdomainid: d1.id })).domain;
  const u0 = await makeAccount(admin, url, { name: 'pu0' });
  const u1 = await makeAccount(admin, url, { name: 'pu1', domainid: d1.id });
  const u2 = await makeAccount(admin, url, { name: 'pu2', domainid: sub.id });
  const da = await makeAccount(admin, url, { name: 'pda', domainid: d1.id, type: 2 });
  await seedScale(db, { domains: 2, accounts: 12, networks: 160, vms: 90, prefix: 'pg' }, [u0.accountId, u1.accountId, u2.accountId, da.accountId]);
  // Two networks with one creation time: the order must still be total (id breaks the tie).
  await db.query(`UPDATE networks SET created = (SELECT created FROM networks WHERE name = 'pg-net7') WHERE name = 'pg-net8'`);
  await db.query(`UPDATE vm_instances SET state = 'Destroyed' WHERE name IN ('pg-vm4', 'pg-vm8')`);

  const rows = await db.query<NetworkRow>(`SELECT n.*, d.path AS domain_path FROM networks n JOIN domains d ON d.id = n.domain_id ORDER BY n.created, n.id`);
  const callers: Array<{ name: string; api: Api; caller: Pick<Caller, 'role' | 'accountId' | 'domainPath'> }> = [
    { name: 'root admin', api: admin, caller: { role: 'Admin', accountId: (await admin.ok('listAccounts', { name: 'admin' })).account[0].id, domainPath: 'ROOT' } },
    { name: 'user in ROOT', api: u0.api, caller: { role: 'User', accountId: u0.accountId, domainPath: 'ROOT' } },
    { name: 'user in ROOT/pd1', api: u1.api, caller: { role: 'User', accountId: u1.accountId, domainPath: 'ROOT/pd1' } },
    { name: 'user in ROOT/pd1/pd1sub', api: u2.api, caller: { role: 'User', accountId: u2.accountId, domainPath: 'ROOT/pd1/pd1sub' } },
    { name: 'domain admin of ROOT/pd1', api: da.api, caller: { role: 'DomainAdmin', accountId: da.accountId, domainPath: 'ROOT/pd1' } },
  ];
  const paths = new Map([[d1.id, 'ROOT/pd1'], [sub.id, 'ROOT/pd1/pd1sub']]);
  const cases: Params[] = [{}, { listall: true }, { domainid: d1.id, isrecursive: true }, { domainid: d1.id }, { domainid: sub.id, account: 'pu2' }, { keyword: 'net1', listall: true }, { type: 'Shared', listall: true }, { id: rows[5]!.id }];
  let compared = 0;
  for (const c of callers) {
    const ctx = { caller: c.caller } as unknown as Context;
    for (const params of cases) {
      const whole = await c.api.call('listNetworks', params);
      if (whole.status !== 200) { t.true([431, 531].includes(whole.status), `${c.name} ${JSON.stringify(params)}: ${whole.status}`); continue; }
      // The in-memory rules of before: visible rows, then the ownership parameters.
      let expected = rows.filter((n) => canUseNetwork(ctx, n));
      if (params.keyword) expected = expected.filter((n) => n.name.toLowerCase().includes(String(params.keyword)) || n.display_text.toLowerCase().includes(String(params.keyword)));
      if (params.type) expected = expected.filter((n) => n.guest_type === params.type);
      if (params.id) expected = expected.filter((n) => n.id === params.id);
      if (params.domainid) {
        const p = paths.get(String(params.domainid))!;
        expected = expected.filter((n) => (params.isrecursive ? n.domain_path === p || n.domain_path.startsWith(`${p}/`) : n.domain_id === params.domainid));
        if (params.account) expected = expected.filter((n) => n.account_id === u2.accountId);
      } else if (!params.listall && !params.id) expected = expected.filter((n) => n.acl_type === 'Domain' || n.account_id === c.caller.accountId);
      const got = (whole.body.network ?? []).map((n: { id: string }) => n.id);
      t.deepEqual(got, expected.map((n) => n.id), `${c.name} ${JSON.stringify(params)}`);
      t.deepEqual(await walk(t, c.api, 'listNetworks', 'network', params, expected.length, 7), got, `${c.name} ${JSON.stringify(params)}: pages of 7`);
      compared++;
    }
    // VMs: the SQL filter is the one of before; pages concatenate to the whole list.
    for (const params of [{}, { listall: true }, { listall: true, state: 'Running' }, { keyword: 'vm1', listall: true }] as Params[]) {
      const whole = await c.api.ok('listVirtualMachines', params);
      const got = (whole.virtualmachine ?? []).map((v: { id: string }) => v.id);
      t.deepEqual(await walk(t, c.api, 'listVirtualMachines', 'virtualmachine', params, got.length, 4), got, `${c.name} VMs ${JSON.stringify(params)}`);
      if (whole.virtualmachine) t.true(whole.virtualmachine.every((v: { nic: unknown[] }) => v.nic.length === 1), 'each VM of a page carries its NIC');
    }
  }
  t.true(compared >= 30, `${compared} network listings compared`);
  // Totals the database states independently.
  const allNets = (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM networks'))[0]!.n;
  t.is((await admin.ok('listNetworks', { listall: true, pagesize: 5 })).count, allNets);
  const liveVms = (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM vm_instances WHERE type = 'User' AND account_id = $1 AND state <> 'Destroyed'`, [u0.accountId]))[0]!.n;
  t.true(liveVms > 0);
  t.is((await u0.api.ok('listVirtualMachines', { pagesize: 2 })).count, liveVms);
  // pagesize=-1 is everything; page without pagesize uses the default page size (500).
  t.is((await admin.ok('listNetworks', { listall: true, pagesize: -1 })).network.length, allNets);
  t.is((await admin.ok('listNetworks', { listall: true, page: 1 })).network.length, Math.min(500, allNets));
  t.deepEqual(await admin.ok('listNetworks', { listall: true, page: 2 }), { count: allNets }, 'beyond the last page: the count only');
});
