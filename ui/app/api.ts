// The UI's only way to the manager: CloudStack's public API at /client/api with a session
// (POST login → sessionkey, then `sessionkey` on every call, response=json). Anything the UI
// does, a script can do with the same commands.
import { reactive } from 'vue';

export type Params = Record<string, string | number | boolean | undefined | null>;
export type Json = Record<string, any>;

/** An API error: CloudStack's errorcode and errortext. */
export class ApiError extends Error {
  constructor(readonly errorcode: number, readonly errortext: string, readonly command: string) { super(errortext); }
}

export interface Session { sessionkey: string; username: string; userid: string; account: string; domainid: string; type: string }

const KEY = 'flotilla.session';
const saved = sessionStorage.getItem(KEY);
/** The logged-in user (null before login); pages read it reactively. */
export const session = reactive<{ current: Session | null }>({ current: saved ? JSON.parse(saved) as Session : null });
export const isAdmin = () => session.current?.type === '1';

const ENDPOINT = '/client/api';

function form(params: Params): URLSearchParams {
  const body = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') body.set(k, String(v));
  return body;
}

async function post(command: string, params: Params): Promise<Json> {
  const res = await fetch(ENDPOINT, { method: 'POST', body: form({ ...params, command, response: 'json' }), credentials: 'same-origin' });
  let body: Json;
  try { body = await res.json() as Json; } catch { throw new ApiError(res.status, `${command}: HTTP ${res.status} without a JSON answer`, command); }
  const inner = (Object.values(body)[0] ?? {}) as Json;
  if (!res.ok || inner.errorcode) {
    if (res.status === 401 && command !== 'login') logoutLocally();
    throw new ApiError(Number(inner.errorcode ?? res.status), String(inner.errortext ?? `HTTP ${res.status}`), command);
  }
  return inner;
}

export async function login(username: string, password: string, domain: string): Promise<Session> {
  const r = await post('login', { username, password, domain: domain || '/' });
  const s: Session = { sessionkey: r.sessionkey, username: r.username, userid: r.userid, account: r.account, domainid: r.domainid, type: String(r.type) };
  sessionStorage.setItem(KEY, JSON.stringify(s));
  session.current = s;
  known = undefined;
  return s;
}

function logoutLocally() { sessionStorage.removeItem(KEY); session.current = null; known = undefined; }

export async function logout(): Promise<void> {
  try { if (session.current) await post('logout', { sessionkey: session.current.sessionkey }); } finally { logoutLocally(); }
}

/** One API call with the session; answers the response object (`listzonesresponse`'s inside). */
export async function call(command: string, params: Params = {}): Promise<Json> {
  if (!session.current) throw new ApiError(401, 'not logged in', command);
  return post(command, { ...params, sessionkey: session.current.sessionkey });
}

/** A list command's page: its items (under the response's list key) and the server's count. */
export async function list(command: string, params: Params = {}): Promise<{ items: Json[]; count: number }> {
  const r = await call(command, params);
  const key = Object.keys(r).find((k) => Array.isArray(r[k]));
  const items = key ? r[key] as Json[] : [];
  return { items, count: Number(r.count ?? items.length) };
}

export interface JobProgress { jobid: string; status: 'pending' | 'done' | 'failed'; command: string }

/**
 * An async command: queues it, then polls queryAsyncJobResult until the job ends. Answers the
 * job's result; a failed job throws its errortext. `onQueued` hears the job id at once.
 */
export async function job(command: string, params: Params = {}, onQueued?: (jobid: string) => void): Promise<Json> {
  const r = await call(command, params);
  if (!r.jobid) return r; // a synchronous command answered directly
  onQueued?.(r.jobid);
  for (let delay = 150; ; delay = Math.min(delay * 1.5, 1500)) {
    const q = await call('queryAsyncJobResult', { jobid: r.jobid });
    if (Number(q.jobstatus) === 1) return (q.jobresult ?? {}) as Json;
    if (Number(q.jobstatus) === 2) {
      const res = (q.jobresult ?? {}) as Json;
      throw new ApiError(Number(res.errorcode ?? 530), String(res.errortext ?? 'the job failed'), command);
    }
    await new Promise((ok) => setTimeout(ok, delay));
  }
}

export const errorText = (e: unknown) => e instanceof ApiError ? `${e.errortext} (${e.command}, error ${e.errorcode})` : e instanceof Error ? e.message : String(e);

let known: Promise<Set<string>> | undefined;
/**
 * Whether this user may call `command` (listApis, asked once per session): pages offer an
 * action only when the API has it, so a manager without e.g. startSystemVm shows the list alone.
 */
export async function hasApi(command: string): Promise<boolean> {
  known ??= call('listApis').then((r) => new Set(((r.api ?? []) as Json[]).map((a) => String(a.name)))).catch(() => { known = undefined; return new Set<string>(); });
  return (await known).has(command);
}
