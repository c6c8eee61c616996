// The manager's Prometheus metrics (prom-client). Two kinds:
// - measured in this process as things happen: API requests and their latency per command, job
//   durations;
// - read at scrape time from what the manager already keeps: jobs by state (async_jobs), hosts and
//   their agents' last heartbeat (hosts + the live channel), routers by state and generation lag,
//   and what each router last reported to the router monitor (routers.counters /
//   firewall_counters: per-rule packets and bytes, DHCP leases and events, DNS queries, metadata
//   and password service events).
// Each manager has its own registry (tests run several managers in one process). Nothing a
// scrape reads is refreshed by the scrape itself: router figures are as fresh as the router
// monitor's last report (FLOTILLA_ROUTER_CHECK_MS, 10 s by default).
import { timingSafeEqual } from 'node:crypto';
import client from 'prom-client';
import type { FastifyInstance } from 'fastify';
import type { Services } from '../services.ts';

const JOB_STATE = ['pending', 'succeeded', 'failed'] as const;

/** Seconds buckets for API latency: most lists answer in 1-20 ms, async creates in a few. */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const JOB_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

interface RouterMetricRow {
  router: string; network: string; network_name: string; zone: string; host: string | null; state: string;
  generation: number; applied_generation: number | null; last_report: number | null;
  counters: { dhcp?: Record<string, number>; dns?: Record<string, number>; metadata?: Record<string, number>; password?: Record<string, number> } | null;
  firewall_counters: Record<string, { packets: number; bytes: number }> | null;
}

export class Metrics {
  readonly registry = new client.Registry();
  readonly requests: client.Counter<'command' | 'code'>;
  readonly latency: client.Histogram<'command'>;
  readonly jobDuration: client.Histogram<'command' | 'result'>;
  /** One router-monitor cycle over every host: its wall time and how many routers it checked. */
  readonly routerMonitorCycle: client.Histogram;
  readonly routerMonitorRouters: client.Gauge;
  private services?: Services;
  /** Readers of the database-fed series, run before each scrape renders. */
  private readonly readers: Array<(s: Services) => Promise<void>> = [];

