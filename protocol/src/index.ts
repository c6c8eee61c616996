// protocol/: the only package both sides of a process boundary import. Each area has its own
// module (import '@flotilla/protocol/<area>'), so this index carries only what is common.

/** Version of the wire protocol between manager, host agents and appliances. Bump the minor
 *  for additive changes (old peers ignore unknown fields), the major for breaking ones. */
export const PROTOCOL_VERSION = '1.0' as const;

/** Names every kernel object Flotilla creates carries, so cleanup can find them. */
export const OBJECT_PREFIX = 'flt-' as const;
