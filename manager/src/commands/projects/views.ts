// Response objects of the projects area, next to the functions that build them.
import { field as f, type ResponseDef } from '../../api/registry.ts';
import { compact, csDate } from '../../api/serialize.ts';
import type { Sql } from '../../db/sql.ts';
import type { ProjectRow } from './lookup.ts';
import { limitsOf } from '../limits/limits.ts';

const TYPE_OF: Record<string, number> = { vm: 0, ip: 1, volume: 2, snapshot: 3, template: 4, network: 6, vpc: 7, cpu: 8, memory: 9, primarystorage: 10, secondarystorage: 11 };
const LIMITED = ['vm', 'ip', 'volume', 'snapshot', 'template', 'network', 'vpc', 'cpu', 'memory', 'primarystorage', 'secondarystorage'] as const;

export const PROJECT: ResponseDef = {
  name: 'project',
  fields: {
    id: f('string', 'the id of the project'), name: f('string', 'the name of the project'), displaytext: f('string', 'the displaytext of the project'),
    domainid: f('string', 'the domain id the project belongs to'), domain: f('string', 'the domain name where the project belongs to'),
    owner: f('list', 'the account name of the project\'s owners'), projectaccountname: f('string', 'the project account name of the project'),
    state: f('string', 'the state of the project'), created: f('date', 'the date this project was created'), tags: f('list', 'the list of resource tags associated with vm'),
    vmrunning: f('integer', 'the total number of virtual machines running for this project'), vmstopped: f('integer', 'the total number of virtual machines stopped for this project'),
    // The project account's limits (updateResourceLimit projectid=…), 'Unlimited' when none is set.
    ...Object.fromEntries(LIMITED.flatMap((k) => [
      [`${k}limit`, f('string', `the total ${k} the project can own`)],
      [`${k}total`, f(k === 'secondarystorage' ? 'double' : 'long', `the total ${k} owned by the project`)],
      [`${k}available`, f('string', `the total ${k} available to be created for this project`)],
    ])),
  },
};

export async function projectViews(sql: Sql, rows: ProjectRow[]): Promise<Record<string, unknown>[]> {
  if (!rows.length) return [];
  const ids = rows.map((r) => r.account_id);
  const count = async (q: string) => new Map((await sql.query<{ account_id: string; n: number }>(q, [ids])).map((r) => [r.account_id, Number(r.n)]));
  const vms = await count(`SELECT account_id, count(*)::int AS n FROM vm_instances WHERE type = 'User' AND state <> 'Destroyed' AND account_id = ANY($1::uuid[]) GROUP BY account_id`);
  const running = await count(`SELECT account_id, count(*)::int AS n FROM vm_instances WHERE type = 'User' AND state = 'Running' AND account_id = ANY($1::uuid[]) GROUP BY account_id`);
  const nets = await count(`SELECT account_id, count(*)::int AS n FROM networks WHERE account_id = ANY($1::uuid[]) GROUP BY account_id`);
  const ips = await count(`SELECT account_id, count(*)::int AS n FROM public_ip_addresses WHERE account_id = ANY($1::uuid[]) GROUP BY account_id`);
  const vols = await count(`SELECT account_id, count(*)::int AS n FROM volumes WHERE account_id = ANY($1::uuid[]) GROUP BY account_id`);
  const limits = await limitsOf(sql, ids);
  return rows.map((r) => {
    const totals: Record<string, number> = { vm: vms.get(r.account_id) ?? 0, network: nets.get(r.account_id) ?? 0, ip: ips.get(r.account_id) ?? 0, volume: vols.get(r.account_id) ?? 0 };
    return compact({
      id: r.id, name: r.name, displaytext: r.display_text, domainid: r.domain_id, domain: r.domain_name,
      owner: r.owner ? [{ account: r.owner }] : [], projectaccountname: r.account_name, state: r.state, created: csDate(r.created), tags: [],
      vmrunning: running.get(r.account_id) ?? 0, vmstopped: (vms.get(r.account_id) ?? 0) - (running.get(r.account_id) ?? 0),
      ...Object.fromEntries(LIMITED.flatMap((k) => {
        // The project account's limits (updateResourceLimit projectid=…); none set: 'Unlimited'.
        const max = limits.get(r.account_id)?.get(TYPE_OF[k]!);
        const limited = max !== undefined && max >= 0;
        return [[`${k}limit`, limited ? String(max) : 'Unlimited'], [`${k}total`, totals[k] ?? 0], [`${k}available`, limited ? String(Math.max(0, max - (totals[k] ?? 0))) : 'Unlimited']];
      })),
    });
  });
}

export const PROJECT_ACCOUNT: ResponseDef = {
  name: 'projectaccount',
  fields: {
    projectid: f('string', 'project id'), project: f('string', 'project name'), accountid: f('string', 'the id of the account'),
    account: f('string', 'the name of the account'), accounttype: f('integer', 'account type (admin, domain-admin, user)'),
    role: f('string', 'account role in the project (regular, owner)'), domainid: f('string', 'id of the Domain the account belongs to'),
    domain: f('string', 'name of the Domain the account belongs to'),
  },
};
export interface ProjectAccountRow { project_id: string; project_name: string; account_id: string; account_name: string; account_type: number; role: string; domain_id: string; domain_name: string }
export const PROJECT_ACCOUNT_SELECT = `SELECT pa.project_id, p.name AS project_name, pa.account_id, a.name AS account_name, a.type AS account_type, pa.role,
  a.domain_id, d.name AS domain_name FROM project_accounts pa JOIN projects p ON p.id = pa.project_id JOIN accounts a ON a.id = pa.account_id JOIN domains d ON d.id = a.domain_id`;
export function projectAccountView(r: ProjectAccountRow): Record<string, unknown> {
  return {
    projectid: r.project_id, project: r.project_name, accountid: r.account_id, account: r.account_name, accounttype: r.account_type,
    role: r.role, domainid: r.domain_id, domain: r.domain_name,
  };
}
