// WireGuard keys (Curve25519) with node:crypto: no wg(8) process per key, and the same code in
// the manager (generated client keys, the server key) and in tests. Keys travel as standard
// base64 (wg-quick's and the API's form) and as hex on wireguard-go's UAPI socket.
import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';

/** DER prefixes of an X25519 PKCS#8 private key and SPKI public key (RFC 8410); the raw 32 bytes follow. */
const PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');
const SPKI_LEN = 44;

/** True for exactly 32 bytes in canonical standard base64 (what `wg genkey` prints). */
export function isWgKey(s: unknown): s is string {
  // 42 free characters + one carrying 4 data bits (its low 2 bits zero) + '=' are exactly the
  // canonical encodings of 32 bytes: the pattern alone decides (no decode: 10k peers per spec).
  // A char-code loop: the equivalent regex costs ~2 µs a key here, 20 ms for a 10,000-peer spec.
  if (typeof s !== 'string' || s.length !== 44 || s.charCodeAt(43) !== 61) return false;
  for (let i = 0; i < 42; i++) if (B64[s.charCodeAt(i)] !== 1) return false;
  return B64[s.charCodeAt(42)] === 1 && LAST.has(s.charCodeAt(42));
}
const B64 = new Uint8Array(128);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/') B64[c.charCodeAt(0)] = 1;
const LAST = new Set([...'AEIMQUYcgkosw048'].map((c) => c.charCodeAt(0)));

/** Why a string is not a WireGuard public key, or undefined. */
export function wgKeyProblem(s: string): string | undefined {
  if (isWgKey(s)) return undefined;
  const b = Buffer.from(s, 'base64');
  if (!/^[A-Za-z0-9+/=]+$/.test(s)) return 'it is not base64';
  return `it decodes to ${b.length} bytes, a WireGuard key is 32 bytes of base64 (44 characters)`;
}

export function keyToHex(b64: string): string { return Buffer.from(b64, 'base64').toString('hex'); }
export function hexToKey(hex: string): string { return Buffer.from(hex, 'hex').toString('base64'); }

/** The public key of a base64 private key. */
export function publicKeyOf(privateKey: string): string {
  const key = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, Buffer.from(privateKey, 'base64')]), format: 'der', type: 'pkcs8' });
  const spki = createPublicKey(key).export({ format: 'der', type: 'spki' });
  return spki.subarray(SPKI_LEN - 32).toString('base64');
}

export function generateKeyPair(): { privateKey: string; publicKey: string } {
  const { privateKey, publicKey } = generateKeyPairSync('x25519');
  const priv = privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(PKCS8_PREFIX.length);
  const pub = publicKey.export({ format: 'der', type: 'spki' }).subarray(SPKI_LEN - 32);
  return { privateKey: priv.toString('base64'), publicKey: pub.toString('base64') };
}
