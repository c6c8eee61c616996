// @flotilla/vpn: the remote-access VPN on WireGuard. Pure compiler (compile.ts), keys (keys.ts),
// the UAPI client (uapi.ts) and the applier (apply.ts). Contract in ../README.md.
export * from './compile.ts';
export * from './keys.ts';
export * from './uapi.ts';
export * from './apply.ts';
