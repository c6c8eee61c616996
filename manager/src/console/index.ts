// The console proxy role served by the manager process (docs/decisions/0600): the proxy's
// routes under /console/ (proxy/src/server.ts), its backend (the agent gateway: the VM's host
// agent opens the console and dials back), the console event, createConsoleEndpoint's token
// and URL, and CloudStack's legacy /client/console?cmd=access&vm=<id> redirect.
import type { FastifyInstance } from 'fastify';
import type WebSocket from 'ws';
import {
  ConsoleProxy, consoleEndpoint, deriveConsoleKey, newJti, normalizePrefix, sealToken,
  type ConsoleClaims, type ConsoleEndpoint, type ConsoleStream,
} from '@flotilla/proxy';
import type { Services } from '../services.ts';
import type { Caller } from '../api/context.ts';
import type { Sql } from '../db/sql.ts';
import { consoleKind, pageFor } from './kind.ts';
import { consoleBacklog } from '../agents/gateway.ts';
import { audit } from '../api/audit.ts';
import { authenticate } from '../api/auth.ts';
import { configNumber, configValue } from '../commands/offerings/config.ts';

export const CONSOLE_ROUTE_PREFIX = '/console';

interface ConsoleService { key: Buffer; app: FastifyInstance; proxy: ConsoleProxy }
const attached = new WeakMap<Services, ConsoleService>();

export function consoleService(s: Services): ConsoleService {
  const c = attached.get(s);
  if (!c) throw new Error('the console proxy is not attached to this manager');
  return c;
}

function agentStream(ws: WebSocket): ConsoleStream {
  return {
    write: (b) => { if (ws.readyState === 1) ws.send(b); },
    close: () => { if (ws.readyState <= 1) ws.close(1000); },
    onData: (cb) => { for (const b of consoleBacklog(ws)) cb(b); ws.on('message', (d, bin) => { if (bin) cb(Array.isArray(d) ? Buffer.concat(d) : Buffer.from(d as ArrayBuffer)); }); },
    onClose: (cb) => { ws.on('close', (_c, r) => cb(r.toString() || 'agent closed the console')); },
  };
}

/** Serves the proxy role at /console/ and the legacy redirect; call after the gateway registered. */
export async function attachConsole(app: FastifyInstance, s: Services, masterKey: Buffer): Promise<void> {
  const key = deriveConsoleKey(masterKey);
  const proxy = new ConsoleProxy({
    prefix: CONSOLE_ROUTE_PREFIX,
    key: () => key,
    timeoutMs: () => configNumber(s.db, 'consoleproxy.session.timeout'),
    log: s.log,
    backend: {
      async connect(c) {
        // The token names the host the VM was on; a VM stopped or moved since is refused.
        const v = (await s.db.query<{ state: string; host_id: string | null; instance_name: string }>(
          'SELECT state, host_id, instance_name FROM vm_instances WHERE id = $1', [c.vmId]))[0];
        if (!v || v.state !== 'Running') throw new Error('the VM is not running');
        if (v.host_id !== c.hostId || v.instance_name !== c.vmName) throw new Error('the VM moved to another host; ask for a new console');
        return agentStream(await s.agents.openConsole(c.hostId, c.vmName, undefined, c.console));
      },
      async opened(c, from) {
        const who: Caller = { userId: c.userId, username: c.username, accountId: c.accountId, accountName: c.accountName, accountType: 0, role: 'User', domainId: c.domainId, domainPath: '' };
        await audit(s.db, who, { type: 'VM.CONSOLE.OPEN', command: 'consoleAccess', params: { virtualmachineid: c.vmId, console: c.console, from }, result: 'SUCCESS', resourceType: 'VirtualMachine', resourceId: c.vmId });
      },
    },
  });
  await proxy.register(app);
  attached.set(s, { key, app, proxy });

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

export interface EndpointVm { id: string; name: string; instance_name: string; host_id: string }

/** Seals a single-use token for a VM's serial console and builds CloudStack's answer. */
export async function makeEndpoint(s: Services, sql: Sql, caller: Caller, vm: EndpointVm, extra: string | undefined): Promise<ConsoleEndpoint> {
  const c = consoleService(s);
  const timeout = await configNumber(sql, 'consoleproxy.session.timeout');
  const claims: ConsoleClaims = {
    jti: newJti(), vmId: vm.id, vmName: vm.instance_name, label: vm.name, hostId: vm.host_id, console: await consoleKind(s, sql, vm),
    userId: caller.userId, username: caller.username, accountId: caller.accountId, accountName: caller.accountName, domainId: caller.domainId,
    exp: Date.now() + timeout, ...(extra ? { extra } : {}),
  };
  let domain = await configValue(sql, 'consoleproxy.url.domain');
  if (!domain) {
    const addr = c.app.server.address();
    const port = addr && typeof addr === 'object' ? addr.port : s.settings.port;
    const host = ['0.0.0.0', '::', ''].includes(s.settings.host) ? '127.0.0.1' : s.settings.host;
    domain = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  }
  const scheme = (await configValue(sql, 'consoleproxy.url.scheme')) === 'https' ? 'https' : 'http';
  const ep = consoleEndpoint({ scheme, domain, pathPrefix: normalizePrefix(await configValue(sql, 'consoleproxy.url.path')) }, sealToken(c.key, claims), extra ?? '');
  return { ...ep, url: pageFor(claims.console, ep.url) };
}
