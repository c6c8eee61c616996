import type { Migration } from '../../db/migrations.ts';

// Guest VLAN (VNI) ranges dedicated to an account (CloudStack's dedicateGuestVlanRange,
// op_dc_vnet_alloc's account_guest_vlan_map): that account's networks take their VNI from it
// first, and no other account's network gets one of its VNIs. (Public IP ranges are dedicated on
// their own row: vlan_ip_ranges.account_id/domain_id.)
export const DEDICATION_MIGRATION: Migration = {
  id: 171, name: 'dedication: guest VLAN ranges dedicated to accounts',
  sql: `
CREATE TABLE dedicated_guest_vlan_ranges (
  id uuid PRIMARY KEY,
  physical_network_id uuid NOT NULL REFERENCES physical_networks(id) ON DELETE CASCADE,
  account_id uuid NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  domain_id uuid NOT NULL REFERENCES domains(id),
  start_vni integer NOT NULL,
  end_vni integer NOT NULL,
  created timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dedicated_guest_vlan_ranges_pn ON dedicated_guest_vlan_ranges (physical_network_id);
`,
};
