// Load balancer rules on public IPs of isolated networks (CloudStack's LoadBalancingRulesManager
// for the VirtualRouter provider). createLoadBalancerRule is an async create: its `create`
// phase checks everything the database can tell (431), records the rule (state Add) with the
// firewall rule openfirewall opens and runs the network's conflict checks (537) — all before
// the job is queued — then the job applies it on the router (state Active) or removes it.
import { randomUUID } from 'node:crypto';
import { ALL_ROLES, LIST_OWNED_PARAMS, SUCCESS_RESPONSE, command } from '../../api/registry.ts';
import { apiError, notFound, paramError } from '../../api/errors.ts';
import { applyScope, resolveScope } from '../../api/scope.ts';
import type { Context } from '../../api/context.ts';
import type { MapValue } from '../../api/params.ts';
import { Where, type Sql } from '../../db/sql.ts';
import { LB_ALGORITHMS, type LbRuleStatus } from '@flotilla/protocol/lb';
import { ruleCounters, routerOf } from '../../orchestrator/router.ts';
import { vmById, networkById } from '../compute/lookup.ts';
import { ipById } from '../network/addresses.ts';
import { changeNetwork, checkFirewall } from '../network/apply.ts';
import { checkIPv4 } from '../infra/validate.ts';
import { LB_SELECT, LOAD_BALANCER, lbView, type LbViewRow } from './views.ts';
import { NIC_SELECT, VM, vmView, type NicRow, type VmRow, VM_SELECT } from '../compute/views.ts';

export const LB_PROTOCOLS_API = ['tcp', 'udp', 'tcp-proxy', 'ssl'] as const;
const port = (d: string) => ({ type: 'integer', required: true, description: d, min: 1, max: 65535 } as const);
export const checkCidrs = (v: string[]) => {
  for (const c of v) {
    const [ip, len] = c.split('/');
    if (!ip || checkIPv4(ip) || len === undefined || !/^\d{1,2}$/.test(len) || Number(len) > 32) return `${c} is not an IPv4 CIDR`;
  }
  return undefined;
};
const NAME_CHECK = (v: string) => (/^[\p{L}\p{N} _.:@()-]{1,255}$/u.test(v) ? undefined : 'it may contain letters, digits, spaces and _ . : @ ( ) - only');

export async function lbById(ctx: Context, id: string, param = 'id'): Promise<LbViewRow> {
  const r = (await ctx.services.db.query<LbViewRow>(`${LB_SELECT} WHERE l.id = $1`, [id]))[0];
  // CloudStack's ParamProcessWorker text for an id that names nothing: the Terraform provider's
  // delete treats it as "already gone".
  if (!r) throw notFound(ctx.command, param, id);
  return r;
}
async function viewOf(ctx: Context, id: string): Promise<Record<string, unknown>> {
  return lbView((await ctx.services.db.query<LbViewRow>(`${LB_SELECT} WHERE l.id = $1`, [id]))[0]!);
}
/** The routers' last LB reports for these networks (refreshed first, best effort). */
export async function lbStatuses(ctx: Context, networkIds: string[]): Promise<Map<string, LbRuleStatus>> {
  await ruleCounters(ctx.services, networkIds).catch(() => undefined);
  const out = new Map<string, LbRuleStatus>();
  for (const id of new Set(networkIds)) {
    const r = await routerOf(ctx.services.db, id);
    if (!r) continue;
    const row = (await ctx.services.db.query<{ lb_status: Record<string, LbRuleStatus> | null }>('SELECT lb_status FROM routers WHERE vm_id = $1', [r.vm_id]))[0];
    for (const [k, v] of Object.entries(row?.lb_status ?? {})) out.set(k, v);
  }
  return out;
}
async function rows(sql: Sql, table: string, id: string): Promise<Array<Record<string, unknown>>> {
  return sql.query<Record<string, unknown>>(`SELECT * FROM ${table} WHERE ${table === 'lb_rules' ? 'id' : 'rule_id'} = $1`, [id]);
}
async function restore(sql: Sql, table: string, list: Array<Record<string, unknown>>): Promise<void> {
  for (const r of list) await sql.query(`INSERT INTO ${table} SELECT * FROM json_populate_record(NULL::${table}, $1::json) ON CONFLICT DO NOTHING`, [JSON.stringify(r)]);
}

