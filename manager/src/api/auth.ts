// Authentication: a session (login → sessionkey, as parameter or cookie) or a signed request
// (apiKey + signature, optionally signatureVersion=3 with expires). Both resolve to a Caller.
import type { Services } from '../services.ts';
import type { Caller } from './context.ts';
import { apiError } from './errors.ts';
import { parseExpires, verifySignature } from './signing.ts';
import { loadCaller } from '../jobs/runner.ts';

const unauthorized = (why = 'unable to verify user credentials and/or request signature') => apiError('UNAUTHORIZED', why);

async function activeCaller(s: Services, userId: string): Promise<Caller> {
  const st = (await s.db.query<{ ustate: string; astate: string }>(
    'SELECT u.state AS ustate, a.state AS astate FROM users u JOIN accounts a ON a.id = u.account_id WHERE u.id = $1', [userId]))[0];
  if (!st || st.ustate !== 'enabled' || st.astate !== 'enabled') throw unauthorized('user or its account is disabled or locked');
  const c = await loadCaller(s, userId);
  if (!c) throw unauthorized();
  return c;
}

export async function authenticate(s: Services, params: Record<string, string>, cookies: Record<string, string | undefined>): Promise<Caller> {
  const get = (name: string) => Object.entries(params).find(([k]) => k.toLowerCase() === name)?.[1];
  const apiKey = get('apikey');
  const signature = get('signature');
  if (apiKey !== undefined && signature !== undefined) {
    const user = (await s.db.query<{ id: string; secret_key_enc: string | null }>('SELECT id, secret_key_enc FROM users WHERE api_key = $1', [apiKey]))[0];
    if (!user?.secret_key_enc) throw unauthorized();
    if (!verifySignature(params, s.secrets.open(user.secret_key_enc), signature)) throw unauthorized();
    if (get('signatureversion') === '3') {
      const raw = get('expires');
      const expires = raw ? parseExpires(raw) : undefined;
      if (!expires) throw unauthorized('signatureVersion 3 requires a valid expires parameter (yyyy-MM-ddTHH:mm:ssZ)');
      if (expires.getTime() < Date.now()) throw unauthorized('request expired');
    }
    return activeCaller(s, user.id);
  }
  const sessionKey = get('sessionkey') ?? cookies.sessionkey;
  if (sessionKey) {
    const sess = (await s.db.query<{ user_id: string }>(
      `UPDATE sessions SET expires = now() + make_interval(secs => $2) WHERE key = $1 AND expires > now() RETURNING user_id`,
      [sessionKey, s.settings.sessionTimeout]))[0];
    if (!sess) throw unauthorized('session expired or invalid');
    return activeCaller(s, sess.user_id);
  }
  throw unauthorized();
}
