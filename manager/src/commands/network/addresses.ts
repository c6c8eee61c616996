// Public IP addresses of isolated networks: acquire (associateIpAddress), release, list, and
// one-to-one NAT to a VM (enableStaticNat / disableStaticNat). The source NAT address is
// acquired when the network is implemented and released with it.
import { pagedRows } from '../../api/paging.ts';
import { checkResourceLimit } from '../limits/limits.ts';
import { ALL_ROLES, LIST_OWNED_PARAMS, SUCCESS_RESPONSE, command } from '../../api/registry.ts';
import { apiError, notFound, paramError } from '../../api/errors.ts';
import { applyScope, resolveScope } from '../../api/scope.ts';
import { ownerOf } from '../projects/lookup.ts';
import { Where } from '../../db/sql.ts';
import type { Context } from '../../api/context.ts';
import { randomUUID } from 'node:crypto';
import { allocatePublicIp, syncRouter } from '../../orchestrator/router.ts';
import { agentFailure } from '../../orchestrator/compute.ts';
import { zoneById } from '../infra/lookup.ts';
import { isolatedNetworksOf } from '../compute/networks.ts';
import { networkById, vmById } from '../compute/lookup.ts';
import { checkIPv4 } from '../infra/validate.ts';
import { IP_ADDRESS, IP_SELECT, ipView, type IpViewRow } from './views.ts';
import { changeNetwork } from './apply.ts';

export async function ipById(ctx: Context, id: string, param = 'id'): Promise<IpViewRow> {
  const r = (await ctx.services.db.query<IpViewRow>(`${IP_SELECT} WHERE p.id = $1`, [id]))[0];
  if (!r) throw notFound(ctx.command, param, id);
  return r;
}
async function viewOf(ctx: Context, id: string): Promise<Record<string, unknown>> {
  return ipView((await ctx.services.db.query<IpViewRow>(`${IP_SELECT} WHERE p.id = $1`, [id]))[0]!, ctx.caller.role === 'Admin');
}

export const associateIpAddress = command({
  // CloudStack names the object of this answer `ipaddress` (lists name it `publicipaddress`).
  name: 'associateIpAddress', description: 'Acquires and associates a public IP to an account.', since: '1.0', roles: ALL_ROLES, response: { ...IP_ADDRESS, name: 'ipaddress' }, shape: 'object',
  isAsync: true, transactional: false, event: 'NET.IPASSIGN', instance: { type: 'IpAddress', creates: true },
  params: {
    networkid: { type: 'uuid', entity: 'network', access: 'use', description: 'The network this IP address should be associated to.' },
    zoneid: { type: 'uuid', entity: 'zone', description: 'the ID of the availability zone you want to acquire an public IP address from' },
    account: { type: 'string', description: 'the account to associate with this IP address' },
    domainid: { type: 'uuid', entity: 'domain', description: 'the ID of the domain to associate with this IP address' },
    projectid: { type: 'uuid', entity: 'project', description: 'Deploy VM for the project' },
    ipaddress: { type: 'string', description: 'IP Address to be associated', check: checkIPv4 },
    fordisplay: { type: 'boolean', description: 'an optional field, whether to the display the IP to the end user or not' },
  },
  async handler(ctx, a) {
    const n = await networkById(ctx, a.networkid ?? await defaultIsolatedNetwork(ctx, a), 'networkid');
    if (n.guest_type !== 'Isolated') throw paramError(`Network ${n.name} is a ${n.guest_type} network: public IPs are associated to isolated networks`);
    if (a.zoneid && a.zoneid !== n.zone_id) throw paramError(`Network ${n.name} is not in zone ${a.zoneid}`);
    // The address belongs to its network's owner; a projectid given names that owner.
    if (a.projectid && a.networkid) {
      const o = await ownerOf(ctx, a);
      if (o.accountId !== n.account_id) throw paramError(`Network ${n.name} does not belong to project id=${a.projectid}`);
    }
    // The id was chosen when the job was queued (answered at once); a re-run after a crash finds it.
    const id = ctx.newId ?? randomUUID();
    const done = (await ctx.services.db.query<{ network_id: string }>('SELECT network_id FROM public_ip_addresses WHERE id = $1', [id]))[0];
    if (done) {
      await syncRouter(ctx.services, done.network_id).catch((e) => { throw agentFailure(e, 'Applying the address on the router'); });
    } else {
      await changeNetwork(ctx, n.id, async (sql) => {
        await checkResourceLimit(sql, n.account_id!, 'public_ip');
        await allocatePublicIp(sql, { zoneId: n.zone_id, networkId: n.id, accountId: n.account_id!, domainId: n.domain_id, sourceNat: false, id, ...(a.ipaddress ? { address: a.ipaddress } : {}) });
      }, async (sql) => { await sql.query('DELETE FROM public_ip_addresses WHERE id = $1', [id]); });
    }
    ctx.setResource('IpAddress', id);
    return viewOf(ctx, id);
  },
});

