import type { Migration } from '../../db/migrations.ts';

// Projects as CloudStack models them (ProjectManagerImpl): a project owns its resources through
// an account of its own, of type 5 (Account.Type.PROJECT), with no users; the accounts working in
// it are its members (project_accounts), one of them its Admin (the owner). Everything that
// checks an owning account therefore works for projects unchanged; membership is what lets a
// member act on the project account's objects.
export const PROJECTS_MIGRATION: Migration = {
  id: 172, name: 'projects: the project account, its members',
  sql: `
CREATE TABLE projects (
  id uuid PRIMARY KEY,
  name text NOT NULL,
  display_text text NOT NULL,
  account_id uuid NOT NULL UNIQUE REFERENCES accounts(id),
  domain_id uuid NOT NULL REFERENCES domains(id),
  state text NOT NULL DEFAULT 'Active',  -- Active | Suspended | Disabled
  created timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX projects_name ON projects (domain_id, lower(name));
CREATE TABLE project_accounts (
  project_id uuid NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
  account_id uuid NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  role text NOT NULL DEFAULT 'Regular',  -- Admin | Regular
  created timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (project_id, account_id)
);
CREATE INDEX project_accounts_account ON project_accounts (account_id);
`,
};
