// login / logout: CloudStack's session protocol. login takes username, password and a domain
// path (`/`, `/child/` or `ROOT/child`) or domainId, answers loginresponse (string-valued
// fields, as CloudStack's LoginCmdResponse) and sets the JSESSIONID and sessionkey cookies.
import { randomUUID } from 'node:crypto';
import type { Services } from '../../services.ts';
import type { Caller } from '../../api/context.ts';
import { apiError, paramError } from '../../api/errors.ts';
import { isUuid, rawParam } from '../../api/params.ts';
import { newToken, verifyPassword } from '../../api/crypto.ts';
import { audit } from '../../api/audit.ts';
import { loadCaller } from '../../api/auth.ts';
import { ALL_ROLES, command } from '../../api/registry.ts';
import { configNumber } from '../offerings/config.ts';

/** CloudStack's domain parameter: '/' is ROOT, '/a/b/' is ROOT/a/b; 'ROOT/a' also accepted. */
export function domainPathOf(domain: string | undefined): string {
  if (domain === undefined || domain === '' || domain === '/') return 'ROOT';
  const trimmed = domain.replace(/^\/+|\/+$/g, '');
  if (trimmed === 'ROOT' || trimmed.startsWith('ROOT/')) return trimmed;
  return `ROOT/${trimmed}`;
}

// CloudStack answers a failed login with ACCOUNT_ERROR (531) and ApiServer.loginUser's text.
const badLogin = (username: string, domain: string) => apiError('ACCOUNT_ERROR', `Failed to authenticate user ${username} in domain ${domain}; please provide valid credentials`);

/** A failed password: counted; at incorrect.login.attempts.allowed the user is locked, as
 *  CloudStack's AccountManagerImpl does (not the default admin: CloudStack spares its internal
 *  accounts, and a locked-out sole admin could not unlock anyone). One atomic increment, so
 *  parallel guesses are all counted. */
async function countFailure(s: Services, userId: string, isDefaultAdmin: boolean): Promise<void> {
  if (isDefaultAdmin) return;
  const allowed = await configNumber(s.db, 'incorrect.login.attempts.allowed');
  const n = (await s.db.query<{ login_attempts: number }>(
    `UPDATE users SET login_attempts = login_attempts + 1 WHERE id = $1 AND state = 'enabled' RETURNING login_attempts`, [userId]))[0]?.login_attempts;
  if (n !== undefined && n >= allowed) {
    await s.db.query(`UPDATE users SET state = 'locked' WHERE id = $1 AND state = 'enabled'`, [userId]);
    s.callers.clear(); // its API keys stop working at once too
    s.log.warn({ userId }, `user locked after ${n} failed login attempts (incorrect.login.attempts.allowed=${allowed})`);
  }
}

export interface LoginResult { answer: Record<string, string>; jsessionid: string }

