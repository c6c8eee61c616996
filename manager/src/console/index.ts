// The console proxy role as the manager sees it (docs/decisions/0600):
// - createConsoleEndpoint's token and URL: sealed with the current console key; bound to the
//   zone's console proxy VM (claims.proxy) when one runs, else to the manager's own proxy role;
// - `/console/` on the manager: pages and WebSocket forwarded to the proxy VM the token names
//   (forward.ts: directly, or through FLOTILLA_CONSOLE_NETNS on the single-machine cloud), or
//   served by the manager's in-process proxy role when the zone has no proxy VM (no public
//   range, system VMs off, a simulator zone);
// - `/systemvm/console`: a proxy VM's way to a console — it authenticates with its link secret,
//   the manager opens the token again, claims its id (single use across every proxy), checks the
//   VM still runs on the token's host, asks that host's agent to open the console, records the
//   console-open event, and splices;
// - the rotating key (keys.ts) and CloudStack's legacy /client/console?cmd=access&vm=<id>.
import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type WebSocket from 'ws';
import {
  assets, ConsoleProxy, consoleEndpoint, newJti, normalizePrefix, openTokenWith, sealToken, sendAsset, UsedTokens, vncAssets,
  CLOSE_REFUSED, CLOSE_UNREACHABLE, type ConsoleClaims, type ConsoleEndpoint, type ConsoleStream,
} from '@flotilla/proxy';
import type { Services } from '../services.ts';
import type { Caller } from '../api/context.ts';
import type { Sql } from '../db/sql.ts';
import { consoleKind, pageFor } from './kind.ts';
import { consoleBacklog } from '../agents/gateway.ts';
import { audit } from '../api/audit.ts';
import { authenticate } from '../api/auth.ts';
import { configNumber, configValue } from '../commands/offerings/config.ts';
import { keysInForce, linkSecret, rotateKeyEpoch, type KeyInForce } from './keys.ts';
import { ConsoleForwarder, type ProxyTarget } from './forward.ts';

export const CONSOLE_ROUTE_PREFIX = '/console';
/** Where a console proxy VM's appliance serves (proxy/src/main.ts VM_PREFIX, CONSOLE_PROXY_PORT). */
export const CONSOLE_PROXY_PORT = 80;

interface ConsoleService {
  master: Buffer; app: FastifyInstance; proxy: ConsoleProxy; forwarder: ConsoleForwarder;
  /** FLOTILLA_CONSOLE_NETNS: the namespace the manager reaches proxy VMs' public addresses through */
  netns: string | undefined;
  /** the keys in force, current first (refreshed on rotation and by the system VM monitor) */
  keys: KeyInForce[];
  /** token ids opened through /systemvm/console: single use across all proxy VMs */
  used: UsedTokens;
}
const attached = new WeakMap<Services, ConsoleService>();

export function consoleService(s: Services): ConsoleService {
  const c = attached.get(s);
  if (!c) throw new Error('the console proxy is not attached to this manager');
  return c;
}

/** Names the namespace the manager reaches proxy VMs' public addresses through (the local cloud's
 *  uplink; FLOTILLA_CONSOLE_NETNS at start); running proxy VMs are told to believe its forward. */
export async function setConsoleNetns(s: Services, netns: string | undefined): Promise<void> {
  const c = consoleService(s);
  c.forwarder.close();
  c.forwarder = new ConsoleForwarder(netns);
  c.netns = netns;
  const { reconfigureRole } = await import('../systemvm/orchestrator.ts');
  await reconfigureRole(s, 'ConsoleProxy');
}

/** Reloads the keys in force from the database. */
export async function refreshConsoleKeys(s: Services): Promise<KeyInForce[]> {
  const c = consoleService(s);
  c.keys = await keysInForce(s.db, c.master);
  return c.keys;
}

/** Rotates the console key now: a new current epoch; the old current stays valid as previous. */
export async function rotateConsoleKey(s: Services): Promise<number> {
  const epoch = await rotateKeyEpoch(s.db);
  await refreshConsoleKeys(s);
  return epoch;
}

function agentStream(ws: WebSocket): ConsoleStream {
  return {
    write: (b) => { if (ws.readyState === 1) ws.send(b); },
    close: () => { if (ws.readyState <= 1) ws.close(1000); },
    onData: (cb) => { for (const b of consoleBacklog(ws)) cb(b); ws.on('message', (d, bin) => { if (bin) cb(Array.isArray(d) ? Buffer.concat(d) : Buffer.from(d as ArrayBuffer)); }); },
    onClose: (cb) => { ws.on('close', (_c, r) => cb(r.toString() || 'agent closed the console')); },
  };
}

