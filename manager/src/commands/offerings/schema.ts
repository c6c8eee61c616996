import type { Migration } from '../../db/migrations.ts';

// Network and service offerings. `unique_name` keys the seeded defaults (CloudStack's
// unique_name): a default renamed by an admin is not re-created at the next start. `seq` keeps
// creation order, which CloudStack lists by after sort_key. No semicolons inside statements:
// the migration runner splits on them.
export const OFFERINGS_MIGRATION: Migration = {
  id: 3, name: 'offerings',
  sql: `
CREATE TABLE network_offerings (
  id uuid PRIMARY KEY,
  seq bigint GENERATED ALWAYS AS IDENTITY,
  name text NOT NULL,
  unique_name text,
  display_text text NOT NULL,
  traffic_type text NOT NULL DEFAULT 'Guest',
  guest_ip_type text NOT NULL,          -- Isolated | Shared
  specify_vlan boolean NOT NULL DEFAULT false,
  specify_ip_ranges boolean NOT NULL DEFAULT false,
  conserve_mode boolean NOT NULL DEFAULT true,
  state text NOT NULL DEFAULT 'Disabled',          -- Enabled | Disabled | Inactive
  availability text NOT NULL DEFAULT 'Optional',   -- Required | Optional
  is_default boolean NOT NULL DEFAULT false,
  is_persistent boolean NOT NULL DEFAULT false,
  for_vpc boolean NOT NULL DEFAULT false,
  egress_default_policy boolean NOT NULL DEFAULT false,  -- true = allow
  network_rate integer,                 -- Mbit/s, NULL = network.throttling.rate, 0 = unlimited
  max_connections integer,
  keep_alive_enabled boolean NOT NULL DEFAULT false,
  sort_key integer NOT NULL DEFAULT 0,
  tags text,
  internet_protocol text NOT NULL DEFAULT 'IPv4',
  services jsonb NOT NULL,              -- {"Dhcp": ["VirtualRouter"], …} including the implicit Gateway
  capabilities jsonb NOT NULL DEFAULT '{}'::jsonb,  -- {"SupportedSourceNatTypes": "peraccount", …}
  service_offering_id uuid,
  domain_ids text[],                    -- NULL = public (lowercase uuids)
  zone_ids text[],                      -- NULL = all zones
  created timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX network_offerings_name ON network_offerings (lower(name));
CREATE UNIQUE INDEX network_offerings_unique_name ON network_offerings (unique_name) WHERE unique_name IS NOT NULL;
CREATE TABLE service_offerings (
  id uuid PRIMARY KEY,
  seq bigint GENERATED ALWAYS AS IDENTITY,
  name text NOT NULL,
  unique_name text,
  display_text text NOT NULL,
  cpu_number integer, cpu_speed integer, memory integer,   -- NULL = customised
  storage_type text NOT NULL DEFAULT 'shared',  -- shared | local
  provisioning_type text NOT NULL DEFAULT 'thin',
  offer_ha boolean NOT NULL DEFAULT false,
  limit_cpu_use boolean NOT NULL DEFAULT false,
  is_volatile boolean NOT NULL DEFAULT false,
  is_system boolean NOT NULL DEFAULT false,
  system_vm_type text,                  -- domainrouter | consoleproxy | secondarystoragevm
  default_use boolean NOT NULL DEFAULT false,
  network_rate integer,
  storage_tags text,
  host_tags text,
  sort_key integer NOT NULL DEFAULT 0,
  state text NOT NULL DEFAULT 'Active', -- Active | Inactive
  domain_ids text[], zone_ids text[],
  created timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX service_offerings_unique_name ON service_offerings (unique_name) WHERE unique_name IS NOT NULL;
`,
};
