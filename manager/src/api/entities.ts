// The one ownership check. Every id parameter of the command registry declares the entity it
// names (`ParamDef.entity`, CloudStack's `@Parameter(entityType=…)`) and the access it needs
// (`ParamDef.access`, CloudStack's `@ACL(accessType=…)`); the dispatcher loads each named
// entity's owner (account, domain) and compares it with the caller once, before the handler or
// an async job runs (CloudStack's ParamProcessWorker.doAccessChecks). Handlers only look their
// objects up; they no longer decide who may touch them. Decision 0900.
//
// Rules (CloudStack's DomainChecker / AccountManagerImpl.checkAccess):
// - root admin: everything;
// - domain admin: what is owned in its domain subtree (not another root admin's account);
// - user: what its own account owns;
// - shared (domain) networks, `use`: accounts of the network's domain, and of its subdomains
//   unless `subdomainaccess=false` (CloudStack's isNetworkAvailableInDomain);
// - templates, `use`: public ones too;
// - `hidden` entities (async jobs, private templates) answer a foreign id as if it did not exist.
// Infrastructure (zones, offerings, roles, …) has no owner: declared, so nothing slips through
// undeclared, but only the handler's own lookups apply (they are admin-only or public catalog).
import type { Caller } from './context.ts';
import { ApiError, apiError, notFound, paramError } from './errors.ts';
import type { Sql } from '../db/sql.ts';
import type { ParamDef } from './params.ts';
import { inTree, ownsAccount } from './scope.ts';

/** Entities with an owner: the dispatcher checks the caller's access to them. */
export const OWNED = [
  'account', 'user', 'domain', 'vm', 'router', 'network', 'publicip', 'networkrule', 'lbrule', 'lbstickinesspolicy',
  'lbhealthcheckpolicy', 'sslcert', 'vpn', 'vpnuser', 'volume', 'template', 'sshkeypair', 'asyncjob', 'event', 'nic',
  'project',
] as const;
/** Entities without an owner (infrastructure, catalog, things Flotilla does not have yet). */
export const UNOWNED = [
  'zone', 'pod', 'cluster', 'host', 'physicalnetwork', 'networkserviceprovider', 'traffictype', 'vlaniprange',
  'virtualrouterelement', 'internallbelement', 'serviceoffering', 'diskoffering', 'networkoffering', 'role',
  'rolepermission', 'ostype', 'oscategory', 'storagepool', 'snapshot', 'affinitygroup', 'securitygroup',
  'instancegroup', 'systemvm', 'imagestore', 'guestvlanrange', 'projectrole', 'managementserver',
] as const;
/**
 * Ids whose entity another parameter decides (createTags/deleteTags `resourceids` by
 * `resourcetype`): their command resolves the type and applies `mayAccess` itself.
 */
export const BY_TYPE = ['taggedresource'] as const;
export type OwnedEntity = typeof OWNED[number];
export type EntityKind = OwnedEntity | typeof UNOWNED[number] | typeof BY_TYPE[number];

/**
 * CloudStack's SecurityChecker.AccessType: `operate` (OperateEntry, the default of a non-list
 * command) — change or act on it; `use` (UseEntry) — build on it (deploy into a shared network, from
 * a public template); `list` (ListEntry, the default of list commands) — a filter: the list's
 * own scope (api/scope.ts) keeps it to what the caller may see, nothing is refused here;
 * `none` — named without an access check (CloudStack: `entityType` without `@ACL`), e.g. the
 * domains a root admin restricts an offering to; the command checks them itself.
 */
export type Access = 'operate' | 'use' | 'list' | 'none';

/** What the check needs of an entity: its owner, and for networks/templates their sharing. */
export interface OwnerRow {
  account_id: string | null;
  domain_path: string | null;
  account_type?: number | null;
  acl_type?: string;
  subdomain_access?: boolean | null;
  is_public?: boolean;
  purpose?: string;
}

interface EntityDef {
  /** one row of OwnerRow for the id ($1), none when it does not exist */
  readonly select: string;
  /** how a refusal names it: "… does not have permission to operate with <label> id=…" */
  readonly label: string | ((r: OwnerRow) => string);
  /** a foreign one answers as a missing one (431), as CloudStack does for jobs and private templates */
  readonly hidden?: true;
  /** a missing one's 431 when it is not CloudStack's generic text */
  readonly missing?: (id: string) => ApiError;
  /** who may access it, when not the owner rule */
  readonly rule?: 'domain' | 'network' | 'template' | 'account';
}

