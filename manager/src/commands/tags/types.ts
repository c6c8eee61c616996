// The taggable resource types as data (CloudStack's ResourceTag.ResourceObjectType, the ones
// Flotilla has): where each lives and who owns it. Everything about tags — createTags'
// ownership check, listTags' orphan filter, the `tags` of responses — comes from this table.
import type { OwnedEntity } from '../../api/entities.ts';

export interface Taggable {
  /** table and condition selecting this type's rows (aliased `x`) */
  readonly from: string;
  /** whether rows carry account_id/domain_id (unowned types are tagged by root admins only) */
  readonly owned: boolean;
  /** the entity of the ownership check (api/entities.ts) its ids name */
  readonly entity?: OwnedEntity;
}

export const TAGGABLE = {
  UserVm: { from: `vm_instances x WHERE x.type = 'User'`, owned: true, entity: 'vm' },
  Template: { from: 'templates x WHERE true', owned: true, entity: 'template' },
  Network: { from: 'networks x WHERE true', owned: true, entity: 'network' },
  PublicIpAddress: { from: 'public_ip_addresses x WHERE true', owned: true, entity: 'publicip' },
  FirewallRule: { from: `network_rules x WHERE x.purpose IN ('Firewall', 'Egress')`, owned: true, entity: 'networkrule' },
  PortForwardingRule: { from: `network_rules x WHERE x.purpose = 'PortForwarding'`, owned: true, entity: 'networkrule' },
  Zone: { from: 'zones x WHERE true', owned: false },
  Volume: { from: 'volumes x WHERE true', owned: true, entity: 'volume' },
} as const satisfies Record<string, Taggable>;

export type TagType = keyof typeof TAGGABLE;
export const TAG_TYPES = Object.keys(TAGGABLE) as TagType[];

/** CloudStack matches resourcetype case-insensitively (TaggedResourceManagerImpl.getResourceType). */
export function tagTypeOf(s: string): TagType | undefined {
  return TAG_TYPES.find((t) => t.toLowerCase() === s.toLowerCase());
}

/** SQL: does a row of the tag `t` (alias of resource_tags) still have its resource? */
export function resourceExists(t: string): string {
  return `(${TAG_TYPES.map((type) => `(${t}.resource_type = '${type}' AND EXISTS (SELECT 1 FROM ${TAGGABLE[type].from} AND x.id = ${t}.resource_id))`).join(' OR ')})`;
}
