// Real CloudStack clients, no code of ours in them: Debian's `cs` CLI (python3-cs) and the
// `csclient` npm package sign and send requests; we check what they get back.
import { eachDialect, startManager } from './helpers.ts';
import { cs, CloudStackClient } from './real-clients.ts';

eachDialect('the cs CLI creates a zone, lists it, sees a bad parameter\'s error, and waits for async jobs', async (t, dialect) => {
  const { url, admin } = await startManager(t, dialect);
  const created = await cs(url, admin.apiKey, admin.secretKey, ['createZone', 'name=cs zone*~ü', 'networktype=Advanced', 'dns1=192.0.2.53', 'internaldns1=192.0.2.54', 'guestcidraddress=10.1.0.0/16']);
  t.is(created.code, 0, created.err);
  t.is(created.out.zone.name, 'cs zone*~ü');
  const listed = await cs(url, admin.apiKey, admin.secretKey, ['listZones', 'name=cs zone*~ü']);
  t.is(listed.code, 0, listed.err);
  t.is(listed.out.count, 1);
  t.is(listed.out.zone[0].id, created.out.zone.id);
  // cs prints CloudStack's error object as it got it
  const bad = await cs(url, admin.apiKey, admin.secretKey, ['listZones', 'id=not-a-uuid']);
  t.is(bad.out?.listzonesresponse?.errorcode, 431, JSON.stringify(bad));
  t.regex(bad.out.listzonesresponse.errortext, /Invalid parameter id value=not-a-uuid/);
  // an async command, polled by the client itself (`-b` blocks until the job ends)
  const dom = await cs(url, admin.apiKey, admin.secretKey, ['createDomain', 'name=viacs']);
  t.is(dom.code, 0, dom.err);
  const del = await cs(url, admin.apiKey, admin.secretKey, ['deleteDomain', `id=${dom.out.domain.id}`]);
  t.is(del.code, 0, del.err);
  t.deepEqual(del.out, { success: true }, 'cs polls the job and prints its result');
});

eachDialect('the csclient npm package signs v3 requests, syncs listApis and runs async jobs', async (t, dialect) => {
  const { url, admin } = await startManager(t, dialect);
  const client = new CloudStackClient({ apiKey: admin.apiKey, secretKey: admin.secretKey, baseUrl: `${url}/client/api?`, pollingTime: 100, pollingNumber: 100, singleExecutor: true });
  await new Promise<void>((resolve, reject) => { client.once('ready', resolve); client.once('error', reject); });
  const exec = (cmd: string, params: Record<string, unknown>) => new Promise<any>((resolve, reject) =>
    client.execute(cmd, params, (err: any, res: any) => (err ? reject(err) : resolve(res))));
  const created = await exec('createZone', { name: 'npm zone', networktype: 'Advanced', dns1: '192.0.2.53', internaldns1: '192.0.2.54' });
  t.is(created.createzoneresponse.zone.name, 'npm zone');
  const listed = await exec('listZones', { id: created.createzoneresponse.zone.id });
  t.is(listed.listzonesresponse.count, 1);
  const err = await exec('listZones', { id: 'bogus' }).then(() => undefined, (e) => e);
  t.is(err?.code, 431);
  t.regex(String(err?.message), /Invalid parameter id/);
  const dom = await exec('createDomain', { name: 'vianpm' });
  const job = await exec('deleteDomain', { id: dom.createdomainresponse.domain.id });
  t.is(job.queryasyncjobresultresponse?.jobstatus ?? job.jobstatus, 1, JSON.stringify(job));
});
