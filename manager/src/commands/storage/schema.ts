import type { Migration } from '../../db/migrations.ts';

/**
 * Image stores (addImageStore, provider `Local`: a directory on the manager's machine served by
 * a secondary storage service; docs/decisions/0420) and what templates and ISOs need to be
 * downloaded, uploaded and served: the store holding them, the transfer state the storage
 * service reports, the stored file's size, sha256 and compression. `secret` is the key the
 * manager shares with the store's service (upload signatures, host and extract URLs), sealed
 * with the manager's master key (runtime.ts storeSecret; rows of before that hold it plain).
 * `service_url` is where that service listens now (set when the manager starts it).
 */
export const STORAGE_MIGRATION: Migration = {
  id: 140, name: 'storage: image stores; templates and ISOs stored and transferred',
  sql: `
CREATE TABLE image_stores (
  id uuid PRIMARY KEY,
  name text NOT NULL,
  zone_id uuid REFERENCES zones(id),
  provider text NOT NULL,
  protocol text NOT NULL,
  url text NOT NULL,
  path text NOT NULL,
  secret text NOT NULL,
  service_url text,
  readonly boolean NOT NULL DEFAULT false,
  created timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE templates ADD COLUMN store_id uuid REFERENCES image_stores(id);
ALTER TABLE templates ADD COLUMN transfer_state text;
ALTER TABLE templates ADD COLUMN physical_size bigint;
ALTER TABLE templates ADD COLUMN sha256 text;
ALTER TABLE templates ADD COLUMN compression text;
ALTER TABLE templates ADD COLUMN is_iso boolean NOT NULL DEFAULT false;
ALTER TABLE templates ADD COLUMN bootable boolean NOT NULL DEFAULT true;
ALTER TABLE templates ADD COLUMN is_extractable boolean NOT NULL DEFAULT false;
ALTER TABLE templates ADD COLUMN removed timestamptz
`,
};
