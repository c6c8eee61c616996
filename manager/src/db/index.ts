import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { migrate } from './migrations.ts';
import { openPglite } from './pglite.ts';
import { openPostgres } from './postgres.ts';
import type { Database } from './sql.ts';

export type { Database, Sql } from './sql.ts';

/** `postgres://…` opens a real server; otherwise embedded PGlite in `<dataDir>/db` (or memory). */
export async function openDatabase(opts: { url?: string; dataDir?: string; memory?: boolean }): Promise<Database> {
  let db: Database;
  if (opts.url && /^postgres(ql)?:\/\//.test(opts.url)) db = await openPostgres(opts.url);
  else if (opts.memory || !opts.dataDir) db = await openPglite();
  else {
    mkdirSync(opts.dataDir, { recursive: true });
    db = await openPglite(join(opts.dataDir, 'db'));
  }
  await migrate(db);
  return db;
}
