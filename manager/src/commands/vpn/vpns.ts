// createRemoteAccessVpn / listRemoteAccessVpns / updateRemoteAccessVpn / deleteRemoteAccessVpn
// (CloudStack's RemoteAccessVpnManagerImpl), served by a WireGuard interface of the network's
// router on its source NAT address. Checks as CloudStack makes them, before anything is written.
import { ip4ToInt, parseRange } from '@flotilla/vpn/compile';
import { generateKeyPair } from '@flotilla/vpn/keys';
import { ALL_ROLES, LIST_OWNED_PARAMS, SUCCESS_RESPONSE, command } from '../../api/registry.ts';
import { apiError, paramError } from '../../api/errors.ts';
import { applyScope, resolveScope } from '../../api/scope.ts';
import { Where } from '../../db/sql.ts';
import type { Context } from '../../api/context.ts';
import { configNumber, configValue } from '../offerings/config.ts';
import { ipById } from '../network/addresses.ts';
import { REMOTE_ACCESS_VPN, VPN_SELECT, vpnView, type VpnRow } from './views.ts';
import { allocateAddress, changeVpn } from './spec.ts';

export const VPN_PORT_KEY = 'remote.access.vpn.wireguard.port';
export const VPN_RANGE_KEY = 'remote.access.vpn.client.iprange';

async function vpnRow(ctx: Context, where: string, v: string): Promise<VpnRow | undefined> {
  return (await ctx.services.db.query<VpnRow>(`${VPN_SELECT} WHERE ${where} = $1`, [v]))[0];
}

const cidrBounds = (cidr: string): [number, number] => {
  const [a, l] = cidr.split('/') as [string, string];
  const len = Number(l);
  const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  const base = (ip4ToInt(a)! & mask) >>> 0;
  return [base, (base | (~mask >>> 0)) >>> 0];
};

