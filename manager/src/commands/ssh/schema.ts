import type { Migration } from '../../db/migrations.ts';

/**
 * SSH key pairs (CloudStack's ssh_keypairs) and what a VM keeps of them. Only the public key is
 * stored; createSSHKeyPair's private key is shown once and never written. A VM copies the
 * public keys at deploy or reset (as CloudStack's SSH.PublicKey VM detail), so deleting a key
 * pair later does not change what its VMs serve, and keeps its password encrypted under the
 * first key (CloudStack's Encrypted.Password detail), which getVMPassword answers.
 */
export const SSH_MIGRATION: Migration = {
  id: 6, name: 'ssh key pairs',
  sql: `
CREATE TABLE ssh_keypairs (
  id uuid PRIMARY KEY,
  name text NOT NULL,
  account_id uuid NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  domain_id uuid NOT NULL REFERENCES domains(id),
  fingerprint text NOT NULL,            -- MD5 of the key blob, colon-separated hex (CloudStack's)
  public_key text NOT NULL,             -- '<type> <base64>', the comment dropped
  created timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX ssh_keypairs_name ON ssh_keypairs (account_id, lower(name));
CREATE UNIQUE INDEX ssh_keypairs_key ON ssh_keypairs (account_id, public_key);
ALTER TABLE vm_instances ADD COLUMN ssh_public_keys text;     -- one key a line, copied at deploy/reset
ALTER TABLE vm_instances ADD COLUMN password_encrypted text;  -- base64 RSA PKCS#1 v1.5 under the first key
`,
};

/** A btree entry holds at most ~2.7 kB and an RSA-16384 key line is ~2.8 kB: the key's
 *  uniqueness is indexed by its digest instead (found by registering such a key). */
export const SSH_KEY_INDEX_MIGRATION: Migration = {
  id: 7, name: 'ssh key pairs: unique key by digest',
  sql: `
DROP INDEX ssh_keypairs_key;
CREATE UNIQUE INDEX ssh_keypairs_key_md5 ON ssh_keypairs (account_id, md5(public_key));
`,
};
