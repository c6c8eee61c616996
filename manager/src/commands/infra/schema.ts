import type { Migration } from '../../db/migrations.ts';

/** Zones, pods, clusters, hosts, physical networks and public IP ranges. */
export const INFRA_MIGRATION: Migration = {
  id: 2, name: 'infrastructure',
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
  dhcp_provider text NOT NULL DEFAULT 'VirtualRouter',
  zone_token uuid NOT NULL,
  sort_key integer NOT NULL DEFAULT 0,
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
  arch text NOT NULL DEFAULT 'x86_64',
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
  arch text NOT NULL DEFAULT 'x86_64',
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
  seq bigserial,
  created timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE traffic_types (
  id uuid PRIMARY KEY,
  physical_network_id uuid NOT NULL REFERENCES physical_networks(id) ON DELETE CASCADE,
  traffic_type text NOT NULL,           -- Guest | Public | Management | Storage | Control
  kvm_label text, xen_label text, vmware_label text, hyperv_label text, ovm3_label text, isolation_method text, vlan text,
  seq bigserial
);
CREATE UNIQUE INDEX traffic_types_unique ON traffic_types (physical_network_id, traffic_type);
CREATE TABLE network_service_providers (
  id uuid PRIMARY KEY,
  physical_network_id uuid NOT NULL REFERENCES physical_networks(id) ON DELETE CASCADE,
  name text NOT NULL,
  state text NOT NULL DEFAULT 'Disabled',
  services text NOT NULL,               -- comma-separated service names
  can_enable_individual_service boolean NOT NULL DEFAULT false,
  dest_physical_network_id uuid,
  seq bigserial,
  created timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX nsp_unique ON network_service_providers (physical_network_id, name);
CREATE TABLE virtual_router_elements (
  id uuid PRIMARY KEY,
  nsp_id uuid NOT NULL REFERENCES network_service_providers(id) ON DELETE CASCADE,
  type text NOT NULL,                   -- VirtualRouter | VPCVirtualRouter
  enabled boolean NOT NULL DEFAULT false,
  seq bigserial
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
  for_system_vms boolean NOT NULL DEFAULT false,
  domain_id uuid REFERENCES domains(id),
  account_id uuid REFERENCES accounts(id),
  seq bigserial,
  created timestamptz NOT NULL DEFAULT now()
);
`,
};
