// CloudStack's detectRulesConflict (FirewallManagerImpl, 4.18), so a duplicate or overlapping
// rule is refused with CloudStack's own text — clients and CloudStack's integration tests match
// on it. It runs after the new rule is written, inside the change's transaction (as CloudStack
// persists first, then checks), before the whole-firewall check of apply.ts, which still catches
// what CloudStack's check lets through but a router cannot hold.
import { apiError, paramError } from '../../api/errors.ts';
import type { Sql } from '../../db/sql.ts';

export interface RuleFacts {
  readonly id: string;
  /** Egress is CloudStack's Firewall purpose with traffic type Egress. */
  readonly purpose: 'Firewall' | 'Egress' | 'PortForwarding' | 'StaticNat';
  readonly networkId: string;
  readonly ipAddressId: string | null;
  readonly protocol: string;
  readonly start: number | null;
  readonly end: number | null;
  readonly icmpType: number | null;
  readonly icmpCode: number | null;
  readonly sources: readonly string[];
  readonly dests: readonly string[];
}

export type Conflict = { readonly code: 537 | 431; readonly text: string; readonly ruleId: string };

const isFirewall = (r: RuleFacts) => r.purpose === 'Firewall' || r.purpose === 'Egress';
const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

/** CloudStack's detectConflictingCidrs: both empty, or one CIDR written the same in both. */
function conflictingCidrs(a: readonly string[], b: readonly string[]): boolean {
  if (!a.length && !b.length) return true;
  const set = new Set(a);
  return b.some((c) => set.has(c));
}

/** The first conflict of `neu` with `existing` (rules on the same IP; egress: of the same network), as CloudStack finds it. */
export function detectRulesConflict(neu: RuleFacts, existing: readonly RuleFacts[]): Conflict | undefined {
  for (const rule of existing) {
    if (rule.id === neu.id) continue;
    const oneOfRulesIsFirewall = (isFirewall(rule) || isFirewall(neu)) && (rule.purpose !== neu.purpose || !same(rule.protocol, neu.protocol));
    const bothRulesFirewall = rule.purpose === neu.purpose && isFirewall(rule) && same(rule.protocol, neu.protocol);
    let duplicatedCidrs = false;
    if (bothRulesFirewall) duplicatedCidrs = conflictingCidrs(rule.sources, neu.sources) && conflictingCidrs(rule.dests, neu.dests);
    if (!oneOfRulesIsFirewall) {
      if (rule.purpose === 'StaticNat' && neu.purpose !== 'StaticNat') return { code: 537, text: `There is 1 to 1 Nat rule specified for the ip address id=${neu.ipAddressId}`, ruleId: rule.id };
      if (rule.purpose !== 'StaticNat' && neu.purpose === 'StaticNat') return { code: 537, text: `There is already firewall rule specified for the ip address id=${neu.ipAddressId}`, ruleId: rule.id };
    }
    if (rule.networkId !== neu.networkId) return { code: 537, text: `New rule is for a different network than what's specified in rule ${rule.id}`, ruleId: rule.id };
    if (same(neu.protocol, 'icmp') && same(neu.protocol, rule.protocol)) {
      if ((neu.icmpCode ?? -1) === (rule.icmpCode ?? -1) && (neu.icmpType ?? -1) === (rule.icmpType ?? -1) && duplicatedCidrs) {
        return { code: 431, text: `New rule conflicts with existing rule id=${rule.id}`, ruleId: rule.id };
      }
    }
    const notNullPorts = neu.start !== null && neu.end !== null && rule.start !== null && rule.end !== null;
    const nullPorts = neu.start === null && neu.end === null && rule.start === null && rule.end === null;
    if (nullPorts && duplicatedCidrs && same(rule.protocol, neu.protocol) && !same(neu.protocol, 'icmp')) {
      return { code: 537, text: `There is already a firewall rule specified with protocol = ${neu.protocol} and no ports`, ruleId: rule.id };
    }
    if (!notNullPorts) continue;
    const [ns, ne, rs, re] = [neu.start!, neu.end!, rule.start!, rule.end!];
    const overlap = (rs <= ns && re >= ns) || (rs <= ne && re >= ne) || (ns <= rs && ne >= rs) || (ns <= re && ne >= re);
    if (!oneOfRulesIsFirewall && !(bothRulesFirewall && !duplicatedCidrs) && overlap) {
      // Port forwards (and static NAT rules) with the same ports but another protocol may coexist.
      const allowPf = rule.purpose === 'PortForwarding' && neu.purpose === 'PortForwarding' && !same(neu.protocol, rule.protocol);
      const allowStaticNat = rule.purpose === 'StaticNat' && neu.purpose === 'StaticNat' && !same(neu.protocol, rule.protocol);
      if (!allowPf && !allowStaticNat) return { code: 537, text: `The range specified, ${ns}-${ne}, conflicts with rule ${rule.id} which has ${rs}-${re}`, ruleId: rule.id };
    }
  }
  return undefined;
}

interface RuleRow { id: string; purpose: RuleFacts['purpose']; network_id: string; ip_address_id: string | null; protocol: string; start_port: number | null; end_port: number | null; icmp_type: number | null; icmp_code: number | null; source_cidrs: string[] | null; dest_cidrs: string[] | null }

function facts(r: RuleRow): RuleFacts {
  // An ingress rule without sources is CloudStack's 0.0.0.0/0 (its default cidrlist).
  const sources = r.source_cidrs?.length ? r.source_cidrs : r.purpose === 'Egress' ? [] : ['0.0.0.0/0'];
  return {
    id: r.id, purpose: r.purpose, networkId: r.network_id, ipAddressId: r.ip_address_id, protocol: r.protocol,
    start: r.start_port, end: r.end_port, icmpType: r.icmp_type, icmpCode: r.icmp_code, sources, dests: r.dest_cidrs ?? [],
  };
}

/** Checks the written rule `id` against the other rules of its IP (egress: its network); throws CloudStack's error. */
export async function checkRuleConflicts(sql: Sql, id: string): Promise<void> {
  const cols = 'id, purpose, network_id, ip_address_id, protocol, start_port, end_port, icmp_type, icmp_code, source_cidrs, dest_cidrs';
  const neu = (await sql.query<RuleRow>(`SELECT ${cols} FROM network_rules WHERE id = $1`, [id]))[0];
  if (!neu) return;
  const others = neu.purpose === 'Egress'
    ? await sql.query<RuleRow>(`SELECT ${cols} FROM network_rules WHERE network_id = $1 AND purpose = 'Egress' AND id <> $2 ORDER BY created, id`, [neu.network_id, id])
    : await sql.query<RuleRow>(`SELECT ${cols} FROM network_rules WHERE ip_address_id = $1 AND purpose IN ('Firewall', 'PortForwarding', 'StaticNat') AND id <> $2 ORDER BY created, id`, [neu.ip_address_id, id]);
  const c = detectRulesConflict(facts(neu), others.map(facts));
  if (!c) return;
  throw c.code === 431 ? paramError(c.text) : apiError('NETWORK_RULE_CONFLICT', c.text, [c.ruleId]);
}
