// Several managers on one PostgreSQL (decision 0282): the managers that share the database, and
// the agent calls a follower hands to the leader.
import type { Migration } from '../db/migrations.ts';

export const MANAGERS_MIGRATION: Migration = {
  id: 220, name: 'cluster: managers sharing the database; agent calls routed to the leader',
  sql: `
CREATE TABLE managers (
  id text PRIMARY KEY,                 -- services.runId of the process
  url text,                            -- where it serves the API (and the agent endpoint)
  version text,
  started timestamptz NOT NULL DEFAULT now(),
  heartbeat_at timestamptz NOT NULL DEFAULT now(),
  is_leader boolean NOT NULL DEFAULT false
);
CREATE TABLE agent_calls (
  id uuid PRIMARY KEY,
  host_id uuid NOT NULL,
  op text NOT NULL,
  args jsonb NOT NULL,
  timeout_ms integer NOT NULL,
  from_manager text NOT NULL,
  taken_by text,
  done boolean NOT NULL DEFAULT false,
  ok boolean,
  result jsonb,
  error jsonb,
  created timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX agent_calls_open ON agent_calls (created) WHERE taken_by IS NULL;
`,
};
