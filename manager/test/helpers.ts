// Test kit for the manager: every DB-backed test runs on embedded PGlite AND, when
// FLOTILLA_TEST_PG_URL names a server (CI starts one), on a fresh database of a real
// PostgreSQL. Requests go over real HTTP on loopback, signed like a CloudStack client.
import test, { type ExecutionContext } from 'ava';
import { createHmac, randomBytes } from 'node:crypto';
import pg from 'pg';
import { createManager, type Manager } from '../src/app.ts';
import { openDatabase } from '../src/db/index.ts';
import { javaUrlEncode } from '../src/api/signing.ts';
import type { Database } from '../src/db/sql.ts';
import { createLogger } from '../src/log.ts';

export type Dialect = 'pglite' | 'postgres';
export const PG_URL = process.env.FLOTILLA_TEST_PG_URL;
export const DIALECTS: Dialect[] = PG_URL ? ['pglite', 'postgres'] : ['pglite'];
if (!PG_URL && process.env.CI === 'true') throw new Error('CI must set FLOTILLA_TEST_PG_URL so database tests also run on PostgreSQL');

export const ADMIN_PASSWORD = 'admin-password-1';

/** A fresh, empty database of the given dialect, dropped when the test ends. */
export async function freshDatabase(t: { teardown(fn: () => unknown): void }, dialect: Dialect): Promise<{ db: Database; url?: string }> {
  if (dialect === 'pglite') return { db: await openDatabase({ memory: true }) };
  const name = `flt_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const u = new URL(PG_URL!);
  u.pathname = `/${name}`;
  const db = await openDatabase({ url: u.toString() });
  t.teardown(async () => {
    await db.close().catch(() => undefined);
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => undefined);
    await c.end();
  });
  return { db, url: u.toString() };
}

export interface Api {
  /** signed call; resolves with HTTP status and the parsed inner object */
  call(command: string, params?: Record<string, string | number | boolean>): Promise<{ status: number; body: Record<string, any> }>;
  /** like call but asserts success and returns the inner object */
  ok(command: string, params?: Record<string, string | number | boolean>): Promise<Record<string, any>>;
  /** calls an async command and waits for its job; returns the job result object */
  job(command: string, params?: Record<string, string | number | boolean>): Promise<Record<string, any>>;
  apiKey: string;
  secretKey: string;
}

export interface TestManager { m: Manager; url: string; admin: Api; db: Database; dialect: Dialect }

export function signedClient(url: string, apiKey: string, secretKey: string): Api {
  const api: Api = {
    apiKey, secretKey,
    async call(command, params = {}) {
      const all: Record<string, string> = { command, response: 'json', apiKey };
      for (const [k, v] of Object.entries(params)) all[k] = String(v);
      const canon = Object.keys(all).sort().map((k) => `${k}=${javaUrlEncode(all[k]!)}`).join('&').toLowerCase();
      all.signature = createHmac('sha1', secretKey).update(canon).digest('base64');
      const res = await fetch(`${url}/client/api`, { method: 'POST', body: new URLSearchParams(all) });
      const json = await res.json() as Record<string, any>;
      const key = Object.keys(json)[0]!;
      return { status: res.status, body: json[key] };
    },
    async ok(command, params) {
      const r = await api.call(command, params);
      if (r.status !== 200) throw new Error(`${command} failed (${r.status}): ${JSON.stringify(r.body)}`);
      return r.body;
    },
    async job(command, params) {
      const r = await api.ok(command, params);
      const jobid = r.jobid as string;
      if (!jobid) throw new Error(`${command} is not async: ${JSON.stringify(r)}`);
      for (let i = 0; i < 600; i++) {
        const q = await api.ok('queryAsyncJobResult', { jobid });
        if (q.jobstatus !== 0) return q;
        await new Promise((res) => setTimeout(res, 20));
      }
      throw new Error(`job ${jobid} of ${command} did not finish`);
    },
  };
  return api;
}

/** Logs in with a password and returns the session key (and cookies) — for session tests. */
export async function loginSession(url: string, username: string, password: string, domain = '/'): Promise<{ sessionkey: string; cookie: string; status: number; body: any }> {
  const res = await fetch(`${url}/client/api`, { method: 'POST', body: new URLSearchParams({ command: 'login', username, password, domain, response: 'json' }) });
  const body = (await res.json() as any).loginresponse;
  const cookie = (res.headers.getSetCookie?.() ?? []).map((c) => c.split(';')[0]).join('; ');
  return { sessionkey: body?.sessionkey, cookie, status: res.status, body };
}

/** A manager on a fresh database, listening on loopback, with admin API keys registered. */
export async function startManager(t: ExecutionContext, dialect: Dialect, env: Record<string, string> = {}, db?: Database): Promise<TestManager> {
  const fresh = db ? { db } : await freshDatabase(t, dialect);
  const m = await createManager({
    settings: { port: 0, host: '127.0.0.1', dataDir: '', sessionTimeout: 1800, jobDelayMs: Number(env.FLOTILLA_JOB_DELAY_MS ?? 0) },
    db: fresh.db, memory: true, adminPassword: ADMIN_PASSWORD, log: createLogger('silent'), env: {},
  });
  t.teardown(() => m.close());
  await m.app.listen({ port: 0, host: '127.0.0.1' });
  const addr = m.app.server.address();
  const url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  const s = await loginSession(url, 'admin', ADMIN_PASSWORD);
  const users = await (await fetch(`${url}/client/api?command=listUsers&response=json&username=admin&sessionkey=${encodeURIComponent(s.sessionkey)}`, { headers: { cookie: s.cookie } })).json() as any;
  const adminId = users.listusersresponse.user[0].id;
  const keys = await (await fetch(`${url}/client/api?command=registerUserKeys&response=json&id=${adminId}&sessionkey=${encodeURIComponent(s.sessionkey)}`, { headers: { cookie: s.cookie } })).json() as any;
  const admin = signedClient(url, keys.registeruserkeysresponse.userkeys.apikey, keys.registeruserkeysresponse.userkeys.secretkey);
  return { m, url, admin, db: fresh.db, dialect };
}

/** Registers `title` once per dialect: "title [pglite]", "title [postgres]". */
export function eachDialect(title: string, fn: (t: ExecutionContext, dialect: Dialect) => Promise<void>): void {
  for (const d of DIALECTS) test(`${title} [${d}]`, (t) => fn(t, d));
}

/** Creates an account with a user and API keys; returns its signed client and ids. */
export async function makeAccount(admin: Api, url: string, o: { name: string; type?: number; domainid?: string }): Promise<{ api: Api; accountId: string; userId: string; domainId: string }> {
  const acc = (await admin.ok('createAccount', {
    username: o.name, account: o.name, password: `pw-${o.name}`, email: `${o.name}@example.org`, firstname: o.name, lastname: 'Test',
    accounttype: o.type ?? 0, ...(o.domainid ? { domainid: o.domainid } : {}),
  })).account;
  const userId = acc.user[0].id;
  const keys = (await admin.ok('registerUserKeys', { id: userId })).userkeys;
  return { api: signedClient(url, keys.apikey, keys.secretkey), accountId: acc.id, userId, domainId: acc.domainid };
}

export { createLogger };
