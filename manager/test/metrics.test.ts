// GET /metrics: scraped over HTTP and read with a Prometheus text-format parser (the
// parse-prometheus-text-format package, prom2json's shape), not with our own regexes.
import test from 'ava';
import { networkInterfaces } from 'node:os';
import parsePrometheus, { type Family, type Sample } from 'parse-prometheus-text-format';
import { createManager } from '../src/app.ts';
import { ADMIN_PASSWORD, createLogger, eachDialect, freshDatabase, startManager } from './helpers.ts';

type Scrape = Family[] & { text: string };
async function scrape(url: string, headers: Record<string, string> = {}): Promise<Scrape> {
  const r = await fetch(`${url}/metrics`, { headers });
  if (r.status !== 200) throw new Error(`/metrics answered ${r.status}: ${await r.text()}`);
  if (!r.headers.get('content-type')?.startsWith('text/plain')) throw new Error(`content-type ${r.headers.get('content-type')}`);
  const text = await r.text();
  return Object.assign(parsePrometheus(text), { text });
}
function samples(fams: Family[], name: string): Sample[] { return fams.find((f) => f.name === name)?.metrics ?? []; }
function value(fams: Scrape, name: string, labels: Record<string, string>): number | undefined {
  if (fams.find((f) => f.name === name)?.type === 'HISTOGRAM') return histogramCount(fams, name, labels);
  const s = samples(fams, name).find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
  return s ? Number(s.value) : undefined;
}
/**
 * The parser folds every series of a histogram family into one (it keys buckets by `le` only,
 * and keeps _count/_sum of unlabelled histograms only), so one series is handed to it alone —
 * the family's HELP/TYPE lines and the sample lines carrying these label pairs — and its count
 * read from the +Inf bucket.
 */
function histogramCount(fams: Scrape, name: string, labels: Record<string, string>): number | undefined {
  const pairs = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  const lines = fams.text.split('\n').filter((l) => l.startsWith(`# HELP ${name} `) || l.startsWith(`# TYPE ${name} `)
    || (l.startsWith(name) && pairs.every((p) => l.includes(p))));
  const one = parsePrometheus(`${lines.join('\n')}\n`).find((f) => f.name === name)?.metrics[0];
  return one?.buckets?.['+Inf'] !== undefined ? Number(one.buckets['+Inf']) : undefined;
}

