// SSH key pairs (CloudStack's SshKeyPairServiceImpl): owned by an account, unique by name
// (case-insensitively, as CloudStack's MySQL collation makes them) and by public key within it.
// createSSHKeyPair answers the private key once and stores only the public key.
import { pagedRows } from '../../api/paging.ts';
import { randomUUID } from 'node:crypto';
import { ALL_ROLES, LIST_OWNED_PARAMS, SUCCESS_RESPONSE, command } from '../../api/registry.ts';
import { apiError, paramError } from '../../api/errors.ts';
import { applyScope, resolveScope } from '../../api/scope.ts';
import { ownerOf } from '../projects/lookup.ts';
import { Where, type Sql } from '../../db/sql.ts';
import type { Context } from '../../api/context.ts';
import { CREATED_KEYPAIR, KEYPAIR, KEYPAIR_SELECT, SSH_KEYPAIR, keyPairView, type KeyPairRow } from './views.ts';
import { SshKeyError, generateSshKeyPair, parsePublicKey, type SshPublicKey } from './keys.ts';

export interface Owner { accountId: string; accountName: string; domainId: string }

const checkName = (v: string) => {
  if (v.trim() === '') return "Please specify a valid name for the key pair. The key name can't be empty";
  // keypairs= (deploy, reset) and a VM's keypairs field list names separated by commas.
  if (v.includes(',')) return 'a key pair name cannot contain a comma: keypairs lists names separated by commas';
  return undefined;
};
const NAME = { type: 'string', required: true, description: 'Name of the keypair', check: checkName } as const;
const OWNER_PARAMS = {
  account: { type: 'string', description: 'an optional account for the ssh key. Must be used with domainId.' },
  domainid: { type: 'uuid', entity: 'domain', description: 'an optional domainId for the ssh key. If the account parameter is used, domainId must also be used.' },
  projectid: { type: 'uuid', entity: 'project', description: 'an optional project for the ssh key' },
} as const;

/** The account a key pair command acts for (CloudStack's finalizeOwner): the caller's own,
 *  or `account` + `domainid` the caller may manage, or the account of project `projectid`. */
export async function keyPairOwner(ctx: Context, a: { account?: string | undefined; domainid?: string | undefined; projectid?: string | undefined }): Promise<Owner> {
  return ownerOf(ctx, a);
}

/** An account's key pairs by name, in the order given; refuses a name it does not have. */
export async function keyPairsByName(sql: Sql, owner: Owner, names: string[]): Promise<KeyPairRow[]> {
  const rows = await sql.query<KeyPairRow>(`${KEYPAIR_SELECT} WHERE k.account_id = $1 AND lower(k.name) = ANY($2::text[])`, [owner.accountId, names.map((n) => n.toLowerCase())]);
  return names.map((n) => {
    const r = rows.find((x) => x.name.toLowerCase() === n.toLowerCase());
    if (!r) throw paramError(`A key pair with name '${n}' was not found for account ${owner.accountName}`);
    return r;
  });
}

async function viewOf(sql: Sql, id: string): Promise<Record<string, unknown>> {
  return keyPairView((await sql.query<KeyPairRow>(`${KEYPAIR_SELECT} WHERE k.id = $1`, [id]))[0]!);
}

/** Records a key pair after the checks CloudStack makes, under a per-account lock so two
 *  concurrent registrations cannot both pass them. */
async function save(ctx: Context, owner: Owner, name: string, key: SshPublicKey, dupText: string): Promise<string> {
  await ctx.sql.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`ssh_keypairs:${owner.accountId}`]);
  const byName = await ctx.sql.query('SELECT 1 FROM ssh_keypairs WHERE account_id = $1 AND lower(name) = lower($2)', [owner.accountId, name]);
  if (byName.length) throw paramError(dupText);
  const byKey = await ctx.sql.query<{ name: string }>('SELECT name FROM ssh_keypairs WHERE account_id = $1 AND md5(public_key) = md5($2) AND public_key = $2', [owner.accountId, key.text]);
  if (byKey.length) throw paramError(`A key pair with key '${key.text}' already exists for this account (key pair ${byKey[0]!.name}).`);
  const id = randomUUID();
  await ctx.sql.query('INSERT INTO ssh_keypairs (id, name, account_id, domain_id, fingerprint, public_key) VALUES ($1,$2,$3,$4,$5,$6)',
    [id, name, owner.accountId, owner.domainId, key.fingerprint, key.text]);
  ctx.setResource('SSHKeyPair', id);
  return id;
}

