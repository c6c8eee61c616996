// Firewall (ingress on a public IP), egress and port-forwarding rules of isolated networks.
// Each create/delete is validated against the network's whole firewall and applied on its
// router before the job succeeds (apply.ts); each list shows the rules' hit counters read back
// from the router (fields `packets` and `bytes`).
import { randomUUID } from 'node:crypto';
import { ALL_ROLES, LIST_OWNED_PARAMS, SUCCESS_RESPONSE, command, PROJECT_LIST_PARAM } from '../../api/registry.ts';
import { apiError, notFound, paramError } from '../../api/errors.ts';
import { applyScope, resolveScope } from '../../api/scope.ts';
import { Where, type Sql } from '../../db/sql.ts';
import type { Context } from '../../api/context.ts';
import { ruleCounters, syncRouter } from '../../orchestrator/router.ts';
import { agentFailure } from '../../orchestrator/compute.ts';
import { networkById, vmById } from '../compute/lookup.ts';
import { checkIPv4 } from '../infra/validate.ts';
import { FIREWALL_RULE, IP_FORWARDING_RULE, PORT_FORWARDING_RULE, RULE_SELECT, firewallRuleView, ipForwardingView, portForwardingView, type RuleViewRow } from './views.ts';
import { changeNetwork } from './apply.ts';
import { checkRuleConflicts } from './conflicts.ts';
import { ipById } from './addresses.ts';

const PROTOCOLS = ['tcp', 'udp', 'icmp', 'all'] as const;
const port = (d: string) => ({ type: 'integer', description: d, min: 1, max: 65535 } as const);
const checkCidrs = (v: string[]) => {
  for (const c of v) {
    const parts = c.split('/');
    const [ip, len] = parts;
    if (parts.length !== 2 || !ip || checkIPv4(ip) || len === undefined || !/^\d{1,2}$/.test(len) || Number(len) > 32) return `${c} is not an IPv4 CIDR`;
  }
  return undefined;
};

interface Match { protocol: string; startport?: number | undefined; endport?: number | undefined; icmptype?: number | undefined; icmpcode?: number | undefined }
/** CloudStack's checks of a rule's protocol fields (FirewallManagerImpl.validateFirewallRule). */
function matchOf(a: Match): { protocol: string; start: number | null; end: number | null; icmpType: number | null; icmpCode: number | null } {
  const protocol = a.protocol.toLowerCase();
  if (protocol === 'tcp' || protocol === 'udp') {
    if (a.icmptype !== undefined || a.icmpcode !== undefined) throw paramError(`Can specify icmpCode and icmpType for ICMP protocol only`);
    const start = a.startport ?? null;
    const end = a.endport ?? start;
    if (start === null && end !== null) throw paramError('startport is required when endport is given');
    if (start !== null && end !== null && start > end) throw paramError(`Start port can't be bigger than end port: ${start} > ${end}`);
    return { protocol, start, end, icmpType: null, icmpCode: null };
  }
  if (a.startport !== undefined || a.endport !== undefined) throw paramError(`Cannot specify startport or endport without specifying protocol tcp or udp (protocol ${protocol})`);
  if (protocol === 'icmp') {
    if (a.icmpcode !== undefined && a.icmpcode !== -1 && (a.icmptype === undefined || a.icmptype === -1)) throw paramError('Cannot specify icmpCode without icmpType');
    return { protocol, start: null, end: null, icmpType: a.icmptype ?? null, icmpCode: a.icmpcode ?? null };
  }
  if (a.icmptype !== undefined || a.icmpcode !== undefined) throw paramError(`Can specify icmpCode and icmpType for ICMP protocol only`);
  return { protocol, start: null, end: null, icmpType: null, icmpCode: null };
}

const MATCH_PARAMS = {
  protocol: { type: 'string', required: true, description: 'the protocol for the firewall rule. Valid values are TCP/UDP/ICMP/ALL or valid protocol number', values: PROTOCOLS },
  startport: port('the starting port of firewall rule'),
  endport: port('the ending port of firewall rule'),
  icmptype: { type: 'integer', description: 'type of the ICMP message being sent', min: -1, max: 255 },
  icmpcode: { type: 'integer', description: 'error code for this ICMP message', min: -1, max: 255 },
} as const;

