// Stickiness and health-check policies of load balancer rules (one of each per rule, as
// CloudStack's VirtualRouter provider allows). Methods and parameters as CloudStack's
// listNetworks Lb capabilities describe them; every value that reaches HAProxy's configuration
// is checked here (431 before any job) and again by the appliance's validator.
import { randomUUID } from 'node:crypto';
import { ALL_ROLES, SUCCESS_RESPONSE, command } from '../../api/registry.ts';
import { apiError, paramError } from '../../api/errors.ts';
import type { Context } from '../../api/context.ts';
import { STICKINESS_METHODS } from '@flotilla/protocol/lb';
import { STICKINESS_PARAMS } from '../offerings/element-capabilities.ts';
import { changeNetwork } from '../network/apply.ts';
import { lbById, lbStatuses } from './rules.ts';
import { HEALTH_CHECK, STICKINESS, healthView, stickinessView, type HealthRow, type LbViewRow, type StickyRow } from './views.ts';

/** CloudStack's stickiness parameters per method (what listNetworks advertises). */
const METHOD_PARAMS: Record<string, string[]> = Object.fromEntries(Object.entries(STICKINESS_PARAMS).map(([m, ps]) => [m, ps.map(([n]) => n)]));
/** "30m", "3h", "600" → seconds (CloudStack's time format for expire/holdtime). */
function seconds(v: string): number | undefined {
  const m = /^(\d{1,7})([smhd]?)$/.exec(v);
  if (!m) return undefined;
  return Number(m[1]) * ({ '': 1, s: 1, m: 60, h: 3600, d: 86_400 } as Record<string, number>)[m[2]!]!;
}

async function stickyOf(ctx: Context, ruleId: string): Promise<StickyRow | undefined> {
  return (await ctx.services.db.query<StickyRow>('SELECT * FROM lb_stickiness WHERE rule_id = $1', [ruleId]))[0];
}
async function healthOf(ctx: Context, ruleId: string): Promise<HealthRow | undefined> {
  return (await ctx.services.db.query<HealthRow>('SELECT * FROM lb_healthchecks WHERE rule_id = $1', [ruleId]))[0];
}

function checkSticky(r: LbViewRow, method: string, params: Record<string, string>): Record<string, string> {
  const allowed = METHOD_PARAMS[method]!;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(params)) {
    const key = k.toLowerCase();
    if (!allowed.includes(key)) throw paramError(`Failed to create Stickiness policy: param ${k} is not valid for stickiness method ${method} (valid: ${allowed.join(', ')})`);
    out[key] = v;
  }
  if (out['cookie-name'] !== undefined && !/^[A-Za-z0-9_.-]{1,64}$/.test(out['cookie-name'])) throw paramError(`Failed to create Stickiness policy: cookie-name ${JSON.stringify(out['cookie-name'])} may contain letters, digits, _ . - only (1-64)`);
  for (const k of ['expire', 'holdtime']) if (out[k] !== undefined && (seconds(out[k]!) === undefined || seconds(out[k]!)! < 1 || seconds(out[k]!)! > 2_592_000)) throw paramError(`Failed to create Stickiness policy: ${k} ${JSON.stringify(out[k])} is not a time (e.g. 600, 30m, 3h) up to 30d`);
  for (const k of ['nocache', 'indirect', 'postonly']) if (out[k] !== undefined && !/^(true|false)$/i.test(out[k]!)) throw paramError(`Failed to create Stickiness policy: ${k} must be true or false`);
  for (const k of ['tablesize', 'length']) if (out[k] !== undefined && !/^\d{1,7}[kKmMgG]?$/.test(out[k]!)) throw paramError(`Failed to create Stickiness policy: ${k} ${JSON.stringify(out[k])} is not a size`);
  if (method === 'AppCookie' && !out['cookie-name']) throw paramError('Failed to create Stickiness policy: AppCookie needs param cookie-name');
  if (method !== 'SourceBased' && r.protocol === 'udp') throw paramError(`Failed to create Stickiness policy: ${method} needs HTTP; rule ${r.name} is udp`);
  return out;
}

