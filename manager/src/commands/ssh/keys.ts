// SSH public keys as CloudStack handles them (SSHKeysHelper, RSAHelper), pure: parsing and
// strict validation of an OpenSSH public key line, CloudStack's fingerprint (MD5 of the key
// blob, colon-separated lowercase hex), key pair generation and the password encryption that
// getVMPassword's answer carries. No I/O: the commands and the tests share these functions.
import { constants, createHash, createPublicKey, generateKeyPair, publicEncrypt, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';

/** Key types a tenant may register. ssh-dss is refused: OpenSSH dropped DSA keys. */
export const KEY_TYPES = ['ssh-rsa', 'ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521'] as const;
export type KeyType = (typeof KEY_TYPES)[number];

/** OpenSSH's limits on RSA moduli (SSH_RSA_MINIMUM_MODULUS_SIZE, OPENSSL_RSA_MAX_MODULUS_BITS). */
const RSA_MIN_BITS = 1024;
const RSA_MAX_BITS = 16384;
const EC = {
  'ecdsa-sha2-nistp256': { curve: 'nistp256', jwk: 'P-256', size: 32 },
  'ecdsa-sha2-nistp384': { curve: 'nistp384', jwk: 'P-384', size: 48 },
  'ecdsa-sha2-nistp521': { curve: 'nistp521', jwk: 'P-521', size: 66 },
} as const;

export interface SshPublicKey {
  readonly type: KeyType;
  /** the wire-format key blob (what the base64 field decodes to) */
  readonly blob: Buffer;
  /** `<type> <base64>`: the comment dropped, as CloudStack stores it and guests receive it */
  readonly text: string;
  readonly fingerprint: string;
  readonly key: KeyObject;
}

/** Why a public key was refused; the command turns it into a 431. */
export class SshKeyError extends Error {}

/** CloudStack's fingerprint: MD5 over the key blob, lowercase hex pairs joined by colons. */
export function md5Fingerprint(blob: Buffer): string {
  return createHash('md5').update(blob).digest('hex').match(/../g)!.join(':');
}

/** Reads the SSH wire format (RFC 4251 §5): uint32 length-prefixed strings and mpints. */
class Reader {
  private at = 0;
  constructor(private readonly buf: Buffer) {}
  string(what: string): Buffer {
    if (this.at + 4 > this.buf.length) throw new SshKeyError(`the key blob ends before its ${what}`);
    const len = this.buf.readUInt32BE(this.at);
    if (this.at + 4 + len > this.buf.length) throw new SshKeyError(`the key blob's ${what} is longer than the blob`);
    const out = this.buf.subarray(this.at + 4, this.at + 4 + len);
    this.at += 4 + len;
    return out;
  }
  /** A positive mpint without its sign byte. */
  mpint(what: string): Buffer {
    const b = this.string(what);
    if (b.length === 0 || (b[0]! & 0x80) !== 0) throw new SshKeyError(`the key's ${what} is not a positive integer`);
    if (b[0] === 0 && (b.length === 1 || (b[1]! & 0x80) === 0)) throw new SshKeyError(`the key's ${what} is not minimally encoded`);
    return b[0] === 0 ? b.subarray(1) : b;
  }
  end(): void { if (this.at !== this.buf.length) throw new SshKeyError(`the key blob has ${this.buf.length - this.at} bytes after the key`); }
}

const b64url = (b: Buffer) => b.toString('base64url');

/** The key blob checked field by field for its type, and the key it holds (node:crypto checks
 *  the RSA numbers and that an EC point lies on its curve). */
function keyOf(type: KeyType, blob: Buffer): KeyObject {
  const r = new Reader(blob);
  const inner = r.string('type').toString('latin1');
  if (inner !== type) throw new SshKeyError(`the key blob is of type ${inner.slice(0, 40)}, not ${type}`);
  let jwk: Record<string, string>;
  if (type === 'ssh-rsa') {
    const e = r.mpint('public exponent');
    const n = r.mpint('modulus');
    const bits = n.length * 8 - Math.clz32(n[0]!) + 24;
    if (bits < RSA_MIN_BITS) throw new SshKeyError(`the RSA modulus has ${bits} bits; at least ${RSA_MIN_BITS} are required`);
    if (bits > RSA_MAX_BITS) throw new SshKeyError(`the RSA modulus has ${bits} bits; at most ${RSA_MAX_BITS} are accepted`);
    if ((e[e.length - 1]! & 1) === 0 || (e.length === 1 && e[0]! < 3) || e.length > 8) throw new SshKeyError('the RSA public exponent is not an odd number of at least 3');
    jwk = { kty: 'RSA', n: b64url(n), e: b64url(e) };
  } else if (type === 'ssh-ed25519') {
    const x = r.string('public key');
    if (x.length !== 32) throw new SshKeyError(`an Ed25519 public key has 32 bytes, not ${x.length}`);
    jwk = { kty: 'OKP', crv: 'Ed25519', x: b64url(x) };
  } else {
    const c = EC[type];
    const curve = r.string('curve name').toString('latin1');
    if (curve !== c.curve) throw new SshKeyError(`the key's curve is ${curve.slice(0, 40)}, not ${c.curve}`);
    const q = r.string('public point');
    if (q.length !== 1 + 2 * c.size || q[0] !== 0x04) throw new SshKeyError(`the key's point is not an uncompressed ${c.curve} point`);
    jwk = { kty: 'EC', crv: c.jwk, x: b64url(q.subarray(1, 1 + c.size)), y: b64url(q.subarray(1 + c.size)) };
  }
  r.end();
  try {
    return createPublicKey({ key: jwk, format: 'jwk' });
  } catch {
    throw new SshKeyError(type.startsWith('ecdsa') ? 'the key\'s point is not on its curve' : 'the key\'s numbers do not form a public key');
  }
}

/**
 * Parses public key material as registerSSHKeyPair takes it: one OpenSSH public key line,
 * `<type> <base64> [comment]`, or (as CloudStack also accepts) that line base64-encoded.
 * Anything else — authorized_keys options, several keys, a private key, a truncated or
 * altered blob, an unsupported type — is refused with the reason.
 */
export function parsePublicKey(material: string): SshPublicKey {
  let line = material.trim();
  if (line && !/\s/.test(line) && /^[A-Za-z0-9+/]+={0,2}$/.test(line)) {
    const decoded = Buffer.from(line, 'base64').toString('utf8').trim();
    if (/^[a-z0-9-]+ /.test(decoded)) line = decoded;
  }
  if (!line) throw new SshKeyError('it is empty');
  if (/[\r\n]/.test(line)) throw new SshKeyError('it must be a single line holding one key');
  if (line.startsWith('-----BEGIN')) throw new SshKeyError('it is a PEM block; give the OpenSSH public key line (the content of the .pub file)');
  const m = /^(\S+)\s+(\S+)(?:\s+(.*))?$/.exec(line);
  if (!m) throw new SshKeyError('it must be "<type> <base64 key> [comment]"');
  const [, type, data] = m as unknown as [string, string, string];
  if (type === 'ssh-dss') throw new SshKeyError('DSA keys (ssh-dss) are not accepted; use ssh-ed25519, ecdsa-sha2-nistp256/384/521 or ssh-rsa');
  if (!(KEY_TYPES as readonly string[]).includes(type)) {
    throw new SshKeyError(`it must start with the key type, one of ${KEY_TYPES.join(', ')} (got ${type.slice(0, 40)})`);
  }
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(data) || data.length % 4 !== 0) throw new SshKeyError('the key field is not base64');
  const blob = Buffer.from(data, 'base64');
  const key = keyOf(type as KeyType, blob);
  return { type: type as KeyType, blob, text: `${type} ${blob.toString('base64')}`, fingerprint: md5Fingerprint(blob), key };
}

