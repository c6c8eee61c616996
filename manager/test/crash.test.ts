// kill -9 the manager while an async job runs; after a restart the job ends (it is re-run,
// since nothing of it was committed) — never pending forever. Runs the real entry point.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eachDialect, freshDatabase, loginSession } from './helpers.ts';

const MAIN = new URL('../src/main.ts', import.meta.url).pathname;

function startMain(env: Record<string, string>): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN], {
    env: { ...process.env, PORT: '0', FLOTILLA_LISTEN: '127.0.0.1', FLOTILLA_LOG_LEVEL: 'warn', FLOTILLA_LOCAL_CLOUD: 'off', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`manager did not start: ${out}`)), 180_000);
    child.stdout!.on('data', (b) => {
      out += b;
      const m = /listening on (http:\/\/localhost:\d+)/.exec(out);
      if (m) { clearTimeout(timer); resolve({ child, url: m[1]!.replace('localhost', '127.0.0.1') }); }
    });
    child.stderr!.on('data', (b) => { out += b; });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`manager exited (${code}): ${out}`)); });
  });
}

async function call(url: string, session: { sessionkey: string; cookie: string }, params: Record<string, string>): Promise<any> {
  const res = await fetch(`${url}/client/api?${new URLSearchParams({ ...params, response: 'json', sessionkey: session.sessionkey })}`, { headers: { cookie: session.cookie } });
  const json = await res.json() as Record<string, any>;
  return json[Object.keys(json)[0]!];
}

eachDialect('a job interrupted by kill -9 finishes after the manager restarts', async (t, dialect) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'flt-crash-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const env: Record<string, string> = { FLOTILLA_DATA_DIR: dataDir, FLOTILLA_ADMIN_PASSWORD: 'crash-pw' };
  if (dialect === 'postgres') {
    const { db, url } = await freshDatabase(t, 'postgres');
    await db.close();
    env.DATABASE_URL = url!;
  }
  let running: ChildProcess | undefined;
  t.teardown(() => { if (running?.exitCode === null) running.kill('SIGKILL'); });

  const first = await startMain({ ...env, FLOTILLA_JOB_DELAY_MS: '4000' });
  running = first.child;
  const s1 = await loginSession(first.url, 'admin', 'crash-pw');
  const dom = (await call(first.url, s1, { command: 'createDomain', name: 'doomed' })).domain;
  const started = await call(first.url, s1, { command: 'deleteDomain', id: dom.id });
  t.truthy(started.jobid);
  t.is((await call(first.url, s1, { command: 'queryAsyncJobResult', jobid: started.jobid })).jobstatus, 0);
  first.child.kill('SIGKILL');
  await new Promise((r) => first.child.once('exit', r));

  const second = await startMain(env);
  running = second.child;
  const s2 = await loginSession(second.url, 'admin', 'crash-pw');
  let job: any;
  for (let i = 0; i < 300; i++) {
    job = await call(second.url, s2, { command: 'queryAsyncJobResult', jobid: started.jobid });
    if (job.jobstatus !== 0) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  t.is(job.jobstatus, 1, JSON.stringify(job));
  t.deepEqual(job.jobresult, { success: true });
  const left = await call(second.url, s2, { command: 'listDomains', listall: 'true', name: 'doomed' });
  t.deepEqual(left, {});
  second.child.kill('SIGTERM');
  await new Promise((r) => second.child.once('exit', r));
});