export const createRemoteAccessVpn = command({
  name: 'createRemoteAccessVpn', description: 'Creates a l2tp/ipsec remote access vpn (Flotilla: a WireGuard server on the router)', roles: ALL_ROLES,
  response: REMOTE_ACCESS_VPN, shape: 'object', isAsync: true, transactional: false, event: 'VPN.REMOTE.ACCESS.CREATE',
  instance: { type: 'RemoteAccessVpn', creates: true },
  params: {
    publicipid: { type: 'uuid', entity: 'publicip', required: true, description: 'public ip address id of the vpn server' },
    iprange: {
      type: 'string', description: 'the range of ip addresses to allocate to vpn clients. The first ip in the range will be taken by the vpn server (default: configuration remote.access.vpn.client.iprange)',
      check: (v: string) => { const r = parseRange(v); return typeof r === 'string' ? r : undefined; },
    },
    account: { type: 'string', description: 'an optional account for the VPN. Must be used with domainId.' },
    domainid: { type: 'uuid', entity: 'domain', description: 'an optional domainId for the VPN. If the account parameter is used, domainId must also be used.' },
    openfirewall: { type: 'boolean', description: 'if true, firewall rule for source/end public port is automatically created; if false - firewall rule has to be created explicitly. Has value true by default' },
    fordisplay: { type: 'boolean', description: 'an optional field, whether to the display the vpn to the end user or not' },
  },
  async handler(ctx, a) {
    const db = ctx.services.db;
    const ip = await ipById(ctx, a.publicipid, 'publicipid');
    if (a.account !== undefined || a.domainid !== undefined) {
      if (a.account === undefined || a.domainid === undefined) throw paramError('account and domainid must be given together');
      if (a.account !== ip.account_name || a.domainid !== ip.domain_id) throw apiError('ACCOUNT_ERROR', `IP address ${ip.address} does not belong to account ${a.account}`, [ip.id]);
    }
    if (!ip.network_id) throw paramError(`The Ip address ${ip.address} is not associated with a guest network`);
    const existing = await db.query<{ id: string }>('SELECT id FROM remote_access_vpns WHERE public_ip_id = $1', [ip.id]);
    // A resumed job whose interrupted run committed the row: its push to the router or its
    // Running state may be missing (the kill harness found VPNs left Added). The router gets the
    // network's spec again and the VPN is marked Running; a refused push removes the row, as the
    // first run's would have.
    if (existing[0]?.id === ctx.newId) {
      const id = ctx.newId!;
      await changeVpn(ctx, [ip.network_id], async () => undefined, async (sql) => { await sql.query('DELETE FROM remote_access_vpns WHERE id = $1', [id]); });
      await db.query(`UPDATE remote_access_vpns SET state = 'Running' WHERE id = $1`, [id]);
      return vpnView((await vpnRow(ctx, 'x.id', id))!);
    }
    if (existing.length) throw paramError(`A Remote Access VPN already exists for this public Ip address ${ip.address}`);
    if (!ip.is_source_nat) throw paramError(`Vpn service can only be enabled on the source NAT IP address of a network; ${ip.address} is not the source NAT IP of network ${ip.network_name}`);
    const net = (await db.query<{ cidr: string; name: string; has_vpn: boolean; guest_type: string }>(
      `SELECT n.cidr, n.name, n.guest_type, (o.services -> 'Vpn') IS NOT NULL AS has_vpn FROM networks n JOIN network_offerings o ON o.id = n.network_offering_id WHERE n.id = $1`, [ip.network_id]))[0]!;
    if (!net.has_vpn) throw paramError(`Vpn service is not supported in network ${net.name}: its network offering does not provide Vpn`);
    if ((await db.query('SELECT 1 FROM remote_access_vpns WHERE network_id = $1', [ip.network_id])).length) throw paramError(`A Remote Access VPN already exists for network ${net.name}`);
    const rangeText = a.iprange ?? await configValue(db, VPN_RANGE_KEY);
    const range = parseRange(rangeText);
    if (typeof range === 'string') throw paramError(`Unable to execute API command createremoteaccessvpn due to invalid value. Invalid parameter iprange value=${rangeText} due to ${range}`);
    const [glo, ghi] = cidrBounds(net.cidr);
    if (range.lo <= ghi && glo <= range.hi) throw paramError(`Invalid parameter iprange: ${rangeText} overlaps with the guest network ${net.name} cidr ${net.cidr}`);
    const port = await configNumber(db, VPN_PORT_KEY);
    const conflict = await db.query<{ id: string }>(
      `SELECT id FROM network_rules WHERE ip_address_id = $1 AND purpose = 'PortForwarding' AND protocol = 'udp' AND start_port <= $2 AND coalesce(end_port, start_port) >= $2`, [ip.id, port]);
    if (conflict.length) throw apiError('NETWORK_RULE_CONFLICT', `The VPN's UDP port ${port} on ${ip.address} conflicts with port forwarding rule ${conflict[0]!.id}`, [conflict[0]!.id]);
    const id = ctx.newId!;
    const key = generateKeyPair();
    await changeVpn(ctx, [ip.network_id], async (sql) => {
      await sql.query(
        `INSERT INTO remote_access_vpns (id, network_id, public_ip_id, account_id, domain_id, ip_range, port, private_key_enc, public_key, open_firewall, for_display)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)`,
        [id, ip.network_id, ip.id, ip.account_id, ip.domain_id, `${range.start}-${range.end}`, port, ctx.services.secrets.seal(key.privateKey), key.publicKey, a.openfirewall ?? true, a.fordisplay ?? true]);
      // The account's existing VPN users become peers of the new VPN (CloudStack applies them too).
      for (const u of await sql.query<{ id: string }>('SELECT id FROM vpn_users WHERE account_id = $1 ORDER BY created, id', [ip.account_id])) {
        await allocateAddress(sql, { id, ip_range: `${range.start}-${range.end}` }, u.id);
      }
    }, async (sql) => { await sql.query('DELETE FROM remote_access_vpns WHERE id = $1', [id]); });
    await db.query(`UPDATE remote_access_vpns SET state = 'Running' WHERE id = $1`, [id]);
    ctx.setResource('RemoteAccessVpn', id);
    return vpnView((await vpnRow(ctx, 'x.id', id))!);
  },
});

