import type { Migration } from '../../db/migrations.ts';

/**
 * Load balancing (createLoadBalancerRule and friends). A rule belongs to a public IP of an
 * isolated network; members are VM NIC addresses; at most one stickiness and one health-check
 * policy per rule (as CloudStack's VR); certificates are per account, their private key sealed
 * with the master key. `firewall_rule_id` is the firewall rule openfirewall=true created: it
 * goes with the LB rule. routers.lb_status is the appliance's last LB report.
 */
export const LB_MIGRATION: Migration = {
  id: 40, name: 'lb: load balancer rules, members, policies, certificates',
  sql: `
CREATE TABLE ssl_certs (
  id uuid PRIMARY KEY,
  name text NOT NULL,
  account_id uuid NOT NULL REFERENCES accounts(id),
  domain_id uuid NOT NULL REFERENCES domains(id),
  certificate text NOT NULL,
  chain text,
  private_key_enc text NOT NULL,
  fingerprint text NOT NULL,
  created timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE lb_rules (
  id uuid PRIMARY KEY,
  name text NOT NULL,
  description text,
  network_id uuid NOT NULL REFERENCES networks(id),
  ip_address_id uuid NOT NULL REFERENCES public_ip_addresses(id),
  account_id uuid NOT NULL REFERENCES accounts(id),
  domain_id uuid NOT NULL REFERENCES domains(id),
  public_port integer NOT NULL,
  private_port integer NOT NULL,
  protocol text NOT NULL,               -- tcp | udp | tcp-proxy | ssl
  algorithm text NOT NULL,              -- roundrobin | leastconn | source
  source_cidrs text[] NOT NULL DEFAULT '{}',
  firewall_rule_id uuid,                -- the rule openfirewall=true created
  cert_id uuid REFERENCES ssl_certs(id),
  state text NOT NULL DEFAULT 'Active',
  created timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX lb_rules_network ON lb_rules (network_id);
CREATE TABLE lb_members (
  rule_id uuid NOT NULL REFERENCES lb_rules(id) ON DELETE CASCADE,
  vm_id uuid NOT NULL REFERENCES vm_instances(id),
  ip text NOT NULL,
  created timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (rule_id, vm_id, ip)
);
CREATE TABLE lb_stickiness (
  id uuid PRIMARY KEY,
  rule_id uuid NOT NULL UNIQUE REFERENCES lb_rules(id) ON DELETE CASCADE,
  name text NOT NULL,
  description text,
  method text NOT NULL,                 -- SourceBased | LbCookie | AppCookie
  params jsonb NOT NULL DEFAULT '{}',
  created timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE lb_healthchecks (
  id uuid PRIMARY KEY,
  rule_id uuid NOT NULL UNIQUE REFERENCES lb_rules(id) ON DELETE CASCADE,
  description text,
  ping_path text,
  interval_s integer NOT NULL,
  timeout_s integer NOT NULL,
  healthy integer NOT NULL,
  unhealthy integer NOT NULL,
  created timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE routers ADD COLUMN lb_status jsonb;
`,
};

/** fordisplay of rules and policies (CloudStack's display flag): stored, listed, filtered, updated. */
export const LB_FORDISPLAY_MIGRATION: Migration = {
  id: 210, name: 'lb: fordisplay of rules, stickiness and health-check policies',
  sql: `
ALTER TABLE lb_rules ADD COLUMN for_display boolean NOT NULL DEFAULT true;
ALTER TABLE lb_stickiness ADD COLUMN for_display boolean NOT NULL DEFAULT true;
ALTER TABLE lb_healthchecks ADD COLUMN for_display boolean NOT NULL DEFAULT true;
`,
};
