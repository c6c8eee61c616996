// What keeps an infra object alive beyond this area's own tables. Later areas (guest networks,
// public IP addresses, routers) register a check here instead of this area guessing at their
// tables: each returns why the object is in use, or undefined. Deletes run every check first
// and answer 536 with the first reason found.
import type { Sql } from '../../db/sql.ts';

export type UsageCheck = (sql: Sql, id: string) => Promise<string | undefined>;

export const USAGE_CHECKS: { zone: UsageCheck[]; physicalNetwork: UsageCheck[]; vlanIpRange: UsageCheck[] } = {
  zone: [],
  physicalNetwork: [],
  vlanIpRange: [],
};

export async function firstUse(checks: readonly UsageCheck[], sql: Sql, id: string): Promise<string | undefined> {
  for (const c of checks) {
    const why = await c(sql, id);
    if (why) return why;
  }
  return undefined;
}
