import type { CallerCache } from './api/caller-cache.ts';
import type { CachedKey } from './api/auth.ts';
import type { Database } from './db/sql.ts';
import type { Registry } from './api/registry.ts';
import type { SecretBox } from './api/crypto.ts';
import type { JobRunner } from './jobs/runner.ts';
import type { Logger } from './log.ts';
import type { AgentGateway } from './agents/gateway.ts';
import type { TlsSettings } from './tls.ts';
import type { Metrics } from './metrics/metrics.ts';
import type { Cluster } from './cluster/cluster.ts';

/** Process-wide services handed to every command through its Context. */
export interface Services {
  readonly db: Database;
  readonly registry: Registry;
  readonly secrets: SecretBox;
  readonly jobs: JobRunner;
  readonly log: Logger;
  /** the channel to host agents */
  readonly agents: AgentGateway;
  /** identifies this manager process; async jobs record it as their owner */
  readonly runId: string;
  readonly settings: Settings;
  /** API key → caller and secret, for signed requests (see api/caller-cache.ts) */
  readonly callers: CallerCache<CachedKey>;
  /** Prometheus metrics (GET /metrics) */
  readonly metrics: Metrics;
  /** Several managers on one PostgreSQL (cluster/cluster.ts): absent on PGlite (always leads) */
  readonly cluster?: Cluster;
}

export interface Settings {
  readonly port: number;
  readonly host: string;
  readonly dataDir: string;
  readonly databaseUrl?: string;
  /** session lifetime since last use, seconds (CloudStack: session.timeout 1800) */
  readonly sessionTimeout: number;
  /** delays the start of every async job (an operator/debug knob; the crash test uses it) */
  readonly jobDelayMs: number;
  /** how far ahead a signatureVersion=3 `expires` may be, seconds (default 3600) */
  readonly signatureMaxExpiresSeconds?: number;
  /** HTTPS (and wss:// for agents) when set: tls.ts */
  readonly tls?: TlsSettings;
}
