// What an account owns, counted per resource type the way CloudStack's resource counts name them,
// and its limits (updateResourceLimit; none set is CloudStack's 'Unlimited', and so is what is
// available under it). Used by the account and project
// views (CloudStack's AccountResponse and ProjectResponse carry the same fields).
import type { Sql } from '../../db/sql.ts';
import { limitsOf } from '../limits/limits.ts';

export const LIMITED = ['vm', 'ip', 'volume', 'snapshot', 'template', 'project', 'network', 'vpc', 'cpu', 'memory', 'primarystorage', 'secondarystorage'] as const;
/** The totals Flotilla counts; cpu, memory and storage totals are left out (null, omitted) until they are accounted. */
export const COUNTED = ['vm', 'ip', 'volume', 'snapshot', 'template', 'project', 'network', 'vpc'] as const;

export interface Usage { fields: Record<string, unknown>; vmrunning: number; vmstopped: number }

export async function accountUsage(sql: Sql, accountIds: readonly string[]): Promise<Map<string, Usage>> {
  const count = async (q: string) => new Map((await sql.query<{ account_id: string; n: number }>(q, [accountIds])).map((r) => [r.account_id, Number(r.n)]));
  const [vms, running, nets, ips, vols, templates, projects] = [
    await count(`SELECT account_id, count(*)::int AS n FROM vm_instances WHERE type = 'User' AND state <> 'Destroyed' AND account_id = ANY($1::uuid[]) GROUP BY account_id`),
    await count(`SELECT account_id, count(*)::int AS n FROM vm_instances WHERE type = 'User' AND state = 'Running' AND account_id = ANY($1::uuid[]) GROUP BY account_id`),
    await count(`SELECT account_id, count(*)::int AS n FROM networks WHERE account_id = ANY($1::uuid[]) GROUP BY account_id`),
    await count(`SELECT account_id, count(*)::int AS n FROM public_ip_addresses WHERE account_id = ANY($1::uuid[]) GROUP BY account_id`),
    await count(`SELECT account_id, count(*)::int AS n FROM volumes WHERE account_id = ANY($1::uuid[]) GROUP BY account_id`),
    await count(`SELECT account_id, count(*)::int AS n FROM templates WHERE removed IS NULL AND account_id = ANY($1::uuid[]) GROUP BY account_id`),
    await count(`SELECT account_id, count(*)::int AS n FROM project_accounts WHERE role = 'Admin' AND account_id = ANY($1::uuid[]) GROUP BY account_id`),
  ];
  const limits = await limitsOf(sql, accountIds);
  const typeOf: Record<string, number> = { vm: 0, ip: 1, volume: 2, snapshot: 3, template: 4, project: 5, network: 6, vpc: 7, cpu: 8, memory: 9, primarystorage: 10, secondarystorage: 11 };
  const out = new Map<string, Usage>();
  for (const id of accountIds) {
    // Flotilla has no volume snapshots and no VPCs: those totals are 0.
    const totals: Record<string, number> = { vm: vms.get(id) ?? 0, ip: ips.get(id) ?? 0, volume: vols.get(id) ?? 0, snapshot: 0, template: templates.get(id) ?? 0, project: projects.get(id) ?? 0, network: nets.get(id) ?? 0, vpc: 0 };
    const fields: Record<string, unknown> = {};
    for (const k of LIMITED) {
      const max = limits.get(id)?.get(typeOf[k]!);
      const limited = max !== undefined && max >= 0;
      fields[`${k}limit`] = limited ? String(max) : 'Unlimited';
      fields[`${k}available`] = limited && totals[k] !== undefined ? String(Math.max(0, max - totals[k]!)) : 'Unlimited';
      if ((COUNTED as readonly string[]).includes(k)) fields[`${k}total`] = totals[k];
    }
    out.set(id, { fields, vmrunning: running.get(id) ?? 0, vmstopped: (vms.get(id) ?? 0) - (running.get(id) ?? 0) });
  }
  return out;
}