export const deleteRemoteAccessVpn = command({
  name: 'deleteRemoteAccessVpn', description: 'Destroys a l2tp/ipsec remote access vpn (Flotilla: the WireGuard server)', roles: ALL_ROLES,
  response: SUCCESS_RESPONSE, shape: 'success', isAsync: true, transactional: false, event: 'VPN.REMOTE.ACCESS.DESTROY',
  instance: { type: 'RemoteAccessVpn', param: 'publicipid' },
  params: { publicipid: { type: 'uuid', entity: 'publicip', required: true, description: 'public ip address id of the vpn server' } },
  async handler(ctx, a) {
    const ip = await ipById(ctx, a.publicipid, 'publicipid');
    const v = await vpnRow(ctx, 'x.public_ip_id', ip.id);
    if (!v) throw paramError(`Unable to find remote access vpn for public ip address id=${ip.id}`);
    const addrs = await ctx.services.db.query<Record<string, unknown>>('SELECT * FROM vpn_user_addresses WHERE vpn_id = $1', [v.id]);
    const row = (await ctx.services.db.query<Record<string, unknown>>('SELECT * FROM remote_access_vpns WHERE id = $1', [v.id]))[0]!;
    await changeVpn(ctx, [v.network_id], async (sql) => { await sql.query('DELETE FROM remote_access_vpns WHERE id = $1', [v.id]); }, async (sql) => {
      await sql.query('INSERT INTO remote_access_vpns SELECT * FROM json_populate_record(NULL::remote_access_vpns, $1::json)', [JSON.stringify(row)]);
      for (const r of addrs) await sql.query('INSERT INTO vpn_user_addresses SELECT * FROM json_populate_record(NULL::vpn_user_addresses, $1::json)', [JSON.stringify(r)]);
    });
    ctx.setResource('RemoteAccessVpn', v.id);
  },
});

export const updateRemoteAccessVpn = command({
  name: 'updateRemoteAccessVpn', description: 'Updates remote access vpn', since: '4.4', roles: ALL_ROLES,
  response: REMOTE_ACCESS_VPN, shape: 'object', isAsync: true, event: 'VPN.REMOTE.ACCESS.UPDATE', instance: { type: 'RemoteAccessVpn', param: 'id' },
  params: {
    id: { type: 'uuid', entity: 'vpn', required: true, description: 'id of the remote access vpn' },
    customid: { type: 'string', description: 'an optional field, in case you want to set a custom id to the resource. Allowed to Root Admins only' },
    fordisplay: { type: 'boolean', description: 'an optional field, whether to the display the vpn to the end user or not' },
  },
  async handler(ctx, a) {
    const v = (await ctx.sql.query<VpnRow>(`${VPN_SELECT} WHERE x.id = $1`, [a.id]))[0];
    if (!v) throw paramError(`Unable to find remote access vpn by id=${a.id}`);
    if (a.customid !== undefined) throw paramError('customid is not supported: Flotilla resources keep their uuid');
    if (a.fordisplay !== undefined) await ctx.sql.query('UPDATE remote_access_vpns SET for_display = $2 WHERE id = $1', [v.id, a.fordisplay]);
    ctx.setResource('RemoteAccessVpn', v.id);
    return vpnView((await ctx.sql.query<VpnRow>(`${VPN_SELECT} WHERE x.id = $1`, [v.id]))[0]!);
  },
});

export const listRemoteAccessVpns = command({
  name: 'listRemoteAccessVpns', description: 'Lists remote access vpns', roles: ALL_ROLES, response: REMOTE_ACCESS_VPN, shape: 'list',
  params: {
    ...LIST_OWNED_PARAMS,
    id: { type: 'uuid', entity: 'vpn', description: 'Lists remote access vpn rule with the specified ID' },
    publicipid: { type: 'uuid', entity: 'publicip', description: 'public ip address id of the vpn server' },
    networkid: { type: 'uuid', entity: 'network', description: 'list remote access VPNs for certain network' },
    fordisplay: { type: 'boolean', description: 'list resources by display flag; only ROOT admin is eligible to pass this parameter' },
    projectid: { type: 'uuid', entity: 'project', description: 'list objects by project; if projectid=-1 lists All VMs' },
  },
  async handler(ctx, a) {
    const scope = await resolveScope(ctx.sql, ctx.caller, a);
    const w = applyScope(new Where(), scope, { account: 'x.account_id', domain: 'x.domain_id' });
    w.add('x.id = ?', a.id).add('x.public_ip_id = ?', a.publicipid).add('x.network_id = ?', a.networkid).add('x.for_display = ?', a.fordisplay).keyword(a.keyword, 'p.address', 'x.ip_range');
    return (await ctx.sql.query<VpnRow>(`${VPN_SELECT} ${w} ORDER BY x.created, x.id`, w.params)).map(vpnView);
  },
});
