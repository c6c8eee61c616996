// The remote-access VPN of a router (CloudStack's createRemoteAccessVpn, served by WireGuard):
// one section of the RouterSpec, versioned on its own so the VPN can evolve without touching
// the rest of the spec. Peers are plain data (public key + tunnel address): the appliance diffs
// them against what it applied and changes the WireGuard device one peer at a time.
import { Type, type Static } from '@sinclair/typebox';

/** Version of the `vpn` section (bump on a breaking change of its meaning). */
export const VPN_SPEC_VERSION = 1 as const;

/** A WireGuard key: 32 bytes, standard base64 (44 characters, the last data character carries
 *  only 4 bits, so it is one of the 16 letters below). */
export const WgKey = Type.String({ pattern: '^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$', description: 'WireGuard key, 32 bytes base64' });
const Ip4 = Type.String({ pattern: '^[0-9]{1,3}(\\.[0-9]{1,3}){3}$' });
const Uuid = Type.String({ pattern: '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$' });

export const VpnPeer = Type.Object({
  publicKey: WgKey,
  /** The client's tunnel address (its only allowed source inside the tunnel). */
  address: Ip4,
}, { additionalProperties: false });

export const RemoteAccessVpnSpec = Type.Object({
  version: Type.Literal(VPN_SPEC_VERSION),
  /** The VPN's id (CloudStack's remote access VPN uuid); also the id of its firewall rule. */
  id: Uuid,
  /** The WireGuard interface. Unique per router on a host: wireguard-go's control sockets
   *  (/var/run/wireguard/<name>.sock) are shared by all network namespaces. */
  interface: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_-]{0,14}$' }),
  /** The public IP the server answers on (the network's source NAT address). */
  publicIp: Ip4,
  listenPort: Type.Integer({ minimum: 1, maximum: 65535 }),
  /** The server's private key (the manager keeps it sealed; the router keeps it in its state). */
  privateKey: WgKey,
  /** CloudStack's iprange: the first address is the server's, the rest are the clients'. */
  range: Type.Object({ start: Ip4, end: Ip4 }, { additionalProperties: false }),
  /** Open UDP listenPort on publicIp (CloudStack's openfirewall); else the tenant's own
   *  firewall rules decide who may reach it. */
  openFirewall: Type.Boolean(),
  peers: Type.Array(VpnPeer, { maxItems: 65_536 }),
}, { additionalProperties: false });

export type VpnPeer = Static<typeof VpnPeer>;
export type RemoteAccessVpnSpec = Static<typeof RemoteAccessVpnSpec>;

/**
 * Manager → router: a change of the VPN's peers only, against the generation the router applied
 * (`base`): the full spec of `generation` is exactly base's with these peers set (added or
 * re-addressed) and removed. It costs O(changed) on the wire and in the appliance, where a whole
 * spec with 10,000 peers costs ~0.8 MB of JSON parsed and checked. Versioned on its own; full
 * `apply` specs keep working and stay the reference: a router whose applied generation (or VPN)
 * is not `base` answers `base_mismatch` and applies nothing, and the manager sends the full spec.
 */
export const VPN_PEERS_DELTA_VERSION = 1 as const;
export const VpnPeersDeltaMessage = Type.Object({
  type: Type.Literal('applyVpnPeers'),
  id: Type.Optional(Type.String({ maxLength: 64 })),
  version: Type.Literal(VPN_PEERS_DELTA_VERSION),
  /** The generation the router must have applied; the change is made on top of it. */
  base: Type.Integer({ minimum: 0 }),
  /** The generation this makes (above base). */
  generation: Type.Integer({ minimum: 1 }),
  /** The VPN of the base (guards against a VPN re-created in between). */
  vpnId: Uuid,
  /** Peers added or whose address changed. */
  set: Type.Array(VpnPeer, { maxItems: 65_536 }),
  /** Public keys of the peers removed. */
  remove: Type.Array(WgKey, { maxItems: 65_536 }),
}, { additionalProperties: false });
export type VpnPeersDeltaMessage = Static<typeof VpnPeersDeltaMessage>;
