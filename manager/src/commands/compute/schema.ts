import type { Migration } from '../../db/migrations.ts';

/** Templates, guest networks, VMs and their NICs; hosts learn their agent's name. */
export const COMPUTE_MIGRATION: Migration = {
  id: 4, name: 'compute: templates, networks, VMs, NICs',
  sql: `
ALTER TABLE hosts ADD COLUMN agent_name text;
ALTER TABLE hosts ADD COLUMN host_tags text;
CREATE TABLE templates (
  id uuid PRIMARY KEY,
  name text NOT NULL,
  display_text text NOT NULL,
  kind text NOT NULL,                   -- guest | system (what the netns driver runs inside)
  template_type text NOT NULL DEFAULT 'USER', -- USER | SYSTEM | BUILTIN
  hypervisor text NOT NULL,
  format text NOT NULL,
  url text,
  checksum text,
  os_type text NOT NULL DEFAULT 'Other Linux (64-bit)',
  is_public boolean NOT NULL DEFAULT false,
  is_featured boolean NOT NULL DEFAULT false,
  is_ready boolean NOT NULL DEFAULT false,
  status text NOT NULL,
  password_enabled boolean NOT NULL DEFAULT false,
  account_id uuid REFERENCES accounts(id),
  domain_id uuid REFERENCES domains(id),
  zone_id uuid REFERENCES zones(id),    -- null: all zones
  size bigint,
  created timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE networks (
  id uuid PRIMARY KEY,
  name text NOT NULL,
  display_text text NOT NULL,
  zone_id uuid NOT NULL REFERENCES zones(id),
  physical_network_id uuid REFERENCES physical_networks(id),
  network_offering_id uuid NOT NULL REFERENCES network_offerings(id),
  guest_type text NOT NULL,             -- Shared | Isolated
  acl_type text NOT NULL,               -- Account | Domain
  account_id uuid REFERENCES accounts(id),
  domain_id uuid NOT NULL REFERENCES domains(id),
  state text NOT NULL,                  -- Allocated | Implemented | Destroy
  vni integer,                          -- VXLAN network identifier (also the 'vlan' shown)
  cidr text NOT NULL,
  gateway text NOT NULL,
  start_ip text, end_ip text,
  ip6_gateway text, ip6_cidr text,
  network_domain text,
  dns1 text, dns2 text,
  subdomain_access boolean,
  created timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX networks_vni ON networks (zone_id, vni) WHERE vni IS NOT NULL;
CREATE TABLE vm_instances (
  id uuid PRIMARY KEY,
  name text NOT NULL,                   -- hostname, and the name shown to the tenant
  display_name text,
  instance_name text NOT NULL UNIQUE,   -- i-<n>-VM, r-<n>-VM, … : names the VM on its host
  type text NOT NULL,                   -- User | DomainRouter | ConsoleProxy | SecondaryStorageVm
  state text NOT NULL,                  -- Starting | Running | Stopping | Stopped | Destroyed | Error
  zone_id uuid NOT NULL REFERENCES zones(id),
  pod_id uuid REFERENCES pods(id),
  host_id uuid REFERENCES hosts(id),
  last_host_id uuid REFERENCES hosts(id),
  template_id uuid NOT NULL REFERENCES templates(id),
  service_offering_id uuid NOT NULL REFERENCES service_offerings(id),
  account_id uuid NOT NULL REFERENCES accounts(id),
  domain_id uuid NOT NULL REFERENCES domains(id),
  user_data text,
  keypair text,
  job_id uuid,                          -- the deploy job that created it (resume key)
  created timestamptz NOT NULL DEFAULT now()
);
CREATE SEQUENCE vm_instance_seq;
CREATE TABLE nics (
  id uuid PRIMARY KEY,
  vm_id uuid NOT NULL REFERENCES vm_instances(id) ON DELETE CASCADE,
  network_id uuid NOT NULL REFERENCES networks(id),
  device_id integer NOT NULL,
  mac text NOT NULL UNIQUE,
  ip4 text,
  is_default boolean NOT NULL DEFAULT false,
  created timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX nics_ip ON nics (network_id, ip4) WHERE ip4 IS NOT NULL;
`,
};

/** A destroyed VM keeps what its NICs were, for recoverVirtualMachine (CloudStack keeps the NICs until expunge). */
export const VM_RECOVER_MIGRATION: Migration = {
  id: 53, name: 'compute: NICs a destroyed VM released (recover)',
  sql: `ALTER TABLE vm_instances ADD COLUMN released_nics jsonb;`,
};

/** L2 networks (CloudStack 4.10+): just the segment, no CIDR, no gateway, no address management. */
export const L2_NETWORKS_MIGRATION: Migration = {
  id: 170, name: 'compute: L2 networks (no CIDR, no gateway)',
  sql: `
ALTER TABLE networks ALTER COLUMN cidr DROP NOT NULL;
ALTER TABLE networks ALTER COLUMN gateway DROP NOT NULL;
`,
};