async function ruleById(ctx: Context, id: string, purpose: string, what: string): Promise<RuleViewRow & { domain_path: string }> {
  const r = (await ctx.services.db.query<RuleViewRow & { domain_path: string }>(
    `${RULE_SELECT.replace('FROM network_rules r', ', dm.path AS domain_path FROM network_rules r JOIN domains dm ON dm.id = r.domain_id')} WHERE r.id = $1 AND r.purpose = $2`, [id, purpose]))[0];
  if (!r) throw notFound(ctx.command, 'id', id);
  return r;
}
async function ruleRow(sql: Sql, id: string): Promise<Record<string, unknown>> {
  return (await sql.query<Record<string, unknown>>('SELECT * FROM network_rules WHERE id = $1', [id]))[0]!;
}
async function oneView(ctx: Context, id: string, view: (r: RuleViewRow) => Record<string, unknown>): Promise<Record<string, unknown>> {
  return view((await ctx.services.db.query<RuleViewRow>(`${RULE_SELECT} WHERE r.id = $1`, [id]))[0]!);
}

/** Deletes a rule and the firewall rule that came with it (a port forward's openfirewall), applied
 *  on the router; restores them if the router refuses. */
async function deleteRule(ctx: Context, r: RuleViewRow): Promise<void> {
  const row = await ruleRow(ctx.services.db, r.id);
  const related = await ctx.services.db.query<Record<string, unknown>>('SELECT * FROM network_rules WHERE related_rule_id = $1', [r.id]);
  await changeNetwork(ctx, r.network_id, async (sql) => {
    await sql.query('DELETE FROM network_rules WHERE related_rule_id = $1', [r.id]);
    await sql.query('DELETE FROM network_rules WHERE id = $1', [r.id]);
  }, async (sql) => {
    for (const x of [row, ...related]) await sql.query(`INSERT INTO network_rules SELECT * FROM json_populate_record(NULL::network_rules, $1::json)`, [JSON.stringify(x)]);
  });
}

/**
 * An async create's rule id is chosen when the job is queued (ctx.newId). A job re-run after a
 * crash may find its rule already written: it then makes sure the router has it and answers it.
 */
async function resumed(ctx: Context, id: string, view: (r: RuleViewRow) => Record<string, unknown>): Promise<Record<string, unknown> | undefined> {
  const r = (await ctx.services.db.query<RuleViewRow>(`${RULE_SELECT} WHERE r.id = $1`, [id]))[0];
  if (!r) return undefined;
  await syncRouter(ctx.services, r.network_id).catch((e) => { throw agentFailure(e, 'Applying the rules on the router'); });
  ctx.setResource('FirewallRule', id);
  return view(r);
}

/** Lists rules of a purpose in the caller's scope, with their counters from the routers. */
async function listRules(ctx: Context, purpose: string, a: Record<string, unknown>, filters: (w: Where) => void): Promise<Array<{ row: RuleViewRow; counters: Map<string, { packets: number; bytes: number }> }>> {
  const scope = await resolveScope(ctx.sql, ctx.caller, a as never);
  const w = applyScope(new Where([]), scope, { account: 'r.account_id', domain: 'r.domain_id' });
  w.add('r.purpose = ?', purpose);
  filters(w);
  const rows = await ctx.services.db.query<RuleViewRow>(`${RULE_SELECT} ${w} ORDER BY r.created, r.id`, w.params);
  const counters = await ruleCounters(ctx.services, rows.map((r) => r.network_id));
  if (purpose === 'PortForwarding' && rows.length) {
    // A forward opens nothing itself: its traffic is counted by the firewall rule that came with it.
    const related = await ctx.services.db.query<{ id: string; related_rule_id: string }>('SELECT id, related_rule_id FROM network_rules WHERE related_rule_id = ANY($1::uuid[])', [rows.map((r) => r.id)]);
    for (const r of related) { const c = counters.get(r.id); if (c && !counters.has(r.related_rule_id)) counters.set(r.related_rule_id, c); }
  }
  return rows.map((row) => ({ row, counters }));
}

// ---- ingress firewall rules ----