/**
 * associateIpAddress without networkid in an advanced zone (CloudStack's AssociateIPAddrCmd):
 * the owner's one isolated network of `zoneid`; none or several is a 431.
 */
async function defaultIsolatedNetwork(ctx: Context, a: { zoneid?: string | undefined; account?: string | undefined; domainid?: string | undefined; projectid?: string | undefined }): Promise<string> {
  if (!a.zoneid) throw paramError('Unable to execute API command associateipaddress due to missing parameter networkid: give networkid, or zoneid to use the account\'s isolated network there (VPCs and portable IPs are not supported yet)');
  const zone = await zoneById(ctx, a.zoneid, 'zoneid');
  const o = await ownerOf(ctx, a);
  const owner = { id: o.accountId, name: o.accountName, domainId: o.domainId };
  const nets = await isolatedNetworksOf(ctx, owner.id, zone.id);
  if (!nets.length) throw paramError(`Account name=${owner.name} domain id=${owner.domainId} doesn't have virtual networks in zone=${zone.name}`);
  if (nets.length > 1) throw paramError(`Account name=${owner.name} has more than one network in zone=${zone.name}: give networkid`);
  return nets[0]!.id;
}

/** The load-balancer tables a released address takes rows from, parents first (fixed names, never input). */
const LB_TABLES: ReadonlyArray<readonly [string, string]> = [
  ['lb_rules', 'ip_address_id = $1'],
  ...['lb_members', 'lb_stickiness', 'lb_healthchecks'].map((t) => [t, 'rule_id IN (SELECT id FROM lb_rules WHERE ip_address_id = $1)'] as const),
];

export const disassociateIpAddress = command({
  name: 'disassociateIpAddress', description: 'Disassociates an IP address from the account.', since: '1.0', roles: ALL_ROLES, response: SUCCESS_RESPONSE, shape: 'success',
  isAsync: true, transactional: false, event: 'NET.IPRELEASE', instance: { type: 'IpAddress', param: 'id' },
  params: { id: { type: 'uuid', entity: 'publicip', required: true, description: 'the ID of the public IP address to disassociate' } },
  async handler(ctx, a) {
    const ip = await ipById(ctx, a.id);
    if (ip.is_source_nat) throw paramError(`IP address ${ip.address} is the source NAT address of network ${ip.network_name}; it is released with the network`);
    // Forwards before the firewall rules that came with them (restored in this order).
    const rules = await ctx.services.db.query<Record<string, unknown>>('SELECT * FROM network_rules WHERE ip_address_id = $1 ORDER BY related_rule_id NULLS FIRST', [ip.id]);
    const row = (await ctx.services.db.query<Record<string, unknown>>('SELECT * FROM public_ip_addresses WHERE id = $1', [ip.id]))[0]!;
    // Load-balancer rules on it, with their members and policies (restored in this order).
    const lb: Array<[table: string, rows: Array<Record<string, unknown>>]> = [];
    for (const [table, where] of LB_TABLES) lb.push([table, await ctx.services.db.query<Record<string, unknown>>(`SELECT * FROM ${table} WHERE ${where}`, [ip.id])]);
    // Its rules, load balancers and static NAT go with it (CloudStack revokes them on release).
    await changeNetwork(ctx, ip.network_id!, async (sql) => {
      await sql.query('DELETE FROM lb_rules WHERE ip_address_id = $1', [ip.id]);
      await sql.query('DELETE FROM network_rules WHERE ip_address_id = $1', [ip.id]);
      await sql.query('DELETE FROM public_ip_addresses WHERE id = $1', [ip.id]);
    }, async (sql) => {
      await sql.query(`INSERT INTO public_ip_addresses SELECT * FROM json_populate_record(NULL::public_ip_addresses, $1::json)`, [JSON.stringify(row)]);
      for (const r of rules) await sql.query(`INSERT INTO network_rules SELECT * FROM json_populate_record(NULL::network_rules, $1::json)`, [JSON.stringify(r)]);
      for (const [table, rows] of lb) for (const r of rows) await sql.query(`INSERT INTO ${table} SELECT * FROM json_populate_record(NULL::${table}, $1::json)`, [JSON.stringify(r)]);
    });
    ctx.setResource('IpAddress', ip.id);
  },
});