// ---- create / update / delete / list ----

const CREATE_PARAMS = {
  publicipid: { type: 'uuid', entity: 'publicip', description: 'public IP address ID from where the network traffic will be load balanced from' },
  networkid: { type: 'uuid', entity: 'network', description: 'The guest network this rule will be created for. Required when public Ip address is not associated with any Guest network yet (VPC case)' },
  zoneid: { type: 'uuid', entity: 'zone', description: 'zone where the load balancer is going to be created. This parameter is required when LB service provider is ElasticLoadBalancerVm' },
  name: { type: 'string', required: true, description: 'name of the load balancer rule', check: NAME_CHECK },
  description: { type: 'string', description: 'the description of the load balancer rule', length: 4096 },
  algorithm: { type: 'string', required: true, description: 'load balancer algorithm (source, roundrobin, leastconn)', values: LB_ALGORITHMS },
  privateport: port('the private port of the private IP address/virtual machine where the network traffic will be load balanced to'),
  publicport: port('the public port from where the network traffic will be load balanced from'),
  protocol: { type: 'string', description: 'The protocol for the LB such as tcp, udp or tcp-proxy.', values: LB_PROTOCOLS_API },
  cidrlist: { type: 'list', description: 'the CIDR list to allow traffic, all other CIDRs will be blocked. Multiple entries must be separated by a single comma character (,). By default, all CIDRs are allowed.', check: checkCidrs },
  openfirewall: { type: 'boolean', description: 'if true, firewall rule for source/end public port is automatically created; if false - firewall rule has to be created explicitly. If not specified 1) defaulted to false when LB rule is being created for VPC guest network 2) in all other cases defaulted to true' },
  account: { type: 'string', description: 'the account associated with the load balancer. Must be used with the domainId parameter.' },
  domainid: { type: 'uuid', entity: 'domain', description: 'the domain ID associated with the load balancer' },
  fordisplay: { type: 'boolean', description: 'an optional field, whether to the display the rule to the end user or not' },
} as const;