export const createLBStickinessPolicy = command({
  name: 'createLBStickinessPolicy', description: 'Creates a load balancer stickiness policy ', since: '3.0.0', roles: ALL_ROLES, response: STICKINESS, shape: 'object',
  isAsync: true, transactional: false, event: 'LB.STICKINESSPOLICY.CREATE', instance: { type: 'FirewallRule', creates: true }, related: ['listLBStickinessPolicies'],
  params: {
    lbruleid: { type: 'uuid', entity: 'lbrule', required: true, description: 'the ID of the load balancer rule' },
    methodname: { type: 'string', required: true, description: 'name of the load balancer stickiness policy method, possible values can be obtained from listNetworks API', values: STICKINESS_METHODS },
    name: { type: 'string', required: true, description: 'name of the load balancer stickiness policy', check: (v: string) => (/^[\p{L}\p{N} _.:@()-]{1,255}$/u.test(v) ? undefined : 'it may contain letters, digits, spaces and _ . : @ ( ) - only') },
    description: { type: 'string', description: 'the description of the load balancer stickiness policy', length: 4096 },
    param: { type: 'map', description: 'param list. Example: param[0].name=cookiename&param[0].value=LBCookie ' },
    fordisplay: { type: 'boolean', description: 'an optional field, whether to the display the rule to the end user or not' },
  },
  async create(ctx, a) {
    const r = await lbById(ctx, a.lbruleid, 'lbruleid');
    if (await stickyOf(ctx, r.id)) throw apiError('NETWORK_RULE_CONFLICT', `Failed to create Stickiness policy: Already applied: rule ${r.name} has a stickiness policy; delete it first`, [r.id]);
    checkSticky(r, a.methodname, Object.fromEntries((a.param ?? []).map((p) => [p.name ?? '', p.value ?? ''])));
  },
  async handler(ctx, a) {
    const r = await lbById(ctx, a.lbruleid, 'lbruleid');
    const params = checkSticky(r, a.methodname, Object.fromEntries((a.param ?? []).map((p) => [p.name ?? '', p.value ?? ''])));
    const id = ctx.newId ?? randomUUID();
    // The spec carries seconds and the cookie name (lbSpecOf maps the params).
    const stored = { ...params, ...(params.expire ? { expire: String(seconds(params.expire)) } : {}), ...(params.holdtime ? { holdtime: String(seconds(params.holdtime)) } : {}), ...(params['cookie-name'] ? { cookiename: params['cookie-name'] } : {}) };
    await changeNetwork(ctx, r.network_id, async (sql) => {
      await sql.query('INSERT INTO lb_stickiness (id, rule_id, name, description, method, params, for_display) VALUES ($1,$2,$3,$4,$5,$6,$7)', [id, r.id, a.name, a.description ?? null, a.methodname, JSON.stringify(stored), a.fordisplay ?? true]);
    }, async (sql) => { await sql.query('DELETE FROM lb_stickiness WHERE id = $1', [id]); });
    ctx.setResource('LoadBalancerRule', r.id);
    return stickinessView(r, await stickyOf(ctx, r.id));
  },
});

export const deleteLBStickinessPolicy = command({
  name: 'deleteLBStickinessPolicy', description: 'Deletes a load balancer stickiness policy.', since: '3.0.0', roles: ALL_ROLES, response: SUCCESS_RESPONSE, shape: 'success',
  isAsync: true, transactional: false, event: 'LB.STICKINESSPOLICY.DELETE', instance: { type: 'FirewallRule', param: 'id' },
  params: { id: { type: 'uuid', entity: 'lbstickinesspolicy', required: true, description: 'the ID of the LB stickiness policy' } },
  async create(ctx, a) {
    const p = (await ctx.services.db.query<StickyRow>('SELECT * FROM lb_stickiness WHERE id = $1', [a.id]))[0];
    if (!p) throw paramError(`Unable to find stickiness policy by id=${a.id}`);
    await lbById(ctx, p.rule_id);
  },
  async handler(ctx, a) {
    const p = (await ctx.services.db.query<StickyRow & Record<string, unknown>>('SELECT * FROM lb_stickiness WHERE id = $1', [a.id]))[0];
    if (!p) throw paramError(`Unable to find stickiness policy by id=${a.id}`);
    const r = await lbById(ctx, p.rule_id);
    await changeNetwork(ctx, r.network_id, async (sql) => { await sql.query('DELETE FROM lb_stickiness WHERE id = $1', [p.id]); },
      async (sql) => { await sql.query('INSERT INTO lb_stickiness SELECT * FROM json_populate_record(NULL::lb_stickiness, $1::json)', [JSON.stringify(p)]); });
    ctx.setResource('LoadBalancerRule', r.id);
  },
});