export async function login(s: Services, params: Record<string, string>): Promise<LoginResult> {
  const get = (name: string) => rawParam(params, name);
  const username = get('username');
  const password = get('password');
  if (!username) throw paramError('Unable to execute API command login due to missing parameter username');
  if (!password) throw paramError('Unable to execute API command login due to missing parameter password');
  const domainId = get('domainid');
  if (domainId !== undefined && !isUuid(domainId)) throw paramError(`Invalid parameter domainId value=${domainId}: not a valid id`);
  const row = (await s.db.query<{ id: string; password_hash: string; ustate: string; astate: string; login_attempts: number; default_admin: boolean }>(
    `SELECT u.id, u.password_hash, u.state AS ustate, a.state AS astate, u.login_attempts,
       (u.username = 'admin' AND a.name = 'admin' AND a.type = 1 AND d.path = 'ROOT') AS default_admin
     FROM users u JOIN accounts a ON a.id = u.account_id
     JOIN domains d ON d.id = u.domain_id WHERE u.username = $1 AND ${domainId ? 'd.id = $2' : 'd.path = $2'}`,
    [username, domainId ?? domainPathOf(get('domain'))]))[0];
  // The same answer and (roughly) the same work whether the user exists or not.
  const ok = await verifyPassword(password, row?.password_hash ?? 'scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=');
  const domainText = domainId ?? `/${domainPathOf(get('domain')).replace(/^ROOT\/?/, '')}`;
  if (!row || !ok) {
    if (row) await countFailure(s, row.id, row.default_admin);
    throw badLogin(username, domainText);
  }
  // Only a caller who knows the password learns that the user is locked (as CloudStack).
  if (row.ustate !== 'enabled' || row.astate !== 'enabled') throw apiError('ACCOUNT_ERROR', `User ${username} (or their account) in domain ${domainText} is disabled/locked. Please contact the administrator.`);
  if (row.login_attempts > 0) await s.db.query('UPDATE users SET login_attempts = 0 WHERE id = $1', [row.id]);
  const caller = (await loadCaller(s, row.id))!;
  const sessionKey = newToken(24);
  // The servlet session id: the session is only honoured with this cookie AND the sessionkey
  // parameter (CloudStack's CSRF defence: a cross-site request carries cookies, never the key).
  const jsessionid = randomUUID().replace(/-/g, '').toUpperCase();
  await s.db.query(`INSERT INTO sessions (key, user_id, expires, jsessionid) VALUES ($1, $2, now() + make_interval(secs => $3), $4)`, [sessionKey, row.id, s.settings.sessionTimeout, jsessionid]);
  await audit(s.db, caller, { type: 'USER.LOGIN', command: 'login', params: { username, domain: get('domain') }, result: 'SUCCESS', resourceType: 'User', resourceId: row.id });
  const u = (await s.db.query<{ firstname: string | null; lastname: string | null; timezone: string | null }>('SELECT firstname, lastname, timezone FROM users WHERE id = $1', [row.id]))[0]!;
  const out: Record<string, string> = {
    username, userid: row.id, domainid: caller.domainId, timeout: String(s.settings.sessionTimeout), account: caller.accountName,
    firstname: u.firstname ?? '', lastname: u.lastname ?? '', type: String(caller.accountType), sessionkey: sessionKey, registered: 'false',
    issuerfor2fa: 'false', is2faenabled: 'false', is2faverified: 'true',
  };
  if (u.timezone) out.timezone = u.timezone;
  return { answer: out, jsessionid };
}

/** Cookies set by login: [name, value]. Both HttpOnly: no script needs them (the sessionkey
 *  parameter comes from the login answer), and a script that could read them is an attacker's. */
export function LOGIN_COOKIES(r: LoginResult): Array<[string, string]> {
  return [['JSESSIONID', r.jsessionid], ['sessionkey', r.answer.sessionkey!]];
}

export async function logout(s: Services, caller: Caller, params: Record<string, string>): Promise<void> {
  const key = rawParam(params, 'sessionkey');
  if (key) await s.db.query('DELETE FROM sessions WHERE key = $1', [key]);
  await audit(s.db, caller, { type: 'USER.LOGOUT', command: 'logout', params: {}, result: 'SUCCESS', resourceType: 'User', resourceId: caller.userId });
}

/** Declarations only, so login/logout appear in listApis; the HTTP layer runs them. */
const LOGIN_RESPONSE = {
  name: 'login',
  fields: Object.fromEntries(['username', 'userid', 'domainid', 'timeout', 'account', 'firstname', 'lastname', 'type', 'timezone', 'sessionkey', 'registered']
    .map((f) => [f, { type: f === 'timeout' ? 'integer' as const : 'string' as const, description: f === 'sessionkey' ? 'Session key that can be passed in subsequent Query command calls' : `the ${f} of the logged-in user` }])),
};
export const loginCmd = command({
  name: 'login', description: 'Logs a user into the CloudStack. A successful login attempt will generate a JSESSIONID cookie value that can be passed in subsequent Query command calls until the "logout" command has been issued or the session has expired.',
  since: '1.0', roles: ALL_ROLES, public: true, response: LOGIN_RESPONSE, shape: 'raw',
  params: {
    username: { type: 'string', required: true, description: 'Username' },
    password: { type: 'string', required: true, description: 'Hashed password (Default is MD5). If you wish to use any other hashing algorithm, you would need to write a custom authentication adapter See Docs section.' },
    domain: { type: 'string', description: 'Path of the domain that the user belongs to. Example: domain=/com/cloud/internal. If no domain is passed in, the ROOT (/) domain is assumed.' },
    domainId: { type: 'long', description: 'The id of the domain that the user belongs to. If both domain and domainId are passed in, "domainId" parameter takes precedence.' },
  },
  handler: async () => { throw new Error('login is handled by the HTTP layer'); },
});
export const logoutCmd = command({
  name: 'logout', description: 'Logs out the user', since: '1.0', roles: ALL_ROLES, event: 'USER.LOGOUT',
  response: { name: 'logout', fields: { description: { type: 'string', description: 'success if the logout action succeeded' } } }, shape: 'raw', params: {},
  handler: async () => { throw new Error('logout is handled by the HTTP layer'); },
});
