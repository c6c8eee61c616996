import type { Sql } from '../db/sql.ts';
import type { Role } from './registry.ts';
import type { Services } from '../services.ts';

/** Who is calling: resolved once per request from a session or a signed API key. */
export interface Caller {
  readonly userId: string;
  readonly username: string;
  readonly accountId: string;
  readonly accountName: string;
  readonly accountType: number;     // 0 user, 1 root admin, 2 domain admin
  readonly role: Role;
  readonly domainId: string;
  readonly domainPath: string;      // 'ROOT/…'
  /** the accounts of the projects the caller's account is a member of (their objects it may act on) */
  readonly projectAccountIds?: readonly string[];
}

/** What a handler gets: the caller, the transaction its work runs in, and the services. */
export interface Context {
  readonly caller: Caller;
  /** the transaction of this command: all its writes commit together or not at all */
  readonly sql: Sql;
  readonly services: Services;
  readonly command: string;
  /** set inside an async job */
  readonly jobId?: string;
  /** an async create's id of the object it creates, chosen when the job was queued */
  readonly newId?: string;
  /** records the object the command acted on, for the audit event and jobinstanceid */
  setResource(type: string, id: string): void;
}

export const roleOfType = (type: number): Role => (type === 1 ? 'Admin' : type === 2 ? 'DomainAdmin' : 'User');
