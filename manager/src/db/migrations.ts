// Versioned schema migrations, applied in id order, each in its own transaction, recorded in
// schema_migrations. Never edit a migration that has shipped: add the next one. The core
// tables are here; every area brings its own migrations in its area.ts (../areas), with an id
// that orders it after the tables it references.
import type { Database } from './sql.ts';
import { AREAS } from '../areas/index.ts';

export interface Migration { readonly id: number; readonly name: string; readonly sql: string }

const CORE: Migration = {
  id: 1, name: 'accounts, jobs, events, configuration',
  sql: `
CREATE TABLE domains (
  id uuid PRIMARY KEY,
  name text NOT NULL,
  path text NOT NULL UNIQUE,            -- 'ROOT', 'ROOT/child', …
  parent_id uuid REFERENCES domains(id),
  level integer NOT NULL,
  network_domain text,
  state text NOT NULL DEFAULT 'Active',
  created timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE accounts (
  id uuid PRIMARY KEY,
  name text NOT NULL,
  domain_id uuid NOT NULL REFERENCES domains(id),
  type integer NOT NULL,                -- 0 user, 1 root admin, 2 domain admin
  state text NOT NULL DEFAULT 'enabled',-- enabled | disabled | locked
  network_domain text,
  created timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX accounts_name ON accounts (domain_id, lower(name));
CREATE TABLE users (
  id uuid PRIMARY KEY,
  account_id uuid NOT NULL REFERENCES accounts(id),
  domain_id uuid NOT NULL REFERENCES domains(id),
  username text NOT NULL,
  password_hash text NOT NULL,
  firstname text, lastname text, email text, timezone text,
  state text NOT NULL DEFAULT 'enabled',
  api_key text UNIQUE,
  secret_key_enc text,
  is_default boolean NOT NULL DEFAULT false,
  created timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_username ON users (domain_id, username);
CREATE TABLE sessions (
  key text PRIMARY KEY,
  user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  created timestamptz NOT NULL DEFAULT now(),
  expires timestamptz NOT NULL
);
CREATE TABLE events (
  id uuid PRIMARY KEY,
  type text NOT NULL,
  level text NOT NULL DEFAULT 'INFO',
  state text NOT NULL DEFAULT 'Completed',
  description text NOT NULL,
  command text,
  params jsonb,
  result text NOT NULL,                 -- SUCCESS | FAILURE
  errortext text,
  user_id uuid, username text,
  account_id uuid, account_name text,
  domain_id uuid,
  resource_id text, resource_type text,
  created timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX events_created ON events (created);
CREATE TABLE async_jobs (
  id uuid PRIMARY KEY,
  user_id uuid NOT NULL, account_id uuid NOT NULL, domain_id uuid NOT NULL,
  command text NOT NULL,
  params jsonb NOT NULL,
  instance_type text, instance_id text,
  status integer NOT NULL DEFAULT 0,    -- 0 pending, 1 succeeded, 2 failed
  proc_status integer NOT NULL DEFAULT 0,
  result_code integer NOT NULL DEFAULT 0,
  result jsonb,
  owner text,                           -- the manager run executing it
  attempts integer NOT NULL DEFAULT 0,
  created timestamptz NOT NULL DEFAULT now(),
  completed timestamptz
);
CREATE INDEX async_jobs_pending ON async_jobs (status) WHERE status = 0;
CREATE TABLE configurations (
  name text PRIMARY KEY,
  category text NOT NULL,
  value text,
  default_value text,
  description text NOT NULL,
  type text NOT NULL DEFAULT 'String',
  is_dynamic boolean NOT NULL DEFAULT true
);
CREATE TABLE secrets (
  name text PRIMARY KEY,
  value text NOT NULL
);
`,
};

/** Every migration, in id order; two with one id are a mistake caught at start. */
export const MIGRATIONS: readonly Migration[] = (() => {
  const all = [CORE, ...AREAS.flatMap((a) => a.migrations ?? [])].sort((a, b) => a.id - b.id);
  for (let i = 1; i < all.length; i++) if (all[i]!.id === all[i - 1]!.id) throw new Error(`two migrations have id ${all[i]!.id}: ${all[i - 1]!.name}; ${all[i]!.name}`);
  return all;
})();

export async function migrate(db: Database): Promise<number[]> {
  await db.query(`CREATE TABLE IF NOT EXISTS schema_migrations (id integer PRIMARY KEY, name text NOT NULL, applied timestamptz NOT NULL DEFAULT now())`);
  const applied = new Set((await db.query<{ id: number }>('SELECT id FROM schema_migrations')).map((r) => r.id));
  const ran: number[] = [];
  for (const m of MIGRATIONS) {
    if (applied.has(m.id)) continue;
    await db.tx(async (sql) => {
      // Two managers starting at once on one PostgreSQL: the second waits, then sees it done.
      await sql.query('SELECT pg_advisory_xact_lock(726354)');
      const again = await sql.query('SELECT 1 FROM schema_migrations WHERE id = $1', [m.id]);
      if (again.length) return;
      for (const stmt of splitStatements(m.sql)) await sql.query(stmt);
      await sql.query('INSERT INTO schema_migrations (id, name) VALUES ($1, $2)', [m.id, m.name]);
      ran.push(m.id);
    });
  }
  return ran;
}

/** Our migrations contain no semicolons inside strings or bodies, so a plain split is exact. */
function splitStatements(sqlText: string): string[] {
  return sqlText.split(';').map((s) => s.replace(/--.*$/gm, '').trim()).filter((s) => s.length > 0);
}
