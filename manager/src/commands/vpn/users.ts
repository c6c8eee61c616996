// addVpnUser / removeVpnUser / listVpnUsers (CloudStack's RemoteAccessVpnManagerImpl): a VPN user
// belongs to an account and is a WireGuard peer of each VPN of that account. Username and
// password as CloudStack checks them (the password is kept as a hash: WireGuard authenticates by
// key). The user's public key is given (`publickey`) or made here, and then the private key is
// answered once in a complete client configuration and never stored (createSSHKeyPair's rule).
import { randomBytes, scryptSync } from 'node:crypto';
import { clientConfig } from '@flotilla/vpn/compile';
import { generateKeyPair, wgKeyProblem } from '@flotilla/vpn/keys';
import { ALL_ROLES, LIST_OWNED_PARAMS, SUCCESS_RESPONSE, command } from '../../api/registry.ts';
import { apiError, paramError } from '../../api/errors.ts';
import { applyScope, resolveScope } from '../../api/scope.ts';
import { Where, type Sql } from '../../db/sql.ts';
import type { Context } from '../../api/context.ts';
import { configNumber } from '../offerings/config.ts';
import { keyPairOwner, type Owner } from '../ssh/keypairs.ts';
import { ADDED_VPN_USER, VPN_USER, VPN_USER_SELECT, vpnUserView, type VpnUserRow } from './views.ts';
import { allocateAddress, changeVpn } from './spec.ts';

export const VPN_USER_LIMIT_KEY = 'remote.access.vpn.user.limit';

const OWNER_PARAMS = {
  account: { type: 'string', description: 'an optional account for the vpn user. Must be used with domainId.' },
  domainid: { type: 'uuid', entity: 'domain', description: 'an optional domainId for the vpn user. If the account parameter is used, domainId must also be used.' },
  projectid: { type: 'uuid', entity: 'project', description: 'add vpn user to the specific project' },
} as const;

