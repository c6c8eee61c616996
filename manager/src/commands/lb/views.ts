// Response objects of load balancing, as CloudStack's LoadBalancerResponse,
// LBStickinessResponse, LBHealthCheckResponse and SslCertResponse, plus Flotilla's counters
// and engine on a rule (from the router's last LB report).
import { createHash } from 'node:crypto';
import { field as f, type ResponseDef } from '../../api/registry.ts';
import { compact } from '../../api/serialize.ts';
import type { LbRuleStatus } from '@flotilla/protocol/lb';
import type { LbRuleRow } from '../../orchestrator/lb.ts';
import { ownerFields, projectColumns } from '../projects/lookup.ts';

export const LOAD_BALANCER: ResponseDef = {
  name: 'loadbalancerrule',
  fields: {
    id: f('string', 'the load balancer rule ID'), name: f('string', 'the name of the load balancer'), description: f('string', 'the description of the load balancer'),
    publicipid: f('string', 'the public ip address id'), publicip: f('string', 'the public ip address'), publicport: f('string', 'the public port'),
    privateport: f('string', 'the private port'), algorithm: f('string', 'the load balancer algorithm (source, roundrobin, leastconn)'),
    cidrlist: f('string', 'the cidr list to forward traffic from. Multiple entries are separated by a single comma character (,).'),
    account: f('string', 'the account of the load balancer rule'), projectid: f('string', 'the id of the project the load balancer belongs to'), project: f('string', 'the project name of the load balancer'), domainid: f('string', 'the domain ID of the load balancer rule'), domain: f('string', 'the domain of the load balancer rule'),
    state: f('string', 'the state of the rule'), zoneid: f('string', 'the id of the zone the rule belongs to'), zonename: f('string', 'the name of the zone the load balancer rule belongs to'),
    protocol: f('string', 'the protocol of the loadbalanacer rule'), networkid: f('string', 'the id of the guest network the lb rule belongs to'),
    fordisplay: f('boolean', 'is rule for display to the regular user'), tags: f('list', 'the list of resource tags associated with load balancer'),
    engine: f('string', 'Flotilla: where the rule runs on the router: kernel (nftables) or haproxy'),
    packets: f('long', 'Flotilla: kernel rules: connections opened through the rule (accumulated across reloads)'),
    bytes: f('long', 'Flotilla: bytes through the rule (kernel: of the connections\' first packets; HAProxy: in and out), accumulated across reloads'),
    sessions: f('long', 'Flotilla: connections (kernel) or HAProxy sessions through the rule, accumulated across reloads'),
    backendcounters: f('list', 'Flotilla: per backend address: packets, bytes, sessions through the rule, accumulated across reloads and removals'),
  },
};
export interface LbViewRow extends LbRuleRow { for_display?: boolean; project_id?: string | null; project_name?: string | null; address: string; account_name: string; domain_name: string; domain_path: string; zone_id: string; zone_name: string }
export const LB_SELECT = `SELECT l.*, ${projectColumns('l')}, p.address, a.name AS account_name, d.name AS domain_name, d.path AS domain_path, n.zone_id, z.name AS zone_name
  FROM lb_rules l JOIN public_ip_addresses p ON p.id = l.ip_address_id JOIN accounts a ON a.id = l.account_id JOIN domains d ON d.id = l.domain_id
  JOIN networks n ON n.id = l.network_id JOIN zones z ON z.id = n.zone_id`;
export function lbView(r: LbViewRow, st?: LbRuleStatus): Record<string, unknown> {
  return compact({
    id: r.id, name: r.name, description: r.description ?? undefined, publicipid: r.ip_address_id, publicip: r.address, publicport: String(r.public_port),
    privateport: String(r.private_port), algorithm: r.algorithm, cidrlist: r.source_cidrs.join(','), ...ownerFields(r, r.account_name), domainid: r.domain_id,
    domain: r.domain_name, state: r.state, zoneid: r.zone_id, zonename: r.zone_name, protocol: r.protocol, networkid: r.network_id, fordisplay: r.for_display !== false, tags: [],
    engine: st?.engine, packets: st?.packets ?? 0, bytes: st?.bytes ?? 0, sessions: st?.sessions ?? 0,
    backendcounters: st?.members ? Object.entries(st.members).map(([ip, c]) => ({ ip, ...c })) : undefined,
  });
}

