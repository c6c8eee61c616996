// Default data every cloud starts with, run idempotently at every start: each area's seeder
// (declared in its area.ts).
import type { Sql } from './db/sql.ts';
import { AREAS } from './areas/index.ts';

export type { Seeder } from './areas/index.ts';

export async function seedDefaults(sql: Sql): Promise<void> {
  for (const a of AREAS) if (a.seed) await a.seed(sql);
}