export const createLoadBalancerRule = command({
  name: 'createLoadBalancerRule', description: 'Creates a load balancer rule', roles: ALL_ROLES, response: { ...LOAD_BALANCER, name: 'loadbalancer' }, shape: 'object',
  isAsync: true, transactional: false, event: 'LB.CREATE', instance: { type: 'FirewallRule', creates: true }, related: ['listLoadBalancerRules', 'updateLoadBalancerRule'],
  params: CREATE_PARAMS,
  async create(ctx, a) {
    if (!a.publicipid) throw paramError('Unable to execute API command createloadbalancerrule due to missing parameter publicipid: Flotilla creates load balancer rules on a public IP of an isolated network');
    const ip = await ipById(ctx, a.publicipid, 'publicipid');
    if (!ip.network_id) throw paramError(`IP address ${ip.address} is not associated with a network`);
    if (a.networkid && a.networkid !== ip.network_id) throw paramError(`The IP address ${ip.address} is associated to network ${ip.network_name}, not to networkid=${a.networkid}`);
    if (a.zoneid && a.zoneid !== ip.zone_id) throw paramError(`The IP address ${ip.address} is not in zoneid=${a.zoneid}`);
    if (ip.static_nat_vm_id) throw apiError('NETWORK_RULE_CONFLICT', `There is 1 to 1 Nat rule specified for the ip address id=${ip.id}`, [ip.id]);
    const protocol = a.protocol ?? 'tcp';
    const id = ctx.newId!;
    await ctx.services.db.tx(async (sql) => {
      const fwId = a.openfirewall === false ? null : randomUUID();
      await sql.query(
        `INSERT INTO lb_rules (id, name, description, network_id, ip_address_id, account_id, domain_id, public_port, private_port, protocol, algorithm, source_cidrs, firewall_rule_id, state, for_display)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,'Add',$14)`,
        [id, a.name, a.description ?? null, ip.network_id, ip.id, ip.account_id, ip.domain_id, a.publicport, a.privateport, protocol, a.algorithm, a.cidrlist ?? [], fwId, a.fordisplay ?? true]);
      if (fwId) {
        // openfirewall: the firewall rule CloudStack creates for the public port and the rule's sources.
        await sql.query(
          `INSERT INTO network_rules (id, purpose, network_id, ip_address_id, account_id, domain_id, protocol, start_port, end_port, source_cidrs) VALUES ($1,'Firewall',$2,$3,$4,$5,$6,$7,$7,$8)`,
          [fwId, ip.network_id, ip.id, ip.account_id, ip.domain_id, protocol === 'udp' ? 'udp' : 'tcp', a.publicport, a.cidrlist ?? []]);
      }
      await checkFirewall(sql, ip.network_id!);
    });
  },
  async handler(ctx, a) {
    const id = ctx.newId!;
    const r = (await ctx.services.db.query<LbViewRow>(`${LB_SELECT} WHERE l.id = $1`, [id]))[0];
    if (!r) throw apiError('INTERNAL_ERROR', `Load balancer rule ${id} was not recorded`);
    try {
      await changeNetwork(ctx, r.network_id, async (sql) => { await sql.query(`UPDATE lb_rules SET state = 'Active' WHERE id = $1`, [id]); },
        async (sql) => { await sql.query(`UPDATE lb_rules SET state = 'Add' WHERE id = $1`, [id]); });
    } catch (e) {
      // Not applied: CloudStack removes a rule it could not apply.
      await ctx.services.db.tx(async (sql) => {
        await sql.query('DELETE FROM lb_rules WHERE id = $1', [id]);
        if (r.firewall_rule_id) await sql.query('DELETE FROM network_rules WHERE id = $1', [r.firewall_rule_id]);
      }).catch(() => undefined);
      throw e;
    }
    ctx.setResource('LoadBalancerRule', id);
    return viewOf(ctx, id);
  },
});

export const updateLoadBalancerRule = command({
  name: 'updateLoadBalancerRule', description: 'Updates load balancer', roles: ALL_ROLES, response: { ...LOAD_BALANCER, name: 'loadbalancer' }, shape: 'object',
  isAsync: true, transactional: false, event: 'LB.UPDATE', instance: { type: 'FirewallRule', param: 'id' }, related: ['listLoadBalancerRules'],
  params: {
    id: { type: 'uuid', entity: 'lbrule', required: true, description: 'the ID of the load balancer rule to update' },
    name: { type: 'string', description: 'the name of the load balancer rule', check: NAME_CHECK },
    description: { type: 'string', description: 'the description of the load balancer rule', length: 4096 },
    algorithm: { type: 'string', description: 'load balancer algorithm (source, roundrobin, leastconn)', values: LB_ALGORITHMS },
    protocol: { type: 'string', description: 'The protocol for the LB', values: LB_PROTOCOLS_API },
    customid: { type: 'string', description: 'an optional field, in case you want to set a custom id to the resource. Allowed to Root Admins only', adminOnly: true },
    fordisplay: { type: 'boolean', description: 'an optional field, whether to the display the rule to the end user or not' },
  },
  async create(ctx, a) { await lbById(ctx, a.id); },
  async handler(ctx, a) {
    const r = await lbById(ctx, a.id);
    if (a.customid) throw paramError('customid is not supported: Flotilla keeps the rule\'s UUID');
    await changeNetwork(ctx, r.network_id, async (sql) => {
      await sql.query('UPDATE lb_rules SET name = coalesce($2, name), description = coalesce($3, description), algorithm = coalesce($4, algorithm), protocol = coalesce($5, protocol), for_display = coalesce($6, for_display) WHERE id = $1',
        [r.id, a.name ?? null, a.description ?? null, a.algorithm ?? null, a.protocol ?? null, a.fordisplay ?? null]);
    }, async (sql) => { await sql.query('UPDATE lb_rules SET name = $2, description = $3, algorithm = $4, protocol = $5, for_display = $6 WHERE id = $1', [r.id, r.name, r.description, r.algorithm, r.protocol, r.for_display !== false]); });
    ctx.setResource('LoadBalancerRule', r.id);
    return viewOf(ctx, r.id);
  },
});

