// The HTTP surface: /client/api (GET query or POST form) in CloudStack's wire format.
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply } from 'fastify';
import formbody from '@fastify/formbody';
import cookie from '@fastify/cookie';
import fastifyStatic from '@fastify/static';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Services } from './services.ts';
import { authenticate } from './api/auth.ts';
import { dispatch, errorAnswer, type ApiAnswer } from './api/dispatch.ts';
import { renderXml } from './api/serialize.ts';
import { rawParam, refuseControlCharacters } from './api/params.ts';
import { apiError } from './api/errors.ts';
import { login, logout, LOGIN_COOKIES } from './commands/accounts/session.ts';

export async function buildServer(services: Services): Promise<FastifyInstance> {
  const app = Fastify({ ...(services.settings.tls ? { https: { cert: services.settings.tls.cert, key: services.settings.tls.key } } : {}), loggerInstance: services.log as FastifyBaseLogger, logController: new LogController({ disableRequestLogging: true }), bodyLimit: 4 * 1024 * 1024,
    // Plugins load in milliseconds; on a loaded 2-core machine avvio's 10 s default fired and its
    // error (carrying the plugin function) crashed the test workers. Start-up waits instead.
    pluginTimeout: 0 }) as unknown as FastifyInstance;
  await app.register(cookie);
  // CloudStack clients POST application/x-www-form-urlencoded; repeated names keep the first.
  await app.register(formbody);

  const handler = async (req: { method: string; query: unknown; body: unknown; cookies: Record<string, string | undefined>; ip: string }, reply: FastifyReply) => {
    const started = process.hrtime.bigint();
    const params: Record<string, string> = {};
    for (const src of [req.query, req.body]) {
      if (!src || typeof src !== 'object') continue;
      for (const [k, v] of Object.entries(src as Record<string, unknown>)) {
        if (k in params) continue;
        params[k] = Array.isArray(v) ? String(v[0]) : String(v);
      }
    }
    const get = (name: string) => rawParam(params, name);
    const command = get('command');
    const json = get('response')?.toLowerCase() === 'json';
    let answer: ApiAnswer;
    try {
      refuseControlCharacters(command, params);
      if (!command) throw apiError('UNSUPPORTED_ACTION', 'no command given: pass command=<name>');
      if (command === 'login') {
        // CloudStack's DefaultLoginAPIAuthenticatorCmd: credentials never travel in a URL.
        if (req.method !== 'POST') throw apiError('METHOD_NOT_ALLOWED', 'Please use HTTP POST to authenticate using this API');
        const out = await login(services, params);
        for (const [name, value] of LOGIN_COOKIES(out)) reply.setCookie(name, value, { path: '/', httpOnly: true, sameSite: 'lax' });
        answer = { status: 200, key: 'loginresponse', inner: out.answer };
      } else {
        const caller = await authenticate(services, params, req.cookies);
        if (command === 'logout') {
          await logout(services, caller, params);
          reply.clearCookie('sessionkey', { path: '/' }).clearCookie('JSESSIONID', { path: '/' });
          answer = { status: 200, key: 'logoutresponse', inner: { description: 'success' } };
        } else {
          answer = await dispatch(services, caller, command, params);
        }
      }
    } catch (e) {
      // The answer's element is a registered command's name, never the raw parameter (it would be
      // echoed as the XML root element): an unknown command answers errorresponse, as CloudStack.
      answer = errorAnswer(command ? services.registry.get(command)?.name : undefined, e);
    }
    reply.code(answer.status);
    // Labelled by the registry's name only (unknown names share one label: no unbounded series).
    const known = command === 'login' || command === 'logout' ? command : command ? services.registry.get(command)?.name : undefined;
    services.metrics.observeRequest(known ?? 'unknown', answer.status, Number(process.hrtime.bigint() - started) / 1e9);
    if (json) return reply.type('application/json; charset=utf-8').send(JSON.stringify({ [answer.key]: answer.inner }));
    return reply.type('text/xml; charset=utf-8').send(renderXml(answer.key, answer.inner));
  };
  app.get('/client/api', handler);
  app.post('/client/api', handler);
  app.get('/', async (_req, reply) => reply.redirect('/client/'));
  await serveUi(app);
  return app;
}

/** Where the web UI's build is (ui/dist; `FLOTILLA_UI_DIR` overrides it). */
export const UI_DIR = process.env.FLOTILLA_UI_DIR ?? fileURLToPath(new URL('../../ui/dist/', import.meta.url));

/**
 * The web UI at /client/ (CloudStack's path): the static files of ui/dist, which talk to the
 * manager only through /client/api (a more specific route, so it is never shadowed). `npm start`
 * and `npm ci` build it (ui/README.md); without a build /client/ says how to make one.
 */
async function serveUi(app: FastifyInstance): Promise<void> {
  if (!existsSync(join(UI_DIR, 'index.html'))) {
    app.get('/client/', async (_req, reply) => reply.code(503).type('text/plain; charset=utf-8')
      .send('The web UI is not built: `npm start` builds it, or run `npm run build -w ui`.\n'));
    return;
  }
  // Hashed asset names never change content: cached for a year; index.html always revalidated.
  await app.register(fastifyStatic, {
    root: UI_DIR, prefix: '/client/', wildcard: true, index: ['index.html'], redirect: true,
    setHeaders: (reply, path) => { reply.header('cache-control', path.includes(join('assets', '')) ? 'public, max-age=31536000, immutable' : 'no-cache'); },
  });
  app.get('/client', async (_req, reply) => reply.redirect('/client/'));
}
