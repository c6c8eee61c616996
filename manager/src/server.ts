// The HTTP surface: /client/api (GET query or POST form) in CloudStack's wire format.
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply } from 'fastify';
import formbody from '@fastify/formbody';
import cookie from '@fastify/cookie';
import type { Services } from './services.ts';
import { authenticate } from './api/auth.ts';
import { dispatch, errorAnswer, type ApiAnswer } from './api/dispatch.ts';
import { renderXml } from './api/serialize.ts';
import { rawParam } from './api/params.ts';
import { apiError } from './api/errors.ts';
import { login, logout, LOGIN_COOKIES } from './commands/accounts/session.ts';

export async function buildServer(services: Services): Promise<FastifyInstance> {
  const app = Fastify({ loggerInstance: services.log as FastifyBaseLogger, logController: new LogController({ disableRequestLogging: true }), bodyLimit: 4 * 1024 * 1024,
    // Plugins load in milliseconds; on a loaded 2-core machine avvio's 10 s default fired and its
    // error (carrying the plugin function) crashed the test workers. Start-up waits instead.
    pluginTimeout: 0 }) as unknown as FastifyInstance;
  await app.register(cookie);
  // CloudStack clients POST application/x-www-form-urlencoded; repeated names keep the first.
  await app.register(formbody);

  const handler = async (req: { query: unknown; body: unknown; cookies: Record<string, string | undefined>; ip: string }, reply: FastifyReply) => {
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
      if (!command) throw apiError('UNSUPPORTED_ACTION', 'no command given: pass command=<name>');
      if (command === 'login') {
        const out = await login(services, params);
        for (const [name, value, httpOnly] of LOGIN_COOKIES(out)) reply.setCookie(name, value, { path: '/', httpOnly, sameSite: 'lax' });
        answer = { status: 200, key: 'loginresponse', inner: out };
      } else {
        const caller = await authenticate(services, params, req.cookies);
        if (command === 'logout') {
          await logout(services, caller, params, req.cookies);
          reply.clearCookie('sessionkey', { path: '/' }).clearCookie('JSESSIONID', { path: '/' });
          answer = { status: 200, key: 'logoutresponse', inner: { description: 'success' } };
        } else {
          answer = await dispatch(services, caller, command, params);
        }
      }
    } catch (e) {
      answer = errorAnswer(command, e);
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
  return app;
}
