// Authentication: a session (login → sessionkey, as parameter or cookie) or a signed request
// (apiKey + signature, optionally signatureVersion=3 with expires). Both resolve to a Caller in
// one query (the user, its account's state and its domain), since every API call pays for it.
import type { Services } from '../services.ts';
import type { Caller } from './context.ts';
import { roleOfType } from './context.ts';
import { apiError } from './errors.ts';
import { rawParam } from './params.ts';
import { parseExpires, verifySignature } from './signing.ts';

/** Default bound of a v3 signature's expires, seconds ahead (FLOTILLA_SIGNATURE_MAX_EXPIRES). */
export const DEFAULT_SIGNATURE_MAX_EXPIRES = 3600;

const unauthorized = (why = 'unable to verify user credentials and/or request signature') => apiError('UNAUTHORIZED', why);

/** What a signed request needs of its API key (cached briefly, see caller-cache.ts). */
export interface CachedKey { row: CallerRow; secret: string }

interface CallerRow { user_id: string; username: string; account_id: string; account_name: string; type: number; domain_id: string; path: string; ustate: string; astate: string; secret_key_enc: string | null; project_accounts?: string[] | null }

const CALLER_SELECT = `SELECT u.id AS user_id, u.username, u.secret_key_enc, u.state AS ustate, a.id AS account_id, a.name AS account_name, a.type,
  a.state AS astate, d.id AS domain_id, d.path,
  ARRAY(SELECT p.account_id::text FROM project_accounts pa JOIN projects p ON p.id = pa.project_id WHERE pa.account_id = a.id AND p.state <> 'Disabled') AS project_accounts
  FROM users u JOIN accounts a ON a.id = u.account_id JOIN domains d ON d.id = a.domain_id`;

function activeCaller(r: CallerRow): Caller {
  if (r.ustate !== 'enabled' || r.astate !== 'enabled') throw unauthorized('user or its account is disabled or locked');
  return callerOf(r);
}

function callerOf(r: CallerRow): Caller {
  return {
    userId: r.user_id, username: r.username, accountId: r.account_id, accountName: r.account_name,
    accountType: r.type, role: roleOfType(r.type), domainId: r.domain_id, domainPath: r.path,
    ...(r.project_accounts?.length ? { projectAccountIds: r.project_accounts } : {}),
  };
}

/** A session's expiry slides with use; rewriting it on every call would cost a write per call,
 *  so it is pushed forward only once a tenth of the timeout has passed. */
const SLIDE_FRACTION = 0.1;

export async function authenticate(s: Services, params: Record<string, string>, cookies: Record<string, string | undefined>): Promise<Caller> {
  const get = (name: string) => rawParam(params, name);
  const apiKey = get('apikey');
  const signature = get('signature');
  if (apiKey !== undefined && signature !== undefined) {
    let key = s.callers.get(apiKey);
    if (!key) {
      const row = (await s.db.query<CallerRow>(`${CALLER_SELECT} WHERE u.api_key = $1`, [apiKey]))[0];
      if (!row?.secret_key_enc) throw unauthorized();
      key = { row, secret: s.secrets.open(row.secret_key_enc) };
      s.callers.set(apiKey, key);
    }
    const { row, secret } = key;
    if (!verifySignature(params, secret, signature)) throw unauthorized();
    if (get('signatureversion') === '3') {
      const raw = get('expires');
      const expires = raw ? parseExpires(raw) : undefined;
      if (!expires) throw unauthorized('signatureVersion 3 requires a valid expires parameter (yyyy-MM-ddTHH:mm:ssZ)');
      if (expires.getTime() < Date.now()) throw unauthorized('request expired');
      // A far-off expires would make a captured request replayable for years.
      const maxAhead = s.settings.signatureMaxExpiresSeconds ?? DEFAULT_SIGNATURE_MAX_EXPIRES;
      if (expires.getTime() > Date.now() + maxAhead * 1000) throw unauthorized(`request expires too far ahead: at most ${maxAhead} seconds from now`);
    }
    return activeCaller(row);
  }
  // A session needs the sessionkey *parameter* and its JSESSIONID cookie (CloudStack's ApiServlet:
  // "missing sessionkey or session key mismatch"). Cookies ride along on any cross-site request;
  // the parameter does not, so a cookie alone is refused.
  const sessionKey = get('sessionkey');
  if (sessionKey) {
    const jsessionid = cookies.JSESSIONID;
    if (!jsessionid) throw unauthorized('unable to verify user credentials');
    const timeout = s.settings.sessionTimeout;
    const row = (await s.db.query<CallerRow & { stale: boolean }>(
      `${CALLER_SELECT.replace('SELECT ', 'SELECT (x.expires < now() + make_interval(secs => $2)) AS stale, ')}
       JOIN sessions x ON x.user_id = u.id WHERE x.key = $1 AND x.jsessionid = $3 AND x.expires > now()`, [sessionKey, timeout * (1 - SLIDE_FRACTION), jsessionid]))[0];
    if (!row) throw unauthorized('session expired or invalid');
    if (row.stale) await s.db.query('UPDATE sessions SET expires = now() + make_interval(secs => $2) WHERE key = $1', [sessionKey, timeout]);
    return activeCaller(row);
  }
  if (cookies.sessionkey || cookies.JSESSIONID) throw unauthorized('unable to verify user credentials');
  throw unauthorized();
}

/** A user as a Caller whatever its state: async jobs run as the user that queued them, and a
 *  login checks the states itself. */
export async function loadCaller(s: Services, userId: string): Promise<Caller | undefined> {
  const row = (await s.db.query<CallerRow>(`${CALLER_SELECT} WHERE u.id = $1`, [userId]))[0];
  return row ? callerOf(row) : undefined;
}