export const deleteLoadBalancerRule = command({
  name: 'deleteLoadBalancerRule', description: 'Deletes a load balancer rule.', roles: ALL_ROLES, response: SUCCESS_RESPONSE, shape: 'success',
  isAsync: true, transactional: false, event: 'LB.DELETE', instance: { type: 'FirewallRule', param: 'id' },
  params: { id: { type: 'uuid', entity: 'lbrule', required: true, description: 'the ID of the load balancer rule' } },
  async create(ctx, a) { await lbById(ctx, a.id); },
  async handler(ctx, a) {
    const r = await lbById(ctx, a.id);
    const db = ctx.services.db;
    const saved = { rule: await rows(db, 'lb_rules', r.id), members: await rows(db, 'lb_members', r.id), sticky: await rows(db, 'lb_stickiness', r.id), hc: await rows(db, 'lb_healthchecks', r.id),
      fw: r.firewall_rule_id ? await db.query<Record<string, unknown>>('SELECT * FROM network_rules WHERE id = $1', [r.firewall_rule_id]) : [] };
    await changeNetwork(ctx, r.network_id, async (sql) => {
      await sql.query('DELETE FROM lb_rules WHERE id = $1', [r.id]);
      if (r.firewall_rule_id) await sql.query('DELETE FROM network_rules WHERE id = $1', [r.firewall_rule_id]);
    }, async (sql) => {
      await restore(sql, 'lb_rules', saved.rule); await restore(sql, 'lb_members', saved.members); await restore(sql, 'lb_stickiness', saved.sticky);
      await restore(sql, 'lb_healthchecks', saved.hc); await restore(sql, 'network_rules', saved.fw);
    });
    ctx.setResource('LoadBalancerRule', r.id);
  },
});

export const listLoadBalancerRules = command({
  name: 'listLoadBalancerRules', description: 'Lists load balancer rules.', roles: ALL_ROLES, response: LOAD_BALANCER, shape: 'list', transactional: false,
  params: {
    ...LIST_OWNED_PARAMS,
    id: { type: 'uuid', entity: 'lbrule', description: 'the ID of the load balancer rule' },
    name: { type: 'string', description: 'the name of the load balancer rule' },
    publicipid: { type: 'uuid', entity: 'publicip', access: 'operate', description: 'the public IP address ID of the load balancer rule' },
    networkid: { type: 'uuid', entity: 'network', access: 'use', description: 'list by network ID the rule belongs to' },
    virtualmachineid: { type: 'uuid', entity: 'vm', description: 'the ID of the virtual machine of the load balancer rule' },
    zoneid: { type: 'uuid', entity: 'zone', description: 'the availability zone ID' },
    fordisplay: { type: 'boolean', description: 'list resources by display flag; only ROOT admin is eligible to pass this parameter' },
    tags: { type: 'map', description: 'List resources by tags (key/value pairs)' },
    projectid: { type: 'uuid', entity: 'project', description: 'list objects by project; if projectid=-1 lists All VMs' },
  },
  async handler(ctx, a) {
    if (a.publicipid) await ipById(ctx, a.publicipid, 'publicipid');
    if (a.networkid) await networkById(ctx, a.networkid, 'networkid');
    if (a.projectid) return [];
    const scope = await resolveScope(ctx.sql, ctx.caller, a);
    const w = applyScope(new Where([]), scope, { account: 'l.account_id', domain: 'l.domain_id' });
    w.add('l.id = ?', a.id).add('l.for_display = ?', a.fordisplay).add('l.name = ?', a.name).add('l.ip_address_id = ?', a.publicipid).add('l.network_id = ?', a.networkid).add('n.zone_id = ?', a.zoneid).keyword(a.keyword, 'l.name');
    if (a.virtualmachineid) w.add('EXISTS (SELECT 1 FROM lb_members m WHERE m.rule_id = l.id AND m.vm_id = ?)', a.virtualmachineid);
    const list = await ctx.services.db.query<LbViewRow>(`${LB_SELECT} ${w} ORDER BY l.created, l.id`, w.params);
    const st = list.length ? await lbStatuses(ctx, list.map((r) => r.network_id)) : new Map();
    return list.map((r) => lbView(r, st.get(r.id)));
  },
});