export const STICKINESS: ResponseDef = {
  name: 'stickinesspolicies',
  fields: {
    name: f('string', 'the name of the Stickiness policy'), description: f('string', 'the description of the Stickiness policy'),
    lbruleid: f('string', 'the LB rule ID'), account: f('string', 'the account of the Stickiness policy'), domainid: f('string', 'the domain ID of the Stickiness policy'),
    domain: f('string', 'the domain of the Stickiness policy'), zoneid: f('string', 'the id of the zone the Stickiness policy belongs to'), state: f('string', 'the state of the policy'),
    stickinesspolicy: f('list', 'the list of stickinesspolicies'),
  },
};
export interface StickyRow { id: string; rule_id: string; name: string; description: string | null; method: string; params: Record<string, string>; for_display?: boolean }
export function stickinessView(r: LbViewRow, p: StickyRow | undefined): Record<string, unknown> {
  return compact({
    name: r.name, description: r.description ?? undefined, lbruleid: r.id, account: r.account_name, domainid: r.domain_id, domain: r.domain_name, zoneid: r.zone_id, state: r.state,
    stickinesspolicy: p ? [compact({ id: p.id, name: p.name, description: p.description ?? undefined, methodname: p.method, params: p.params, state: 'Active', fordisplay: p.for_display !== false })] : [],
  });
}

export const HEALTH_CHECK: ResponseDef = {
  name: 'healthcheckpolicies',
  fields: {
    lbruleid: f('string', 'the LB rule ID'), account: f('string', 'the account of the HealthCheck policy'), domainid: f('string', 'the domain ID of the HealthCheck policy'),
    domain: f('string', 'the domain of the HealthCheck policy'), zoneid: f('string', 'the id of the zone the HealthCheck policy belongs to'),
    healthcheckpolicy: f('list', 'the list of healthcheckpolicies'),
  },
};
export interface HealthRow { id: string; rule_id: string; description: string | null; ping_path: string | null; interval_s: number; timeout_s: number; healthy: number; unhealthy: number; for_display?: boolean }
export function healthView(r: LbViewRow, h: HealthRow | undefined, st?: LbRuleStatus): Record<string, unknown> {
  return compact({
    lbruleid: r.id, account: r.account_name, domainid: r.domain_id, domain: r.domain_name, zoneid: r.zone_id,
    healthcheckpolicy: h ? [compact({
      id: h.id, pingpath: h.ping_path ?? undefined, description: h.description ?? undefined, state: 'Active', responsetime: h.timeout_s, healthcheckinterval: h.interval_s,
      healthcheckthresshold: h.healthy, unhealthcheckthresshold: h.unhealthy, fordisplay: h.for_display !== false,
      // Flotilla: each member's state as the router's checks last saw it.
      backends: st ? Object.entries(st.backends).map(([ip, state]) => ({ ip, state })) : undefined,
    })] : [],
  });
}

export const SSL_CERT: ResponseDef = {
  name: 'sslcert',
  fields: {
    id: f('string', 'SSL certificate ID'), certificate: f('string', 'certificate'), certchain: f('string', 'certificate chain'), fingerprint: f('string', 'SSL certificate fingerprint'),
    name: f('string', 'name'), account: f('string', 'account for the certificate'), projectid: f('string', 'the project id of the certificate'), project: f('string', 'the project name of the certificate'), domainid: f('string', 'domain id of the network owner'), domain: f('string', 'domain of the network owner'),
    loadbalancerrulelist: f('list', 'List of loabalancers this certificate is bound to'),
  },
};
export interface CertRow { project_id?: string | null; project_name?: string | null; id: string; name: string; account_id: string; domain_id: string; certificate: string; chain: string | null; fingerprint: string; account_name: string; domain_name: string; domain_path: string }
export const CERT_SELECT = `SELECT ${projectColumns('c')}, c.id, c.name, c.account_id, c.domain_id, c.certificate, c.chain, c.fingerprint, a.name AS account_name, d.name AS domain_name, d.path AS domain_path
  FROM ssl_certs c JOIN accounts a ON a.id = c.account_id JOIN domains d ON d.id = c.domain_id`;
export function certView(c: CertRow, rules: string[]): Record<string, unknown> {
  return compact({ id: c.id, certificate: c.certificate, certchain: c.chain ?? undefined, fingerprint: c.fingerprint, name: c.name, ...ownerFields(c, c.account_name), domainid: c.domain_id, domain: c.domain_name, loadbalancerrulelist: rules });
}
/** CloudStack's fingerprint: SHA-1 of the DER certificate, colon-separated upper-case hex. */
export function fingerprintOf(der: Buffer): string {
  return createHash('sha1').update(der).digest('hex').toUpperCase().match(/../g)!.join(':');
}