export const listPublicIpAddresses = command({
  name: 'listPublicIpAddresses', description: 'Lists all public IP addresses', since: '1.0', roles: ALL_ROLES, response: IP_ADDRESS, shape: 'list',
  params: {
    ...LIST_OWNED_PARAMS,
    id: { type: 'uuid', entity: 'publicip', description: 'lists IP address by ID' },
    ipaddress: { type: 'string', description: 'lists the specified IP address' },
    allocatedonly: { type: 'boolean', description: 'limits search results to allocated public IP addresses' },
    forvirtualnetwork: { type: 'boolean', description: 'the virtual network for the IP address' },
    vlanid: { type: 'uuid', entity: 'vlaniprange', description: 'lists all public IP addresses by VLAN ID' },
    zoneid: { type: 'uuid', entity: 'zone', description: 'lists all public IP addresses by zone ID' },
    associatednetworkid: { type: 'uuid', entity: 'network', description: 'lists all public IP addresses associated to the network specified' },
    physicalnetworkid: { type: 'uuid', entity: 'physicalnetwork', description: 'lists all public IP addresses by physical network ID' },
    issourcenat: { type: 'boolean', description: 'list only source NAT IP addresses' },
    isstaticnat: { type: 'boolean', description: 'list only static NAT IP addresses' },
    state: { type: 'string', description: 'lists all public IP addresses by state' },
    projectid: { type: 'uuid', entity: 'project', description: 'list objects by project; if projectid=-1 lists All VMs' },
  },
  async handler(ctx, a) {
    if (a.forvirtualnetwork === false) return [];
    const scope = await resolveScope(ctx.sql, ctx.caller, a);
    const w = applyScope(new Where([]), scope, { account: 'p.account_id', domain: 'p.domain_id' });
    w.add('p.id = ?', a.id).add('p.address = ?', a.ipaddress).add('p.vlan_range_id = ?', a.vlanid).add('p.zone_id = ?', a.zoneid).add('p.network_id = ?', a.associatednetworkid)
      .add('r.physical_network_id = ?', a.physicalnetworkid).add('p.is_source_nat = ?', a.issourcenat).add('lower(p.state) = lower(?)', a.state).keyword(a.keyword, 'p.address');
    if (a.isstaticnat !== undefined) w.add(a.isstaticnat ? 'p.static_nat_vm_id IS NOT NULL' : 'p.static_nat_vm_id IS NULL');
    return (await pagedRows<IpViewRow>(ctx.sql, a, { select: IP_SELECT, where: w, orderBy: 'p.allocated, p.address, p.id' })).map((r) => ipView(r, ctx.caller.role === 'Admin'));
  },
});