// ---- members ----

interface Member { vmId: string; vmName: string; ip: string }
/** The VMs and addresses named by virtualmachineids and vmidipmap, checked against the rule. */
async function membersOf(ctx: Context, r: LbViewRow, ids: string[] | undefined, map: MapValue | undefined, verb: string): Promise<Member[]> {
  if (!ids?.length && !map?.length) throw paramError(`Unable to execute API command ${verb.toLowerCase()} due to missing parameter virtualmachineids or vmidipmap`);
  const wanted: Array<{ vmId: string; ip?: string | undefined }> = [...(ids ?? []).map((vmId) => ({ vmId }))];
  for (const m of map ?? []) {
    const vmId = (m.vmid ?? '').toLowerCase();
    if (!/^[0-9a-f-]{36}$/.test(vmId)) throw paramError(`Unable to execute API command ${verb.toLowerCase()} due to invalid value. Invalid parameter vmidipmap: vmid ${JSON.stringify(m.vmid ?? '')} is not a UUID`);
    if (m.vmip !== undefined && checkIPv4(m.vmip)) throw paramError(`Unable to execute API command ${verb.toLowerCase()} due to invalid value. Invalid parameter vmidipmap: vmip ${JSON.stringify(m.vmip)} is not an IPv4 address`);
    wanted.push({ vmId, ip: m.vmip });
  }
  const out: Member[] = [];
  for (const w of wanted) {
    const vm = await vmById(ctx, w.vmId, 'virtualmachineids');
    if (vm.account_id !== r.account_id) throw apiError('ACCOUNT_ERROR', `Failed to ${verb} load balancer rule ${r.name}: virtual machine ${vm.name} belongs to another account`, [vm.id]);
    const nic = (await ctx.services.db.query<{ ip4: string | null }>('SELECT ip4 FROM nics WHERE vm_id = $1 AND network_id = $2', [vm.id, r.network_id]))[0];
    if (!nic?.ip4) throw paramError(`Failed to ${verb} load balancer rule ${r.name}: virtual machine ${vm.name} has no NIC in the rule's network`);
    if (w.ip && w.ip !== nic.ip4) throw paramError(`Failed to ${verb} load balancer rule ${r.name}: ${w.ip} is not an address of virtual machine ${vm.name} in the rule's network (secondary IPs are not supported yet)`);
    if (!out.some((o) => o.vmId === vm.id && o.ip === nic.ip4)) out.push({ vmId: vm.id, vmName: vm.name, ip: nic.ip4 });
  }
  return out;
}

const MEMBER_PARAMS = {
  id: { type: 'uuid', entity: 'lbrule', required: true, description: 'the ID of the load balancer rule' },
  virtualmachineids: { type: 'list', entity: 'vm', of: 'uuid', description: 'the list of IDs of the virtual machine that are being assigned to the load balancer rule(i.e. virtualMachineIds=1,2,3)' },
  vmidipmap: { type: 'map', description: 'VM ID and IP map, vmidipmap[0].vmid=1 vmidipmap[0].ip=10.1.1.75' },
} as const;