const sshString = (b: Buffer) => { const len = Buffer.alloc(4); len.writeUInt32BE(b.length); return Buffer.concat([len, b]); };
const sshMpint = (b: Buffer) => sshString((b[0]! & 0x80) ? Buffer.concat([Buffer.from([0]), b]) : b);

/** A new RSA key pair as createSSHKeyPair answers it: the private key in PKCS#1 PEM
 *  ("BEGIN RSA PRIVATE KEY", what CloudStack's JSch writes and OpenSSH reads). Generated on
 *  libuv's thread pool: an RSA key takes tens of milliseconds the event loop should not wait. */
export async function generateSshKeyPair(bits = 2048): Promise<{ publicKey: SshPublicKey; privateKey: string }> {
  const pair = await promisify(generateKeyPair)('rsa', { modulusLength: bits, publicExponent: 65537 });
  const { publicKey } = pair;
  const privateKey = pair.privateKey.export({ type: 'pkcs1', format: 'pem' }) as string;
  const jwk = publicKey.export({ format: 'jwk' }) as { n: string; e: string };
  const blob = Buffer.concat([sshString(Buffer.from('ssh-rsa')), sshMpint(Buffer.from(jwk.e, 'base64url')), sshMpint(Buffer.from(jwk.n, 'base64url'))]);
  return { publicKey: parsePublicKey(`ssh-rsa ${blob.toString('base64')}`), privateKey };
}

/**
 * The password as getVMPassword answers it (CloudStack's RSAHelper.encryptWithSSHPublicKey):
 * RSA with PKCS#1 v1.5 padding under the VM's first public key, base64. Only RSA keys can
 * encrypt; the caller refuses other key types before deploying.
 */
export function encryptPassword(publicKeys: string, password: string): string {
  const first = parsePublicKey(publicKeys.split('\n')[0] ?? '');
  if (first.type !== 'ssh-rsa') throw new SshKeyError('only RSA public keys can be used to encrypt a VM password');
  return publicEncrypt({ key: first.key, padding: constants.RSA_PKCS1_PADDING }, Buffer.from(password, 'utf8')).toString('base64');
}
