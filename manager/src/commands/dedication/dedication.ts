// dedicatePublicIpRange / releasePublicIpRange (ConfigurationManagerImpl) and
// dedicateGuestVlanRange / listDedicatedGuestVlanRanges / releaseDedicatedGuestVlanRange
// (NetworkServiceImpl). What a dedication does is in the allocators (orchestrator/router.ts:
// allocatePublicIp takes the owner's ranges first and never another's; allocateVni likewise).
import { randomUUID } from 'node:crypto';
import { ADMIN, LIST_PARAMS, SUCCESS_RESPONSE, command, field as f, type ResponseDef } from '../../api/registry.ts';
import { notFound, paramError } from '../../api/errors.ts';
import { Where } from '../../db/sql.ts';
import type { Context } from '../../api/context.ts';
import { accountByName, domainById } from '../accounts/lookup.ts';
import { lockInfra, physicalNetworkById, vlanRangeById } from '../infra/lookup.ts';
import { VLAN_IP_RANGE, vlanRangeView } from '../infra/views.ts';
import { parseVnetRanges, vnetOverlap } from '../../orchestrator/ipam.ts';
import { ipam } from '../infra/validate.ts';
import { ownerFields, projectById, projectColumns } from '../projects/lookup.ts';

/** The account (or, with neither account nor projectid, the domain alone) a dedication is for. */
async function dedicatee(ctx: Context, a: { account?: string | undefined; domainid?: string | undefined; projectid?: string | undefined }, domainRequired: boolean): Promise<{ accountId: string | null; domainId: string }> {
  if (a.projectid) {
    if (a.account) throw paramError('Account and projectId can\'t be specified together');
    const p = await projectById(ctx, a.projectid, 'projectid');
    return { accountId: p.account_id, domainId: p.domain_id };
  }
  if (a.account) {
    if (!a.domainid) throw paramError('accountName and domainId must be specified together');
    const acc = await accountByName(ctx, a.account, a.domainid);
    return { accountId: acc.id, domainId: acc.domain_id };
  }
  if (!a.domainid || !domainRequired) throw paramError('Please specify a valid account (account and domainid, or projectid)');
  return { accountId: null, domainId: (await domainById(ctx, a.domainid, 'domainid')).id };
}

export const dedicatePublicIpRange = command({
  name: 'dedicatePublicIpRange', description: 'Dedicates a Public IP range to an account', since: '4.2.0', roles: ADMIN, response: VLAN_IP_RANGE, shape: 'object',
  event: 'VLAN.IP.RANGE.DEDICATE',
  params: {
    id: { type: 'uuid', entity: 'vlaniprange', required: true, description: 'the id of the VLAN IP range' },
    domainid: { type: 'uuid', entity: 'domain', required: true, description: 'domain ID of the account owning a VLAN' },
    account: { type: 'string', description: 'account who will own the VLAN' },
    projectid: { type: 'uuid', entity: 'project', description: 'project who will own the VLAN' },
  },
  async handler(ctx, a) {
    await lockInfra(ctx);
    const r = await vlanRangeById(ctx, a.id);
    if (!r.for_virtual_network || r.for_system_vms) throw paramError(`IP range ${r.start_ip}-${r.end_ip} is not a public range of guest networks: only those can be dedicated`);
    if (r.domain_id) throw paramError(`Public IP range ${r.start_ip}-${r.end_ip} has already been dedicated${r.account_name ? ` to account ${r.account_name}` : ` to domain ${r.domain_name}`}`);
    const owner = await dedicatee(ctx, a, true);
    if (a.projectid === undefined && a.account === undefined && a.domainid !== owner.domainId) throw paramError('domainid does not match');
    // CloudStack: an address of the range already allocated to someone else blocks the dedication.
    const others = await ctx.sql.query<{ address: string }>(
      `SELECT address FROM public_ip_addresses WHERE vlan_range_id = $1 AND ${owner.accountId ? 'account_id <> $2' : 'domain_id <> $2'} ORDER BY address LIMIT 1`,
      [r.id, owner.accountId ?? owner.domainId]);
    if (others.length) throw paramError(`Public IP address ${others[0]!.address} in range ${r.start_ip}-${r.end_ip} is already allocated to another ${owner.accountId ? 'account' : 'domain'}`);
    await ctx.sql.query('UPDATE vlan_ip_ranges SET account_id = $2, domain_id = $3 WHERE id = $1', [r.id, owner.accountId, owner.domainId]);
    ctx.setResource('PublicIpAddress', r.id);
    return vlanRangeView(await vlanRangeById(ctx, r.id));
  },
});