export const listLBStickinessPolicies = command({
  name: 'listLBStickinessPolicies', description: 'Lists load balancer stickiness policies.', since: '3.0.0', roles: ALL_ROLES, response: STICKINESS, shape: 'list', transactional: false,
  params: {
    lbruleid: { type: 'uuid', entity: 'lbrule', access: 'operate', description: 'the ID of the load balancer rule' },
    id: { type: 'uuid', entity: 'lbstickinesspolicy', access: 'operate', description: 'the ID of the load balancer stickiness policy' },
    fordisplay: { type: 'boolean', description: 'list resources by display flag; only ROOT admin is eligible to pass this parameter' },
    keyword: { type: 'string', description: 'List by keyword' },
    page: { type: 'integer', description: 'the page number of the result set (from 1)', min: 1 },
    pagesize: { type: 'integer', description: 'the number of items per page', min: -1 },
  },
  async handler(ctx, a) {
    let ruleId = a.lbruleid;
    if (a.id) {
      const p = (await ctx.services.db.query<StickyRow>('SELECT * FROM lb_stickiness WHERE id = $1', [a.id]))[0];
      if (!p) return [];
      ruleId = p.rule_id;
    }
    if (!ruleId) throw paramError('Unable to execute API command listlbstickinesspolicies due to missing parameter lbruleid (or id)');
    const r = await lbById(ctx, ruleId, 'lbruleid');
    const p = await stickyOf(ctx, r.id);
    return [stickinessView(r, p && (a.fordisplay === undefined || (p.for_display !== false) === a.fordisplay) ? p : undefined)];
  },
});

const UPDATE_POLICY_PARAMS = (entity: 'lbstickinesspolicy' | 'lbhealthcheckpolicy', what: string) => ({
  id: { type: 'uuid', entity, required: true, description: `id of ${what}` },
  customid: { type: 'string', description: 'an optional field, in case you want to set a custom id to the resource. Allowed to Root Admins only', adminOnly: true },
  fordisplay: { type: 'boolean', description: 'an optional field, whether to the display the rule to the end user or not' },
}) as const;

/** A policy row of its table with its LB rule (the caller may act on it), or CloudStack's text. */
const POLICY_TABLES = { lb_stickiness: 'stickiness policy', lb_healthchecks: 'health check policy' } as const;
async function policyWithRule<T extends { id: string; rule_id: string }>(ctx: Context, table: keyof typeof POLICY_TABLES, id: string) {
  const row = (await ctx.services.db.query<T>(`SELECT * FROM ${table} WHERE id = $1`, [id]))[0];
  if (!row) throw paramError(`Unable to find ${POLICY_TABLES[table]} by id=${id}`);
  return { row, rule: await lbById(ctx, row.rule_id) };
}
/** The update both policies have: their display flag. */
async function setPolicyDisplay(ctx: Context, table: keyof typeof POLICY_TABLES, id: string, fordisplay: boolean | undefined): Promise<void> {
  if (fordisplay !== undefined) await ctx.services.db.query(`UPDATE ${table} SET for_display = $2 WHERE id = $1`, [id, fordisplay]);
}

// CloudStack's update of a policy changes only its display flag (and custom id): nothing the
// router runs, so no network change is made.
export const updateLBStickinessPolicy = command({
  name: 'updateLBStickinessPolicy', description: 'Updates load balancer stickiness policy', since: '4.4', roles: ALL_ROLES, response: STICKINESS, shape: 'object',
  isAsync: true, transactional: false, event: 'LB.STICKINESSPOLICY.UPDATE', instance: { type: 'FirewallRule', param: 'id' }, related: ['listLBStickinessPolicies'],
  params: UPDATE_POLICY_PARAMS('lbstickinesspolicy', 'LB Stickiness policy'),
  async create(ctx, a) {
    if (a.customid) throw paramError('customid is not supported: Flotilla keeps the policy\'s UUID');
    await policyWithRule<StickyRow>(ctx, 'lb_stickiness', a.id);
  },
  async handler(ctx, a) {
    const { rule: r } = await policyWithRule<StickyRow>(ctx, 'lb_stickiness', a.id);
    await setPolicyDisplay(ctx, 'lb_stickiness', a.id, a.fordisplay);
    ctx.setResource('LoadBalancerRule', r.id);
    return stickinessView(r, await stickyOf(ctx, r.id));
  },
});

