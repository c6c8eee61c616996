// Key pair answers, next to the row type and query they are built from.
import { field as f, type ResponseDef } from '../../api/registry.ts';
import { ownerFields, projectColumns } from '../projects/lookup.ts';

const FIELDS = {
  id: f('string', 'ID of the ssh keypair'),
  name: f('string', 'Name of the keypair'),
  fingerprint: f('string', 'Fingerprint of the public key'),
  account: f('string', 'the owner of the keypair'),
  domainid: f('string', 'the domain id of the keypair owner'),
  domain: f('string', 'the domain name of the keypair owner'),
  projectid: f('string', 'the project id of the keypair owner'),
  project: f('string', 'the project name of the keypair owner'),
} as const;

/** listSSHKeyPairs lists items under `sshkeypair`. */
export const SSH_KEYPAIR: ResponseDef = { name: 'sshkeypair', fields: FIELDS };
/** registerSSHKeyPair answers under `keypair` (CloudStack sets that object name). */
export const KEYPAIR: ResponseDef = { name: 'keypair', fields: FIELDS };
/** createSSHKeyPair: the same, with the private key, shown this once. */
export const CREATED_KEYPAIR: ResponseDef = { name: 'keypair', fields: { ...FIELDS, privatekey: f('string', 'Private key') } };

export interface KeyPairRow { id: string; name: string; fingerprint: string; public_key: string; account_id: string; account_name: string; domain_id: string; domain_name: string; domain_path: string; created: Date; project_id?: string | null; project_name?: string | null }
export const KEYPAIR_SELECT = `SELECT k.*, a.name AS account_name, d.name AS domain_name, d.path AS domain_path, ${projectColumns('k')}
  FROM ssh_keypairs k JOIN accounts a ON a.id = k.account_id JOIN domains d ON d.id = k.domain_id`;

export function keyPairView(r: KeyPairRow): Record<string, unknown> {
  return { id: r.id, name: r.name, fingerprint: r.fingerprint, ...ownerFields(r, r.account_name), domainid: r.domain_id, domain: r.domain_name };
}
