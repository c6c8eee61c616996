// The agent channel's own migrations.
import type { Migration } from '../db/migrations.ts';

/** Each accepted agent connection of a host is a session with a new epoch (issue 16): the
 *  closing of an older session never marks the host of a newer one Disconnected. */
export const AGENT_EPOCH_MIGRATION: Migration = {
  id: 160, name: 'host agent session epoch',
  sql: `
ALTER TABLE hosts ADD COLUMN agent_epoch bigint NOT NULL DEFAULT 0;
`,
};
