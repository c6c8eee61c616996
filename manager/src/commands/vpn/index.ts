// The remote-access VPN area (WireGuard behind CloudStack's VPN commands; decision 0700).
export { createRemoteAccessVpn, listRemoteAccessVpns, updateRemoteAccessVpn, deleteRemoteAccessVpn } from './vpns.ts';
export { addVpnUser, removeVpnUser, listVpnUsers } from './users.ts';
