// Default data every cloud starts with, run idempotently at every start: each area's seeder.
import type { Sql } from './db/sql.ts';
import { seed as infra } from './commands/infra/index.ts';
import { seed as offerings } from './commands/offerings/index.ts';
import { seed as compute } from './commands/compute/index.ts';
import { seed as network } from './commands/network/index.ts';
import { seed as volumes } from './commands/volumes/index.ts';

export type Seeder = (sql: Sql) => Promise<void>;

export async function seedDefaults(sql: Sql): Promise<void> {
  for (const s of [infra, offerings, compute, network, volumes]) await s(sql);
}
