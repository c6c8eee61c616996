// Paging of list commands, in SQL. CloudStack's BaseListCmd pages with `page` (from 1) and
// `pagesize` (-1: everything); `count` is the number of matching objects, not of the page. A list
// handler that builds its query with a Where hands it to pagedRows and returns the Page; the
// dispatcher (shapeResult) answers a Page as it is. A handler that returns a plain array is
// still paged in memory by the dispatcher (same answer, every row loaded).
import type { Sql, Where } from '../db/sql.ts';

/** CloudStack's default.page.size: a page asked for without a pagesize has this many items. */
export const DEFAULT_PAGE_SIZE = 500;

export interface PageArgs { readonly page?: number | undefined; readonly pagesize?: number | undefined }

/**
 * Put on a tagged list's arguments by the dispatcher when the request filters by `tags[n]`: a
 * list paged in SQL must filter in SQL too (filtering a page afterwards would break `count` and
 * the pages), so pagedRows adds it to the WHERE, matching the query's primary key (the last
 * term of `orderBy`) against resource_tags. Pairs are ORed, as CloudStack does.
 */
export const TAG_FILTER = Symbol('tag filter');
export interface TagFilter { readonly type: string; readonly pairs: ReadonlyArray<{ key?: string; value?: string }> }

function addTagFilter(a: PageArgs, q: PagedQuery): void {
  const f = (a as { [TAG_FILTER]?: TagFilter })[TAG_FILTER];
  const pairs = f?.pairs.filter((p) => p.key !== undefined) ?? [];
  if (!f || !pairs.length) return;
  const idColumn = q.orderBy.split(',').pop()!.trim().split(/\s+/)[0]!;
  const values: unknown[] = [f.type];
  const conds = pairs.map((p) => {
    values.push(p.key);
    if (p.value === undefined) return '(t.key = ?)';
    values.push(p.value);
    return '(t.key = ? AND t.value = ?)';
  });
  q.where.add(`${idColumn} IN (SELECT t.resource_id FROM resource_tags t WHERE t.resource_type = ? AND (${conds.join(' OR ')}))`, ...values);
}

/** LIMIT/OFFSET of the page the arguments ask for, or undefined for everything. */
export function pageWindow(a: PageArgs): { limit: number; offset: number } | undefined {
  const page = a.page ?? 1;
  // pagesize=-1 or none: everything, unless a page is asked for, which then uses the default size.
  if (a.pagesize === undefined || a.pagesize === -1) return a.page ? { limit: DEFAULT_PAGE_SIZE, offset: (page - 1) * DEFAULT_PAGE_SIZE } : undefined;
  return { limit: a.pagesize, offset: (page - 1) * a.pagesize };
}

/** One page of a list and the number of all matching items. */
export class Page<T> {
  constructor(readonly items: readonly T[], readonly count: number) {}
  map<U>(fn: (item: T) => U): Page<U> { return new Page(this.items.map(fn), this.count); }
  /** For views built from a whole page at once (e.g. one query for the NICs of a page of VMs). */
  async mapAll<U>(fn: (items: readonly T[]) => Promise<U[]>): Promise<Page<U>> { return new Page(await fn(this.items), this.count); }
}

export interface PagedQuery {
  /** SELECT … FROM … (no WHERE) */
  readonly select: string;
  readonly where: Where;
  /** a total order (end with a unique column), so pages neither repeat nor skip rows */
  readonly orderBy: string;
  /**
   * FROM … for counting: the tables the WHERE refers to and no more (the count then skips the
   * joins that only feed the answer's columns). Default: the whole select, as a subquery.
   */
  readonly countFrom?: string;
}

/**
 * The page `a` asks for, filtered, ordered and cut in SQL; its count from the same WHERE. One
 * statement when the page is the last one (its count is known from the rows), two otherwise.
 */
export async function pagedRows<R>(sql: Sql, a: PageArgs, q: PagedQuery): Promise<Page<R>> {
  addTagFilter(a, q);
  const win = pageWindow(a);
  const base = `${q.select} ${q.where} ORDER BY ${q.orderBy}`;
  if (!win) {
    const rows = await sql.query<R>(base, q.where.params);
    return new Page(rows, rows.length);
  }
  const n = q.where.params.length;
  const rows = await sql.query<R>(`${base} LIMIT $${n + 1} OFFSET $${n + 2}`, [...q.where.params, win.limit, win.offset]);
  // A short, non-empty page (or an empty first page) is the last one: the count is known.
  if (rows.length < win.limit && (rows.length > 0 || win.offset === 0)) return new Page(rows, win.offset + rows.length);
  const countSql = q.countFrom ? `SELECT count(*)::int AS n ${q.countFrom} ${q.where}` : `SELECT count(*)::int AS n FROM (${q.select} ${q.where}) x`;
  const [c] = await sql.query<{ n: number }>(countSql, q.where.params);
  return new Page(rows, c!.n);
}