export const createSSHKeyPair = command({
  name: 'createSSHKeyPair', description: 'Create a new keypair and returns the private key', since: '2.2.0', roles: ALL_ROLES,
  response: CREATED_KEYPAIR, shape: 'object', event: 'CREATE.SSH.KEYPAIR',
  params: { name: NAME, ...OWNER_PARAMS },
  async handler(ctx, a) {
    const owner = await keyPairOwner(ctx, a);
    const exists = await ctx.sql.query('SELECT 1 FROM ssh_keypairs WHERE account_id = $1 AND lower(name) = lower($2)', [owner.accountId, a.name]);
    if (exists.length) throw paramError(`A key pair with name '${a.name}' already exists.`);
    const { publicKey, privateKey } = await generateSshKeyPair();
    const id = await save(ctx, owner, a.name, publicKey, `A key pair with name '${a.name}' already exists.`);
    return { ...(await viewOf(ctx.sql, id)), privatekey: privateKey };
  },
});

export const registerSSHKeyPair = command({
  name: 'registerSSHKeyPair', description: 'Register a public key in a keypair under a certain name', since: '2.2.0', roles: ALL_ROLES,
  response: KEYPAIR, shape: 'object', event: 'REGISTER.SSH.KEYPAIR',
  params: {
    name: NAME,
    publickey: { type: 'string', required: true, length: 5120, description: 'Public key material of the keypair: one OpenSSH public key line (ssh-rsa, ssh-ed25519 or ecdsa-sha2-nistp256/384/521)' },
    ...OWNER_PARAMS,
  },
  async handler(ctx, a) {
    let key: SshPublicKey;
    try { key = parsePublicKey(a.publickey); } catch (e) {
      if (e instanceof SshKeyError) throw paramError(`Public key is invalid: ${e.message}`);
      throw e;
    }
    const owner = await keyPairOwner(ctx, a);
    const id = await save(ctx, owner, a.name, key, `A key pair with name '${a.name}' already exists for this account.`);
    return viewOf(ctx.sql, id);
  },
});

export const listSSHKeyPairs = command({
  name: 'listSSHKeyPairs', description: 'List registered keypairs', since: '2.2.0', roles: ALL_ROLES, response: SSH_KEYPAIR, shape: 'list',
  params: {
    ...LIST_OWNED_PARAMS,
    id: { type: 'uuid', entity: 'sshkeypair', description: 'the ID of the ssh keypair' },
    name: { type: 'string', description: 'A key pair name to look for' },
    fingerprint: { type: 'string', description: 'A public key fingerprint to look for' },
    projectid: { type: 'uuid', entity: 'project', description: 'list objects by project' },
  },
  async handler(ctx, a) {
    const scope = await resolveScope(ctx.sql, ctx.caller, a);
    const w = applyScope(new Where(), scope, { account: 'k.account_id', domain: 'k.domain_id' });
    w.add('k.id = ?', a.id).add('lower(k.name) = lower(?)', a.name).add('lower(k.fingerprint) = lower(?)', a.fingerprint).keyword(a.keyword, 'k.name', 'k.fingerprint');
    return (await pagedRows<KeyPairRow>(ctx.sql, a, { select: KEYPAIR_SELECT, where: w, orderBy: 'k.created, k.id' })).map(keyPairView);
  },
});

export const deleteSSHKeyPair = command({
  name: 'deleteSSHKeyPair', description: 'Deletes a keypair by name', since: '2.2.0', roles: ALL_ROLES, response: SUCCESS_RESPONSE, shape: 'success',
  event: 'DELETE.SSH.KEYPAIR',
  params: {
    name: NAME,
    account: { type: 'string', description: 'the account associated with the keypair. Must be used with the domainId parameter.' },
    domainid: { type: 'uuid', entity: 'domain', description: 'the domain ID associated with the keypair' },
    projectid: { type: 'uuid', entity: 'project', description: 'the project associated with keypair' },
  },
  async handler(ctx, a) {
    const owner = await keyPairOwner(ctx, a);
    const gone = await ctx.sql.query<{ id: string }>('DELETE FROM ssh_keypairs WHERE account_id = $1 AND lower(name) = lower($2) RETURNING id', [owner.accountId, a.name]);
    if (!gone.length) {
      throw apiError('PARAM_ERROR', `A key pair with name '${a.name}' does not exist for account ${owner.accountName} in specified domain id`, [owner.domainId]);
    }
    // VMs keep the keys they were given (their own copy), as in CloudStack.
    ctx.setResource('SSHKeyPair', gone[0]!.id);
  },
});
