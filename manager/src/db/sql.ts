// The database seam. The core speaks this small interface; the driver (embedded PGlite or a
// real PostgreSQL through `pg`) is injected, never imported by commands. Every DB test runs on
// both drivers, so SQL stays within what both accept (they are the same PostgreSQL dialect).

export interface Sql {
  query<R = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<R[]>;
}

export interface Database extends Sql {
  readonly dialect: 'pglite' | 'postgres';
  /** Runs fn in one transaction: everything it did is committed together or not at all. */
  tx<T>(fn: (sql: Sql) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** The first row, or undefined. */
export async function maybeOne<R>(sql: Sql, text: string, params?: readonly unknown[]): Promise<R | undefined> {
  const rows = await sql.query<R>(text, params);
  return rows[0];
}

/** Builds `col1 = $n AND …` from optional filters, skipping undefined ones. */
export class Where {
  readonly clauses: string[] = [];
  readonly params: unknown[] = [];
  constructor(startParams: unknown[] = []) { this.params.push(...startParams); }
  /** Adds a clause with `?` placeholders, unless every value is undefined. */
  add(clause: string, ...values: unknown[]): this {
    if (values.length > 0 && values.every((v) => v === undefined)) return this;
    let text = clause;
    for (const v of values) { this.params.push(v); text = text.replace('?', `$${this.params.length}`); }
    this.clauses.push(text);
    return this;
  }
  /** Case-insensitive substring search over columns (CloudStack's `keyword`). */
  keyword(keyword: string | undefined, ...cols: string[]): this {
    if (keyword === undefined || keyword === '') return this;
    this.params.push(keyword.toLowerCase());
    const n = this.params.length;
    this.clauses.push(`(${cols.map((c) => `strpos(lower(coalesce(${c}, '')), $${n}) > 0`).join(' OR ')})`);
    return this;
  }
  toString(): string { return this.clauses.length ? `WHERE ${this.clauses.join(' AND ')}` : ''; }
}
