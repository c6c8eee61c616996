// Console tokens, pure: sealing and opening with AES-256-GCM (node:crypto), no I/O, no clock of
// its own (callers pass `now`). A token names one VM's one console on one host for one user, has
// a random id (`jti`) the proxy remembers so it opens at most once, and an expiry. The manager
// seals; the proxy opens with the same key. Anything that does not authenticate (another key, a
// flipped bit, a truncated token) is refused the same way: `tampered`.
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

export const TOKEN_VERSION = 'c1';
/** Bound into the AEAD as associated data: a token of another kind or version never opens. */
const AAD = Buffer.from('flotilla console token c1');

export interface ConsoleClaims {
  /** random id: the proxy lets each id open once */
  jti: string;
  /** the VM's uuid and its instance name on the host */
  vmId: string;
  vmName: string;
  /** the VM's name as its owner knows it (the page shows it; the instance name is admin-only) */
  label: string;
  /** host the VM ran on when the token was made (a VM that moved is refused) */
  hostId: string;
  console: 'serial' | 'vnc';
  /** who asked for it (the event names them) */
  userId: string;
  username: string;
  accountId: string;
  accountName: string;
  domainId: string;
  /** ms since the epoch after which the token does not open */
  exp: number;
  /** the optional extra token given to createConsoleEndpoint, echoed as websocket.extra */
  extra?: string;
  /** the console proxy VM the endpoint was made on (absent: the manager's own proxy role) */
  proxy?: string;
}

/** The token key: derived from the manager's master key, so manager and in-process proxy share
 *  it without another file; a separate proxy receives the derived key, never the master key. */
export function deriveConsoleKey(masterKey: Buffer, epoch = 0): Buffer {
  return Buffer.from(hkdfSync('sha256', masterKey, Buffer.alloc(0), `flotilla console proxy key ${epoch}`, 32));
}

export function newJti(): string { return randomBytes(16).toString('base64url'); }

export function sealToken(key: Buffer, claims: ConsoleClaims): string {
  if (key.length !== 32) throw new Error('console key must be 32 bytes');
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', key, iv);
  c.setAAD(AAD);
  const body = Buffer.concat([c.update(JSON.stringify(claims), 'utf8'), c.final()]);
  return `${TOKEN_VERSION}.${iv.toString('base64url')}.${c.getAuthTag().toString('base64url')}.${body.toString('base64url')}`;
}

export type OpenResult = { ok: true; claims: ConsoleClaims } | { ok: false; reason: 'malformed' | 'tampered' | 'expired' };

const B64URL = /^[A-Za-z0-9_-]+$/;

/** Opens a token: its seal, then its expiry. Reuse is the caller's (stateful) check. */
export function openToken(key: Buffer, token: string, now: number): OpenResult {
  if (token.length > 4096) return { ok: false, reason: 'malformed' };
  const parts = token.split('.');
  if (parts.length !== 4 || parts[0] !== TOKEN_VERSION || !parts.slice(1).every((p) => B64URL.test(p))) return { ok: false, reason: 'malformed' };
  const [, iv, tag, body] = parts as [string, string, string, string];
  let plain: string;
  try {
    const d = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
    d.setAAD(AAD);
    d.setAuthTag(Buffer.from(tag, 'base64url'));
    plain = Buffer.concat([d.update(Buffer.from(body, 'base64url')), d.final()]).toString('utf8');
  } catch { return { ok: false, reason: 'tampered' }; }
  const claims = JSON.parse(plain) as ConsoleClaims;
  if (!(typeof claims.exp === 'number' && now <= claims.exp)) return { ok: false, reason: 'expired' };
  return { ok: true, claims };
}

/** Opens a token with any of the keys in force (the current one first, then the previous one:
 *  keys rotate, and a token sealed just before a rotation must still open until its expiry or
 *  the next rotation). `tampered` when none authenticates it. */
export function openTokenWith(keys: readonly Buffer[], token: string, now: number): OpenResult {
  let last: OpenResult = { ok: false, reason: 'tampered' };
  for (const k of keys) {
    last = openToken(k, token, now);
    if (last.ok || last.reason !== 'tampered') return last;
  }
  return last;
}

/** Remembers the ids of tokens that opened until they would have expired anyway: a token opens
 *  once. Memory is bounded by the tokens made in one expiry window. */
export class UsedTokens {
  private readonly used = new Map<string, number>();
  /** true the first time an id is claimed, false after. */
  claim(claims: Pick<ConsoleClaims, 'jti' | 'exp'>, now: number): boolean {
    if (this.used.size > 1024) for (const [k, exp] of this.used) if (exp < now) this.used.delete(k);
    if (this.used.has(claims.jti)) return false;
    this.used.set(claims.jti, claims.exp);
    return true;
  }
  get size(): number { return this.used.size; }
}