export const assignToLoadBalancerRule = command({
  name: 'assignToLoadBalancerRule', description: 'Assigns virtual machine or a list of virtual machines to a load balancer rule.', roles: ALL_ROLES, response: SUCCESS_RESPONSE, shape: 'success',
  isAsync: true, transactional: false, event: 'LB.ASSIGN.TO.RULE', instance: { type: 'FirewallRule', param: 'id' },
  params: MEMBER_PARAMS,
  async create(ctx, a) {
    const r = await lbById(ctx, a.id);
    const ms = await membersOf(ctx, r, a.virtualmachineids, a.vmidipmap, 'assign');
    const have = await ctx.services.db.query<{ vm_id: string; ip: string }>('SELECT vm_id, ip FROM lb_members WHERE rule_id = $1', [r.id]);
    const dup = ms.find((m) => have.some((h) => h.vm_id === m.vmId && h.ip === m.ip));
    if (dup) throw paramError(`Failed to assign to load balancer ${r.name}: VM ${dup.vmName} with IP ${dup.ip} is already assigned to the rule`);
  },
  async handler(ctx, a) {
    const r = await lbById(ctx, a.id);
    const ms = await membersOf(ctx, r, a.virtualmachineids, a.vmidipmap, 'assign');
    await changeNetwork(ctx, r.network_id, async (sql) => {
      for (const m of ms) await sql.query('INSERT INTO lb_members (rule_id, vm_id, ip) VALUES ($1,$2,$3) ON CONFLICT DO NOTHING', [r.id, m.vmId, m.ip]);
    }, async (sql) => { for (const m of ms) await sql.query('DELETE FROM lb_members WHERE rule_id = $1 AND vm_id = $2 AND ip = $3', [r.id, m.vmId, m.ip]); });
    ctx.setResource('LoadBalancerRule', r.id);
  },
});

export const removeFromLoadBalancerRule = command({
  name: 'removeFromLoadBalancerRule', description: 'Removes a virtual machine or a list of virtual machines from a load balancer rule.', roles: ALL_ROLES, response: SUCCESS_RESPONSE, shape: 'success',
  isAsync: true, transactional: false, event: 'LB.REMOVE.FROM.RULE', instance: { type: 'FirewallRule', param: 'id' },
  params: { ...MEMBER_PARAMS, virtualmachineids: { ...MEMBER_PARAMS.virtualmachineids, description: 'the list of IDs of the virtual machines that are being removed from the load balancer rule (i.e. virtualMachineIds=1,2,3)' } },
  async create(ctx, a) {
    const r = await lbById(ctx, a.id);
    const ms = await membersOf(ctx, r, a.virtualmachineids, a.vmidipmap, 'remove');
    const have = await ctx.services.db.query<{ vm_id: string; ip: string }>('SELECT vm_id, ip FROM lb_members WHERE rule_id = $1', [r.id]);
    const missing = ms.find((m) => !have.some((h) => h.vm_id === m.vmId && h.ip === m.ip));
    if (missing) throw paramError(`Failed to remove from load balancer ${r.name}: VM ${missing.vmName} with IP ${missing.ip} is not assigned to the rule`);
  },
  async handler(ctx, a) {
    const r = await lbById(ctx, a.id);
    const ms = await membersOf(ctx, r, a.virtualmachineids, a.vmidipmap, 'remove');
    await changeNetwork(ctx, r.network_id, async (sql) => {
      for (const m of ms) await sql.query('DELETE FROM lb_members WHERE rule_id = $1 AND vm_id = $2 AND ip = $3', [r.id, m.vmId, m.ip]);
    }, async (sql) => { for (const m of ms) await sql.query('INSERT INTO lb_members (rule_id, vm_id, ip) VALUES ($1,$2,$3) ON CONFLICT DO NOTHING', [r.id, m.vmId, m.ip]); });
    ctx.setResource('LoadBalancerRule', r.id);
  },
});

