import type { Migration } from '../../db/migrations.ts';

/**
 * Dynamic roles (CloudStack 4.9+): roles with a type and an ordered list of allow/deny rules on
 * API names. The three built-in roles keep the ids Flotilla has always answered as `roleid`, and
 * allow every command their type may call (rule `*`). An account without a role of its own
 * (role_id NULL) has the built-in role of its type.
 */
export const ROLES_MIGRATION: Migration = {
  id: 90, name: 'dynamic roles',
  sql: `
CREATE TABLE roles (
  id uuid PRIMARY KEY,
  name text NOT NULL,
  type text NOT NULL,                   -- Admin | DomainAdmin | User
  description text,
  is_default boolean NOT NULL DEFAULT false,
  created timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX roles_name ON roles (lower(name));
CREATE TABLE role_permissions (
  id uuid PRIMARY KEY,
  role_id uuid NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
  rule text NOT NULL,                   -- an API name, * matching any run of letters and digits
  permission text NOT NULL,             -- allow | deny
  description text,
  sort_order integer NOT NULL
);
CREATE INDEX role_permissions_role ON role_permissions (role_id, sort_order);
INSERT INTO roles (id, name, type, description, is_default) VALUES
  ('6f0d1a3e-0000-4000-8000-000000000001', 'Root Admin', 'Admin', 'Default root admin role', true),
  ('6f0d1a3e-0000-4000-8000-000000000002', 'Domain Admin', 'DomainAdmin', 'Default domain admin role', true),
  ('6f0d1a3e-0000-4000-8000-000000000004', 'User', 'User', 'Default user role', true);
INSERT INTO role_permissions (id, role_id, rule, permission, description, sort_order) VALUES
  ('6f0d1a3e-0001-4000-8000-000000000002', '6f0d1a3e-0000-4000-8000-000000000002', '*', 'allow', 'every command of the type', 0),
  ('6f0d1a3e-0001-4000-8000-000000000004', '6f0d1a3e-0000-4000-8000-000000000004', '*', 'allow', 'every command of the type', 0);
ALTER TABLE accounts ADD COLUMN role_id uuid REFERENCES roles(id);
`,
};