/** The console the claims name, after checking the VM still runs on the token's host. */
async function openVmConsole(s: Services, c: ConsoleClaims): Promise<ConsoleStream> {
  const v = (await s.db.query<{ state: string; host_id: string | null; instance_name: string }>(
    'SELECT state, host_id, instance_name FROM vm_instances WHERE id = $1', [c.vmId]))[0];
  if (!v || v.state !== 'Running') throw new Error('the VM is not running');
  if (v.host_id !== c.hostId || v.instance_name !== c.vmName) throw new Error('the VM moved to another host; ask for a new console');
  return agentStream(await s.agents.openConsole(c.hostId, c.vmName, undefined, c.console));
}

async function consoleOpened(s: Services, c: ConsoleClaims, from: string): Promise<void> {
  const who: Caller = { userId: c.userId, username: c.username, accountId: c.accountId, accountName: c.accountName, accountType: 0, role: 'User', domainId: c.domainId, domainPath: '' };
  await audit(s.db, who, {
    type: 'VM.CONSOLE.OPEN', command: 'consoleAccess', params: { virtualmachineid: c.vmId, console: c.console, from, ...(c.proxy ? { proxy: c.proxy } : {}) },
    result: 'SUCCESS', resourceType: 'VirtualMachine', resourceId: c.vmId,
  });
}

/** A running console proxy VM's public address (the forward's target). */
async function proxyTarget(s: Services, vmId?: string): Promise<ProxyTarget | undefined> {
  const row = (await s.db.query<{ public_ip: string }>(
    `SELECT x.public_ip FROM system_vms x JOIN vm_instances v ON v.id = x.vm_id WHERE v.type = 'ConsoleProxy' AND v.state = 'Running' ${vmId ? 'AND v.id = $1' : ''} ORDER BY x.sessions, v.created LIMIT 1`,
    vmId ? [vmId] : []))[0];
  return row ? { ip: row.public_ip, port: CONSOLE_PROXY_PORT } : undefined;
}

const keysOf = (c: ConsoleService) => c.keys.map((k) => k.key);