// CloudStack's own patterns (RemoteAccessVpnManagerImpl.addVpnUser).
const checkUsername = (v: string) => (/^[a-zA-Z0-9][a-zA-Z0-9@._-]{2,63}$/.test(v) ? undefined : "Username has to be begin with an alphabet have 3-64 characters including alphabets, numbers and the set '@.-_'");
const checkPassword = (v: string) => (/^[a-zA-Z0-9][a-zA-Z0-9@#+=._-]{2,31}$/.test(v) ? undefined : "Password has to be 3-32 characters including alphabets, numbers and the set '@#+=.-_'");
const checkKey = (v: string) => { const p = wgKeyProblem(v); return p ? `it is not a WireGuard public key: ${p}` : undefined; };

const hashPassword = (pw: string): string => { const salt = randomBytes(16); return `scrypt$${salt.toString('base64')}$${scryptSync(pw, salt, 32).toString('base64')}`; };

async function userRow(sql: Sql, id: string): Promise<VpnUserRow> { return (await sql.query<VpnUserRow>(`${VPN_USER_SELECT} WHERE u.id = $1`, [id]))[0]!; }

/** The account's VPNs with what a client configuration needs. */
async function accountVpns(sql: Sql, accountId: string) {
  return sql.query<{ id: string; network_id: string; ip_range: string; port: number; public_key: string; address: string; cidr: string; gateway: string }>(
    `SELECT x.id, x.network_id, x.ip_range, x.port, x.public_key, p.address, n.cidr, n.gateway FROM remote_access_vpns x
     JOIN public_ip_addresses p ON p.id = x.public_ip_id JOIN networks n ON n.id = x.network_id WHERE x.account_id = $1 ORDER BY x.created, x.id`, [accountId]);
}

export const addVpnUser = command({
  name: 'addVpnUser', description: 'Adds vpn users (Flotilla: a WireGuard peer on each VPN of the account)', roles: ALL_ROLES,
  response: ADDED_VPN_USER, shape: 'object', isAsync: true, transactional: false, event: 'VPN.USER.ADD', instance: { type: 'VpnUser', creates: true },
  params: {
    username: { type: 'string', required: true, description: 'username for the vpn user', check: checkUsername },
    password: { type: 'string', required: true, description: 'password for the username', check: checkPassword },
    publickey: { type: 'string', description: "the user's WireGuard public key (32 bytes, base64); without it Flotilla makes the key pair and answers the client configuration once", check: checkKey },
    ...OWNER_PARAMS,
  },
  async handler(ctx, a) {
    if (a.projectid) throw paramError(`Unable to find project by projectid=${a.projectid}`);
    const db = ctx.services.db;
    const owner: Owner = await keyPairOwner(ctx, a);
    const id = ctx.newId!;
    if ((await db.query('SELECT 1 FROM vpn_users WHERE id = $1', [id])).length) {
      // A resumed job whose interrupted run committed the user: the routers get the account's
      // VPNs again and the user is marked Active (a refused push removes it, as the first run's
      // would have). The private key of a generated pair died with that run: no configuration.
      const nets = (await accountVpns(db, owner.accountId)).map((v) => v.network_id);
      await changeVpn(ctx, nets, async () => undefined, async (sql) => { await sql.query('DELETE FROM vpn_users WHERE id = $1', [id]); });
      await db.query(`UPDATE vpn_users SET state = 'Active' WHERE id = $1`, [id]);
      return vpnUserView(await userRow(db, id));
    }
    if ((await db.query('SELECT 1 FROM vpn_users WHERE account_id = $1 AND username = $2', [owner.accountId, a.username])).length) {
      throw paramError(`VPN User with name ${a.username} is already added for account ${owner.accountName}`);
    }
    const limit = await configNumber(db, VPN_USER_LIMIT_KEY);
    const count = Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM vpn_users WHERE account_id = $1', [owner.accountId]))[0]!.n);
    if (count >= limit) throw apiError('ACCOUNT_RESOURCE_LIMIT', `Cannot add more than ${limit} remote access vpn users to account ${owner.accountName}`);
    const made = a.publickey ? undefined : generateKeyPair();
    const publicKey = a.publickey ?? made!.publicKey;
    if ((await db.query('SELECT 1 FROM vpn_users WHERE public_key = $1', [publicKey])).length) {
      throw paramError(`Unable to execute API command addvpnuser due to invalid value. Invalid parameter publickey value=${publicKey} due to it is already the key of another VPN user`);
    }
    const vpns = await accountVpns(db, owner.accountId);
    const addresses = new Map<string, string>();
    await changeVpn(ctx, vpns.map((v) => v.network_id), async (sql) => {
      // Per-account lock: two concurrent adds cannot both pass the limit and take one address.
      await sql.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`vpn_users:${owner.accountId}`]);
      await sql.query('INSERT INTO vpn_users (id, username, account_id, domain_id, password_hash, public_key) VALUES ($1,$2,$3,$4,$5,$6)',
        [id, a.username, owner.accountId, owner.domainId, hashPassword(a.password), publicKey]);
      for (const v of vpns) addresses.set(v.id, await allocateAddress(sql, v, id));
    }, async (sql) => { await sql.query('DELETE FROM vpn_users WHERE id = $1', [id]); }, [publicKey]);
    await db.query(`UPDATE vpn_users SET state = 'Active' WHERE id = $1`, [id]);
    ctx.setResource('VpnUser', id);
    const view = vpnUserView(await userRow(db, id));
    if (!made) return view;
    const wireguardconfig = clientConfig({
      privateKey: made.privateKey, addresses: vpns.map((v) => addresses.get(v.id)!),
      ...(vpns.length === 1 ? { dns: vpns[0]!.gateway } : {}),
      servers: vpns.map((v) => ({ publicKey: v.public_key, endpoint: v.address, port: v.port, allowedIps: [v.cidr] })),
    });
    return { ...view, wireguardconfig };
  },
});