export const enableStaticNat = command({
  name: 'enableStaticNat', description: 'Enables static NAT for given IP address', since: '1.0', roles: ALL_ROLES, response: SUCCESS_RESPONSE, shape: 'success',
  transactional: false, event: 'STATICNAT.ENABLE',
  params: {
    ipaddressid: { type: 'uuid', entity: 'publicip', required: true, description: 'the public IP address ID for which static NAT feature is being enabled' },
    virtualmachineid: { type: 'uuid', entity: 'vm', required: true, description: 'the ID of the virtual machine for enabling static NAT feature' },
    networkid: { type: 'uuid', entity: 'network', access: 'use', description: 'The network of the VM the static NAT will be enabled for. Required when public IP address is not associated with any guest network yet (VPC case)' },
    vmguestip: { type: 'string', description: 'VM guest NIC secondary IP address for the port forwarding rule', check: checkIPv4 },
  },
  async handler(ctx, a) {
    const ip = await ipById(ctx, a.ipaddressid, 'ipaddressid');
    const vm = await vmById(ctx, a.virtualmachineid, 'virtualmachineid');
    if (vm.account_id !== ip.account_id) throw apiError('ACCOUNT_ERROR', `Virtual machine ${vm.name} and IP address ${ip.address} belong to different accounts`);
    if (a.networkid && a.networkid !== ip.network_id) throw paramError(`IP address ${ip.address} is associated to network ${ip.network_name}, not ${a.networkid}`);
    const nic = (await ctx.services.db.query<{ ip4: string }>('SELECT ip4 FROM nics WHERE vm_id = $1 AND network_id = $2', [vm.id, ip.network_id]))[0];
    if (!nic?.ip4) throw paramError(`Virtual machine ${vm.name} has no NIC in network ${ip.network_name} of IP address ${ip.address}`);
    if (a.vmguestip && a.vmguestip !== nic.ip4) throw paramError(`vmguestip ${a.vmguestip} is not an address of virtual machine ${vm.name} (secondary IPs are not supported yet)`);
    if (ip.static_nat_vm_id && ip.static_nat_vm_id !== vm.id) throw apiError('NETWORK_RULE_CONFLICT', `Failed to enable static nat for the ip address ${ip.address}: it is already static NAT'ed to virtual machine ${ip.vm_name}`, [ip.id]);
    const other = (await ctx.services.db.query<{ address: string }>('SELECT address FROM public_ip_addresses WHERE static_nat_vm_id = $1 AND id <> $2', [vm.id, ip.id]))[0];
    if (other) throw apiError('NETWORK_RULE_CONFLICT', `Failed to enable static nat for the ip address ${ip.address}: virtual machine ${vm.name} already has static NAT on ${other.address}`, [ip.id]);
    await changeNetwork(ctx, ip.network_id!, async (sql) => {
      await sql.query('UPDATE public_ip_addresses SET static_nat_vm_id = $2, static_nat_ip = $3 WHERE id = $1', [ip.id, vm.id, nic.ip4]);
    }, async (sql) => { await sql.query('UPDATE public_ip_addresses SET static_nat_vm_id = NULL, static_nat_ip = NULL WHERE id = $1', [ip.id]); });
    ctx.setResource('IpAddress', ip.id);
  },
});

export const disableStaticNat = command({
  name: 'disableStaticNat', description: 'Disables static rule for given IP address', since: '1.0', roles: ALL_ROLES, response: SUCCESS_RESPONSE, shape: 'success',
  isAsync: true, transactional: false, event: 'STATICNAT.DISABLE', instance: { type: 'IpAddress', param: 'ipaddressid' },
  params: { ipaddressid: { type: 'uuid', entity: 'publicip', required: true, description: 'the public IP address ID for which static NAT feature is being disabled' } },
  async handler(ctx, a) {
    const ip = await ipById(ctx, a.ipaddressid, 'ipaddressid');
    if (!ip.static_nat_vm_id) throw paramError(`Specified IP address id is not associated with any vm Id: static NAT is not enabled on ${ip.address}`);
    // Its static NAT rules (createIpForwardingRule) and their firewall rules go with it, as in CloudStack.
    const natRules = await ctx.services.db.query<Record<string, unknown>>(
      `SELECT * FROM network_rules WHERE ip_address_id = $1 AND (purpose = 'StaticNat' OR related_rule_id IN (SELECT id FROM network_rules WHERE ip_address_id = $1 AND purpose = 'StaticNat')) ORDER BY related_rule_id NULLS FIRST`, [ip.id]);
    await changeNetwork(ctx, ip.network_id!, async (sql) => {
      await sql.query(`DELETE FROM network_rules WHERE ip_address_id = $1 AND purpose = 'StaticNat'`, [ip.id]);
      await sql.query('UPDATE public_ip_addresses SET static_nat_vm_id = NULL, static_nat_ip = NULL WHERE id = $1', [ip.id]);
    }, async (sql) => {
      await sql.query('UPDATE public_ip_addresses SET static_nat_vm_id = $2, static_nat_ip = $3 WHERE id = $1', [ip.id, ip.static_nat_vm_id, ip.static_nat_ip]);
      for (const r of natRules) await sql.query(`INSERT INTO network_rules SELECT * FROM json_populate_record(NULL::network_rules, $1::json)`, [JSON.stringify(r)]);
    });
    ctx.setResource('IpAddress', ip.id);
  },
});
