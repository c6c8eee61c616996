// Versioned schema migrations, applied in order, each in its own transaction, recorded in
// schema_migrations. Never edit a migration that has shipped: add the next one.
import type { Database } from './sql.ts';
import { INFRA_MIGRATION } from '../commands/infra/schema.ts';
import { OFFERINGS_MIGRATION } from '../commands/offerings/schema.ts';
import { COMPUTE_MIGRATION, VM_RECOVER_MIGRATION } from '../commands/compute/schema.ts';
import { L2_NETWORKS_MIGRATION } from '../commands/compute/schema.ts';
import { PROJECTS_MIGRATION } from '../commands/projects/schema.ts';
import { DEDICATION_MIGRATION } from '../commands/dedication/schema.ts';
import { REGIONS_MIGRATION } from '../commands/regions/schema.ts';
import { LIMITS_MIGRATION } from '../commands/limits/schema.ts';
import { NETWORK_MIGRATION, NETWORK_RELATED_RULES_MIGRATION } from '../commands/network/schema.ts';
import { SSH_KEY_INDEX_MIGRATION, SSH_MIGRATION } from '../commands/ssh/schema.ts';
import { ROLES_MIGRATION } from '../commands/roles/schema.ts';
import { SESSION_GUARDS_MIGRATION } from '../commands/accounts/schema.ts';
import { VPN_MIGRATION } from '../commands/vpn/schema.ts';
import { TAGS_MIGRATION } from '../commands/tags/schema.ts';
import { VOLUMES_MIGRATION } from '../commands/volumes/schema.ts';
import { LIST_INDEX_MIGRATION } from '../api/list-indexes.ts';
import { LB_MIGRATION } from '../commands/lb/schema.ts';
import { SYSTEM_VMS_MIGRATION } from '../systemvm/schema.ts';
import { AGENT_EPOCH_MIGRATION } from '../agents/schema.ts';
import { STORAGE_MIGRATION } from '../commands/storage/schema.ts';

export interface Migration { readonly id: number; readonly name: string; readonly sql: string }

export const MIGRATIONS: readonly Migration[] = [
  {
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
  },
  INFRA_MIGRATION,
  OFFERINGS_MIGRATION,
  COMPUTE_MIGRATION,
  NETWORK_MIGRATION,
  SSH_MIGRATION,
  SSH_KEY_INDEX_MIGRATION,
  ROLES_MIGRATION,
  SESSION_GUARDS_MIGRATION,
  VPN_MIGRATION,
  NETWORK_RELATED_RULES_MIGRATION,
  TAGS_MIGRATION,
  VOLUMES_MIGRATION,
  VM_RECOVER_MIGRATION,
  LIST_INDEX_MIGRATION,
  LB_MIGRATION,
  SYSTEM_VMS_MIGRATION,
  AGENT_EPOCH_MIGRATION,
  STORAGE_MIGRATION,
  L2_NETWORKS_MIGRATION,
  PROJECTS_MIGRATION,
  DEDICATION_MIGRATION,
  REGIONS_MIGRATION,
  LIMITS_MIGRATION,
];

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
