// Default data every cloud starts with. Other areas add their defaults to SEEDERS.
import type { Sql } from './db/sql.ts';

export type Seeder = (sql: Sql) => Promise<void>;
export const SEEDERS: Seeder[] = [];

export async function seedDefaults(sql: Sql): Promise<void> {
  for (const s of SEEDERS) await s(sql);
}
