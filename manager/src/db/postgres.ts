import pg from 'pg';
import type { Database, Sql } from './sql.ts';

// int8 (count(*), sums) as JS numbers: our values stay far below 2^53, and PGlite does the same.
pg.types.setTypeParser(20, (v) => Number(v));

/** A real PostgreSQL server through a `pg` pool. */
export async function openPostgres(url: string): Promise<Database> {
  const pool = new pg.Pool({ connectionString: url, max: 10 });
  // An idle pooled connection the server ends (a restart, pg_terminate_backend, DROP DATABASE
  // … FORCE) makes the pool emit 'error'; unhandled, that event would crash the process. The
  // pool has already dropped that client; the next query opens a fresh connection and reports
  // its own error if the server is really gone.
  pool.on('error', () => undefined);
  await pool.query('SELECT 1');
  const asSql = (c: pg.Pool | pg.PoolClient): Sql => ({
    async query<R>(text: string, params?: readonly unknown[]) {
      const r = await c.query(text, params ? [...params] : undefined);
      return r.rows as R[];
    },
  });
  return {
    dialect: 'postgres',
    ...asSql(pool),
    async tx(fn) {
      const client = await pool.connect();
      // The server ending this connection between two statements emits 'error' on the client
      // (not on the pool): without a listener that is an uncaught exception; the next statement
      // fails and the transaction is rolled back.
      const onError = () => undefined;
      client.on('error', onError);
      try {
        await client.query('BEGIN');
        const out = await fn(asSql(client));
        await client.query('COMMIT');
        return out;
      } catch (e) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw e;
      } finally {
        client.off('error', onError);
        client.release();
      }
    },
    close: () => pool.end(),
  };
}