const owned = (table: string, alias: string, extra = '', where = '') =>
  `SELECT ${alias}.account_id, dm.path AS domain_path${extra} FROM ${table} ${alias} LEFT JOIN domains dm ON dm.id = ${alias}.domain_id WHERE ${alias}.id = $1${where}`;

const RULE_LABELS: Record<string, string> = { Firewall: 'firewall rule', Egress: 'egress firewall rule', PortForwarding: 'port forwarding rule', StaticNat: 'ip forwarding rule' };

export const ENTITIES: Readonly<Record<OwnedEntity, EntityDef>> = {
  account: { select: 'SELECT a.id AS account_id, dm.path AS domain_path, a.type AS account_type FROM accounts a JOIN domains dm ON dm.id = a.domain_id WHERE a.id = $1', label: 'account', rule: 'account' },
  user: { select: 'SELECT a.id AS account_id, dm.path AS domain_path, a.type AS account_type FROM users u JOIN accounts a ON a.id = u.account_id JOIN domains dm ON dm.id = a.domain_id WHERE u.id = $1', label: 'account', rule: 'account' },
  domain: { select: 'SELECT NULL AS account_id, path AS domain_path FROM domains WHERE id = $1', label: 'domain', rule: 'domain' },
  vm: { select: owned('vm_instances', 'v', '', ` AND v.type = 'User'`), label: 'virtual machine' },
  router: { select: owned('vm_instances', 'v', '', ` AND v.type = 'DomainRouter' AND v.state <> 'Destroyed'`), label: 'router', rule: 'domain' },
  network: { select: owned('networks', 'n', ', n.acl_type, n.subdomain_access'), label: 'network', rule: 'network' },
  publicip: { select: owned('public_ip_addresses', 'p'), label: 'ip address' },
  networkrule: { select: owned('network_rules', 'r', ', r.purpose'), label: (r) => RULE_LABELS[r.purpose ?? ''] ?? 'network rule' },
  lbrule: { select: owned('lb_rules', 'l'), label: 'load balancer rule' },
  lbstickinesspolicy: { select: 'SELECT l.account_id, dm.path AS domain_path FROM lb_stickiness s JOIN lb_rules l ON l.id = s.rule_id JOIN domains dm ON dm.id = l.domain_id WHERE s.id = $1', label: 'load balancer stickiness policy' },
  lbhealthcheckpolicy: { select: 'SELECT l.account_id, dm.path AS domain_path FROM lb_healthchecks h JOIN lb_rules l ON l.id = h.rule_id JOIN domains dm ON dm.id = l.domain_id WHERE h.id = $1', label: 'load balancer health check policy' },
  sslcert: { select: owned('ssl_certs', 'c'), label: 'SSL certificate' },
  vpn: { select: owned('remote_access_vpns', 'x'), label: 'remote access vpn' },
  vpnuser: { select: owned('vpn_users', 'u'), label: 'vpn user' },
  volume: { select: owned('volumes', 'vo'), label: 'volume' },
  template: { select: owned('templates', 't', ', t.is_public'), label: 'template', rule: 'template', hidden: true },
  sshkeypair: { select: owned('ssh_keypairs', 'k'), label: 'ssh key pair' },
  asyncjob: { select: owned('async_jobs', 'j'), label: 'job', hidden: true, missing: (id) => paramError(`Unable to find job by id ${id}`) },
  event: { select: owned('events', 'e'), label: 'event' },
  // A project is owned by its account (type 5): its members own it through Caller.projectAccountIds
  // (ownsAccount), domain admins above it and root admins manage it, as CloudStack's project ACL.
  project: { select: 'SELECT p.account_id, dm.path AS domain_path FROM projects p JOIN domains dm ON dm.id = p.domain_id WHERE p.id = $1', label: 'project' },
  nic: { select: 'SELECT v.account_id, dm.path AS domain_path FROM nics c JOIN vm_instances v ON v.id = c.vm_id JOIN domains dm ON dm.id = v.domain_id WHERE c.id = $1', label: 'nic' },
};

export const isOwned = (k: EntityKind): k is OwnedEntity => (OWNED as readonly string[]).includes(k);

/** The owner rule: root admin; the owning account; a domain admin over the owner's domain. */
function ownerRule(c: Caller, r: OwnerRow): boolean {
  if (c.role === 'Admin') return true;
  // The caller's own account, or a project's of which it is a member (its account of type 5).
  if (ownsAccount(c, r.account_id)) return true;
  return c.role === 'DomainAdmin' && r.domain_path !== null && inTree(r.domain_path, c.domainPath);
}

/**
 * May an account of the domain at `domainPath` use this shared (domain) network? Its own domain;
 * subdomains unless subdomainaccess=false (CloudStack's NetworkModelImpl.isNetworkAvailableInDomain).
 */