export const releasePublicIpRange = command({
  name: 'releasePublicIpRange', description: 'Releases a Public IP range back to the system pool', since: '4.2.0', roles: ADMIN, response: SUCCESS_RESPONSE, shape: 'success',
  event: 'VLAN.IP.RANGE.RELEASE',
  params: { id: { type: 'uuid', entity: 'vlaniprange', required: true, description: 'the id of the Public IP range' } },
  async handler(ctx, a) {
    await lockInfra(ctx);
    const r = await vlanRangeById(ctx, a.id);
    if (!r.domain_id) throw paramError(`Public IP range ${r.start_ip}-${r.end_ip} is not dedicated: it is in the system pool already`);
    // Addresses the account holds stay with it (they are in use); the free ones go back to everyone.
    await ctx.sql.query('UPDATE vlan_ip_ranges SET account_id = NULL, domain_id = NULL WHERE id = $1', [r.id]);
    ctx.setResource('PublicIpAddress', r.id);
  },
});

const DEDICATED_VLAN: ResponseDef = {
  name: 'dedicatedguestvlanrange',
  fields: {
    id: f('string', 'the ID of the guest VLAN range'), guestvlanrange: f('string', 'the guest VLAN range'),
    account: f('string', 'the account of the guest VLAN range'), domainid: f('string', 'the domain ID of the guest VLAN range'),
    domain: f('string', 'the domain name of the guest VLAN range'), projectid: f('string', 'the project id of the guest vlan range'),
    project: f('string', 'the project name of the guest vlan range'),
  },
};
interface DedicatedRow { id: string; physical_network_id: string; zone_id: string; account_id: string; account_name: string; domain_id: string; domain_name: string; start_vni: number; end_vni: number; project_id: string | null; project_name: string | null }
const DEDICATED_SELECT = `SELECT g.*, p.zone_id, a.name AS account_name, d.name AS domain_name, ${projectColumns('g')}
  FROM dedicated_guest_vlan_ranges g JOIN physical_networks p ON p.id = g.physical_network_id JOIN accounts a ON a.id = g.account_id JOIN domains d ON d.id = g.domain_id`;
const dedicatedView = (r: DedicatedRow): Record<string, unknown> => ({
  id: r.id, guestvlanrange: `${r.start_vni}-${r.end_vni}`, ...ownerFields(r, r.account_name), domainid: r.domain_id, domain: r.domain_name,
});

export const dedicateGuestVlanRange = command({
  name: 'dedicateGuestVlanRange', description: 'Dedicates a guest vlan range to an account', since: '4.2.0', roles: ADMIN, response: DEDICATED_VLAN, shape: 'object',
  event: 'GUEST.VLAN.RANGE.DEDICATE',
  params: {
    vlanrange: { type: 'string', required: true, description: 'guest vlan range to be dedicated' },
    physicalnetworkid: { type: 'uuid', entity: 'physicalnetwork', required: true, description: 'physical network ID of the vlan' },
    account: { type: 'string', description: 'account who will own the VLAN' },
    domainid: { type: 'uuid', entity: 'domain', description: 'domain ID of the account owning a VLAN' },
    projectid: { type: 'uuid', entity: 'project', description: 'project who will own the VLAN' },
  },
  async handler(ctx, a) {
    await lockInfra(ctx);
    const pn = await physicalNetworkById(ctx, a.physicalnetworkid, 'physicalnetworkid');
    const method = (pn.isolation_methods.split(',')[0] || 'VLAN').toUpperCase() === 'VXLAN' ? 'VXLAN' : 'VLAN';
    const want = ipam(() => parseVnetRanges('vlanrange', a.vlanrange, method));
    if (want.length !== 1) throw paramError(`Invalid format for parameter value vlanrange ${a.vlanrange}: give one range, start-end`);
    const [lo, hi] = want[0]!;
    const own = pn.vlan ? parseVnetRanges('vlan', pn.vlan, method) : [];
    if (!own.some(([x, y]) => x <= lo && hi <= y)) throw paramError(`Unable to dedicate vlan range ${lo}-${hi}: it is not within the vlan range ${pn.vlan ?? '(none)'} of physical network ${pn.name}`);
    const owner = await dedicatee(ctx, a, false);
    const taken = await ctx.sql.query<{ start_vni: number; end_vni: number; account_name: string }>(
      `SELECT g.start_vni, g.end_vni, a.name AS account_name FROM dedicated_guest_vlan_ranges g JOIN accounts a ON a.id = g.account_id WHERE g.physical_network_id = $1`, [pn.id]);
    for (const t of taken) {
      const o = vnetOverlap([[lo, hi]], [[t.start_vni, t.end_vni]]);
      if (o) throw paramError(`Vlan range ${lo}-${hi} overlaps the range ${t.start_vni}-${t.end_vni} already dedicated to account ${t.account_name}`);
    }
    const used = (await ctx.sql.query<{ vni: number; name: string }>(
      `SELECT vni, name FROM networks WHERE physical_network_id = $1 AND vni BETWEEN $2 AND $3 AND account_id IS DISTINCT FROM $4 ORDER BY vni LIMIT 1`, [pn.id, lo, hi, owner.accountId]))[0];
    if (used) throw paramError(`Guest vlan ${used.vni} of range ${lo}-${hi} is in use by network ${used.name} of another account`);
    const id = randomUUID();
    await ctx.sql.query('INSERT INTO dedicated_guest_vlan_ranges (id, physical_network_id, account_id, domain_id, start_vni, end_vni) VALUES ($1,$2,$3,$4,$5,$6)',
      [id, pn.id, owner.accountId, owner.domainId, lo, hi]);
    ctx.setResource('DedicatedGuestVlanRange', id);
    return dedicatedView((await ctx.sql.query<DedicatedRow>(`${DEDICATED_SELECT} WHERE g.id = $1`, [id]))[0]!);
  },
});