export const createFirewallRule = command({
  name: 'createFirewallRule', description: 'Creates a firewall rule for a given IP address', since: '1.0', roles: ALL_ROLES, response: FIREWALL_RULE, shape: 'object',
  isAsync: true, transactional: false, event: 'FIREWALL.OPEN', instance: { type: 'FirewallRule', creates: true },
  params: {
    ipaddressid: { type: 'uuid', entity: 'publicip', required: true, description: 'the IP address id of the port forwarding rule' },
    ...MATCH_PARAMS,
    cidrlist: { type: 'list', description: 'the CIDR list to forward traffic from. Multiple entries must be separated by a single comma character (,).', check: checkCidrs },
    type: { type: 'string', description: 'type of firewallrule: system/user', values: ['user', 'system'] },
    fordisplay: { type: 'boolean', description: 'an optional field, whether to the display the rule to the end user or not' },
  },
  async handler(ctx, a) {
    const ip = await ipById(ctx, a.ipaddressid, 'ipaddressid');
    const m = matchOf(a);
    const id = ctx.newId ?? randomUUID();
    const again = await resumed(ctx, id, (r) => firewallRuleView(r));
    if (again) return again;
    await changeNetwork(ctx, ip.network_id!, async (sql) => {
      await sql.query(
        `INSERT INTO network_rules (id, purpose, network_id, ip_address_id, account_id, domain_id, protocol, start_port, end_port, icmp_type, icmp_code, source_cidrs)
         VALUES ($1,'Firewall',$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)`,
        [id, ip.network_id, ip.id, ip.account_id, ip.domain_id, m.protocol, m.start, m.end, m.icmpType, m.icmpCode, a.cidrlist ?? []]);
      await checkRuleConflicts(sql, id);
    }, async (sql) => { await sql.query('DELETE FROM network_rules WHERE id = $1', [id]); });
    ctx.setResource('FirewallRule', id);
    return oneView(ctx, id, (r) => firewallRuleView(r));
  },
});

export const deleteFirewallRule = command({
  name: 'deleteFirewallRule', description: 'Deletes a firewall rule', since: '1.0', roles: ALL_ROLES, response: SUCCESS_RESPONSE, shape: 'success',
  isAsync: true, transactional: false, event: 'FIREWALL.CLOSE', instance: { type: 'FirewallRule', param: 'id' },
  params: { id: { type: 'uuid', entity: 'networkrule', required: true, description: 'the ID of the firewall rule' } },
  async handler(ctx, a) {
    await deleteRule(ctx, await ruleById(ctx, a.id, 'Firewall', 'firewall rule'));
    ctx.setResource('FirewallRule', a.id);
  },
});

export const listFirewallRules = command({
  name: 'listFirewallRules', description: 'Lists all firewall rules for an IP address.', since: '1.0', roles: ALL_ROLES, response: FIREWALL_RULE, shape: 'list', transactional: false,
  params: {
    ...LIST_OWNED_PARAMS, ...PROJECT_LIST_PARAM,
    id: { type: 'uuid', entity: 'networkrule', description: 'Lists rule with the specified ID.' },
    ipaddressid: { type: 'uuid', entity: 'publicip', access: 'operate', description: 'the ID of IP address of the firewall services' },
    networkid: { type: 'uuid', entity: 'network', access: 'use', description: 'list firewall rules for certain network' },
  },
  async handler(ctx, a) {
    if (a.ipaddressid) await ipById(ctx, a.ipaddressid, 'ipaddressid');
    if (a.networkid) await networkById(ctx, a.networkid, 'networkid');
    return (await listRules(ctx, 'Firewall', a, (w) => w.add('r.id = ?', a.id).add('r.ip_address_id = ?', a.ipaddressid).add('r.network_id = ?', a.networkid)))
      .map(({ row, counters }) => firewallRuleView(row, counters));
  },
});

// ---- egress rules ----

