// LbSpec: the load-balancing part of a router's desired state (createLoadBalancerRule and its
// policies, members and certificate), and LbStatus, what the appliance reports back (backend
// health, counters, the engine each rule runs on). Built by the manager from its rows, compiled
// by @flotilla/lb into nftables elements (L4 in the kernel) and an HAProxy configuration.
//
// Every string here may reach the HAProxy configuration or a file: patterns are tight, and the
// validator (validateLbSpec) is what both the manager (before it accepts an API call) and the
// appliance (before it applies a generation) run.
import { Type, type Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { RuleId, parseAddress } from './firewall.ts';

const Port = Type.Integer({ minimum: 1, maximum: 65535 });
const Ipv4 = Type.String({ pattern: '^[0-9]{1,3}(\\.[0-9]{1,3}){3}$' });
const Cidr4 = Type.String({ pattern: '^[0-9]{1,3}(\\.[0-9]{1,3}){3}/[0-9]{1,2}$' });
/** PEM text: base64 lines between BEGIN/END markers, nothing else. */
export const Pem = Type.String({ maxLength: 65536, pattern: '^(-----BEGIN [A-Z0-9 ]{1,40}-----\\r?\\n[A-Za-z0-9+/=\\r\\n]+-----END [A-Z0-9 ]{1,40}-----\\s*)+$' });
/** A cookie name (RFC 6265 token, narrowed). */
export const CookieName = Type.String({ pattern: '^[A-Za-z0-9_.-]{1,64}$' });
/** HTTP path of a health check: no spaces, quotes or control characters. */
export const PingPath = Type.String({ pattern: '^/[A-Za-z0-9._~/%=&?+:@,;-]{0,254}$' });

export const LB_ALGORITHMS = ['roundrobin', 'leastconn', 'source'] as const;
export const LB_PROTOCOLS = ['tcp', 'udp', 'tcp-proxy', 'ssl'] as const;
export const STICKINESS_METHODS = ['SourceBased', 'LbCookie', 'AppCookie'] as const;

export const LbBackend = Type.Object({
  /** The VM (UUID): what listLoadBalancerRuleInstances reports the state of. */
  vmId: RuleId,
  ip: Ipv4,
}, { additionalProperties: false });

export const LbStickiness = Type.Object({
  method: Type.Union(STICKINESS_METHODS.map((m) => Type.Literal(m))),
  /** LbCookie: the cookie HAProxy inserts; AppCookie: the application's cookie it learns. */
  cookieName: Type.Optional(CookieName),
  /** AppCookie: how long a learned cookie is remembered (seconds); SourceBased: entry expiry. */
  holdtimeS: Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400 * 30 })),
  /** LbCookie: nocache / indirect / postonly as CloudStack's params. */
  indirect: Type.Optional(Type.Boolean()),
  nocache: Type.Optional(Type.Boolean()),
  postonly: Type.Optional(Type.Boolean()),
}, { additionalProperties: false });

export const LbHealthCheck = Type.Object({
  /** HTTP GET of this path (2xx/3xx healthy); absent = TCP connect. */
  pingPath: Type.Optional(PingPath),
  intervalS: Type.Integer({ minimum: 1, maximum: 20_940 }),
  timeoutS: Type.Integer({ minimum: 1, maximum: 60 }),
  healthy: Type.Integer({ minimum: 1, maximum: 10 }),
  unhealthy: Type.Integer({ minimum: 1, maximum: 10 }),
}, { additionalProperties: false });

export const LbTls = Type.Object({ certificate: Pem, privateKey: Pem, chain: Type.Optional(Pem) }, { additionalProperties: false });

export const LbRule = Type.Object({
  id: RuleId,
  publicIp: Ipv4,
  publicPort: Port,
  privatePort: Port,
  protocol: Type.Union(LB_PROTOCOLS.map((p) => Type.Literal(p))),
  algorithm: Type.Union(LB_ALGORITHMS.map((p) => Type.Literal(p))),
  /** Sources allowed by the rule itself (empty = anywhere); the firewall opens the port. */
  sourceCidrs: Type.Array(Cidr4, { maxItems: 256 }),
  backends: Type.Array(LbBackend, { maxItems: 1024 }),
  stickiness: Type.Optional(LbStickiness),
  healthCheck: Type.Optional(LbHealthCheck),
  /** protocol ssl: the certificate HAProxy terminates TLS with. */
  tls: Type.Optional(LbTls),
}, { additionalProperties: false });

export const LbSpec = Type.Object({ rules: Type.Array(LbRule, { maxItems: 16_384 }) }, { additionalProperties: false });

export type LbBackend = Static<typeof LbBackend>;
export type LbStickiness = Static<typeof LbStickiness>;
export type LbHealthCheck = Static<typeof LbHealthCheck>;
export type LbTls = Static<typeof LbTls>;
export type LbRule = Static<typeof LbRule>;
export type LbSpec = Static<typeof LbSpec>;

export type LbEngine = 'kernel' | 'haproxy';
/**
 * Where a rule runs (decision 0710): the kernel (nftables DNAT, numgen/jhash) when it is plain
 * L4 — tcp/udp with roundrobin or source and at most SourceBased stickiness — else HAProxy
 * (TLS termination, cookies, leastconn, PROXY protocol need a proxy that sees the stream).
 */
