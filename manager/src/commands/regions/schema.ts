import type { Migration } from '../../db/migrations.ts';

// Regions (CloudStack's RegionManagerImpl): a list of peer management servers by endpoint. The
// local region, id 1 'Local', is seeded here as CloudStack seeds it (region.id defaults to 1).
export const REGIONS_MIGRATION: Migration = {
  id: 173, name: 'regions: the local region and its peers',
  sql: `
CREATE TABLE regions (
  id integer PRIMARY KEY,
  name text NOT NULL,
  endpoint text NOT NULL,
  gslb_service_enabled boolean NOT NULL DEFAULT true,
  portableip_service_enabled boolean NOT NULL DEFAULT false
);
CREATE UNIQUE INDEX regions_name ON regions (lower(name));
INSERT INTO regions (id, name, endpoint) VALUES (1, 'Local', 'http://localhost:8080/client/');
`,
};
