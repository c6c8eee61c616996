import type { Migration } from '../../db/migrations.ts';

/**
 * Resource tags (CloudStack's resource_tags): a key/value on one resource, owned by the
 * resource's account and domain (none for zones and other unowned objects). One key once per
 * resource.
 */
export const TAGS_MIGRATION: Migration = {
  id: 51, name: 'resource tags',
  sql: `
CREATE TABLE resource_tags (
  id uuid PRIMARY KEY,
  key text NOT NULL,
  value text NOT NULL,
  resource_type text NOT NULL,          -- CloudStack's ResourceObjectType: UserVm, Network, …
  resource_id uuid NOT NULL,
  account_id uuid REFERENCES accounts(id) ON DELETE CASCADE,
  domain_id uuid REFERENCES domains(id) ON DELETE CASCADE,
  customer text,
  created timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX resource_tags_key ON resource_tags (resource_id, resource_type, key);
`,
};
