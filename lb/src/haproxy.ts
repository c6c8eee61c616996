// compileHaproxy(spec) → haproxy.cfg text: pure. The proxy half of the load balancer: every
// rule lbEngine() does not give to the kernel (TLS termination, LbCookie/AppCookie stickiness,
// leastconn, tcp-proxy = PROXY protocol to the backends). Run by Debian's haproxy in
// master-worker mode; health checks are HAProxy's own (`check inter/rise/fall`), so a backend
// going down or up never needs a reload.
//
// Nothing here formats tenant text: every value comes from a schema-checked LbSpec (addresses,
// ports, UUIDs, cookie names and ping paths of tight patterns); certificates are files named by
// rule id, never inline.
import type { LbRule, LbSpec } from '@flotilla/protocol/lb';
import { lbEngine } from '@flotilla/protocol/lb';

export interface HaproxyPaths {
  /** Admin socket (runtime API; `expose-fd listeners` for hitless reloads). */
  socket: string;
  /** Directory of the rules' PEM files (<ruleId>.pem: certificate, chain, key). */
  certDir: string;
}

export const haproxyRules = (s: LbSpec): LbRule[] => s.rules.filter((r) => lbEngine(r) === 'haproxy');
/** HAProxy server name of a backend: the VM id and the address (one VM may be listed twice by IP). */
export const serverName = (vmId: string, ip: string): string => `${vmId}_${ip.replace(/\./g, '-')}`;
export const frontendName = (ruleId: string): string => `fe_${ruleId}`;
export const backendName = (ruleId: string): string => `be_${ruleId}`;

/** Is the rule proxied at HTTP level (cookies, TLS termination)? */
export const httpMode = (r: LbRule): boolean => r.protocol === 'ssl' || (r.stickiness?.method === 'LbCookie' || r.stickiness?.method === 'AppCookie');

export function compileHaproxy(spec: LbSpec, paths: HaproxyPaths): string {
  const out: string[] = [
    'global',
    `    stats socket ${paths.socket} mode 600 level admin expose-fd listeners`,
    '    maxconn 4096', // fits the appliance's fd limit (HAProxy needs ~2 fds a connection)
    '    hard-stop-after 30s',
    '',
    'defaults',
    '    timeout connect 5s',
    '    timeout client 60s',
    '    timeout server 60s',
    '    timeout http-keep-alive 10s',
    '    option dontlognull',
    // As CloudStack's VR: a connection refused by a server that died between two checks is
    // retried on another one, so a failing backend costs no request.
    '    retries 3',
    '    option redispatch',
    '',
  ];
  for (const r of haproxyRules(spec)) {
    const http = httpMode(r);
    const mode = http ? 'http' : 'tcp';
    out.push(`frontend ${frontendName(r.id)}`);
    out.push(`    mode ${mode}`);
    out.push(`    bind ${r.publicIp}:${r.publicPort}${r.protocol === 'ssl' ? ` ssl crt ${paths.certDir}/${r.id}.pem` : ''}`);
    if (r.sourceCidrs.length && !r.sourceCidrs.includes('0.0.0.0/0')) {
      out.push(`    acl allowed src ${r.sourceCidrs.join(' ')}`);
      out.push('    tcp-request connection reject if !allowed');
    }
    if (http) out.push('    option forwardfor');
    out.push(`    default_backend ${backendName(r.id)}`);
    out.push('');
    out.push(`backend ${backendName(r.id)}`);
    out.push(`    mode ${mode}`);
    out.push(`    balance ${r.algorithm}`);
    // Consistent hashing: `balance source` is map-based by default, and HAProxy refuses runtime
    // `add server` on a map-based backend; consistent hashing also moves only the clients of a
    // server that comes or goes.
    if (r.algorithm === 'source') out.push('    hash-type consistent');
    const st = r.stickiness;
    let cookie = false;
    if (st?.method === 'LbCookie') {
      const flags = ['insert', ...(st.indirect !== false ? ['indirect'] : []), ...(st.nocache ? ['nocache'] : []), ...(st.postonly ? ['postonly'] : [])];
      out.push(`    cookie ${st.cookieName ?? 'SERVERID'} ${flags.join(' ')}`);
      cookie = true;
    } else if (st?.method === 'AppCookie') {
      // HAProxy 2.x's replacement of appsession: learn the application's cookie, stick on it.
      out.push(`    stick-table type string len 64 size 200k expire ${st.holdtimeS ?? 10_800}s`);
      out.push(`    stick on req.cook(${st.cookieName})`);
      out.push(`    stick store-response res.cook(${st.cookieName})`);
    } else if (st?.method === 'SourceBased') {
      out.push(`    stick-table type ip size 200k expire ${st.holdtimeS ?? 1800}s`);
      out.push('    stick on src');
    }
    const hc = r.healthCheck;
    // httpchk counts 2xx and 3xx answers as healthy (CloudStack's VR does the same).
    if (hc?.pingPath) out.push(`    option httpchk GET ${hc.pingPath}`);
    if (hc) out.push(`    timeout check ${hc.timeoutS}s`);
    for (const b of r.backends) out.push(`    server ${serverArgs(r, b, cookie)}`);
    out.push('');
  }
  return out.join('\n');
}

/**
 * `<name> <ip>:<port> [options]` of a backend's server line. The runtime API's `add server`
 * takes the same arguments, so a member added at run time is the server a reload would make.
 * Check timing is on each server, not in `default-server`: dynamic servers ignore
 * default-server (HAProxy 2.6).
 */
export function serverArgs(r: LbRule, b: LbRule['backends'][number], cookie = r.stickiness?.method === 'LbCookie'): string {
  const name = serverName(b.vmId, b.ip);
  const hc = r.healthCheck;
  const opts = [
    ...(hc ? ['check', `inter ${hc.intervalS}s`, `rise ${hc.healthy}`, `fall ${hc.unhealthy}`] : []),
    ...(cookie ? [`cookie ${name}`] : []),
    ...(r.protocol === 'tcp-proxy' ? ['send-proxy'] : []),
  ];
  return `${name} ${b.ip}:${r.privatePort}${opts.length ? ` ${opts.join(' ')}` : ''}`;
}

/** The PEM file HAProxy reads for a rule: certificate, chain, then key. */
export function pemOf(r: LbRule): string | undefined {
  if (!r.tls) return undefined;
  const part = (s: string) => (s.endsWith('\n') ? s : `${s}\n`);
  return part(r.tls.certificate) + (r.tls.chain ? part(r.tls.chain) : '') + part(r.tls.privateKey);
}
