// Fills a manager's database for list benchmarks and paging tests, in a few set-based SQL
// statements (seconds for tens of thousands of rows, where the API would take minutes):
// subdomains, accounts, one zone, isolated networks (Account ACL, spread over the accounts and
// over time) and shared networks (Domain ACL), user VMs with one NIC each in a network of their
// account. Rows are what the API would write for Allocated networks and Stopped/Running VMs.
import { GUEST_TEMPLATE_ID } from '@flotilla/storage';
import type { Sql } from '../src/db/sql.ts';

export interface SeedSize {
  /** subdomains of ROOT the accounts are spread over (ROOT itself holds one share too) */
  domains: number;
  accounts: number;
  /** isolated networks; every 50th (and at least one) network is a shared Domain network */
  networks: number;
  vms: number;
  /** prefix of every seeded name (lets two seeds live in one database) */
  prefix?: string;
}

export interface Seeded { zoneId: string; zoneName: string; accountIds: string[]; domainIds: string[] }

const GUEST_TEMPLATE = GUEST_TEMPLATE_ID;

/** Seeds; existing accounts given in `withAccounts` receive their share of networks and VMs first. */
export async function seedScale(sql: Sql, size: SeedSize, withAccounts: string[] = []): Promise<Seeded> {
  const p = size.prefix ?? 'b';
  const zoneName = `${p}-zone`;
  const [zone] = await sql.query<{ id: string }>(
    `INSERT INTO zones (id, name, dns1, internaldns1, guest_cidr, network_type, allocation_state, zone_token)
     VALUES (gen_random_uuid(), $1, '192.0.2.53', '192.0.2.53', '10.1.0.0/16', 'Advanced', 'Enabled', gen_random_uuid()) RETURNING id`, [zoneName]);
  const zoneId = zone!.id;
  const root = (await sql.query<{ id: string }>(`SELECT id FROM domains WHERE path = 'ROOT'`))[0]!.id;
  const domainIds = [root, ...(await sql.query<{ id: string }>(
    `INSERT INTO domains (id, name, path, parent_id, level)
     SELECT gen_random_uuid(), $1 || '-d' || i, 'ROOT/' || $1 || '-d' || i, $2, 1 FROM generate_series(1, $3) i RETURNING id`, [p, root, size.domains])).map((r) => r.id)];
  const newAccounts = Math.max(0, size.accounts - withAccounts.length);
  // Account i lives in domain i mod (domains+1); created in order so accountIds[i] is account i.
  const made = await sql.query<{ id: string }>(
    `INSERT INTO accounts (id, name, domain_id, type, created)
     SELECT gen_random_uuid(), $1 || '-acc' || i, ($2::uuid[])[1 + i % cardinality($2::uuid[])], 0, now() - make_interval(secs => $3 - i)
     FROM generate_series(1, $3) i ORDER BY i RETURNING id`, [p, domainIds, newAccounts]);
  const accountIds = [...withAccounts, ...made.map((r) => r.id)];
  // Shared networks belong to the seeded domains and to the domains of the given accounts.
  const sharedDomains = [...new Set([...domainIds, ...(await sql.query<{ domain_id: string }>('SELECT domain_id FROM accounts WHERE id = ANY($1::uuid[])', [withAccounts])).map((r) => r.domain_id)])];
  const offering = (await sql.query<{ id: string }>(`SELECT id FROM network_offerings WHERE name = 'DefaultIsolatedNetworkOfferingWithSourceNatService'`))[0]!.id;
  const shared = (await sql.query<{ id: string }>(`SELECT id FROM network_offerings WHERE name = 'DefaultSharedNetworkOffering'`))[0]?.id ?? offering;
  // Network i: every 50th one a shared network of a domain; the others go round the accounts in
  // turn (the k-th isolated network to account k mod accounts, so the first accounts get one more).
  await sql.query(
    `INSERT INTO networks (id, name, display_text, zone_id, network_offering_id, guest_type, acl_type, account_id, domain_id, state, cidr, gateway, network_domain, created)
     SELECT gen_random_uuid(), $1 || '-net' || i, $1 || ' network ' || i, $2, CASE WHEN i % 50 = 0 THEN $6 ELSE $3 END::uuid,
       CASE WHEN i % 50 = 0 THEN 'Shared' ELSE 'Isolated' END, CASE WHEN i % 50 = 0 THEN 'Domain' ELSE 'Account' END,
       CASE WHEN i % 50 = 0 THEN NULL ELSE a.id END, CASE WHEN i % 50 = 0 THEN ($7::uuid[])[1 + (i / 50) % cardinality($7::uuid[])] ELSE a.domain_id END,
       'Allocated', '10.1.0.0/16', '10.1.0.1', 'cs' || i || '.cloud.internal', now() - make_interval(secs => $5 - i)
     FROM generate_series(1, $5) i JOIN LATERAL (SELECT id, domain_id FROM accounts WHERE id = ($4::uuid[])[1 + (i - i / 50 - 1) % cardinality($4::uuid[])]) a ON true`,
    [p, zoneId, offering, accountIds, size.networks, shared, sharedDomains]);
  // VM j: account j mod accounts, in that account's first isolated network of this seed.
  const so = (await sql.query<{ id: string }>(`SELECT id FROM service_offerings WHERE name = 'Small Instance' AND NOT is_system`))[0]!.id;
  await sql.query(
    `WITH first_net AS (SELECT DISTINCT ON (account_id) account_id, id FROM networks WHERE zone_id = $2 AND account_id IS NOT NULL ORDER BY account_id, created),
     v AS (
       INSERT INTO vm_instances (id, name, display_name, instance_name, type, state, zone_id, template_id, service_offering_id, account_id, domain_id, created)
       SELECT gen_random_uuid(), $1 || '-vm' || j, $1 || ' vm ' || j, 'i-' || $1 || '-' || j || '-VM', 'User', CASE WHEN j % 3 = 0 THEN 'Running' ELSE 'Stopped' END,
         $2, $3, $4, a.id, a.domain_id, now() - make_interval(secs => $6 - j)
       FROM generate_series(1, $6) j JOIN LATERAL (SELECT id, domain_id FROM accounts WHERE id = ($5::uuid[])[1 + j % cardinality($5::uuid[])]) a ON true
       RETURNING id, account_id, name)
     INSERT INTO nics (id, vm_id, network_id, device_id, mac, ip4, is_default)
     SELECT gen_random_uuid(), v.id, f.id, 0, '02:' || substr(h, 1, 2) || ':' || substr(h, 3, 2) || ':' || substr(h, 5, 2) || ':' || substr(h, 7, 2) || ':' || substr(h, 9, 2),
       '10.1.' || (k / 250) % 256 || '.' || (2 + k % 250), true
     FROM (SELECT v.*, lpad(to_hex(abs(hashtext($1)) % 256), 2, '0') || lpad(to_hex(k), 8, '0') AS h
           FROM (SELECT v.*, row_number() OVER () AS k FROM v) v) v JOIN first_net f ON f.account_id = v.account_id`,
    [p, zoneId, GUEST_TEMPLATE, so, accountIds, size.vms]);
  return { zoneId, zoneName, accountIds, domainIds };
}
