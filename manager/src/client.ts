// A minimal signed CloudStack API client (HMAC-SHA1, as every CloudStack client signs), used by
// Flotilla's own tests, benchmarks and the single-machine setup. Third-party clients are tested
// separately; this one must not be the only client anything is tested with.
import { createHmac } from 'node:crypto';
import { javaUrlEncode } from './api/signing.ts';

export type Params = Record<string, string | number | boolean>;

export interface Api {
  /** signed call; resolves with HTTP status and the inner object of the answer */
  call(command: string, params?: Params): Promise<{ status: number; body: Record<string, any> }>;
  /** like call but throws unless 200 and returns the inner object */
  ok(command: string, params?: Params): Promise<Record<string, any>>;
  /** an async command, waited for; returns queryAsyncJobResult's inner object */
  job(command: string, params?: Params, timeoutMs?: number): Promise<Record<string, any>>;
  /** like job but throws unless the job succeeded; returns its jobresult */
  jobOk(command: string, params?: Params, timeoutMs?: number): Promise<Record<string, any>>;
  readonly url: string;
  readonly apiKey: string;
  readonly secretKey: string;
}

export function signedClient(url: string, apiKey: string, secretKey: string): Api {
  const api: Api = {
    url, apiKey, secretKey,
    async call(command, params = {}) {
      const all: Record<string, string> = { command, response: 'json', apiKey };
      for (const [k, v] of Object.entries(params)) all[k] = String(v);
      const canon = Object.keys(all).sort().map((k) => `${k}=${javaUrlEncode(all[k]!)}`).join('&').toLowerCase();
      all.signature = createHmac('sha1', secretKey).update(canon).digest('base64');
      const res = await fetch(`${url}/client/api`, { method: 'POST', body: new URLSearchParams(all) });
      const json = await res.json() as Record<string, any>;
      return { status: res.status, body: json[Object.keys(json)[0]!] };
    },
    async ok(command, params) {
      const r = await api.call(command, params);
      if (r.status !== 200) throw new Error(`${command} failed (${r.status}): ${JSON.stringify(r.body)}`);
      return r.body;
    },
    async job(command, params, timeoutMs = 120_000) {
      const r = await api.ok(command, params);
      const jobid = r.jobid as string;
      if (!jobid) throw new Error(`${command} is not async: ${JSON.stringify(r)}`);
      const until = Date.now() + timeoutMs;
      for (let delay = 10; Date.now() < until; delay = Math.min(delay * 2, 200)) {
        const q = await api.ok('queryAsyncJobResult', { jobid });
        if (q.jobstatus !== 0) return q;
        await new Promise((res) => setTimeout(res, delay));
      }
      throw new Error(`job ${jobid} of ${command} did not finish within ${timeoutMs} ms`);
    },
    async jobOk(command, params, timeoutMs) {
      const q = await api.job(command, params, timeoutMs);
      if (q.jobstatus !== 1) throw new Error(`${command} job failed: ${JSON.stringify(q.jobresult)}`);
      return q.jobresult;
    },
  };
  return api;
}

/** Logs in with a password; returns the session key and the cookies to send back. */
export async function login(url: string, username: string, password: string, domain = '/'): Promise<{ status: number; sessionkey: string; cookie: string; body: any }> {
  const res = await fetch(`${url}/client/api`, { method: 'POST', body: new URLSearchParams({ command: 'login', username, password, domain, response: 'json' }) });
  const body = (await res.json() as any).loginresponse;
  const cookie = (res.headers.getSetCookie?.() ?? []).map((c) => c.split(';')[0]).join('; ');
  return { status: res.status, sessionkey: body?.sessionkey, cookie, body };
}

/** Logs in as a user and registers API keys for it: the usual first step of every tool. */
export async function keysFor(url: string, username: string, password: string, domain = '/'): Promise<Api> {
  const s = await login(url, username, password, domain);
  if (s.status !== 200) throw new Error(`login as ${username} failed: ${JSON.stringify(s.body)}`);
  const q = (params: Params) => fetch(`${url}/client/api?${new URLSearchParams({ ...Object.fromEntries(Object.entries(params).map(([k, v]) => [k, String(v)])), response: 'json', sessionkey: s.sessionkey })}`, { headers: { cookie: s.cookie } }).then((r) => r.json() as Promise<any>);
  const keys = (await q({ command: 'registerUserKeys', id: s.body.userid })).registeruserkeysresponse.userkeys;
  return signedClient(url, keys.apikey, keys.secretkey);
}