export function domainMayUseNetwork(domainPath: string, r: Pick<OwnerRow, 'domain_path' | 'subdomain_access'>): boolean {
  if (r.domain_path === null) return false;
  return r.subdomain_access === false ? domainPath === r.domain_path : inTree(domainPath, r.domain_path);
}

/** The decision for one existing entity (pure). */
export function mayAccess(c: Caller, kind: OwnedEntity, access: 'operate' | 'use', r: OwnerRow): boolean {
  if (c.role === 'Admin') return true;
  switch (ENTITIES[kind].rule) {
    case 'domain': return r.domain_path !== null && inTree(r.domain_path, c.domainPath);
    case 'account':
      // A domain admin does not manage another root admin's account.
      if (ownsAccount(c, r.account_id)) return true;
      return c.role === 'DomainAdmin' && r.domain_path !== null && inTree(r.domain_path, c.domainPath) && r.account_type !== 1;
    case 'template': return (access === 'use' && r.is_public === true) || ownsAccount(c, r.account_id);
    case 'network':
      if (r.acl_type === 'Account') return ownerRule(c, r);
      // A shared network is used by the accounts of its domain (subdomainaccess), and operated
      // by the domain admins above it.
      if (access === 'use' && domainMayUseNetwork(c.domainPath, r)) return true;
      return c.role === 'DomainAdmin' && r.domain_path !== null && inTree(r.domain_path, c.domainPath);
    default: return ownerRule(c, r);
  }
}

function refusal(c: Caller, kind: OwnedEntity, r: OwnerRow, id: string): ApiError {
  const def = ENTITIES[kind];
  const label = typeof def.label === 'function' ? def.label(r) : def.label;
  // CloudStack's texts: DomainChecker for domains, AccountManager for accounts, NetworkModel for networks.
  switch (kind) {
    case 'domain': return apiError('ACCOUNT_ERROR', `Caller ${c.accountName} does not have permission to operate within domain id=${id}`, [id]);
    case 'account': case 'user': return apiError('ACCOUNT_ERROR', `Caller ${c.accountName} does not have permission to operate with account id=${r.account_id}`, [...new Set([id, r.account_id ?? id])]);
    case 'router': return apiError('ACCOUNT_ERROR', `Caller ${c.accountName} does not have permission to operate with router id=${id}`, [id]);
    case 'network': return apiError('ACCOUNT_ERROR', `Account ${c.accountName} does not have permission to access network id=${id}`, [id]);
    default: return apiError('ACCOUNT_ERROR', `Account ${c.accountName} does not have permission to operate with ${label} id=${id}`, [id]);
  }
}

/** Checks the caller's access to one named entity: 431 when it does not exist (or is hidden), 531 when foreign. */
export async function checkEntity(sql: Sql, c: Caller, command: string, param: string, kind: OwnedEntity, access: 'operate' | 'use', id: string, missingToHandler = false): Promise<void> {
  const def = ENTITIES[kind];
  const r = (await sql.query<OwnerRow>(def.select, [id]))[0];
  const missing = () => (def.missing ? def.missing(id) : notFound(command, param, id));
  if (!r) { if (missingToHandler) return; throw missing(); }
  if (mayAccess(c, kind, access, r)) return;
  if (def.hidden && missingToHandler) return;
  throw def.hidden ? missing() : refusal(c, kind, r, id);
}

/** The access a declared parameter needs: its own, else `list` on list commands and `operate` elsewhere. */
export function accessOf(command: string, def: { access?: Access | undefined }): Access {
  return def.access ?? (command.startsWith('list') ? 'list' : 'operate');
}

/**
 * The dispatcher's one check: every parsed id parameter naming an owned entity, in declaration
 * order, before the handler runs (and before an async command's job is queued).
 */
export async function checkAccess(sql: Sql, c: Caller, cmd: { name: string; params: Readonly<Record<string, ParamDef>> }, args: Record<string, unknown>): Promise<void> {
  for (const [name, def] of Object.entries(cmd.params)) {
    // An id whose entity another argument decides: checked when it exists; a missing one (or a
    // hidden one) is left to the command, which names the type in its 431.
    const byType = def.entity === 'taggedresource';
    const kind = byType ? def.entityOf?.(args) : def.entity;
    if (!kind || !isOwned(kind)) continue;
    const access = accessOf(cmd.name, def);
    if (access === 'list' || access === 'none') continue;
    const v = args[name];
    if (v === undefined || v === '') continue;
    for (const id of Array.isArray(v) ? v as string[] : [v as string]) await checkEntity(sql, c, cmd.name, name, kind, access, id, byType);
  }
}
