import { PGlite } from '@electric-sql/pglite';
import type { Database, Sql } from './sql.ts';

/** Embedded PostgreSQL (PGlite): the default, data kept in a directory (or in memory). */
export async function openPglite(dataDir?: string): Promise<Database> {
  const pg = await PGlite.create(dataDir ? { dataDir } : {});
  // PGlite runs one statement at a time; its transaction() holds an exclusive lock, and plain
  // queries issued meanwhile wait for it, so a transaction's view is never interleaved.
  const asSql = (q: { query: PGlite['query'] }): Sql => ({
    async query<R>(text: string, params?: readonly unknown[]) {
      const r = await q.query<R>(text, params ? [...params] : undefined);
      return r.rows;
    },
  });
  return {
    dialect: 'pglite',
    ...asSql(pg),
    tx: (fn) => pg.transaction((t) => fn(asSql(t as unknown as { query: PGlite['query'] }))),
    close: () => pg.close(),
  };
}
