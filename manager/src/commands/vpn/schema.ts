import type { Migration } from '../../db/migrations.ts';

/**
 * Remote-access VPNs (CloudStack's remote_access_vpn) served by WireGuard, and VPN users
 * (vpn_users) as WireGuard peers. A VPN user belongs to an account, as in CloudStack, and is a
 * peer of every VPN of that account, with one tunnel address per VPN (vpn_user_addresses).
 * The server's private key is sealed with the master key (CloudStack keeps its IPsec PSK
 * encrypted the same way); a user's private key, when Flotilla made it, is never stored.
 */
export const VPN_MIGRATION: Migration = {
  id: 30, name: 'remote access vpn (WireGuard)',
  sql: `
CREATE TABLE remote_access_vpns (
  id uuid PRIMARY KEY,
  network_id uuid NOT NULL REFERENCES networks(id) ON DELETE CASCADE,
  public_ip_id uuid NOT NULL REFERENCES public_ip_addresses(id) ON DELETE CASCADE,
  account_id uuid NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  domain_id uuid NOT NULL REFERENCES domains(id),
  ip_range text NOT NULL,                -- CloudStack's iprange: first address = the server
  port integer NOT NULL,                 -- WireGuard's UDP port
  private_key_enc text NOT NULL,         -- sealed server private key
  public_key text NOT NULL,
  open_firewall boolean NOT NULL,
  state text NOT NULL DEFAULT 'Added',   -- Added | Running (CloudStack's RemoteAccessVpn.State)
  for_display boolean NOT NULL DEFAULT true,
  created timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX remote_access_vpns_ip ON remote_access_vpns (public_ip_id);
CREATE UNIQUE INDEX remote_access_vpns_network ON remote_access_vpns (network_id);
CREATE TABLE vpn_users (
  id uuid PRIMARY KEY,
  username text NOT NULL,
  account_id uuid NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  domain_id uuid NOT NULL REFERENCES domains(id),
  password_hash text NOT NULL,           -- scrypt (WireGuard does not use it, CloudStack requires it)
  public_key text NOT NULL,
  state text NOT NULL DEFAULT 'Add',     -- Add | Active (CloudStack's VpnUser.State)
  created timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX vpn_users_name ON vpn_users (account_id, username);
CREATE UNIQUE INDEX vpn_users_key ON vpn_users (public_key);
CREATE TABLE vpn_user_addresses (
  vpn_id uuid NOT NULL REFERENCES remote_access_vpns(id) ON DELETE CASCADE,
  user_id uuid NOT NULL REFERENCES vpn_users(id) ON DELETE CASCADE,
  address text NOT NULL,
  PRIMARY KEY (vpn_id, user_id)
);
CREATE UNIQUE INDEX vpn_user_addresses_address ON vpn_user_addresses (vpn_id, address);
`,
};
