import type { Migration } from '../db/migrations.ts';

/**
 * Indexes of the lists paged in SQL (api/paging.ts): each list's ORDER BY (created, id) for the
 * admin's first pages, (account_id, created, id) for a tenant's own objects, the domain columns
 * of domain-scoped lists, and nics(vm_id) for the NICs of a page of VMs (a scan of every NIC
 * per listVirtualMachines before). networks_domain_shared serves a tenant's view of the domain
 * networks above it without reading the account networks of its domain.
 */
export const LIST_INDEX_MIGRATION: Migration = {
  id: 80, name: 'indexes of lists paged in SQL',
  sql: `
CREATE INDEX networks_list ON networks (created, id);
CREATE INDEX networks_account_list ON networks (account_id, created, id);
CREATE INDEX networks_domain ON networks (domain_id);
CREATE INDEX networks_domain_shared ON networks (domain_id) WHERE acl_type <> 'Account';
CREATE INDEX vm_instances_user_list ON vm_instances (created, id) WHERE type = 'User';
CREATE INDEX vm_instances_account_list ON vm_instances (account_id, created, id);
CREATE INDEX vm_instances_domain ON vm_instances (domain_id);
CREATE INDEX nics_vm ON nics (vm_id);
CREATE INDEX nics_network ON nics (network_id);
`,
};
