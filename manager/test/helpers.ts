// Test kit for the manager: every DB-backed test runs on embedded PGlite AND, when
// FLOTILLA_TEST_PG_URL names a server (CI starts one), on a fresh database of a real
// PostgreSQL. Requests go over real HTTP on loopback, signed like a CloudStack client.
import test, { type ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createManager, type Manager } from '../src/app.ts';
import { openDatabase } from '../src/db/index.ts';
import { keysFor, login, signedClient, type Api } from '../src/client.ts';
import type { Database, Sql } from '../src/db/sql.ts';
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

export interface TestManager { m: Manager; url: string; admin: Api; db: Database; dialect: Dialect }

/** Logs in with a password and returns the session key (and cookies) — for session tests. */
export const loginSession = login;

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
  const admin = await keysFor(url, 'admin', ADMIN_PASSWORD);
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

export { createLogger, signedClient, type Api };

/** A database whose next statement matching a pattern fails (once per arm), inside transactions too. */
export function faulty(db: Database) {
  const armed: Array<{ re: RegExp; left: number }> = [];
  const check = (text: string) => {
    const f = armed.find((a) => a.left > 0 && a.re.test(text));
    if (f) { f.left--; throw new Error(`injected fault at ${f.re.source}`); }
  };
  const wrap = (sql: Sql): Sql => ({ query: async (text, params) => { check(text); return sql.query(text, params); } });
  const out: Database & { arm(re: RegExp): void; pending(): number } = {
    dialect: db.dialect,
    query: async (text, params) => { check(text); return db.query(text, params); },
    tx: (fn) => db.tx((sql) => fn(wrap(sql))),
    close: () => db.close(),
    arm: (re) => { armed.push({ re, left: 1 }); },
    pending: () => armed.filter((a) => a.left > 0).length,
  };
  return out;
}
