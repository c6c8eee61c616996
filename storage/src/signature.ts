// Signed uploads and time-limited URLs (pure; the key is the image store's secret).
//
// Uploads follow CloudStack's getUploadParamsForTemplate and the SSVM's upload handler
// (NfsPostUploadRequestValidationService): the client POSTs the file to `postURL` with headers
// X-signature, X-metadata and X-expires. `metadata` is the upload's description sealed with the
// store's key (CloudStack encrypts TemplateOrVolumePostUploadCommand; we use AES-256-GCM), so
// the storage service needs no state to accept it; `signature` is base64(HMAC-SHA1(metadata +
// postURL + expires)) as CloudStack's EncryptionUtil.generateSignature; `expires` is ISO-8601.
//
// Download URLs (a host fetching a template, extractTemplate) carry `expires` (epoch seconds)
// and `signature` = hex HMAC-SHA256 over purpose, id and expires.
import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** What an upload may land: sealed into `metadata`. */
export interface UploadMetadata {
  /** template (or ISO) id: the only thing it may write */
  id: string;
  kind: 'template' | 'iso';
  format: string;
  maxBytes: number;
  checksum?: string;
}

function subKey(key: Buffer, purpose: string): Buffer {
  return createHmac('sha256', key).update(`flotilla-storage:${purpose}`).digest();
}

export function sealMetadata(key: Buffer, meta: UploadMetadata): string {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', subKey(key, 'metadata'), iv);
  const body = Buffer.concat([c.update(JSON.stringify(meta), 'utf8'), c.final()]);
  return Buffer.concat([iv, c.getAuthTag(), body]).toString('base64');
}

export function openMetadata(key: Buffer, sealed: string): UploadMetadata | undefined {
  try {
    const raw = Buffer.from(sealed, 'base64');
    if (raw.length < 29) return undefined;
    const d = createDecipheriv('aes-256-gcm', subKey(key, 'metadata'), raw.subarray(0, 12));
    d.setAuthTag(raw.subarray(12, 28));
    const json = Buffer.concat([d.update(raw.subarray(28)), d.final()]).toString('utf8');
    const m = JSON.parse(json) as UploadMetadata;
    return typeof m.id === 'string' && typeof m.maxBytes === 'number' ? m : undefined;
  } catch { return undefined; }
}

export function uploadSignature(key: Buffer, metadata: string, postUrl: string, expires: string): string {
  return createHmac('sha1', subKey(key, 'upload')).update(`${metadata}${postUrl}${expires}`).digest('base64');
}

/** Everything getUploadParamsForTemplate answers. */
export function uploadParams(key: Buffer, meta: UploadMetadata, base: string, expiresAt: Date): { postURL: string; metadata: string; signature: string; expires: string } {
  const postURL = `${base.replace(/\/$/, '')}/upload/${meta.id}`;
  const metadata = sealMetadata(key, meta);
  const expires = expiresAt.toISOString();
  return { postURL, metadata, expires, signature: uploadSignature(key, metadata, postURL, expires) };
}

export type UploadCheck = { ok: true; meta: UploadMetadata } | { ok: false; error: string };

/** The SSVM's checks, in its order: all three headers, the signature over the URL the client
 *  posted to, the sealed metadata naming this id, then the expiry. */
export function verifyUpload(key: Buffer, h: { signature?: string; metadata?: string; expires?: string }, postUrl: string, id: string, now = new Date()): UploadCheck {
  if (!h.signature || !h.metadata || !h.expires) return { ok: false, error: 'signature, metadata and expires are compulsory fields.' };
  const want = Buffer.from(uploadSignature(key, h.metadata, postUrl, h.expires));
  const got = Buffer.from(h.signature);
  if (want.length !== got.length || !timingSafeEqual(want, got)) return { ok: false, error: 'signature validation failed.' };
  const meta = openMetadata(key, h.metadata);
  if (!meta || meta.id !== id) return { ok: false, error: 'signature validation failed.' };
  const at = Date.parse(h.expires);
  if (!Number.isFinite(at) || at < now.getTime()) return { ok: false, error: 'request not valid anymore.' };
  return { ok: true, meta };
}

export type UrlPurpose = 'host' | 'extract';

export function urlSignature(key: Buffer, purpose: UrlPurpose, id: string, expires: number): string {
  return createHmac('sha256', subKey(key, 'url')).update(`${purpose}\n${id}\n${expires}`).digest('hex');
}

/** A time-limited URL of a stored file: `<base>/<purpose>/<id>?expires=…&signature=…`. */
export function signedUrl(key: Buffer, base: string, purpose: UrlPurpose, id: string, expiresAt: Date): string {
  const expires = Math.floor(expiresAt.getTime() / 1000);
  return `${base.replace(/\/$/, '')}/${purpose}/${id}?expires=${expires}&signature=${urlSignature(key, purpose, id, expires)}`;
}

export function verifyUrl(key: Buffer, purpose: UrlPurpose, id: string, expires: string | null, signature: string | null, now = Date.now()): string | undefined {
  if (!expires || !signature || !/^\d{1,12}$/.test(expires)) return 'expires and signature are required';
  const want = Buffer.from(urlSignature(key, purpose, id, Number(expires)));
  const got = Buffer.from(signature);
  if (want.length !== got.length || !timingSafeEqual(want, got)) return 'signature validation failed';
  if (Number(expires) * 1000 < now) return 'the URL has expired';
  return undefined;
}

/** The control API's bearer token (the manager's), derived from the store key. */
export function controlToken(key: Buffer): string { return createHash('sha256').update(subKey(key, 'control')).digest('hex'); }