eachDialect('a request increments its command\'s counter and latency histogram; errors count under their code; jobs by state and duration; hosts', async (t, dialect) => {
  const { url, admin } = await startManager(t, dialect);
  const before = await scrape(url);
  t.is(before.find((f) => f.name === 'flotilla_api_requests_total')?.type, 'COUNTER');
  t.is(before.find((f) => f.name === 'flotilla_api_request_duration_seconds')?.type, 'HISTOGRAM');
  const n0 = value(before, 'flotilla_api_requests_total', { command: 'listZones', code: '200' }) ?? 0;
  const h0 = value(before, 'flotilla_api_request_duration_seconds', { command: 'listZones' }) ?? 0;
  await admin.ok('listZones', {});
  await admin.ok('listZones', {});
  t.is((await admin.call('listZones', { id: 'not-a-uuid' })).status, 431);
  t.is((await admin.call('noSuchCommand', {})).status, 432);
  // An async job: a zone's physical network (its job row and its run time).
  const zone = (await admin.ok('createZone', { name: 'mz', networktype: 'Advanced', dns1: '192.0.2.53', internaldns1: '192.0.2.53', guestcidraddress: '10.1.0.0/16' })).zone;
  await admin.jobOk('createPhysicalNetwork', { zoneid: zone.id, name: 'mz-phys', isolationmethods: 'VXLAN', vlan: '6000-6999' });
  await admin.ok('addHost', { zoneid: zone.id, podid: (await admin.ok('createPod', { zoneid: zone.id, name: 'p', gateway: '172.31.0.1', netmask: '255.255.255.0', startip: '172.31.0.10', endip: '172.31.0.20' })).pod.id,
    clusterid: (await admin.ok('addCluster', { zoneid: zone.id, podid: (await admin.ok('listPods', { zoneid: zone.id })).pod[0].id, clustername: 'c', clustertype: 'CloudManaged', hypervisor: 'Simulator' })).cluster[0].id,
    url: 'agent://mh1', hypervisor: 'Simulator' });
  const after = await scrape(url);
  t.is(value(after, 'flotilla_api_requests_total', { command: 'listZones', code: '200' }), n0 + 2);
  t.is(value(after, 'flotilla_api_request_duration_seconds', { command: 'listZones' }), h0 + 3, 'the histogram counts the 431 too');
  t.is(value(after, 'flotilla_api_requests_total', { command: 'listZones', code: '431' }), 1);
  t.is(value(after, 'flotilla_api_requests_total', { command: 'unknown', code: '432' }), 1, 'unknown command names share one label');
  t.is(value(after, 'flotilla_jobs', { state: 'succeeded', command: 'createPhysicalNetwork' }), 1);
  t.is(value(after, 'flotilla_job_duration_seconds', { command: 'createPhysicalNetwork', result: 'succeeded' }), 1);
  // The host is known, its agent never connected: not connected, no heartbeat yet.
  t.is(value(after, 'flotilla_host_state', { zone: 'mz', host: 'mh1', state: 'Connecting' }), 1);
  t.is(value(after, 'flotilla_agent_connected', { zone: 'mz', host: 'mh1' }), 0);
  t.is(value(after, 'flotilla_agent_last_heartbeat_timestamp_seconds', { zone: 'mz', host: 'mh1' }), undefined);
  t.true((value(after, 'flotilla_manager_process_resident_memory_bytes', {}) ?? 0) > 1e6, 'process metrics are there');
});

test('with FLOTILLA_METRICS_TOKEN a bearer token is required (loopback too); without it only loopback clients may scrape', async (t) => {
  const { db } = await freshDatabase(t, 'pglite');
  const m = await createManager({
    settings: { port: 0, host: '0.0.0.0', dataDir: '', sessionTimeout: 1800, jobDelayMs: 0 },
    db, memory: true, adminPassword: ADMIN_PASSWORD, log: createLogger('silent'), env: { FLOTILLA_METRICS_TOKEN: 'scrape-me-0123456789' },
  });
  t.teardown(() => m.close());
  await m.app.listen({ port: 0, host: '127.0.0.1' });
  const addr = m.app.server.address();
  const url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  t.is((await fetch(`${url}/metrics`)).status, 401);
  t.is((await fetch(`${url}/metrics`, { headers: { authorization: 'Bearer scrape-me-012345678X' } })).status, 401);
  t.true((await scrape(url, { authorization: 'Bearer scrape-me-0123456789' })).length > 10);

  // No token: a client connecting from a non-loopback address of this machine is refused.
  const { db: db2 } = await freshDatabase(t, 'pglite');
  const open = await createManager({
    settings: { port: 0, host: '0.0.0.0', dataDir: '', sessionTimeout: 1800, jobDelayMs: 0 },
    db: db2, memory: true, adminPassword: ADMIN_PASSWORD, log: createLogger('silent'), env: {},
  });
  t.teardown(() => open.close());
  await open.app.listen({ port: 0, host: '0.0.0.0' });
  const a2 = open.app.server.address();
  const port = typeof a2 === 'object' && a2 ? a2.port : 0;
  t.true((await scrape(`http://127.0.0.1:${port}`)).length > 10, 'loopback may scrape');
  const own = Object.values(networkInterfaces()).flat().find((i) => i && i.family === 'IPv4' && !i.internal);
  if (!own) { t.fail('this test needs a non-loopback IPv4 address on the machine'); return; }
  const r = await fetch(`http://${own.address}:${port}/metrics`);
  t.is(r.status, 403, `a client from ${own.address}`);
  t.regex(await r.text(), /FLOTILLA_METRICS_TOKEN/);
});