export const createEgressFirewallRule = command({
  name: 'createEgressFirewallRule', description: 'Creates a egress firewall rule for a given network ', since: '4.2.0', roles: ALL_ROLES, response: FIREWALL_RULE, shape: 'object',
  isAsync: true, transactional: false, event: 'FIREWALL.EGRESS.OPEN', instance: { type: 'FirewallRule', creates: true },
  params: {
    networkid: { type: 'uuid', entity: 'network', required: true, description: 'the network id of the port forwarding rule' },
    ...MATCH_PARAMS,
    cidrlist: { type: 'list', description: 'the cidr list to forward traffic from. Multiple entries must be separated by a single comma character (,).', check: checkCidrs },
    destcidrlist: { type: 'list', description: 'the cidr list to forward traffic to. Multiple entries must be separated by a single comma character (,).', check: checkCidrs },
    type: { type: 'string', description: 'type of firewallrule: system/user', values: ['user', 'system'] },
    fordisplay: { type: 'boolean', description: 'an optional field, whether to the display the rule to the end user or not' },
  },
  async handler(ctx, a) {
    const n = await networkById(ctx, a.networkid, 'networkid');
    if (n.guest_type !== 'Isolated') throw paramError(`Egress firewall rules are supported on isolated networks only; network ${n.name} is ${n.guest_type}`);
    const m = matchOf(a);
    // An egress rule's sources are the network's guests: CloudStack takes 0.0.0.0/0 as the network's CIDR.
    const source = [...new Set((a.cidrlist ?? []).map((x) => (x.trim() === '0.0.0.0/0' && n.cidr ? n.cidr : x)))];
    const id = ctx.newId ?? randomUUID();
    const again = await resumed(ctx, id, (r) => firewallRuleView(r));
    if (again) return again;
    await changeNetwork(ctx, n.id, async (sql) => {
      await sql.query(
        `INSERT INTO network_rules (id, purpose, network_id, account_id, domain_id, protocol, start_port, end_port, icmp_type, icmp_code, source_cidrs, dest_cidrs)
         VALUES ($1,'Egress',$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)`,
        [id, n.id, n.account_id, n.domain_id, m.protocol, m.start, m.end, m.icmpType, m.icmpCode, source, a.destcidrlist ?? []]);
      await checkRuleConflicts(sql, id);
    }, async (sql) => { await sql.query('DELETE FROM network_rules WHERE id = $1', [id]); });
    ctx.setResource('FirewallRule', id);
    return oneView(ctx, id, (r) => firewallRuleView(r));
  },
});

export const deleteEgressFirewallRule = command({
  name: 'deleteEgressFirewallRule', description: 'Deletes an egress firewall rule', since: '4.2.0', roles: ALL_ROLES, response: SUCCESS_RESPONSE, shape: 'success',
  isAsync: true, transactional: false, event: 'FIREWALL.EGRESS.CLOSE', instance: { type: 'FirewallRule', param: 'id' },
  params: { id: { type: 'uuid', entity: 'networkrule', required: true, description: 'the ID of the firewall rule' } },
  async handler(ctx, a) {
    await deleteRule(ctx, await ruleById(ctx, a.id, 'Egress', 'egress firewall rule'));
    ctx.setResource('FirewallRule', a.id);
  },
});

export const listEgressFirewallRules = command({
  name: 'listEgressFirewallRules', description: 'Lists all egress firewall rules for network ID.', since: '4.2.0', roles: ALL_ROLES, response: FIREWALL_RULE, shape: 'list', transactional: false,
  params: {
    ...LIST_OWNED_PARAMS, ...PROJECT_LIST_PARAM,
    id: { type: 'uuid', entity: 'networkrule', description: 'Lists rule with the specified ID.' },
    networkid: { type: 'uuid', entity: 'network', access: 'use', description: 'the network ID for the egress firewall services' },
  },
  async handler(ctx, a) {
    if (a.networkid) await networkById(ctx, a.networkid, 'networkid');
    return (await listRules(ctx, 'Egress', a, (w) => w.add('r.id = ?', a.id).add('r.network_id = ?', a.networkid)))
      .map(({ row, counters }) => firewallRuleView(row, counters));
  },
});

// ---- port forwarding ----