export const listDedicatedGuestVlanRanges = command({
  name: 'listDedicatedGuestVlanRanges', description: 'Lists dedicated guest vlan ranges', since: '4.2.0', roles: ADMIN, response: DEDICATED_VLAN, shape: 'list',
  params: {
    ...LIST_PARAMS,
    id: { type: 'uuid', entity: 'guestvlanrange', description: 'list dedicated guest vlan ranges by id' },
    account: { type: 'string', description: 'the account with which the guest VLAN range is associated. Must be used with the domainId parameter.' },
    projectid: { type: 'uuid', entity: 'project', description: 'project who will own the guest VLAN range' },
    domainid: { type: 'uuid', entity: 'domain', description: 'the domain ID with which the guest VLAN range is associated.  If used with the account parameter, returns all guest VLAN ranges for that account in the specified domain.' },
    guestvlanrange: { type: 'string', description: 'the dedicated guest vlan range' },
    physicalnetworkid: { type: 'uuid', entity: 'physicalnetwork', description: 'physical network id of the guest VLAN range' },
    zoneid: { type: 'uuid', entity: 'zone', description: 'zone of the guest VLAN range' },
  },
  async handler(ctx, a) {
    const w = new Where().add('g.id = ?', a.id).add('g.physical_network_id = ?', a.physicalnetworkid).add('p.zone_id = ?', a.zoneid);
    if (a.account !== undefined || a.projectid !== undefined) {
      const o = await dedicatee(ctx, a, false);
      w.add('g.account_id = ?', o.accountId);
    } else if (a.domainid) w.add('g.domain_id = ?', (await domainById(ctx, a.domainid, 'domainid')).id);
    if (a.guestvlanrange !== undefined) {
      const m = /^\s*(\d+)\s*-\s*(\d+)\s*$/.exec(a.guestvlanrange);
      if (!m) throw paramError(`Invalid parameter guestvlanrange value=${a.guestvlanrange}: write start-end`);
      w.add('g.start_vni = ?', Number(m[1])).add('g.end_vni = ?', Number(m[2]));
    }
    if (a.keyword) w.add(`(g.start_vni::text || '-' || g.end_vni::text) LIKE ?`, `%${a.keyword.replace(/[%_\\]/g, '')}%`);
    return (await ctx.sql.query<DedicatedRow>(`${DEDICATED_SELECT} ${w} ORDER BY g.physical_network_id, g.start_vni`, w.params)).map(dedicatedView);
  },
});

export const releaseDedicatedGuestVlanRange = command({
  name: 'releaseDedicatedGuestVlanRange', description: 'Releases a dedicated guest vlan range to the system', since: '4.2.0', roles: ADMIN, response: SUCCESS_RESPONSE, shape: 'success',
  isAsync: true, event: 'GUEST.VLAN.RANGE.RELEASE', instance: { type: 'DedicatedGuestVlanRange', param: 'id' },
  params: { id: { type: 'uuid', entity: 'guestvlanrange', required: true, description: 'the ID of the dedicated guest vlan range' } },
  async handler(ctx, a) {
    const gone = await ctx.sql.query('DELETE FROM dedicated_guest_vlan_ranges WHERE id = $1 RETURNING id', [a.id]);
    if (!gone.length) throw notFound(ctx.command, 'id', a.id);
    ctx.setResource('DedicatedGuestVlanRange', a.id);
  },
});