export function lbEngine(r: Pick<LbRule, 'protocol' | 'algorithm' | 'stickiness'>): LbEngine {
  if (r.protocol !== 'tcp' && r.protocol !== 'udp') return 'haproxy';
  if (r.protocol === 'udp') return 'kernel';
  if (r.algorithm === 'leastconn') return 'haproxy';
  if (r.stickiness && r.stickiness.method !== 'SourceBased') return 'haproxy';
  return 'kernel';
}

// ---- status (appliance → manager) ----

export const BackendState = Type.Union([Type.Literal('Active'), Type.Literal('Inactive'), Type.Literal('Unknown')]);
export const LbRuleStatus = Type.Object({
  engine: Type.Union([Type.Literal('kernel'), Type.Literal('haproxy')]),
  /** backend IP → state (health check result; Active when the rule has no health check). */
  backends: Type.Record(Type.String(), BackendState),
  /** Accumulated since the rule was first applied on this appliance (kept across reloads):
   *  kernel: connections opened (packets/bytes of their first packets); HAProxy: sessions, bytes. */
  packets: Type.Integer({ minimum: 0 }),
  bytes: Type.Integer({ minimum: 0 }),
  sessions: Type.Integer({ minimum: 0 }),
  /** Per backend IP, accumulated the same way (a removed member's counters are kept until the
   *  rule goes): kernel rules count connections by the slot each was sent to. */
  members: Type.Optional(Type.Record(Type.String(), Type.Object({
    packets: Type.Integer({ minimum: 0 }), bytes: Type.Integer({ minimum: 0 }), sessions: Type.Integer({ minimum: 0 }),
  }, { additionalProperties: false }))),
}, { additionalProperties: false });
export const LbStatus = Type.Record(RuleId, LbRuleStatus);
export type LbRuleStatus = Static<typeof LbRuleStatus>;
export type LbStatus = Static<typeof LbStatus>;

// ---- validation ----

export interface LbDiagnostic { kind: 'invalid' | 'conflict'; path: string; message: string; ruleId?: string }

let compiled: ReturnType<typeof TypeCompiler.Compile<typeof LbSpec>> | undefined;
const checker = () => (compiled ??= TypeCompiler.Compile(LbSpec));

/** Every problem of an LB spec ([] when valid). 'conflict' → CloudStack 537, 'invalid' → 431. */
export function validateLbSpec(raw: unknown): LbDiagnostic[] {
  if (!checker().Check(raw)) return [...checker().Errors(raw)].map((e) => ({ kind: 'invalid' as const, path: `/lb${e.path}`, message: e.message }));
  const s = raw as LbSpec;
  const out: LbDiagnostic[] = [];
  const ids = new Set<string>();
  const listeners = new Map<string, string>();
  s.rules.forEach((r, i) => {
    const path = `/lb/rules/${i}`;
    if (ids.has(r.id)) out.push({ kind: 'invalid', path: `${path}/id`, message: `rule id ${r.id} is listed twice`, ruleId: r.id });
    ids.add(r.id);
    for (const [k, a] of [['publicIp', r.publicIp], ...r.backends.map((b, j) => [`backends/${j}/ip`, b.ip])] as Array<[string, string]>) {
      const p = parseAddress(a);
      if (typeof p === 'string' || p.family !== 4) out.push({ kind: 'invalid', path: `${path}/${k}`, message: `${a} is not an IPv4 address`, ruleId: r.id });
    }
    r.sourceCidrs.forEach((c, j) => {
      const [a, len] = c.split('/');
      if (typeof parseAddress(a!) === 'string' || Number(len) > 32) out.push({ kind: 'invalid', path: `${path}/sourceCidrs/${j}`, message: `${c} is not an IPv4 CIDR`, ruleId: r.id });
    });
    // One listener per public address, transport protocol and port (tcp, tcp-proxy and ssl share TCP).
    const l4 = r.protocol === 'udp' ? 'udp' : 'tcp';
    const key = `${r.publicIp}|${l4}|${r.publicPort}`;
    const prev = listeners.get(key);
    if (prev) out.push({ kind: 'conflict', path: `${path}/publicPort`, message: `load balancer rule ${r.id} uses ${l4} port ${r.publicPort} of ${r.publicIp}, as does rule ${prev}`, ruleId: r.id });
    listeners.set(key, r.id);
    if (r.protocol === 'ssl' && !r.tls) out.push({ kind: 'invalid', path: `${path}/tls`, message: 'a rule with protocol ssl needs a certificate (assignCertToLoadBalancer)', ruleId: r.id });
    if (r.tls && r.protocol !== 'ssl') out.push({ kind: 'invalid', path: `${path}/tls`, message: `a certificate is only used by protocol ssl (rule is ${r.protocol})`, ruleId: r.id });
    const st = r.stickiness;
    if (st && st.method !== 'SourceBased' && r.protocol === 'udp') out.push({ kind: 'invalid', path: `${path}/stickiness`, message: `${st.method} stickiness needs HTTP; rule ${r.id} is udp`, ruleId: r.id });
    if (st?.method === 'AppCookie' && !st.cookieName) out.push({ kind: 'invalid', path: `${path}/stickiness/cookieName`, message: 'AppCookie stickiness needs the cookie name', ruleId: r.id });
    if (r.protocol === 'udp' && r.algorithm === 'leastconn') out.push({ kind: 'invalid', path: `${path}/algorithm`, message: 'leastconn is not available for udp (no connections to count)', ruleId: r.id });
    if (r.protocol === 'udp' && r.healthCheck) out.push({ kind: 'invalid', path: `${path}/healthCheck`, message: 'health checks (TCP connect or HTTP GET) need a TCP-based rule; rule is udp', ruleId: r.id });
  });
  return out;
}