export const updateLBHealthCheckPolicy = command({
  name: 'updateLBHealthCheckPolicy', description: 'Updates load balancer health check policy', since: '4.4', roles: ALL_ROLES, response: HEALTH_CHECK, shape: 'object',
  isAsync: true, transactional: false, event: 'LB.HEALTHCHECKPOLICY.UPDATE', instance: { type: 'FirewallRule', param: 'id' }, related: ['listLBHealthCheckPolicies'],
  params: UPDATE_POLICY_PARAMS('lbhealthcheckpolicy', 'load balancer health check policy'),
  async create(ctx, a) {
    if (a.customid) throw paramError('customid is not supported: Flotilla keeps the policy\'s UUID');
    await policyWithRule<HealthRow>(ctx, 'lb_healthchecks', a.id);
  },
  async handler(ctx, a) {
    const { rule: r } = await policyWithRule<HealthRow>(ctx, 'lb_healthchecks', a.id);
    await setPolicyDisplay(ctx, 'lb_healthchecks', a.id, a.fordisplay);
    ctx.setResource('LoadBalancerRule', r.id);
    const st = (await lbStatuses(ctx, [r.network_id])).get(r.id);
    return healthView(r, await healthOf(ctx, r.id), st);
  },
});

// ---- health checks ----

export const createLBHealthCheckPolicy = command({
  name: 'createLBHealthCheckPolicy', description: 'Creates a load balancer health check policy', since: '4.2.0', roles: ALL_ROLES, response: HEALTH_CHECK, shape: 'object',
  isAsync: true, transactional: false, event: 'LB.HEALTHCHECKPOLICY.CREATE', instance: { type: 'FirewallRule', creates: true }, related: ['listLBHealthCheckPolicies'],
  params: {
    lbruleid: { type: 'uuid', entity: 'lbrule', required: true, description: 'the ID of the load balancer rule' },
    description: { type: 'string', description: 'the description of the load balancer health check policy', length: 4096 },
    pingpath: { type: 'string', description: 'HTTP ping path', check: (v: string) => (/^\/[A-Za-z0-9._~/%=&?+:@,;-]{0,254}$/.test(v) ? undefined : 'it must be an absolute HTTP path without spaces or quotes') },
    intervaltime: { type: 'integer', description: 'Amount of time between health checks (1 sec - 20940 sec)', min: 1, max: 20_940 },
    responsetimeout: { type: 'integer', description: 'Time to wait when receiving a response from the health check (2sec - 60 sec)', min: 2, max: 60 },
    healthythreshold: { type: 'integer', description: 'Number of consecutive health check success before declaring an instance healthy', min: 1, max: 10 },
    unhealthythreshold: { type: 'integer', description: 'Number of consecutive health check failures before declaring an instance unhealthy', min: 1, max: 10 },
    fordisplay: { type: 'boolean', description: 'an optional field, whether to the display the rule to the end user or not' },
  },
  async create(ctx, a) {
    const r = await lbById(ctx, a.lbruleid, 'lbruleid');
    if (await healthOf(ctx, r.id)) throw apiError('NETWORK_RULE_CONFLICT', `Failed to create HealthCheck policy: Already applied: rule ${r.name} has a health check policy; delete it first`, [r.id]);
    if (r.protocol === 'udp') throw paramError(`Failed to create HealthCheck policy: rule ${r.name} is udp; health checks (TCP connect or HTTP GET) need a TCP-based rule`);
    const interval = a.intervaltime ?? 5;
    const timeout = a.responsetimeout ?? 2;
    if (interval < timeout) throw paramError(`Interval time ${interval} must be greater than or equal to the response timeout ${timeout}`);
  },
  async handler(ctx, a) {
    const r = await lbById(ctx, a.lbruleid, 'lbruleid');
    const id = ctx.newId ?? randomUUID();
    // CloudStack's defaults: 5 s interval, 2 s timeout, 2 healthy, 10 unhealthy.
    await changeNetwork(ctx, r.network_id, async (sql) => {
      await sql.query('INSERT INTO lb_healthchecks (id, rule_id, description, ping_path, interval_s, timeout_s, healthy, unhealthy, for_display) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)',
        [id, r.id, a.description ?? null, a.pingpath ?? null, a.intervaltime ?? 5, a.responsetimeout ?? 2, a.healthythreshold ?? 2, a.unhealthythreshold ?? 10, a.fordisplay ?? true]);
    }, async (sql) => { await sql.query('DELETE FROM lb_healthchecks WHERE id = $1', [id]); });
    ctx.setResource('LoadBalancerRule', r.id);
    return healthView(r, await healthOf(ctx, r.id));
  },
});

