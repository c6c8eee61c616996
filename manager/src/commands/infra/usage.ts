// What keeps an infra object alive beyond this area's own tables. Each check returns why the
// object is in use, or undefined; deletes run every check first and answer 536 with the
// reasons. Other areas may register more checks (features as data) instead of this area
// guessing at their tables; the ones below cover the guest networks and VMs that exist today.
// As a last line, a delete that still trips a foreign key is answered 536 naming the table
// (never a 530): see `deleting`.
import { apiError } from '../../api/errors.ts';
import type { Sql } from '../../db/sql.ts';

export type UsageCheck = (sql: Sql, id: string) => Promise<string | undefined>;

async function listed(sql: Sql, what: string, text: string, id: string): Promise<string | undefined> {
  const rows = await sql.query<{ label: string }>(text, [id]);
  if (!rows.length) return undefined;
  return `${rows.length} ${what} (${rows.slice(0, 5).map((r) => r.label).join(', ')}${rows.length > 5 ? ', …' : ''})`;
}

/** Runs a check only once the table exists (it belongs to an area whose migration may come later). */
function ifTable(table: string, check: UsageCheck): UsageCheck {
  return async (sql, id) => ((await sql.query<{ t: string | null }>('SELECT to_regclass($1)::text AS t', [table]))[0]?.t ? check(sql, id) : undefined);
}

export const USAGE_CHECKS: { zone: UsageCheck[]; pod: UsageCheck[]; physicalNetwork: UsageCheck[]; vlanIpRange: UsageCheck[] } = {
  zone: [
    (sql, id) => listed(sql, 'network(s)', `SELECT name || ' id ' || id AS label FROM networks WHERE zone_id = $1 ORDER BY created`, id),
    (sql, id) => listed(sql, 'virtual machine(s)', `SELECT name || ' id ' || id AS label FROM vm_instances WHERE zone_id = $1 AND state <> 'Destroyed' ORDER BY created`, id),
  ],
  pod: [
    (sql, id) => listed(sql, 'virtual machine(s)', `SELECT name || ' id ' || id AS label FROM vm_instances WHERE pod_id = $1 AND state <> 'Destroyed' ORDER BY created`, id),
  ],
  physicalNetwork: [
    (sql, id) => listed(sql, 'network(s) associated to this physical network', `SELECT name || ' id ' || id AS label FROM networks WHERE physical_network_id = $1 ORDER BY created`, id),
    ifTable('public_ip_addresses', (sql, id) => listed(sql, 'public IP address(es) allocated from its ranges',
      `SELECT p.address AS label FROM public_ip_addresses p JOIN vlan_ip_ranges r ON r.id = p.vlan_range_id WHERE r.physical_network_id = $1 ORDER BY p.address`, id)),
  ],
  vlanIpRange: [
    ifTable('public_ip_addresses', (sql, id) => listed(sql, 'allocated public IP address(es)', `SELECT address AS label FROM public_ip_addresses WHERE vlan_range_id = $1 ORDER BY address`, id)),
  ],
};

/** Every reason the checks give, in order. */
export async function uses(checks: readonly UsageCheck[], sql: Sql, id: string): Promise<string[]> {
  const out: string[] = [];
  for (const c of checks) {
    const why = await c(sql, id);
    if (why) out.push(why);
  }
  return out;
}

export async function firstUse(checks: readonly UsageCheck[], sql: Sql, id: string): Promise<string | undefined> {
  return (await uses(checks, sql, id))[0];
}

/**
 * Runs a delete; if a row elsewhere still references the object (a foreign key violation,
 * SQLSTATE 23503, from a table no check knows about), answers 536 naming that table.
 */
export async function deleting<T>(what: string, id: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    const err = e as { code?: string; message?: string };
    if (err?.code === '23503') {
      const table = /violates foreign key constraint "[^"]+" on table "([^"]+)"/.exec(err.message ?? '')?.[1] ?? 'another table';
      throw apiError('RESOURCE_IN_USE', `${what} cannot be deleted because rows of ${table} still reference it`, [id]);
    }
    throw e;
  }
}
