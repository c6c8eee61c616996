// Finding the infra objects a command names — a missing one answers a precise 431 naming the
// parameter — and gathering what IPAM needs to know about a zone.
import type { Context } from '../../api/context.ts';
import { notFound, paramError } from '../../api/errors.ts';
import type { Sql } from '../../db/sql.ts';
import { parseCidr, parseIPv4, parseIPv6, parseNetmask, subnetOf, type ExistingRange, type ZoneFacts } from '../../orchestrator/ipam.ts';
import {
  CLUSTER_SELECT, PHYSICAL_NETWORK_SELECT, POD_SELECT, VLAN_RANGE_SELECT, VR_ELEMENT_SELECT, ZONE_SELECT,
  type ClusterRow, type NspRow, type PhysicalNetworkRow, type PodRow, type VlanRangeRow, type VrElementRow, type ZoneRow,
} from './views.ts';

async function one<R>(sql: Sql, text: string, id: string): Promise<R | undefined> {
  return (await sql.query<R>(text, [id]))[0];
}

export async function zoneById(ctx: Context, id: string, param = 'id'): Promise<ZoneRow> {
  const z = await one<ZoneRow>(ctx.sql, `${ZONE_SELECT} WHERE z.id = $1`, id);
  if (!z) throw notFound(ctx.command, param, id);
  return z;
}

export async function podById(ctx: Context, id: string, param = 'id'): Promise<PodRow> {
  const p = await one<PodRow>(ctx.sql, `${POD_SELECT} WHERE p.id = $1`, id);
  if (!p) throw notFound(ctx.command, param, id);
  return p;
}

export async function clusterById(ctx: Context, id: string, param = 'id'): Promise<ClusterRow> {
  const c = await one<ClusterRow>(ctx.sql, `${CLUSTER_SELECT} WHERE c.id = $1`, id);
  if (!c) throw notFound(ctx.command, param, id);
  return c;
}

export async function physicalNetworkById(ctx: Context, id: string, param = 'id'): Promise<PhysicalNetworkRow> {
  const n = await one<PhysicalNetworkRow>(ctx.sql, `${PHYSICAL_NETWORK_SELECT} WHERE n.id = $1`, id);
  if (!n) throw notFound(ctx.command, param, id);
  return n;
}

export async function nspById(ctx: Context, id: string, param = 'id'): Promise<NspRow> {
  const n = await one<NspRow>(ctx.sql, 'SELECT * FROM network_service_providers WHERE id = $1', id);
  if (!n) throw notFound(ctx.command, param, id);
  return n;
}

export async function vrElementById(ctx: Context, id: string, param = 'id'): Promise<VrElementRow> {
  const e = await one<VrElementRow>(ctx.sql, `${VR_ELEMENT_SELECT} WHERE e.id = $1 AND e.type IN ('VirtualRouter', 'VPCVirtualRouter')`, id);
  if (!e) throw notFound(ctx.command, param, id);
  return e;
}

export async function vlanRangeById(ctx: Context, id: string, param = 'id'): Promise<VlanRangeRow> {
  const r = await one<VlanRangeRow>(ctx.sql, `${VLAN_RANGE_SELECT} WHERE v.id = $1`, id);
  if (!r) throw notFound(ctx.command, param, id);
  return r;
}

/** A stored range as IPAM sees it (rows were validated on the way in, so parsing cannot fail). */
export function existingRange(r: { id: string; vlan: string; physical_network_id: string | null; gateway: string | null; netmask: string | null; start_ip: string | null; end_ip: string | null; ip6_cidr: string | null; start_ipv6: string | null; end_ipv6: string | null }): ExistingRange {
  const out: ExistingRange = { id: r.id, vlan: r.vlan, physicalNetworkId: r.physical_network_id };
  if (r.gateway && r.netmask && r.start_ip && r.end_ip) {
    const subnet = subnetOf(parseIPv4('gateway', r.gateway), parseNetmask('netmask', r.netmask));
    out.v4 = { subnet, span: { family: 4, start: parseIPv4('startip', r.start_ip).value, end: parseIPv4('endip', r.end_ip).value } };
  }
  if (r.ip6_cidr) {
    const subnet = parseCidr('ip6cidr', r.ip6_cidr, 6);
    out.v6 = { subnet, ...(r.start_ipv6 && r.end_ipv6 ? { span: { family: 6 as const, start: parseIPv6('startipv6', r.start_ipv6).value, end: parseIPv6('endipv6', r.end_ipv6).value } } : {}) };
  }
  return out;
}

/** Everything of a zone that a new range, pod or guest CIDR could collide with. */
export async function zoneFacts(sql: Sql, zone: ZoneRow, opts: { exceptPod?: string } = {}): Promise<ZoneFacts> {
  const ranges = await sql.query<VlanRangeRow>(`${VLAN_RANGE_SELECT} WHERE v.zone_id = $1 ORDER BY v.seq`, [zone.id]);
  const pods = await sql.query<PodRow>(`${POD_SELECT} WHERE p.zone_id = $1 ORDER BY p.created`, [zone.id]);
  return {
    name: zone.name,
    guestCidr: zone.guest_cidr ? parseCidr('guestcidraddress', zone.guest_cidr, 4) : undefined,
    ranges: ranges.map(existingRange),
    pods: pods.filter((p) => p.id !== opts.exceptPod).map((p) => {
      if (!p.gateway || !p.netmask || !p.start_ip) return { id: p.id, name: p.name };
      const subnet = subnetOf(parseIPv4('gateway', p.gateway), parseNetmask('netmask', p.netmask));
      const start = parseIPv4('startip', p.start_ip).value;
      const end = p.end_ip ? parseIPv4('endip', p.end_ip).value : start;
      return { id: p.id, name: p.name, subnet, span: { family: 4 as const, start, end } };
    }),
  };
}

/**
 * Infra mutations check for conflicts (overlapping ranges, VLANs, names) and then write. Two of
 * them racing on PostgreSQL could both pass the check; one transaction-scoped advisory lock
 * serialises them (they are rare admin operations). Taken first, before any row is touched.
 */
export async function lockInfra(ctx: Context): Promise<void> {
  await ctx.sql.query('SELECT pg_advisory_xact_lock(726355)');
}
