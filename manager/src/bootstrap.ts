// First-start seeding, idempotent: the ROOT domain, the `admin` root-admin account and user,
// the default configuration values, CloudStack's default offerings.
import { randomBytes, randomUUID } from 'node:crypto';
import type { Database } from './db/sql.ts';
import { hashPassword } from './api/crypto.ts';
import { seedDefaults } from './seed.ts';

export interface BootstrapResult { generatedAdminPassword?: string }

export async function bootstrap(db: Database, adminPassword: string | undefined): Promise<BootstrapResult> {
  const out: BootstrapResult = {};
  await db.tx(async (sql) => {
    await sql.query('SELECT pg_advisory_xact_lock(726355)');
    const root = (await sql.query<{ id: string }>(`SELECT id FROM domains WHERE path = 'ROOT'`))[0];
    if (!root) {
      const domainId = randomUUID();
      await sql.query(`INSERT INTO domains (id, name, path, level) VALUES ($1, 'ROOT', 'ROOT', 0)`, [domainId]);
      const accountId = randomUUID();
      await sql.query(`INSERT INTO accounts (id, name, domain_id, type) VALUES ($1, 'admin', $2, 1)`, [accountId, domainId]);
      const password = adminPassword ?? randomBytes(12).toString('base64url');
      if (!adminPassword) out.generatedAdminPassword = password;
      await sql.query(
        `INSERT INTO users (id, account_id, domain_id, username, password_hash, firstname, lastname, is_default)
         VALUES ($1, $2, $3, 'admin', $4, 'Admin', 'User', true)`, [randomUUID(), accountId, domainId, await hashPassword(password)]);
    }
    await seedDefaults(sql);
  });
  return out;
}
