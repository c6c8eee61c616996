import type { Migration } from '../../db/migrations.ts';

/**
 * Disk offerings and volumes. A volume is a file on the host its VM runs on (local storage):
 * `host_id` names the host that has its file, null while it has none (Allocated, CloudStack's
 * state of a volume not yet created on storage). Sizes are bytes.
 */
export const VOLUMES_MIGRATION: Migration = {
  id: 52, name: 'disk offerings, volumes',
  sql: `
CREATE TABLE disk_offerings (
  id uuid PRIMARY KEY,
  name text NOT NULL,
  unique_name text,                     -- set on the defaults (seeded once, never overwritten)
  display_text text NOT NULL,
  disk_size bigint,                     -- bytes, null for a customized offering
  is_customized boolean NOT NULL DEFAULT false,
  storage_type text NOT NULL DEFAULT 'shared',
  provisioning_type text NOT NULL DEFAULT 'thin',
  domain_id uuid REFERENCES domains(id),
  zone_id uuid REFERENCES zones(id),
  state text NOT NULL DEFAULT 'Active', -- Active | Inactive (deleted, kept for the volumes made from it)
  created timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX disk_offerings_unique_name ON disk_offerings (unique_name) WHERE unique_name IS NOT NULL;
CREATE TABLE volumes (
  id uuid PRIMARY KEY,
  name text NOT NULL,
  type text NOT NULL,                   -- ROOT | DATADISK
  state text NOT NULL,                  -- Allocated | Ready
  size bigint NOT NULL,
  zone_id uuid NOT NULL REFERENCES zones(id),
  account_id uuid NOT NULL REFERENCES accounts(id),
  domain_id uuid NOT NULL REFERENCES domains(id),
  vm_id uuid REFERENCES vm_instances(id) ON DELETE SET NULL,
  device_id integer,
  disk_offering_id uuid REFERENCES disk_offerings(id),
  template_id uuid REFERENCES templates(id),
  host_id uuid REFERENCES hosts(id),
  file text NOT NULL UNIQUE,            -- its file name on the host
  attached timestamptz,
  created timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX volumes_vm ON volumes (vm_id);
CREATE UNIQUE INDEX volumes_device ON volumes (vm_id, device_id) WHERE vm_id IS NOT NULL;
`,
};