export const removeVpnUser = command({
  name: 'removeVpnUser', description: 'Removes vpn user', roles: ALL_ROLES, response: SUCCESS_RESPONSE, shape: 'success',
  isAsync: true, transactional: false, event: 'VPN.USER.REMOVE', instance: { type: 'VpnUser' },
  params: {
    username: { type: 'string', required: true, description: 'username for the vpn user' },
    account: { type: 'string', description: 'an optional account for the vpn user. Must be used with domainId.' },
    domainid: { type: 'uuid', entity: 'domain', description: 'an optional domainId for the vpn user. If the account parameter is used, domainId must also be used.' },
    projectid: { type: 'uuid', entity: 'project', description: 'remove vpn user from the project' },
  },
  async handler(ctx, a) {
    if (a.projectid) throw paramError(`Unable to find project by projectid=${a.projectid}`);
    const db = ctx.services.db;
    const owner = await keyPairOwner(ctx, a);
    const u = (await db.query<Record<string, unknown> & { id: string; public_key: string }>('SELECT * FROM vpn_users WHERE account_id = $1 AND username = $2', [owner.accountId, a.username]))[0];
    const nets = await db.query<{ network_id: string }>('SELECT network_id FROM remote_access_vpns WHERE account_id = $1', [owner.accountId]);
    if (!u) {
      // A resumed job whose interrupted run removed the user: that run named the user as the
      // job's instance before deleting it (below). The routers get the account's VPNs again (the
      // interrupted push) and the job succeeds. A first run that finds no user has no instance:
      // an honest 431.
      const mine = ctx.jobId ? (await db.query<{ instance_id: string | null }>('SELECT instance_id FROM async_jobs WHERE id = $1', [ctx.jobId]))[0]?.instance_id : null;
      if (mine && !(await db.query('SELECT 1 FROM vpn_users WHERE id = $1', [mine])).length) {
        await changeVpn(ctx, nets.map((n) => n.network_id), async () => undefined, async () => undefined);
        ctx.setResource('VpnUser', mine);
        return;
      }
      throw paramError(`Unable to find vpn user ${a.username} for account ${owner.accountName}`);
    }
    if (ctx.jobId) await db.query('UPDATE async_jobs SET instance_id = $2 WHERE id = $1', [ctx.jobId, u.id]);
    const addrs = await db.query<Record<string, unknown> & { vpn_id: string }>('SELECT * FROM vpn_user_addresses WHERE user_id = $1', [u.id]);
    await changeVpn(ctx, nets.map((n) => n.network_id), async (sql) => { await sql.query('DELETE FROM vpn_users WHERE id = $1', [u.id]); }, async (sql) => {
      await sql.query('INSERT INTO vpn_users SELECT * FROM json_populate_record(NULL::vpn_users, $1::json)', [JSON.stringify(u)]);
      for (const r of addrs) await sql.query('INSERT INTO vpn_user_addresses SELECT * FROM json_populate_record(NULL::vpn_user_addresses, $1::json)', [JSON.stringify(r)]);
    }, [u.public_key]);
    ctx.setResource('VpnUser', u.id);
  },
});

export const listVpnUsers = command({
  name: 'listVpnUsers', description: 'Lists vpn users', roles: ALL_ROLES, response: VPN_USER, shape: 'list',
  params: {
    ...LIST_OWNED_PARAMS,
    id: { type: 'uuid', entity: 'vpnuser', description: 'The uuid of the Vpn user' },
    username: { type: 'string', description: 'the username of the vpn user.' },
    projectid: { type: 'uuid', entity: 'project', description: 'list objects by project; if projectid=-1 lists All VMs' },
  },
  async handler(ctx, a) {
    const scope = await resolveScope(ctx.sql, ctx.caller, a);
    const w = applyScope(new Where(), scope, { account: 'u.account_id', domain: 'u.domain_id' });
    w.add('u.id = ?', a.id).add('u.username = ?', a.username).keyword(a.keyword, 'u.username');
    return (await ctx.sql.query<VpnUserRow>(`${VPN_USER_SELECT} ${w} ORDER BY u.created, u.id`, w.params)).map(vpnUserView);
  },
});
