// System VMs of the zone (console proxy, secondary storage): what a vm_instances row of type
// ConsoleProxy / SecondaryStorageVm has beyond a guest's — its public address (from the zone's
// public range, as CloudStack gives them), its control (link-local) address and MACs, and its
// last report. Console keys: the epochs of the rotating console token key (the key itself is
// derived from the master key and the epoch, never stored).
import type { Migration } from '../db/migrations.ts';

export const SYSTEM_VMS_MIGRATION: Migration = {
  id: 130, name: 'system VMs of the zone (console proxy, secondary storage) and console key epochs',
  sql: `
CREATE TABLE system_vms (
  vm_id uuid PRIMARY KEY REFERENCES vm_instances(id) ON DELETE CASCADE,
  public_ip_id uuid REFERENCES public_ip_addresses(id),
  public_ip text NOT NULL,
  public_netmask text NOT NULL,
  public_gateway text NOT NULL,
  public_mac text NOT NULL,
  control_mac text NOT NULL,
  link_local_ip text NOT NULL,
  sessions integer NOT NULL DEFAULT 0,     -- last reported active sessions (console proxy)
  report jsonb,
  last_report timestamptz,
  created timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE console_keys (
  epoch integer PRIMARY KEY,
  created timestamptz NOT NULL DEFAULT now()
);
INSERT INTO console_keys (epoch) VALUES (0)
`,
};