export const createPortForwardingRule = command({
  name: 'createPortForwardingRule', description: 'Creates a port forwarding rule', since: '1.0', roles: ALL_ROLES, response: PORT_FORWARDING_RULE, shape: 'object',
  isAsync: true, transactional: false, event: 'NET.RULEADD', instance: { type: 'FirewallRule', creates: true },
  params: {
    ipaddressid: { type: 'uuid', entity: 'publicip', required: true, description: 'the IP address id of the port forwarding rule' },
    privateport: port('the starting port of port forwarding rule\'s private port range'),
    privateendport: port('the ending port of port forwarding rule\'s private port range'),
    protocol: { type: 'string', required: true, description: 'the protocol for the port forwarding rule. Valid values are TCP or UDP.', values: ['tcp', 'udp'] },
    publicport: port('the starting port of port forwarding rule\'s public port range'),
    publicendport: port('the ending port of port forwarding rule\'s private port range'),
    virtualmachineid: { type: 'uuid', entity: 'vm', required: true, description: 'the ID of the virtual machine for the port forwarding rule' },
    cidrlist: { type: 'list', description: 'the cidr list to forward traffic from. Multiple entries must be separated by a single comma character (,). This parameter is deprecated. Do not use.', check: checkCidrs },
    openfirewall: { type: 'boolean', description: 'if true, firewall rule for source/end public port is automatically created; if false - firewall rule has to be created explicitly. If not specified 1) defaulted to false when PF rule is being created for VPC guest network 2) in all other cases defaulted to true' },
    vmguestip: { type: 'string', description: 'VM guest nic secondary IP address for the port forwarding rule', check: checkIPv4 },
    networkid: { type: 'uuid', entity: 'network', access: 'use', description: 'the network of the virtual machine the port forwarding rule will be created for. Required when public IP address is not associated with any guest network yet (VPC case).' },
    fordisplay: { type: 'boolean', description: 'an optional field, whether to the display the rule to the end user or not' },
  },
  async handler(ctx, a) {
    for (const p of ['privateport', 'publicport'] as const) if (a[p] === undefined) throw paramError(`Unable to execute API command createportforwardingrule due to missing parameter ${p}`);
    const ip = await ipById(ctx, a.ipaddressid, 'ipaddressid');
    const vm = await vmById(ctx, a.virtualmachineid, 'virtualmachineid');
    if (vm.account_id !== ip.account_id) throw apiError('ACCOUNT_ERROR', `Virtual machine ${vm.name} and IP address ${ip.address} belong to different accounts`);
    if (a.networkid && a.networkid !== ip.network_id) throw paramError(`IP address ${ip.address} is associated to network ${ip.network_name}, not ${a.networkid}`);
    const nic = (await ctx.services.db.query<{ ip4: string }>('SELECT ip4 FROM nics WHERE vm_id = $1 AND network_id = $2', [vm.id, ip.network_id]))[0];
    if (!nic?.ip4) throw paramError(`Unable to create port forwarding rule: virtual machine ${vm.name} has no NIC in network ${ip.network_name}`);
    if (a.vmguestip && a.vmguestip !== nic.ip4) throw paramError(`vmguestip ${a.vmguestip} is not an address of virtual machine ${vm.name} (secondary IPs are not supported yet)`);
    const pub = { start: a.publicport!, end: a.publicendport ?? a.publicport! };
    const priv = { start: a.privateport!, end: a.privateendport ?? a.privateport! };
    if (pub.start > pub.end) throw paramError(`Start public port ${pub.start} is bigger than end public port ${pub.end}`);
    if (priv.start > priv.end) throw paramError(`Start private port ${priv.start} is bigger than end private port ${priv.end}`);
    if (pub.end - pub.start !== priv.end - priv.start) throw paramError('Private port range and public port range must have the same length');
    const id = ctx.newId ?? randomUUID();
    const again = await resumed(ctx, id, (r) => portForwardingView(r));
    if (again) return again;
    // openfirewall (default true outside VPCs, which Flotilla does not have yet): CloudStack
    // creates a firewall rule for the public ports and sources, listed by listFirewallRules
    // and deleted with the forward. false: the forward stays closed until a firewall rule opens it.
    const open = a.openfirewall !== false;
    await changeNetwork(ctx, ip.network_id!, async (sql) => {
      await sql.query(
        `INSERT INTO network_rules (id, purpose, network_id, ip_address_id, account_id, domain_id, protocol, start_port, end_port, source_cidrs, vm_id, private_ip, private_start_port, private_end_port)
         VALUES ($1,'PortForwarding',$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)`,
        [id, ip.network_id, ip.id, ip.account_id, ip.domain_id, a.protocol, pub.start, pub.end, a.cidrlist ?? [], vm.id, nic.ip4, priv.start, priv.end]);
      await checkRuleConflicts(sql, id);
      if (open) {
        await sql.query(
          `INSERT INTO network_rules (id, purpose, network_id, ip_address_id, account_id, domain_id, protocol, start_port, end_port, source_cidrs, related_rule_id)
           VALUES ($1,'Firewall',$2,$3,$4,$5,$6,$7,$8,$9,$10)`,
          [randomUUID(), ip.network_id, ip.id, ip.account_id, ip.domain_id, a.protocol, pub.start, pub.end, a.cidrlist ?? [], id]);
      }
    }, async (sql) => {
      await sql.query('DELETE FROM network_rules WHERE related_rule_id = $1', [id]);
      await sql.query('DELETE FROM network_rules WHERE id = $1', [id]);
    });
    ctx.setResource('FirewallRule', id);
    return oneView(ctx, id, (r) => portForwardingView(r));
  },
});

