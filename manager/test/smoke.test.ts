import { eachDialect, startManager } from './helpers.ts';

eachDialect('login, keys, signed listDomains and listApis', async (t, dialect) => {
  const { admin } = await startManager(t, dialect);
  const d = await admin.ok('listDomains');
  t.is(d.count, 1);
  t.is(d.domain[0].name, 'ROOT');
  const apis = await admin.ok('listApis');
  t.true(apis.api.some((a: any) => a.name === 'createDomain' && a.params.some((p: any) => p.name === 'name' && p.required)));
});