export const deleteLBHealthCheckPolicy = command({
  name: 'deleteLBHealthCheckPolicy', description: 'Deletes a load balancer health check policy.', since: '4.2.0', roles: ALL_ROLES, response: SUCCESS_RESPONSE, shape: 'success',
  isAsync: true, transactional: false, event: 'LB.HEALTHCHECKPOLICY.DELETE', instance: { type: 'FirewallRule', param: 'id' },
  params: { id: { type: 'uuid', entity: 'lbhealthcheckpolicy', required: true, description: 'the ID of the load balancer health check policy' } },
  async create(ctx, a) {
    const h = (await ctx.services.db.query<HealthRow>('SELECT * FROM lb_healthchecks WHERE id = $1', [a.id]))[0];
    if (!h) throw paramError(`Unable to find health check policy by id=${a.id}`);
    await lbById(ctx, h.rule_id);
  },
  async handler(ctx, a) {
    const h = (await ctx.services.db.query<HealthRow & Record<string, unknown>>('SELECT * FROM lb_healthchecks WHERE id = $1', [a.id]))[0];
    if (!h) throw paramError(`Unable to find health check policy by id=${a.id}`);
    const r = await lbById(ctx, h.rule_id);
    await changeNetwork(ctx, r.network_id, async (sql) => { await sql.query('DELETE FROM lb_healthchecks WHERE id = $1', [h.id]); },
      async (sql) => { await sql.query('INSERT INTO lb_healthchecks SELECT * FROM json_populate_record(NULL::lb_healthchecks, $1::json)', [JSON.stringify(h)]); });
    ctx.setResource('LoadBalancerRule', r.id);
  },
});

export const listLBHealthCheckPolicies = command({
  name: 'listLBHealthCheckPolicies', description: 'Lists load balancer health check policies.', since: '4.2.0', roles: ALL_ROLES, response: HEALTH_CHECK, shape: 'list', transactional: false,
  params: {
    lbruleid: { type: 'uuid', entity: 'lbrule', access: 'operate', description: 'the ID of the load balancer rule' },
    id: { type: 'uuid', entity: 'lbhealthcheckpolicy', access: 'operate', description: 'the ID of the health check policy' },
    fordisplay: { type: 'boolean', description: 'list resources by display flag; only ROOT admin is eligible to pass this parameter' },
    keyword: { type: 'string', description: 'List by keyword' },
    page: { type: 'integer', description: 'the page number of the result set (from 1)', min: 1 },
    pagesize: { type: 'integer', description: 'the number of items per page', min: -1 },
  },
  async handler(ctx, a) {
    let ruleId = a.lbruleid;
    if (a.id) {
      const h = (await ctx.services.db.query<HealthRow>('SELECT * FROM lb_healthchecks WHERE id = $1', [a.id]))[0];
      if (!h) return [];
      ruleId = h.rule_id;
    }
    if (!ruleId) throw paramError('Unable to execute API command listlbhealthcheckpolicies due to missing parameter lbruleid (or id)');
    const r = await lbById(ctx, ruleId, 'lbruleid');
    const st = (await lbStatuses(ctx, [r.network_id])).get(r.id);
    const h = await healthOf(ctx, r.id);
    return [healthView(r, h && (a.fordisplay === undefined || (h.for_display !== false) === a.fordisplay) ? h : undefined, st)];
  },
});