export const deletePortForwardingRule = command({
  name: 'deletePortForwardingRule', description: 'Deletes a port forwarding rule', since: '1.0', roles: ALL_ROLES, response: SUCCESS_RESPONSE, shape: 'success',
  isAsync: true, transactional: false, event: 'NET.RULEDELETE', instance: { type: 'FirewallRule', param: 'id' },
  params: { id: { type: 'uuid', entity: 'networkrule', required: true, description: 'the ID of the port forwarding rule' } },
  async handler(ctx, a) {
    await deleteRule(ctx, await ruleById(ctx, a.id, 'PortForwarding', 'port forwarding rule'));
    ctx.setResource('FirewallRule', a.id);
  },
});

export const listPortForwardingRules = command({
  name: 'listPortForwardingRules', description: 'Lists all port forwarding rules for an IP address.', since: '1.0', roles: ALL_ROLES, response: PORT_FORWARDING_RULE, shape: 'list', transactional: false,
  params: {
    ...LIST_OWNED_PARAMS, ...PROJECT_LIST_PARAM,
    id: { type: 'uuid', entity: 'networkrule', description: 'Lists rule with the specified ID.' },
    ipaddressid: { type: 'uuid', entity: 'publicip', access: 'operate', description: 'the ID of IP address of the port forwarding services' },
    networkid: { type: 'uuid', entity: 'network', access: 'use', description: 'list port forwarding rules for certain network' },
  },
  async handler(ctx, a) {
    if (a.ipaddressid) await ipById(ctx, a.ipaddressid, 'ipaddressid');
    if (a.networkid) await networkById(ctx, a.networkid, 'networkid');
    return (await listRules(ctx, 'PortForwarding', a, (w) => w.add('r.id = ?', a.id).add('r.ip_address_id = ?', a.ipaddressid).add('r.network_id = ?', a.networkid)))
      .map(({ row, counters }) => portForwardingView(row, counters));
  },
});

// ---- static NAT rules (createIpForwardingRule): ports of a static NAT IP, as CloudStack shows
// them. The one-to-one NAT itself is the IP's (enableStaticNat); a rule opens its ports with a
// firewall rule of its own (openfirewall, default true) and goes with it. ----

const NAT_SELECT = RULE_SELECT.replace('SELECT r.*,', 'SELECT r.*, p.static_nat_vm_id AS nat_vm_id, p.static_nat_ip AS nat_ip, nv.name AS nat_vm_name, nv.display_name AS nat_vm_display_name,')
  .replace('FROM network_rules r LEFT JOIN public_ip_addresses p ON p.id = r.ip_address_id', 'FROM network_rules r LEFT JOIN public_ip_addresses p ON p.id = r.ip_address_id LEFT JOIN vm_instances nv ON nv.id = p.static_nat_vm_id');
async function natView(ctx: Context, id: string): Promise<Record<string, unknown>> {
  return ipForwardingView((await ctx.services.db.query<RuleViewRow>(`${NAT_SELECT} WHERE r.id = $1`, [id]))[0]!);
}

