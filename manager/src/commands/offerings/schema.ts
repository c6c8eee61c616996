import type { Migration } from '../../db/migrations.ts';

/** Network and service offerings. */
export const OFFERINGS_MIGRATION: Migration = {
  id: 3, name: 'offerings',
  sql: `
CREATE TABLE network_offerings (
  id uuid PRIMARY KEY,
  name text NOT NULL,
  display_text text NOT NULL,
  traffic_type text NOT NULL DEFAULT 'Guest',
  guest_ip_type text NOT NULL,          -- Isolated | Shared
  specify_vlan boolean NOT NULL DEFAULT false,
  specify_ip_ranges boolean NOT NULL DEFAULT false,
  conserve_mode boolean NOT NULL DEFAULT true,
  state text NOT NULL DEFAULT 'Disabled',
  availability text NOT NULL DEFAULT 'Optional',
  is_default boolean NOT NULL DEFAULT false,
  is_persistent boolean NOT NULL DEFAULT false,
  for_vpc boolean NOT NULL DEFAULT false,
  egress_default_policy boolean NOT NULL DEFAULT false,  -- true = allow
  network_rate integer,
  tags text,
  internet_protocol text NOT NULL DEFAULT 'IPv4',
  services jsonb NOT NULL,              -- {"Dhcp": ["VirtualRouter"], …}
  capabilities jsonb NOT NULL DEFAULT '{}'::jsonb,
  service_offering_id uuid,
  domain_ids text, zone_ids text,
  created timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX network_offerings_name ON network_offerings (lower(name));
CREATE TABLE service_offerings (
  id uuid PRIMARY KEY,
  name text NOT NULL,
  display_text text NOT NULL,
  cpu_number integer, cpu_speed integer, memory integer,
  storage_type text NOT NULL DEFAULT 'shared',
  offer_ha boolean NOT NULL DEFAULT false,
  limit_cpu_use boolean NOT NULL DEFAULT false,
  is_system boolean NOT NULL DEFAULT false,
  system_vm_type text,
  is_default boolean NOT NULL DEFAULT false,
  network_rate integer,
  host_tags text,
  state text NOT NULL DEFAULT 'Active',
  domain_ids text, zone_ids text,
  created timestamptz NOT NULL DEFAULT now()
);
`,
};