  constructor() {
    const r = [this.registry];
    client.collectDefaultMetrics({ register: this.registry, prefix: 'flotilla_manager_' });
    this.requests = new client.Counter({ name: 'flotilla_api_requests_total', help: 'API requests by command and answered HTTP status (CloudStack errorcode)', labelNames: ['command', 'code'], registers: r });
    this.latency = new client.Histogram({ name: 'flotilla_api_request_duration_seconds', help: 'API request latency by command, from parsed request to answer', labelNames: ['command'], buckets: LATENCY_BUCKETS, registers: r });
    this.jobDuration = new client.Histogram({ name: 'flotilla_job_duration_seconds', help: 'Async job run time (claim to completion) by command and result', labelNames: ['command', 'result'], buckets: JOB_BUCKETS, registers: r });
    this.routerMonitorCycle = new client.Histogram({ name: 'flotilla_router_monitor_cycle_seconds', help: 'Wall time of one router-monitor cycle (a report from every running router, re-syncs included)', buckets: [0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60], registers: r });
    this.routerMonitorRouters = new client.Gauge({ name: 'flotilla_router_monitor_routers', help: 'Routers checked by the last complete router-monitor cycle', registers: r });
    const jobs = new client.Gauge({ name: 'flotilla_jobs', help: 'Async jobs in the database by state and command', labelNames: ['state', 'command'], registers: r });
    const hostRows = new client.Gauge({ name: 'flotilla_host_state', help: 'Hosts by state (1 for the host\'s current state)', labelNames: ['zone', 'host', 'state'], registers: r });
    const connected = new client.Gauge({ name: 'flotilla_agent_connected', help: '1 when the host\'s agent channel is open to this manager', labelNames: ['zone', 'host'], registers: r });
    const heartbeat = new client.Gauge({ name: 'flotilla_agent_last_heartbeat_timestamp_seconds', help: 'When the host\'s agent was last heard (live channel) or last recorded alive (hosts.last_ping)', labelNames: ['zone', 'host'], registers: r });
    this.readers.push(async (s) => {
      const rows = await s.db.query<{ status: number; command: string; n: number }>('SELECT status, command, count(*)::int AS n FROM async_jobs GROUP BY status, command');
      jobs.reset();
      for (const x of rows) jobs.set({ state: JOB_STATE[x.status] ?? String(x.status), command: x.command }, x.n);
    }, async (s) => {
      const heard = s.agents.lastHeard();
      const rows = await s.db.query<{ id: string; name: string; zone: string; state: string; last_ping: number | null }>(
        `SELECT h.id, h.name, z.name AS zone, h.state, extract(epoch FROM h.last_ping)::float8 AS last_ping FROM hosts h JOIN zones z ON z.id = h.zone_id`);
      heartbeat.reset(); hostRows.reset(); connected.reset();
      for (const h of rows) {
        const labels = { zone: h.zone, host: h.name };
        hostRows.set({ ...labels, state: h.state }, 1);
        connected.set(labels, heard.has(h.id) ? 1 : 0);
        const at = heard.get(h.id) ?? (h.last_ping !== null ? h.last_ping * 1000 : undefined);
        if (at !== undefined) heartbeat.set(labels, at / 1000);
      }
    });

    // Routers: one query per scrape feeds every router series.
    const G = (name: string, help: string, labelNames: string[]) => new client.Gauge({ name, help, labelNames, registers: r });
    const C = (name: string, help: string, labelNames: string[]) => new client.Counter({ name, help, labelNames, registers: r });
    const RL = ['zone', 'network', 'router'];
    const routers = G('flotilla_routers', 'Virtual routers by zone and state', ['zone', 'state']);
    const info = G('flotilla_router_info', 'One per router: its network\'s name and its host', [...RL, 'network_name', 'host']);
    const gen = G('flotilla_router_spec_generation', 'Generation of the last spec the manager built for the router', RL);
    const applied = G('flotilla_router_applied_generation', 'Generation the router last reported as applied (absent before its first report)', RL);
    const lag = G('flotilla_router_generation_lag', 'Spec generation minus the applied generation the router reported (the whole generation before its first apply)', RL);
    const reported = G('flotilla_router_last_report_timestamp_seconds', 'When the router monitor last recorded the router\'s report', RL);
    const rulePackets = C('flotilla_router_rule_packets_total', 'Packets matched by a firewall/NAT rule, as the router last reported (resets when the appliance restarts)', [...RL, 'rule']);
    const ruleBytes = C('flotilla_router_rule_bytes_total', 'Bytes matched by a firewall/NAT rule, as the router last reported (resets when the appliance restarts)', [...RL, 'rule']);
    const leases = G('flotilla_router_dhcp_leases', 'DHCP leases the router holds', RL);
    const dhcp = C('flotilla_router_dhcp_events_total', 'DHCP server events (discover, offer, request, ack, nak, …) as the router last reported', [...RL, 'event']);
    const dns = C('flotilla_router_dns_queries_total', 'DNS queries by outcome (answered, forwarded, nxdomain, servfail, …) as the router last reported', [...RL, 'event']);
    const svc = C('flotilla_router_service_events_total', 'Metadata (user data) and password service events as the router last reported', [...RL, 'service', 'event']);
    this.readers.push(async (s) => {
        const rows = await s.db.query<RouterMetricRow>(
          `SELECT v.instance_name AS router, n.id AS network, n.name AS network_name, z.name AS zone, h.name AS host, v.state,
             r.generation, r.applied_generation, extract(epoch FROM r.last_report)::float8 AS last_report, r.counters, r.firewall_counters
           FROM routers r JOIN vm_instances v ON v.id = r.vm_id JOIN networks n ON n.id = r.network_id JOIN zones z ON z.id = v.zone_id
           LEFT JOIN hosts h ON h.id = v.host_id`);
        for (const m of [routers, info, gen, applied, lag, reported, rulePackets, ruleBytes, leases, dhcp, dns, svc]) m.reset();
        const byState = new Map<string, number>();
        for (const x of rows) {
          const k = `${x.zone}\u0000${x.state}`;
          byState.set(k, (byState.get(k) ?? 0) + 1);
          const l = { zone: x.zone, network: x.network, router: x.router };
          info.set({ ...l, network_name: x.network_name, host: x.host ?? '' }, 1);
          gen.set(l, x.generation);
          if (x.applied_generation !== null) applied.set(l, x.applied_generation);
          lag.set(l, x.generation - (x.applied_generation ?? 0));
          if (x.last_report !== null) reported.set(l, x.last_report);
          for (const [rule, c] of Object.entries(x.firewall_counters ?? {})) {
            rulePackets.inc({ ...l, rule }, c.packets);
            ruleBytes.inc({ ...l, rule }, c.bytes);
          }
          const c = x.counters ?? {};
          for (const [event, v] of Object.entries(c.dhcp ?? {})) {
            if (event === 'leases') leases.set(l, v);
            else dhcp.inc({ ...l, event }, v);
          }
          for (const [event, v] of Object.entries(c.dns ?? {})) dns.inc({ ...l, event }, v);
          for (const service of ['metadata', 'password'] as const) for (const [event, v] of Object.entries(c[service] ?? {})) svc.inc({ ...l, service, event }, v);
        }
        for (const [k, n] of byState) { const [zone, state] = k.split('\u0000'); routers.set({ zone: zone!, state: state! }, n); }
    });
  }

  bind(s: Services): void { this.services = s; }

  /**
   * The text of a scrape. The database-fed series are read first, all of them, and only then
   * rendered: prom-client renders metrics concurrently, so a collect() hook of one metric that
   * filled others would let those render last scrape's values.
   */
  async scrape(): Promise<string> {
    if (!this.services) throw new Error('metrics not bound to a manager');
    const s = this.services;
    await Promise.all(this.readers.map((read) => read(s)));
    return this.registry.metrics();
  }

  /** Records one API request (command: the registry's name, or a fixed word for anything else). */
  observeRequest(command: string, code: number, seconds: number): void {
    this.requests.inc({ command, code: String(code) });
    this.latency.observe({ command }, seconds);
  }
}

/** Who may scrape: see registerMetricsRoute. */
export interface MetricsAccess { token?: string | undefined }

function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.');
}

function tokenMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer (.+)$/.exec(header ?? '');
  if (!m) return false;
  const a = Buffer.from(m[1]!), b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * GET /metrics. With FLOTILLA_METRICS_TOKEN set, any client presenting
 * `Authorization: Bearer <token>` may scrape (and nobody without it, loopback included); without
 * a token, only loopback clients (the peer address of the TCP connection, never a forwarded
 * header). The figures name zones, networks and routers of every tenant, so they are an
 * operator's view.
 */
export function registerMetricsRoute(app: FastifyInstance, metrics: Metrics, access: MetricsAccess): void {
  app.get('/metrics', async (req, reply) => {
    const ok = access.token ? tokenMatches(req.headers.authorization, access.token) : isLoopback(req.socket.remoteAddress);
    if (!ok) {
      return reply.code(access.token ? 401 : 403).type('text/plain; charset=utf-8')
        .send(access.token ? 'a bearer token is required\n' : 'metrics are served to loopback clients only; set FLOTILLA_METRICS_TOKEN to scrape from elsewhere\n');
    }
    const text = await metrics.scrape();
    return reply.type(metrics.registry.contentType).send(text);
  });
}
