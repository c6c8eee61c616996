// The load-balancing part of a router's desired state (LbSpec), built from the lb_* rows, and
// the checks every rule change of a network runs in its transaction (apply.ts checkFirewall):
// CloudStack's conflicts between LB rules, port forwards and static NAT on one public IP
// (537), and the very validator the appliance enforces (431).
import { validateLbSpec, type LbRule, type LbSpec } from '@flotilla/protocol/lb';
import type { SecretBox } from '../api/crypto.ts';
import { apiError, paramError } from '../api/errors.ts';
import type { Sql } from '../db/sql.ts';

export interface LbRuleRow {
  id: string; name: string; description: string | null; network_id: string; ip_address_id: string; account_id: string; domain_id: string;
  public_port: number; private_port: number; protocol: string; algorithm: string; source_cidrs: string[]; firewall_rule_id: string | null;
  cert_id: string | null; state: string; created: Date;
}

const l4 = (protocol: string) => (protocol === 'udp' ? 'udp' : 'tcp');

/** The network's LB spec; undefined when it has no LB rule (routers without LB are unchanged). */
export async function lbSpecOf(sql: Sql, networkId: string, secrets?: SecretBox): Promise<LbSpec | undefined> {
  const rules = await sql.query<LbRuleRow & { address: string }>(
    `SELECT l.*, p.address FROM lb_rules l JOIN public_ip_addresses p ON p.id = l.ip_address_id WHERE l.network_id = $1 ORDER BY l.created, l.id`, [networkId]);
  if (!rules.length) return undefined;
  const ids = rules.map((r) => r.id);
  const members = await sql.query<{ rule_id: string; vm_id: string; ip: string }>('SELECT rule_id, vm_id, ip FROM lb_members WHERE rule_id = ANY($1::uuid[]) ORDER BY created, vm_id, ip', [ids]);
  const sticky = await sql.query<{ rule_id: string; method: string; params: Record<string, string> }>('SELECT rule_id, method, params FROM lb_stickiness WHERE rule_id = ANY($1::uuid[])', [ids]);
  const checks = await sql.query<{ rule_id: string; ping_path: string | null; interval_s: number; timeout_s: number; healthy: number; unhealthy: number }>(
    'SELECT * FROM lb_healthchecks WHERE rule_id = ANY($1::uuid[])', [ids]);
  const certIds = rules.map((r) => r.cert_id).filter((x): x is string => !!x);
  const certs = certIds.length ? await sql.query<{ id: string; certificate: string; chain: string | null; private_key_enc: string }>('SELECT * FROM ssl_certs WHERE id = ANY($1::uuid[])', [certIds]) : [];
  const out: LbRule[] = [];
  for (const r of rules) {
    const cert = certs.find((c) => c.id === r.cert_id);
    // An ssl rule waits for its certificate (assignCertToLoadBalancer) before it is applied.
    if (r.protocol === 'ssl' && !cert) continue;
    const st = sticky.find((s) => s.rule_id === r.id);
    const hc = checks.find((c) => c.rule_id === r.id);
    const p = st?.params ?? {};
    const num = (v: string | undefined) => (v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined);
    const bool = (v: string | undefined) => (v === undefined ? undefined : v.toLowerCase() === 'true');
    const stickiness = st ? Object.fromEntries(Object.entries({
      method: st.method, cookieName: p.cookiename ?? p.cookie_name ?? p.name, holdtimeS: num(p.holdtime ?? p.expire), indirect: bool(p.indirect), nocache: bool(p.nocache), postonly: bool(p.postonly),
    }).filter(([, v]) => v !== undefined)) as unknown as LbRule['stickiness'] : undefined;
    out.push({
      id: r.id, publicIp: r.address, publicPort: r.public_port, privatePort: r.private_port, protocol: r.protocol as LbRule['protocol'], algorithm: r.algorithm as LbRule['algorithm'],
      sourceCidrs: r.source_cidrs, backends: members.filter((m) => m.rule_id === r.id).map((m) => ({ vmId: m.vm_id, ip: m.ip })),
      ...(stickiness ? { stickiness } : {}),
      ...(hc ? { healthCheck: { ...(hc.ping_path ? { pingPath: hc.ping_path } : {}), intervalS: hc.interval_s, timeoutS: hc.timeout_s, healthy: hc.healthy, unhealthy: hc.unhealthy } } : {}),
      ...(cert ? { tls: { certificate: cert.certificate, privateKey: secrets ? secrets.open(cert.private_key_enc) : cert.certificate, ...(cert.chain ? { chain: cert.chain } : {}) } } : {}),
    });
  }
  return { rules: out };
}

/**
 * CloudStack's conflicts (FirewallManagerImpl.detectRulesConflict) between the network's LB rules
 * and its port forwards and static NAT, then the appliance's validator. Throws 537 / 431.
 */
export async function checkLb(sql: Sql, networkId: string): Promise<void> {
  const lbs = await sql.query<LbRuleRow & { address: string; static_nat_vm_id: string | null }>(
    `SELECT l.*, p.address, p.static_nat_vm_id FROM lb_rules l JOIN public_ip_addresses p ON p.id = l.ip_address_id WHERE l.network_id = $1 ORDER BY l.created, l.id`, [networkId]);
  if (!lbs.length) return;
  const pfs = await sql.query<{ id: string; ip_address_id: string; protocol: string; start_port: number; end_port: number; created: Date }>(
    `SELECT id, ip_address_id, protocol, start_port, end_port, created FROM network_rules WHERE network_id = $1 AND purpose = 'PortForwarding'`, [networkId]);
  for (const lb of lbs) {
    if (lb.static_nat_vm_id) throw apiError('NETWORK_RULE_CONFLICT', `There is 1 to 1 Nat rule specified for the ip address id=${lb.ip_address_id}`, [lb.id]);
    for (const pf of pfs) {
      if (pf.ip_address_id !== lb.ip_address_id || pf.protocol !== l4(lb.protocol)) continue;
      if (lb.public_port < pf.start_port || lb.public_port > pf.end_port) continue;
      // The newer rule is the one reported, as CloudStack checks the new rule against the existing ones.
      const [neu, old] = pf.created > lb.created ? [{ s: pf.start_port, e: pf.end_port }, { id: lb.id, s: lb.public_port, e: lb.public_port }] : [{ s: lb.public_port, e: lb.public_port }, { id: pf.id, s: pf.start_port, e: pf.end_port }];
      throw apiError('NETWORK_RULE_CONFLICT', `The range specified, ${neu.s}-${neu.e}, conflicts with rule ${old.id} which has ${old.s}-${old.e}`, [lb.id, pf.id]);
    }
  }
  const spec = await lbSpecOf(sql, networkId);
  const diags = spec ? validateLbSpec(spec) : [];
  const conflict = diags.find((d) => d.kind === 'conflict');
  if (conflict) {
    const other = lbs.find((l) => l.id !== conflict.ruleId && l.ip_address_id === lbs.find((x) => x.id === conflict.ruleId)?.ip_address_id && l.public_port === lbs.find((x) => x.id === conflict.ruleId)?.public_port);
    const me = lbs.find((x) => x.id === conflict.ruleId)!;
    throw apiError('NETWORK_RULE_CONFLICT', `The range specified, ${me.public_port}-${me.public_port}, conflicts with rule ${other?.id ?? conflict.ruleId} which has ${me.public_port}-${me.public_port}`, [me.id]);
  }
  if (diags.length) throw paramError(`The load balancer rule is not valid: ${diags.map((d) => d.message).join('; ')}`);
}
