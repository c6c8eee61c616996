// Finding offerings a command names, who may see them, and what still uses them.
import type { Caller } from '../../api/context.ts';
import { apiError, paramError } from '../../api/errors.ts';
import type { Sql, Where } from '../../db/sql.ts';
import type { NetworkOfferingRow, ServiceOfferingRow } from './views.ts';

export async function networkOfferingById(sql: Sql, id: string): Promise<NetworkOfferingRow> {
  const r = (await sql.query<NetworkOfferingRow>('SELECT * FROM network_offerings WHERE id = $1', [id]))[0];
  if (!r) throw paramError(`unable to find network offering ${id}`);
  return r;
}

export async function serviceOfferingById(sql: Sql, id: string, what = 'service offering'): Promise<ServiceOfferingRow> {
  const r = (await sql.query<ServiceOfferingRow>('SELECT * FROM service_offerings WHERE id = $1', [id]))[0];
  if (!r) throw paramError(`unable to find ${what} ${id}`);
  return r;
}

/**
 * Offerings dedicated to domains are visible in those domains' subtrees (CloudStack's
 * domainIdListContainsAccessibleDomain); public ones (no domains) everywhere. `path` is the
 * domain the listing is for: the caller's, or the `domainid` asked about.
 */
export function addDomainVisibility(w: Where, col: string, path: string): Where {
  return w.add(`(${col} IS NULL OR EXISTS (SELECT 1 FROM domains vd WHERE vd.id::text = ANY(${col}) AND (vd.path = ? OR starts_with(?, vd.path || '/'))))`, path, path);
}

/** Domain ids named by a create/update, checked to exist; `what` completes CloudStack's message. */
export async function checkDomainIds(sql: Sql, ids: readonly string[]): Promise<void> {
  const found = await sql.query<{ id: string }>('SELECT id::text AS id FROM domains WHERE id::text = ANY($1::text[])', [[...ids]]);
  if (found.length !== new Set(ids).size) throw paramError('Please specify a valid domain id');
}

export async function checkZoneIds(sql: Sql, ids: readonly string[]): Promise<void> {
  const found = await sql.query<{ id: string }>('SELECT id::text AS id FROM zones WHERE id::text = ANY($1::text[])', [[...ids]]);
  if (found.length !== new Set(ids).size) throw paramError('Please specify a valid zone id');
}

/**
 * Tables that refer to an offering, as data. A referrer table that another area has not
 * created yet (networks, routers, VMs) is skipped, so the check starts working the day it does.
 * Table and column names come from this file only, never from a request.
 */
export interface Referrer { readonly table: string; readonly column: string; readonly what: string }

export const NETWORK_OFFERING_REFERRERS: readonly Referrer[] = [
  { table: 'networks', column: 'network_offering_id', what: 'networks' },
];

export const SERVICE_OFFERING_REFERRERS: readonly Referrer[] = [
  { table: 'network_offerings', column: 'service_offering_id', what: 'network offerings' },
  { table: 'routers', column: 'service_offering_id', what: 'virtual routers' },
  { table: 'vm_instances', column: 'service_offering_id', what: 'virtual machines' },
];

/** The first referrer still using `id`, with how many rows. */
export async function firstUse(sql: Sql, refs: readonly Referrer[], id: string): Promise<{ what: string; count: number } | undefined> {
  for (const r of refs) {
    const exists = await sql.query(
      `SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1 AND column_name = $2`, [r.table, r.column]);
    if (!exists.length) continue;
    const n = (await sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${r.table} WHERE ${r.column}::text = $1`, [id]))[0]!.n;
    if (n > 0) return { what: r.what, count: n };
  }
  return undefined;
}

/** Only root admins may see system offerings (CloudStack's message). */
export function assertMaySeeSystem(caller: Caller): void {
  if (caller.role !== 'Admin') throw paramError("Only ROOT admins can access system's offering");
}

export const inUse = (text: string, id: string) => apiError('RESOURCE_IN_USE', text, [id]);
