// The console URL and CloudStack's websocket block, pure: from configuration (scheme, host,
// path prefix) and a token. The pages use relative paths only, so a reverse proxy that forwards
// one prefix (say /vmconsole/ → the manager's /console/) needs nothing but the prefix set here.

export interface ConsoleUrlConfig {
  /** http or https, as the browser sees it */
  scheme: 'http' | 'https';
  /** host[:port] as the browser sees it (consoleproxy.url.domain) */
  domain: string;
  /** path prefix as the browser sees it, with a trailing slash (consoleproxy.url.path) */
  pathPrefix: string;
}

export interface ConsoleEndpoint {
  url: string;
  websocket: { host: string; port: string; path: string; token: string; extra: string };
}

/** '/console' → '/console/', 'x' → '/x/' */
export function normalizePrefix(p: string): string {
  let s = p.trim() || '/console/';
  if (!s.startsWith('/')) s = `/${s}`;
  if (!s.endsWith('/')) s = `${s}/`;
  return s;
}

const DOMAIN = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/;
export function validDomain(d: string): boolean { return DOMAIN.test(d); }

export function consoleEndpoint(cfg: ConsoleUrlConfig, token: string, extra = ''): ConsoleEndpoint {
  if (!validDomain(cfg.domain)) throw new Error(`console domain ${JSON.stringify(cfg.domain)} is not host[:port]`);
  const prefix = normalizePrefix(cfg.pathPrefix);
  const m = DOMAIN.exec(cfg.domain)!;
  const host = m[1]!;
  const port = m[2] ? m[2].slice(1) : (cfg.scheme === 'https' ? '443' : '80');
  const q = encodeURIComponent(token);
  return {
    url: `${cfg.scheme}://${cfg.domain}${prefix}?token=${q}`,
    websocket: { host, port, path: `${prefix}ws`, token, extra },
  };
}
