// Versioned schema migrations, applied in order, each in its own transaction, recorded in
// schema_migrations. Never edit a migration that has shipped: add the next one.
import type { Database } from './sql.ts';

export interface Migration { readonly id: number; readonly name: string; readonly sql: string }

export const MIGRATIONS: readonly Migration[] = [
  {
    id: 1, name: 'accounts, jobs, events, configuration',
    sql: `
CREATE TABLE domains (
  id uuid PRIMARY KEY,
  name text NOT NULL,
  path text NOT NULL UNIQUE,            -- 'ROOT', 'ROOT/child', …
  parent_id uuid REFERENCES domains(id),
  level integer NOT NULL,
  network_domain text,
  state text NOT NULL DEFAULT 'Active',
  created timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE accounts (
  id uuid PRIMARY KEY,
  name text NOT NULL,
  domain_id uuid NOT NULL REFERENCES domains(id),
  type integer NOT NULL,                -- 0 user, 1 root admin, 2 domain admin
  state text NOT NULL DEFAULT 'enabled',-- enabled | disabled | locked
  network_domain text,
  created timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX accounts_name ON accounts (domain_id, lower(name));
CREATE TABLE users (
  id uuid PRIMARY KEY,
  account_id uuid NOT NULL REFERENCES accounts(id),
  domain_id uuid NOT NULL REFERENCES domains(id),
  username text NOT NULL,
  password_hash text NOT NULL,
  firstname text, lastname text, email text, timezone text,
  state text NOT NULL DEFAULT 'enabled',
  api_key text UNIQUE,
  secret_key_enc text,
  is_default boolean NOT NULL DEFAULT false,
  created timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_username ON users (domain_id, username);
CREATE TABLE sessions (
  key text PRIMARY KEY,
  user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  created timestamptz NOT NULL DEFAULT now(),
  expires timestamptz NOT NULL
);
CREATE TABLE events (
  id uuid PRIMARY KEY,
  type text NOT NULL,
  level text NOT NULL DEFAULT 'INFO',
  state text NOT NULL DEFAULT 'Completed',
  description text NOT NULL,
  command text,
  params jsonb,
  result text NOT NULL,                 -- SUCCESS | FAILURE
  errortext text,
  user_id uuid, username text,
  account_id uuid, account_name text,
  domain_id uuid,
  resource_id text, resource_type text,
  created timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX events_created ON events (created);
CREATE TABLE async_jobs (
  id uuid PRIMARY KEY,
  user_id uuid NOT NULL, account_id uuid NOT NULL, domain_id uuid NOT NULL,
  command text NOT NULL,
  params jsonb NOT NULL,
  instance_type text, instance_id text,
  status integer NOT NULL DEFAULT 0,    -- 0 pending, 1 succeeded, 2 failed
  proc_status integer NOT NULL DEFAULT 0,
  result_code integer NOT NULL DEFAULT 0,
  result jsonb,
  owner text,                           -- the manager run executing it
  attempts integer NOT NULL DEFAULT 0,
  created timestamptz NOT NULL DEFAULT now(),
  completed timestamptz
);
CREATE INDEX async_jobs_pending ON async_jobs (status) WHERE status = 0;
CREATE TABLE configurations (
  name text PRIMARY KEY,
  category text NOT NULL,
  value text,
  default_value text,
  description text NOT NULL,
  type text NOT NULL DEFAULT 'String',
  is_dynamic boolean NOT NULL DEFAULT true
);
CREATE TABLE secrets (
  name text PRIMARY KEY,
  value text NOT NULL
);
`,
  },
  {
    id: 2, name: 'infrastructure and offerings',
    sql: `
CREATE TABLE zones (
  id uuid PRIMARY KEY,
  name text NOT NULL,
  description text,
  dns1 text, dns2 text, ip6dns1 text, ip6dns2 text, internaldns1 text, internaldns2 text,
  guest_cidr text,
  network_type text NOT NULL,           -- Basic | Advanced
  network_domain text,
  domain_id uuid REFERENCES domains(id),
  allocation_state text NOT NULL DEFAULT 'Disabled',
  security_groups_enabled boolean NOT NULL DEFAULT false,
  local_storage_enabled boolean NOT NULL DEFAULT false,
  created timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX zones_name ON zones (lower(name));
CREATE TABLE pods (
  id uuid PRIMARY KEY,
  zone_id uuid NOT NULL REFERENCES zones(id),
  name text NOT NULL,
  gateway text, netmask text, start_ip text, end_ip text,
  allocation_state text NOT NULL DEFAULT 'Enabled',
  created timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX pods_name ON pods (zone_id, lower(name));
CREATE TABLE clusters (
  id uuid PRIMARY KEY,
  zone_id uuid NOT NULL REFERENCES zones(id),
  pod_id uuid NOT NULL REFERENCES pods(id),
  name text NOT NULL,
  hypervisor text NOT NULL,
  cluster_type text NOT NULL DEFAULT 'CloudManaged',
  allocation_state text NOT NULL DEFAULT 'Enabled',
  managed_state text NOT NULL DEFAULT 'Managed',
  created timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX clusters_name ON clusters (pod_id, lower(name));
CREATE TABLE hosts (
  id uuid PRIMARY KEY,
  name text NOT NULL,
  zone_id uuid NOT NULL REFERENCES zones(id),
  pod_id uuid REFERENCES pods(id),
  cluster_id uuid REFERENCES clusters(id),
  type text NOT NULL DEFAULT 'Routing',
  hypervisor text NOT NULL,
  state text NOT NULL DEFAULT 'Disconnected',
  resource_state text NOT NULL DEFAULT 'Enabled',
  ip_address text,
  version text,
  cpu_number integer NOT NULL DEFAULT 0,
  cpu_speed integer NOT NULL DEFAULT 0,
  memory bigint NOT NULL DEFAULT 0,
  token_hash text,
  last_ping timestamptz,
  created timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE physical_networks (
  id uuid PRIMARY KEY,
  zone_id uuid NOT NULL REFERENCES zones(id),
  name text NOT NULL,
  vlan text,                            -- '100-199,300-310' (VLAN ids or VXLAN VNIs)
  isolation_methods text NOT NULL DEFAULT 'VLAN',
  broadcast_domain_range text NOT NULL DEFAULT 'ZONE',
  network_speed text,
  tags text,
  domain_id uuid REFERENCES domains(id),
  state text NOT NULL DEFAULT 'Disabled',
  created timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE traffic_types (
  id uuid PRIMARY KEY,
  physical_network_id uuid NOT NULL REFERENCES physical_networks(id) ON DELETE CASCADE,
  traffic_type text NOT NULL,           -- Guest | Public | Management | Storage | Control
  kvm_label text, xen_label text, vmware_label text, hyperv_label text, isolation_method text, vlan text
);
CREATE UNIQUE INDEX traffic_types_unique ON traffic_types (physical_network_id, traffic_type);
CREATE TABLE network_service_providers (
  id uuid PRIMARY KEY,
  physical_network_id uuid NOT NULL REFERENCES physical_networks(id) ON DELETE CASCADE,
  name text NOT NULL,
  state text NOT NULL DEFAULT 'Disabled',
  services text NOT NULL,               -- comma-separated service names
  can_enable_individual_service boolean NOT NULL DEFAULT false,
  created timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX nsp_unique ON network_service_providers (physical_network_id, name);
CREATE TABLE virtual_router_elements (
  id uuid PRIMARY KEY,
  nsp_id uuid NOT NULL REFERENCES network_service_providers(id) ON DELETE CASCADE,
  type text NOT NULL,                   -- VirtualRouter | VPCVirtualRouter
  enabled boolean NOT NULL DEFAULT false
);
CREATE TABLE vlan_ip_ranges (
  id uuid PRIMARY KEY,
  zone_id uuid NOT NULL REFERENCES zones(id),
  pod_id uuid REFERENCES pods(id),
  physical_network_id uuid REFERENCES physical_networks(id),
  network_id uuid,
  vlan text NOT NULL,                   -- 'untagged' or 'vlan://100'
  for_virtual_network boolean NOT NULL,
  gateway text, netmask text, start_ip text, end_ip text,
  ip6_gateway text, ip6_cidr text, start_ipv6 text, end_ipv6 text,
  domain_id uuid REFERENCES domains(id),
  account_id uuid REFERENCES accounts(id),
  created timestamptz NOT NULL DEFAULT now()
);
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
  },
];

export async function migrate(db: Database): Promise<number[]> {
  await db.query(`CREATE TABLE IF NOT EXISTS schema_migrations (id integer PRIMARY KEY, name text NOT NULL, applied timestamptz NOT NULL DEFAULT now())`);
  const applied = new Set((await db.query<{ id: number }>('SELECT id FROM schema_migrations')).map((r) => r.id));
  const ran: number[] = [];
  for (const m of MIGRATIONS) {
    if (applied.has(m.id)) continue;
    await db.tx(async (sql) => {
      // Two managers starting at once on one PostgreSQL: the second waits, then sees it done.
      await sql.query('SELECT pg_advisory_xact_lock(726354)');
      const again = await sql.query('SELECT 1 FROM schema_migrations WHERE id = $1', [m.id]);
      if (again.length) return;
      for (const stmt of splitStatements(m.sql)) await sql.query(stmt);
      await sql.query('INSERT INTO schema_migrations (id, name) VALUES ($1, $2)', [m.id, m.name]);
      ran.push(m.id);
    });
  }
  return ran;
}

/** Our migrations contain no semicolons inside strings or bodies, so a plain split is exact. */
function splitStatements(sqlText: string): string[] {
  return sqlText.split(';').map((s) => s.replace(/--.*$/gm, '').trim()).filter((s) => s.length > 0);
}
