// Remote-access VPN and VPN user answers: CloudStack's RemoteAccessVpnResponse and
// VpnUsersResponse fields, plus the WireGuard ones (decision 0700).
import { field as f, type ResponseDef } from '../../api/registry.ts';
import { ownerFields, projectColumns } from '../projects/lookup.ts';

export const REMOTE_ACCESS_VPN: ResponseDef = {
  name: 'remoteaccessvpn',
  fields: {
    id: f('string', 'the id of the remote access vpn'),
    publicipid: f('string', 'the public ip address of the vpn server'),
    publicip: f('string', 'the public ip address of the vpn server'),
    iprange: f('string', 'the range of ips to allocate to the clients'),
    presharedkey: f('string', 'the ipsec preshared key (not used by WireGuard: never set)'),
    account: f('string', 'the account of the remote access vpn'),
    projectid: f('string', 'the project id of the vpn'),
    project: f('string', 'the project name of the vpn'),
    domainid: f('string', 'the domain id of the account of the remote access vpn'),
    domain: f('string', 'the domain name of the account of the remote access vpn'),
    domainpath: f('string', 'path of the domain to which the remote access vpn belongs'),
    state: f('string', 'the state of the rule'),
    fordisplay: f('boolean', 'is vpn for display to the regular user'),
    wireguardpublickey: f('string', "the VPN server's WireGuard public key"),
    wireguardport: f('integer', "the VPN server's WireGuard UDP port"),
  },
};

const USER_FIELDS = {
  id: f('string', 'the vpn userID'),
  username: f('string', 'the username of the vpn user'),
  account: f('string', 'the account of the remote access vpn'),
  projectid: f('string', 'the project id of the vpn'),
  project: f('string', 'the project name of the vpn'),
  domainid: f('string', 'the domain id of the account of the remote access vpn'),
  domain: f('string', 'the domain name of the account of the remote access vpn'),
  domainpath: f('string', 'path of the domain to which the remote access vpn belongs'),
  state: f('string', 'the state of the Vpn User, can be \'Add\', \'Revoke\' or \'Active\'.'),
  wireguardpublickey: f('string', "the user's WireGuard public key"),
  wireguardaddress: f('string', "the user's tunnel address on each VPN of the account, comma-separated"),
} as const;

export const VPN_USER: ResponseDef = { name: 'vpnuser', fields: USER_FIELDS };
/** addVpnUser: with the client configuration, answered this once when Flotilla made the key. */
export const ADDED_VPN_USER: ResponseDef = { name: 'vpnuser', fields: { ...USER_FIELDS, wireguardconfig: f('string', 'a complete WireGuard client configuration (wg-quick format, with the private key); answered once, never stored') } };

export interface VpnRow {
  id: string; network_id: string; public_ip_id: string; address: string; account_id: string; account_name: string; domain_id: string; domain_name: string; domain_path: string;
  ip_range: string; port: number; private_key_enc: string; public_key: string; open_firewall: boolean; state: string; for_display: boolean; created: Date;
  project_id?: string | null; project_name?: string | null;
}
export const VPN_SELECT = `SELECT x.*, p.address, a.name AS account_name, d.name AS domain_name, d.path AS domain_path, ${projectColumns('x')}
  FROM remote_access_vpns x JOIN public_ip_addresses p ON p.id = x.public_ip_id JOIN accounts a ON a.id = x.account_id JOIN domains d ON d.id = x.domain_id`;

export function vpnView(r: VpnRow): Record<string, unknown> {
  return {
    id: r.id, publicipid: r.public_ip_id, publicip: r.address, iprange: r.ip_range, ...ownerFields(r, r.account_name), domainid: r.domain_id, domain: r.domain_name,
    domainpath: r.domain_path, state: r.state, fordisplay: r.for_display, wireguardpublickey: r.public_key, wireguardport: r.port,
  };
}

export interface VpnUserRow {
  id: string; username: string; account_id: string; account_name: string; domain_id: string; domain_name: string; domain_path: string; public_key: string; state: string;
  addresses: string | null; created: Date; project_id?: string | null; project_name?: string | null;
}
export const VPN_USER_SELECT = `SELECT u.id, u.username, u.account_id, a.name AS account_name, u.domain_id, d.name AS domain_name, d.path AS domain_path, u.public_key, u.state, u.created, ${projectColumns('u')},
  (SELECT string_agg(ua.address, ',' ORDER BY x.created) FROM vpn_user_addresses ua JOIN remote_access_vpns x ON x.id = ua.vpn_id WHERE ua.user_id = u.id) AS addresses
  FROM vpn_users u JOIN accounts a ON a.id = u.account_id JOIN domains d ON d.id = u.domain_id`;

export function vpnUserView(r: VpnUserRow): Record<string, unknown> {
  return {
    id: r.id, username: r.username, ...ownerFields(r, r.account_name), domainid: r.domain_id, domain: r.domain_name, domainpath: r.domain_path, state: r.state,
    wireguardpublickey: r.public_key, ...(r.addresses ? { wireguardaddress: r.addresses } : {}),
  };
}
