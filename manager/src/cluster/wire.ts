// Wiring of several managers (decision 0282) into one manager process: the gateway learns
// whether it leads and routes its calls otherwise, new jobs reach the leader, and what only the
// leader runs (`leaderWork`: resumed jobs and the loops that talk to hosts) starts when this
// manager wins the lock and stops when it loses it. Plus GET /healthz for load balancers.
import type { FastifyInstance } from 'fastify';
import type { Services } from '../services.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import { guard, guarded, reportFailure } from '../background.ts';
import { AgentRequestError } from '../agents/gateway.ts';
import { CHANNEL_JOBS, type Cluster } from './cluster.ts';
import { AgentRoute } from './route.ts';

/** The leader's sweep for pending jobs it was not told about (a NOTIFY lost in a change). */
const JOB_SWEEP_MS = 1000;

type Stop = () => Promise<void>;

export async function attachCluster(s: Services, cluster: Cluster, leaderWork: () => Promise<Stop>): Promise<Stop> {
  const agents = s.agents;
  agents.leading = false;
  agents.leaderUrl = () => cluster.leaderUrl();
  agents.ownUrl = () => cluster.url;
  const route = new AgentRoute(s.db, cluster, s.log, () => cluster.leader && agents.leading, (hostId, op, args, timeoutMs) => agents.request(hostId, op, args as never, timeoutMs),
    (code, message, hostId) => new AgentRequestError(code as AgentRequestError['code'], message, hostId));
  agents.route = route;
  route.start();
  cluster.on(CHANNEL_JOBS, (jobId) => { if (cluster.leader) s.jobs.start(jobId); });
  const sweep = setInterval(guarded(s, 'pending jobs sweep', () => s.jobs.sweep()), JOB_SWEEP_MS);
  sweep.unref();
  let stopWork: Stop | undefined;
  cluster.hooks = {
    async lead() {
      agents.leading = true;
      // Until it starts (its first step reads the database, which may be coming back).
      for (let attempt = 0; cluster.leader && !stopWork; attempt++) {
        try { stopWork = await leaderWork(); } catch (e) {
          await reportFailure(s, 'starting the leader\'s work', e);
          await sleep(Math.min(5000, 500 * 2 ** attempt));
        }
      }
    },
    async follow() {
      await agents.stopLeading();
      const stop = stopWork;
      stopWork = undefined;
      // Not awaited: a loop's pass in flight may wait on an agent call that only the next leader
      // — possibly this manager again, once this change is over — can answer.
      if (stop) void guard(s, 'stopping the leader\'s work', stop);
    },
  };
  await cluster.start();
  return async () => {
    clearInterval(sweep);
    route.stop();
    await cluster.stop();
    await guard(s, 'stopping leader work', async () => { await stopWork?.(); });
  };
}

/** GET /healthz: 200 while this manager serves the API and reaches its database (HAProxy's
 *  check), 503 otherwise; `leader` says whether it is the one hosts connect to. */
export function registerHealth(app: FastifyInstance, s: Services): void {
  app.get('/healthz', async (_req, reply) => {
    const leader = s.cluster ? s.cluster.leader : true;
    try {
      await s.db.query('SELECT 1');
    } catch {
      return reply.code(503).send({ ok: false, leader, manager: s.runId });
    }
    return reply.code(200).send({ ok: true, leader, manager: s.runId, database: s.db.dialect });
  });
}