export const listLoadBalancerRuleInstances = command({
  name: 'listLoadBalancerRuleInstances', description: 'List all virtual machine instances that are assigned to a load balancer rule.', roles: ALL_ROLES,
  response: { name: 'loadbalancerruleinstance', fields: { ...VM.fields, lbvmipaddresses: { type: 'list', description: 'IP addresses of the vm set of lb rule' }, loadbalancerruleinstance: { type: 'object', description: 'the user vm set for lb rule' } } }, shape: 'raw', transactional: false,
  related: ['listLoadBalancerRuleInstances'],
  params: {
    id: { type: 'uuid', entity: 'lbrule', access: 'use', required: true, description: 'the ID of the load balancer rule' },
    applied: { type: 'boolean', description: 'true if listing all virtual machines currently applied to the load balancer rule; default is true' },
    lbvmips: { type: 'boolean', description: 'true if load balancer rule VM IP information to be included; default is false' },
    keyword: { type: 'string', description: 'List by keyword' },
    page: { type: 'integer', description: 'the page number of the result set (from 1)', min: 1 },
    pagesize: { type: 'integer', description: 'the number of items per page', min: -1 },
  },
  async handler(ctx, a) {
    const r = await lbById(ctx, a.id);
    const db = ctx.services.db;
    const members = await db.query<{ vm_id: string; ip: string }>('SELECT vm_id, ip FROM lb_members WHERE rule_id = $1 ORDER BY created, vm_id, ip', [r.id]);
    // applied=false: the account's VMs in the rule's network that are not members (CloudStack).
    const ids = a.applied === false
      ? (await db.query<{ id: string }>(`SELECT v.id FROM vm_instances v JOIN nics c ON c.vm_id = v.id WHERE c.network_id = $1 AND v.type = 'User' AND v.state <> 'Destroyed' AND v.account_id = $2 ORDER BY v.created`, [r.network_id, r.account_id]))
        .map((x) => x.id).filter((id) => !members.some((m) => m.vm_id === id))
      : [...new Set(members.map((m) => m.vm_id))];
    let vms = ids.length ? await db.query<VmRow>(`${VM_SELECT} WHERE v.id = ANY($1::uuid[]) ORDER BY v.created`, [ids]) : [];
    if (a.keyword) vms = vms.filter((v) => v.name.includes(a.keyword!) || (v.display_name ?? '').includes(a.keyword!));
    const nics = vms.length ? await db.query<NicRow>(`${NIC_SELECT} WHERE c.vm_id = ANY($1::uuid[])`, [vms.map((v) => v.id)]) : [];
    const admin = ctx.caller.role === 'Admin';
    const status = a.lbvmips ? (await lbStatuses(ctx, [r.network_id])).get(r.id) : undefined;
    const count = vms.length;
    const size = a.pagesize === undefined || a.pagesize === -1 ? count : a.pagesize;
    const page = vms.slice(((a.page ?? 1) - 1) * size, (a.page ?? 1) * size);
    if (!count) return {};
    if (!a.lbvmips) return { count, loadbalancerruleinstance: page.map((v) => vmView(v, nics, admin)) };
    // lbvmips=true: CloudStack's LoadBalancerRuleVmMapResponse, with each address's state (Flotilla:
    // the router's health checks; Active without a check).
    return {
      count,
      lbrulevmidip: page.map((v) => {
        const ips = members.filter((m) => m.vm_id === v.id).map((m) => m.ip);
        return { loadbalancerruleinstance: vmView(v, nics, admin), lbvmipaddresses: ips, lbvmipstates: ips.map((ip) => ({ ip, state: status?.backends[ip] ?? 'Unknown', ...status?.members?.[ip] })) };
      }),
    };
  },
});
