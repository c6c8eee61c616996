// Assembles a manager: database (PGlite or PostgreSQL), migrations, seed data, secrets,
// command registry, job runner and HTTP server. Used by main.ts and by every test.
import { CallerCache } from './api/caller-cache.ts';
import { randomBytes, randomUUID } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { openDatabase } from './db/index.ts';
import type { Database } from './db/sql.ts';
import { SecretBox } from './api/crypto.ts';
import { buildRegistry } from './commands/index.ts';
import { JobRunner } from './jobs/runner.ts';
import { buildServer } from './server.ts';
import { AgentGateway } from './agents/gateway.ts';
import { reconcileHost, startVmMonitor } from './orchestrator/compute.ts';
import { startRouterMonitor } from './orchestrator/router.ts';
import { startRepairLoop } from './orchestrator/repair.ts';
import { bootstrap } from './bootstrap.ts';
import { attachConsole } from './console/index.ts';
import { startSystemVmMonitor, systemVmsEnabled } from './systemvm/index.ts';
import { startStorage } from './commands/storage/runtime.ts';
import { attachStorageForward } from './commands/storage/forward.ts';
import { createLogger, type Logger } from './log.ts';
import { Metrics, registerMetricsRoute } from './metrics/metrics.ts';
import type { Services, Settings } from './services.ts';
import { Cluster } from './cluster/cluster.ts';
import { attachCluster, registerHealth } from './cluster/wire.ts';

export interface Manager {
  services: Services;
  app: FastifyInstance;
  generatedAdminPassword?: string;
  close(): Promise<void>;
}

export function settingsFromEnv(env: NodeJS.ProcessEnv = process.env): Settings {
  const port = Number(env.PORT ?? 8080);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`PORT must be a TCP port, not ${env.PORT}`);
  return {
    port,
    // Loopback by default, deliberately: the API, the web UI and the agents' channel are not
    // offered to the network until an operator says where (FLOTILLA_LISTEN), ideally with TLS.
    host: env.FLOTILLA_LISTEN ?? '127.0.0.1',
    dataDir: env.FLOTILLA_DATA_DIR ?? './data',
    ...(env.DATABASE_URL ? { databaseUrl: env.DATABASE_URL } : {}),
    sessionTimeout: Number(env.FLOTILLA_SESSION_TIMEOUT ?? 1800),
    jobDelayMs: Number(env.FLOTILLA_JOB_DELAY_MS ?? 0),
    ...(env.FLOTILLA_SIGNATURE_MAX_EXPIRES ? { signatureMaxExpiresSeconds: positiveSeconds('FLOTILLA_SIGNATURE_MAX_EXPIRES', env.FLOTILLA_SIGNATURE_MAX_EXPIRES) } : {}),
  };
}

function positiveSeconds(name: string, v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a whole number of seconds above 0, not ${v}`);
  return n;
}

/** The master key sealing API secret keys: FLOTILLA_MASTER_KEY (base64, 32 bytes) or <dataDir>/master.key. */
function masterKey(dataDir: string | undefined, env: NodeJS.ProcessEnv): Buffer {
  if (env.FLOTILLA_MASTER_KEY) return Buffer.from(env.FLOTILLA_MASTER_KEY, 'base64');
  if (!dataDir) return randomBytes(32);
  const file = join(dataDir, 'master.key');
  if (!existsSync(file)) {
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(file, randomBytes(32).toString('base64'), { mode: 0o600, flag: 'wx' });
  }
  chmodSync(file, 0o600);
  return Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');
}

export interface CreateOpts {
  settings: Settings;
  /** use this database instead of opening one (tests) */
  db?: Database;
  /** in-memory PGlite (tests) */
  memory?: boolean;
  adminPassword?: string;
  log?: Logger;
  env?: NodeJS.ProcessEnv;
}

export async function createManager(o: CreateOpts): Promise<Manager> {
  const env = o.env ?? process.env;
  const db = o.db ?? await openDatabase({ ...(o.settings.databaseUrl ? { url: o.settings.databaseUrl } : {}), dataDir: o.settings.dataDir, memory: o.memory ?? false });
  const boot = await bootstrap(db, o.adminPassword ?? env.FLOTILLA_ADMIN_PASSWORD);
  const jobs = new JobRunner();
  const log = o.log ?? createLogger();
  const agents = new AgentGateway(db, log);
  const master = masterKey(o.memory ? undefined : o.settings.dataDir, env);
  const runId = randomUUID();
  // Several managers may share a PostgreSQL database (decision 0282): one leads. PGlite (or a
  // database handed in by a test) is one manager's alone: it always leads, as before.
  const cluster = !o.db && db.dialect === 'postgres' && o.settings.databaseUrl && env.FLOTILLA_CLUSTER !== 'off'
    ? new Cluster(o.settings.databaseUrl, db, runId, log) : undefined;
  const services: Services = {
    db, registry: buildRegistry(), jobs, log, agents,
    secrets: new SecretBox(master),
    runId, settings: o.settings, callers: new CallerCache(), metrics: new Metrics(),
    ...(cluster ? { cluster } : {}),
  };
  jobs.bind(services);
  services.metrics.bind(services);
  const app = await buildServer(services);
  registerMetricsRoute(app, services.metrics, { token: env.FLOTILLA_METRICS_TOKEN });
  registerHealth(app, services);
  agents.hooks = { onConnect: (hostId) => reconcileHost(services, hostId) };
  await agents.register(app);
  await attachConsole(app, services, master, env);
  attachStorageForward(app, services);
  // The image stores' secondary storage services (commands/storage/runtime.ts).
  const storage = await startStorage(services, env);
  // What talks to hosts runs on the leader only (one manager: always): resumed jobs and the loops.
  const leaderWork = async () => {
    await jobs.recover();
    // Routers report their applied generation, health and counters; a dead one is re-created.
    const stopRouterMonitor = startRouterMonitor(services, Number(env.FLOTILLA_ROUTER_CHECK_MS ?? 10_000));
    // Guests a host reports Stopped (out of memory, powered off inside) are recorded Stopped.
    const stopVmMonitor = startVmMonitor(services, Number(env.FLOTILLA_VM_CHECK_MS ?? 10_000));
    // Implemented networks brought back to their desired state, each repair an event (repair.ts).
    const stopRepairLoop = startRepairLoop(services, Number(env.FLOTILLA_REPAIR_CHECK_MS ?? 30_000));
    // The zones' system VMs (console proxy, secondary storage): made, started, kept alive.
    const stopSystemVmMonitor = systemVmsEnabled(env) ? startSystemVmMonitor(services, Number(env.FLOTILLA_SYSTEMVM_CHECK_MS ?? 10_000)) : async () => undefined;
    return async () => {
      await stopRouterMonitor();
      await stopRepairLoop();
      await stopVmMonitor();
      await stopSystemVmMonitor();
    };
  };
  const stopLeaderWork = cluster ? await attachCluster(services, cluster, leaderWork) : await leaderWork();
  return {
    services, app, ...(boot.generatedAdminPassword ? { generatedAdminPassword: boot.generatedAdminPassword } : {}),
    async close() {
      await stopLeaderWork();
      await storage.close();
      jobs.stop();
      await app.close();
      await jobs.idle();
      if (!o.db) await db.close();
    },
  };
}
