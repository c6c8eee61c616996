import type { Migration } from '../../db/migrations.ts';

// Resource limits of an account (CloudStack's resource_limit rows with an account): a project's
// limits are its project account's. A type without a row is unlimited (-1). Domain limits are
// not supported yet (updateResourceLimit refuses a domain without an account or project).
export const LIMITS_MIGRATION: Migration = {
  id: 190, name: 'resource limits per account (and so per project)',
  sql: `
CREATE TABLE resource_limits (
  account_id uuid NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  resource_type integer NOT NULL,
  max bigint NOT NULL,
  PRIMARY KEY (account_id, resource_type)
);
`,
};