export const createIpForwardingRule = command({
  name: 'createIpForwardingRule', description: 'Creates an IP forwarding rule', since: '1.0', roles: ALL_ROLES, response: IP_FORWARDING_RULE, shape: 'object',
  isAsync: true, transactional: false, event: 'NET.RULEADD', instance: { type: 'FirewallRule', creates: true },
  params: {
    ipaddressid: { type: 'uuid', entity: 'publicip', required: true, description: 'the public IP address ID of the forwarding rule, already associated via associateIp' },
    protocol: { type: 'string', required: true, description: 'the protocol for the rule. Valid values are TCP or UDP.', values: ['tcp', 'udp'] },
    startport: { ...port('the start port for the rule'), required: true },
    endport: port('the end port for the rule'),
    cidrlist: { type: 'list', description: 'the CIDR list to forward traffic from. Multiple entries must be separated by a single comma character (,).', check: checkCidrs },
    openfirewall: { type: 'boolean', description: 'if true, firewall rule for source/end public port is automatically created; if false - firewall rule has to be created explicitly. Has value true by default' },
  },
  async handler(ctx, a) {
    const ip = await ipById(ctx, a.ipaddressid, 'ipaddressid');
    if (!ip.static_nat_vm_id) throw paramError(`Can't create ip forwarding rules for address ${ip.address}: static NAT is not enabled on it (enableStaticNat first)`);
    const start = a.startport; const end = a.endport ?? a.startport;
    if (start > end) throw paramError(`Start port can't be bigger than end port: ${start} > ${end}`);
    const id = ctx.newId ?? randomUUID();
    const again = await resumed(ctx, id, (r) => ipForwardingView(r));
    if (again) return natView(ctx, id);
    await changeNetwork(ctx, ip.network_id!, async (sql) => {
      await sql.query(
        `INSERT INTO network_rules (id, purpose, network_id, ip_address_id, account_id, domain_id, protocol, start_port, end_port, source_cidrs)
         VALUES ($1,'StaticNat',$2,$3,$4,$5,$6,$7,$8,$9)`, [id, ip.network_id, ip.id, ip.account_id, ip.domain_id, a.protocol, start, end, a.cidrlist ?? []]);
      await checkRuleConflicts(sql, id);
      if (a.openfirewall !== false) {
        await sql.query(
          `INSERT INTO network_rules (id, purpose, network_id, ip_address_id, account_id, domain_id, protocol, start_port, end_port, source_cidrs, related_rule_id)
           VALUES ($1,'Firewall',$2,$3,$4,$5,$6,$7,$8,$9,$10)`, [randomUUID(), ip.network_id, ip.id, ip.account_id, ip.domain_id, a.protocol, start, end, a.cidrlist ?? [], id]);
      }
    }, async (sql) => {
      await sql.query('DELETE FROM network_rules WHERE related_rule_id = $1', [id]);
      await sql.query('DELETE FROM network_rules WHERE id = $1', [id]);
    });
    ctx.setResource('FirewallRule', id);
    return natView(ctx, id);
  },
});

export const deleteIpForwardingRule = command({
  name: 'deleteIpForwardingRule', description: 'Deletes an IP forwarding rule', since: '1.0', roles: ALL_ROLES, response: SUCCESS_RESPONSE, shape: 'success',
  isAsync: true, transactional: false, event: 'NET.RULEDELETE', instance: { type: 'FirewallRule', param: 'id' },
  params: { id: { type: 'uuid', entity: 'networkrule', required: true, description: 'the ID of the forwarding rule' } },
  async handler(ctx, a) {
    await deleteRule(ctx, await ruleById(ctx, a.id, 'StaticNat', 'ip forwarding rule'));
    ctx.setResource('FirewallRule', a.id);
  },
});

export const listIpForwardingRules = command({
  name: 'listIpForwardingRules', description: 'List the IP forwarding rules', since: '1.0', roles: ALL_ROLES, response: IP_FORWARDING_RULE, shape: 'list', transactional: false,
  params: {
    ...LIST_OWNED_PARAMS,
    id: { type: 'uuid', entity: 'networkrule', description: 'Lists rule with the specified ID.' },
    ipaddressid: { type: 'uuid', entity: 'publicip', access: 'operate', description: 'list the rule belonging to this public IP address' },
    virtualmachineid: { type: 'uuid', entity: 'vm', description: 'Lists all rules applied to the specified VM.' },
    projectid: { type: 'uuid', entity: 'project', description: 'list objects by project; if projectid=-1 lists All VMs' },
  },
  async handler(ctx, a) {
    if (a.ipaddressid) await ipById(ctx, a.ipaddressid, 'ipaddressid');
    const scope = await resolveScope(ctx.sql, ctx.caller, a);
    const w = applyScope(new Where([]), scope, { account: 'r.account_id', domain: 'r.domain_id' });
    w.add(`r.purpose = 'StaticNat'`).add('r.id = ?', a.id).add('r.ip_address_id = ?', a.ipaddressid).add('p.static_nat_vm_id = ?', a.virtualmachineid);
    return (await ctx.services.db.query<RuleViewRow>(`${NAT_SELECT} ${w} ORDER BY r.created, r.id`, w.params)).map((r) => ipForwardingView(r));
  },
});
