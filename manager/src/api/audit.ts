// The audit record: every mutating call leaves an event (who, what, when, result), in the same
// transaction as its effect on success, on its own after a rollback on failure.
import { randomUUID } from 'node:crypto';
import type { Sql } from '../db/sql.ts';
import type { Caller } from './context.ts';

/** Parameters never written to the audit log. */
const SECRET_PARAMS = new Set(['password', 'currentpassword', 'signature', 'apikey', 'secretkey', 'sessionkey', 'userdata']);

export function redact(params: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(params)) out[k] = SECRET_PARAMS.has(k.toLowerCase()) ? '******' : v;
  return out;
}

export interface AuditEntry {
  type: string;
  command: string;
  params: Record<string, unknown>;
  result: 'SUCCESS' | 'FAILURE';
  state?: 'Scheduled' | 'Started' | 'Completed';
  errortext?: string;
  resourceType?: string;
  resourceId?: string;
}

export async function audit(sql: Sql, caller: Caller, e: AuditEntry): Promise<void> {
  const description = e.result === 'SUCCESS'
    ? `${e.command} succeeded${e.resourceId ? ` for ${e.resourceType ?? 'resource'} ${e.resourceId}` : ''}`
    : `${e.command} failed: ${e.errortext ?? ''}`;
  await sql.query(
    `INSERT INTO events (id, type, level, state, description, command, params, result, errortext,
       user_id, username, account_id, account_name, domain_id, resource_id, resource_type)
     VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16)`,
    [randomUUID(), e.type, e.result === 'SUCCESS' ? 'INFO' : 'ERROR', e.state ?? 'Completed', description, e.command,
      JSON.stringify(redact(e.params)), e.result, e.errortext ?? null, caller.userId, caller.username,
      caller.accountId, caller.accountName, caller.domainId, e.resourceId ?? null, e.resourceType ?? null]);
}
