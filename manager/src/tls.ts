// HTTPS for the API, the web UI and the agents' WebSocket (issue 16, item 4). The manager serves
// TLS when given a certificate and key (FLOTILLA_TLS_CERT / FLOTILLA_TLS_KEY, PEM files), or, with
// FLOTILLA_TLS=self-signed, with a self-signed certificate it makes once in <data dir>/tls/
// (kept, so its fingerprint — which agents pin — survives restarts). Made with the `selfsigned`
// package (WebCrypto underneath): node:crypto has no certificate builder.
import { X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { generate } from 'selfsigned';

export interface TlsSettings {
  readonly cert: string;
  readonly key: string;
  readonly certFile: string;
  /** SHA-256 fingerprint of the certificate, colon-separated hex (as agents pin it) */
  readonly fingerprint256: string;
}

/** Reads a PEM certificate and key; fails with a message naming the setting. */
export function loadTls(certFile: string, keyFile: string): TlsSettings {
  const read = (file: string, what: string) => {
    try { return readFileSync(file, 'utf8'); } catch (e) { throw new Error(`${what} ${file} cannot be read: ${(e as Error).message}`); }
  };
  const cert = read(certFile, 'FLOTILLA_TLS_CERT');
  const key = read(keyFile, 'FLOTILLA_TLS_KEY');
  let x: X509Certificate;
  try { x = new X509Certificate(cert); } catch (e) { throw new Error(`FLOTILLA_TLS_CERT ${certFile} is not a PEM certificate: ${(e as Error).message}`); }
  return { cert, key, certFile, fingerprint256: x.fingerprint256 };
}

/** The local cloud's self-signed certificate in <dataDir>/tls/, made on first use (EC P-256, for
 *  localhost, 127.0.0.1, ::1 and this host's name; ten years). */
export async function ensureSelfSigned(dataDir: string): Promise<{ certFile: string; keyFile: string }> {
  const dir = join(dataDir, 'tls');
  const certFile = join(dir, 'manager.crt');
  const keyFile = join(dir, 'manager.key');
  if (existsSync(certFile) && existsSync(keyFile)) return { certFile, keyFile };
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const host = hostname();
  const now = new Date();
  const pems = await generate([{ name: 'commonName', value: 'Flotilla manager' }], {
    keyType: 'ec', curve: 'P-256', algorithm: 'sha256', notBeforeDate: new Date(now.getTime() - 60_000), notAfterDate: new Date(now.getTime() + 3650 * 86_400_000),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }, ...(host && host !== 'localhost' ? [{ type: 2 as const, value: host }] : []), { type: 7, ip: '127.0.0.1' }, { type: 7, ip: '::1' }] },
    ],
  });
  // The key first, then the certificate: a certificate on disk always has its key.
  writeFileSync(`${keyFile}.tmp`, pems.private, { mode: 0o600 });
  chmodSync(`${keyFile}.tmp`, 0o600);
  renameSync(`${keyFile}.tmp`, keyFile);
  writeFileSync(`${certFile}.tmp`, pems.cert, { mode: 0o644 });
  renameSync(`${certFile}.tmp`, certFile);
  return { certFile, keyFile };
}

/** FLOTILLA_TLS_CERT + FLOTILLA_TLS_KEY, or FLOTILLA_TLS=self-signed, or none (plain HTTP). */
export async function tlsFromEnv(env: NodeJS.ProcessEnv, dataDir: string): Promise<TlsSettings | undefined> {
  const { FLOTILLA_TLS_CERT: cert, FLOTILLA_TLS_KEY: key, FLOTILLA_TLS: mode } = env;
  if ((cert === undefined) !== (key === undefined)) throw new Error('FLOTILLA_TLS_CERT and FLOTILLA_TLS_KEY go together');
  if (cert && key) return loadTls(cert, key);
  if (mode === undefined || mode === '' || mode === 'off') return undefined;
  if (mode !== 'self-signed') throw new Error(`FLOTILLA_TLS must be self-signed or off (got ${mode}); a certificate of your own: FLOTILLA_TLS_CERT and FLOTILLA_TLS_KEY`);
  const files = await ensureSelfSigned(dataDir);
  return loadTls(files.certFile, files.keyFile);
}

/** Whether a listen address is loopback only. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}