/** Serves /console/ (forward or in-process role), /systemvm/console and the legacy redirect. */
export async function attachConsole(app: FastifyInstance, s: Services, masterKey: Buffer, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const proxy = new ConsoleProxy({
    prefix: CONSOLE_ROUTE_PREFIX,
    keys: () => keysOf(consoleService(s)),
    timeoutMs: () => configNumber(s.db, 'consoleproxy.session.timeout'),
    log: s.log,
    backend: { connect: (c) => openVmConsole(s, c), opened: (c, from) => consoleOpened(s, c, from) },
  });
  const netns = env.FLOTILLA_CONSOLE_NETNS || undefined;
  const c: ConsoleService = { master: masterKey, app, proxy, forwarder: new ConsoleForwarder(netns), netns, keys: [], used: new UsedTokens() };
  attached.set(s, c);
  await refreshConsoleKeys(s);
  app.addHook('onClose', async () => consoleService(s).forwarder.close());

  // ---- /console/: forwarded to the proxy VM the token names, else served here ----
  // The serial page's files and the VNC page's (vnc.html, noVNC's modules under novnc/).
  const files = { ...assets(), ...vncAssets() };
  const claimsOf = (token: string | undefined) => {
    if (!token) return undefined;
    const o = openTokenWith(keysOf(c), token, Date.now());
    return o.ok ? o.claims : undefined;
  };
  const page = async (req: FastifyRequest, reply: FastifyReply, name: string) => {
    const q = req.query as Record<string, string | undefined>;
    const claims = claimsOf(q.token);
    // A page named by a token goes to that token's proxy VM; the page's own files (no token)
    // to any running proxy VM — they are the same bytes everywhere.
    const target = claims ? (claims.proxy ? await proxyTarget(s, claims.proxy) : undefined) : await proxyTarget(s);
    if (target) {
      try {
        const inm = req.headers['if-none-match'];
        const r = await c.forwarder.get(target, req.url.replace(/^[^?]*?\/console\//, '/console/'), req.ip, typeof inm === 'string' ? inm : undefined);
        for (const h of ['content-type', 'cache-control', 'etag', 'referrer-policy', 'x-content-type-options', 'content-security-policy']) if (r.headers[h]) reply.header(h, r.headers[h]);
        return reply.code(r.status).send(r.body);
      } catch (e) {
        if (claims?.proxy) return reply.code(502).type('text/plain').send(`console proxy VM unreachable: ${(e as Error).message}`);
        s.log.warn({ err: e }, 'console proxy VM unreachable; serving the console page from the manager');
      }
    }
    const a = files[name];
    if (!a) return reply.code(404).send();
    return sendAsset(req, reply, name, a);
  };
  for (const name of Object.keys(files)) app.get(`${CONSOLE_ROUTE_PREFIX}/${name}`, (req, reply) => page(req, reply, name));
  app.get(`${CONSOLE_ROUTE_PREFIX}/ws`, { websocket: true }, (socket, req) => {
    const token = (req.query as Record<string, string | undefined>).token ?? '';
    const ws = socket as unknown as WebSocket;
    void (async () => {
      const claims = claimsOf(token);
      if (claims?.proxy) {
        const target = await proxyTarget(s, claims.proxy);
        if (!target) { ws.close(CLOSE_UNREACHABLE, 'console unavailable: the console proxy VM is not running'); return; }
        await c.forwarder.socket(target, ws, `/console/ws?token=${encodeURIComponent(token)}`, req.ip)
          .catch((e) => ws.close(CLOSE_UNREACHABLE, `console unavailable: ${(e as Error).message}`.slice(0, 120)));
        return;
      }
      await proxy.accept(ws, token, req.ip);
    })().catch((e) => s.log.warn({ err: e }, 'console socket failed'));
  });

  // ---- /systemvm/console: a console proxy VM asks for a console ----
  app.get('/systemvm/console', { websocket: true }, (socket, req) => {
    const ws = socket as unknown as WebSocket;
    const vmId = String(req.headers['x-flotilla-systemvm'] ?? '');
    const auth = String(req.headers.authorization ?? '');
    void (async () => {
      const row = /^[0-9a-f-]{36}$/.test(vmId)
        ? (await s.db.query<{ state: string }>(`SELECT v.state FROM vm_instances v JOIN system_vms x ON x.vm_id = v.id WHERE v.id = $1 AND v.type = 'ConsoleProxy'`, [vmId]))[0]
        : undefined;
      const want = Buffer.from(`Bearer ${row ? linkSecret(c.master, vmId) : ''}`);
      const got = Buffer.from(auth);
      if (!row || row.state !== 'Running' || got.length !== want.length || !timingSafeEqual(got, want)) {
        s.log.warn({ vmId, from: req.ip }, 'console link refused');
        ws.close(CLOSE_REFUSED, 'not a running console proxy VM');
        return;
      }
      const first = await new Promise<{ token?: string; from?: string }>((resolve) => {
        ws.once('message', (d) => { try { resolve(JSON.parse(d.toString())); } catch { resolve({}); } });
        ws.once('close', () => resolve({}));
      });
      const opened = openTokenWith(keysOf(c), first.token ?? '', Date.now());
      if (!opened.ok) { ws.close(CLOSE_REFUSED, opened.reason === 'expired' ? 'token expired' : 'invalid token'); return; }
      const claims = opened.claims;
      if (!c.used.claim(claims, Date.now())) { ws.close(CLOSE_REFUSED, 'token already used'); return; }
      let stream: ConsoleStream;
      try { stream = await openVmConsole(s, claims); } catch (e) { ws.close(CLOSE_UNREACHABLE, (e as Error).message.slice(0, 120)); return; }
      if (ws.readyState !== 1) { stream.close(); return; }
      // The event is written while the console starts (not before it: its insert was on every
      // open's path to the first prompt); a failure to record it is logged.
      void consoleOpened(s, { ...claims, proxy: vmId }, String(first.from ?? '').slice(0, 64)).catch((e) => s.log.warn({ err: e }, 'console event not recorded'));
      ws.send(JSON.stringify({ type: 'ready' }));
      stream.onData((b) => { if (ws.readyState === 1) ws.send(b); });
      stream.onClose((why) => { if (ws.readyState <= 1) ws.close(1000, why.slice(0, 120)); });
      ws.on('message', (d, bin) => { if (bin) stream.write(Array.isArray(d) ? Buffer.concat(d) : Buffer.from(d as ArrayBuffer)); });
      ws.on('close', () => stream.close());
      ws.on('error', () => stream.close());
    })().catch((e) => { s.log.warn({ err: e }, 'console link failed'); ws.close(CLOSE_UNREACHABLE, 'console link failed'); });
  });

  // CloudStack's UI opens /client/console?cmd=access&vm=<id> with its session cookie: the
  // same checks as createConsoleEndpoint, then a redirect to the endpoint's URL.
  app.get('/client/console', async (req, reply) => {
    const q = req.query as Record<string, string | undefined>;
    if (q.cmd !== 'access' || !q.vm) return reply.code(400).type('text/plain').send('expected cmd=access&vm=<virtual machine id>');
    try {
      // Like CloudStack's ConsoleProxyServlet: the session key from the query or its cookie, and
      // the session's JSESSIONID cookie must match it (authenticate checks both). A link from
      // another site gets at most a redirect it cannot read, to a console in the user's own tab.
      const sessionkey = q.sessionkey ?? req.cookies.sessionkey;
      const caller = await authenticate(s, sessionkey ? { sessionkey } : {}, req.cookies);
      const { dispatch } = await import('../api/dispatch.ts');
      const answer = await dispatch(s, caller, 'createConsoleEndpoint', { virtualmachineid: q.vm });
      const ep = (answer.inner as { consoleendpoint?: { url?: string } }).consoleendpoint;
      if (answer.status !== 200 || !ep?.url) return reply.code(answer.status).type('application/json').send(answer.inner);
      return reply.header('cache-control', 'no-store').redirect(ep.url, 302);
    } catch (e) {
      const { errorAnswer } = await import('../api/dispatch.ts');
      const a = errorAnswer('createConsoleEndpoint', e);
      return reply.code(a.status).type('application/json').send({ [a.key]: a.inner });
    }
  });
}

export interface EndpointVm { id: string; name: string; instance_name: string; host_id: string; zone_id?: string }

/** Seals a single-use token for a VM's serial console and builds CloudStack's answer: on the
 *  zone's least busy console proxy VM when one runs, else on the manager's own proxy role. */
export async function makeEndpoint(s: Services, sql: Sql, caller: Caller, vm: EndpointVm, extra: string | undefined): Promise<ConsoleEndpoint> {
  const c = consoleService(s);
  const timeout = await configNumber(sql, 'consoleproxy.session.timeout');
  const cpvm = vm.zone_id ? (await sql.query<{ vm_id: string; public_ip: string }>(
    `SELECT x.vm_id, x.public_ip FROM system_vms x JOIN vm_instances v ON v.id = x.vm_id
     WHERE v.type = 'ConsoleProxy' AND v.state = 'Running' AND v.zone_id = $1 ORDER BY x.sessions, v.created LIMIT 1`, [vm.zone_id]))[0] : undefined;
  const claims: ConsoleClaims = {
    jti: newJti(), vmId: vm.id, vmName: vm.instance_name, label: vm.name, hostId: vm.host_id, console: await consoleKind(s, sql, vm),
    userId: caller.userId, username: caller.username, accountId: caller.accountId, accountName: caller.accountName, domainId: caller.domainId,
    exp: Date.now() + timeout, ...(extra ? { extra } : {}), ...(cpvm ? { proxy: cpvm.vm_id } : {}),
  };
  let domain = await configValue(sql, 'consoleproxy.url.domain');
  if (domain.startsWith('*.') && cpvm) {
    // CloudStack's wildcard form: the proxy VM's public address, dashed, under the domain
    // (203-0-113-250.console.example.org), which a wildcard DNS record and certificate cover.
    domain = `${cpvm.public_ip.replaceAll('.', '-')}${domain.slice(1)}`;
  } else if (!domain || domain.startsWith('*.')) {
    // The manager's own address: it forwards /console/ to the proxy VM (or serves it itself).
    if (cpvm) c.forwarder.warm({ ip: cpvm.public_ip, port: CONSOLE_PROXY_PORT });
    const addr = c.app.server.address();
    const port = addr && typeof addr === 'object' ? addr.port : s.settings.port;
    const host = ['0.0.0.0', '::', ''].includes(s.settings.host) ? '127.0.0.1' : s.settings.host;
    domain = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  }
  const scheme = (await configValue(sql, 'consoleproxy.url.scheme')) === 'https' ? 'https' : 'http';
  const ep = consoleEndpoint({ scheme, domain, pathPrefix: normalizePrefix(await configValue(sql, 'consoleproxy.url.path')) }, sealToken(c.keys[0]!.key, claims), extra ?? '');
  return { ...ep, url: pageFor(claims.console, ep.url) };
}
