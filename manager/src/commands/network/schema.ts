import type { Migration } from '../../db/migrations.ts';

/**
 * Isolated networks' virtual routers, public IP addresses and the rules on them.
 * Free public addresses have no row: an address is allocated by inserting its row (the unique
 * index makes two allocations of one address impossible) and released by deleting it.
 */
export const NETWORK_MIGRATION: Migration = {
  id: 5, name: 'network: public IPs, rules, routers',
  sql: `
CREATE TABLE public_ip_addresses (
  id uuid PRIMARY KEY,
  address text NOT NULL,
  zone_id uuid NOT NULL REFERENCES zones(id),
  vlan_range_id uuid NOT NULL REFERENCES vlan_ip_ranges(id),
  network_id uuid REFERENCES networks(id),
  account_id uuid REFERENCES accounts(id),
  domain_id uuid REFERENCES domains(id),
  state text NOT NULL DEFAULT 'Allocated',   -- Allocated (CloudStack also has Allocating, Releasing)
  is_source_nat boolean NOT NULL DEFAULT false,
  static_nat_vm_id uuid REFERENCES vm_instances(id),
  static_nat_ip text,
  allocated timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX public_ip_addresses_address ON public_ip_addresses (zone_id, address);
CREATE TABLE network_rules (
  id uuid PRIMARY KEY,
  purpose text NOT NULL,                -- Firewall | PortForwarding | Egress (CloudStack's FirewallRule.Purpose)
  network_id uuid NOT NULL REFERENCES networks(id),
  ip_address_id uuid REFERENCES public_ip_addresses(id),
  account_id uuid NOT NULL REFERENCES accounts(id),
  domain_id uuid NOT NULL REFERENCES domains(id),
  protocol text NOT NULL,               -- tcp | udp | icmp | all
  start_port integer, end_port integer,
  icmp_type integer, icmp_code integer,
  source_cidrs text[] NOT NULL DEFAULT '{}',
  dest_cidrs text[] NOT NULL DEFAULT '{}',
  vm_id uuid REFERENCES vm_instances(id),
  private_ip text, private_start_port integer, private_end_port integer,
  state text NOT NULL DEFAULT 'Active',
  created timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX network_rules_network ON network_rules (network_id);
CREATE TABLE routers (
  vm_id uuid PRIMARY KEY REFERENCES vm_instances(id) ON DELETE CASCADE,
  network_id uuid NOT NULL REFERENCES networks(id),
  public_mac text NOT NULL,
  control_mac text NOT NULL,
  link_local_ip text NOT NULL,
  generation integer NOT NULL DEFAULT 0,  -- of the last spec built (bumped when its content changes)
  spec_hash text,
  applied_generation integer,             -- as the router last reported it
  health jsonb,
  counters jsonb,
  firewall_counters jsonb,
  last_report timestamptz,
  created timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE vm_instances ADD COLUMN password_enc text;
`,
};

/**
 * CloudStack's openfirewall=true: a port forwarding rule comes with a firewall rule of its own
 * (listed by listFirewallRules, deleted with the forward). `related_rule_id` ties the firewall
 * rule to its forward; forwards made before this migration get theirs (they opened their ports
 * implicitly), unless a firewall rule already opens the same first port.
 */
export const NETWORK_RELATED_RULES_MIGRATION: Migration = {
  id: 50, name: 'network: firewall rules of port forwards (openfirewall)',
  sql: `
ALTER TABLE network_rules ADD COLUMN related_rule_id uuid REFERENCES network_rules(id) ON DELETE CASCADE;
INSERT INTO network_rules (id, purpose, network_id, ip_address_id, account_id, domain_id, protocol, start_port, end_port, source_cidrs, related_rule_id, created)
  SELECT gen_random_uuid(), 'Firewall', p.network_id, p.ip_address_id, p.account_id, p.domain_id, p.protocol, p.start_port, p.end_port, p.source_cidrs, p.id, p.created
  FROM network_rules p WHERE p.purpose = 'PortForwarding' AND NOT EXISTS (
    SELECT 1 FROM network_rules f WHERE f.purpose = 'Firewall' AND f.ip_address_id = p.ip_address_id AND f.protocol = p.protocol
      AND f.start_port <= p.start_port AND f.end_port >= p.start_port);
`,
};
