// CloudStack request signing: every parameter but `signature`, sorted by name, joined as
// `name=urlencode(value)` with `&`, the whole string lowercased, HMAC-SHA1 with the user's
// secret key, base64. CloudStack encodes with Java's URLEncoder (spaces as %20 after the fact);
// clients differ on a few characters (Python's quote leaves `~` alone and may leave `*`,
// Java encodes `~` and leaves `*`), so each accepted spelling is tried, all in constant time.
import { createHmac, timingSafeEqual } from 'node:crypto';

/** java.net.URLEncoder.encode(v, "UTF-8").replaceAll("\\+", "%20") */
export function javaUrlEncode(v: string): string {
  return encodeURIComponent(v).replace(/[!'()~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}
/** RFC 3986 unreserved only (Python's quote(safe='*') but for the star) */
function rfc3986(v: string): string {
  return encodeURIComponent(v).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}
const ENCODERS: ReadonlyArray<(v: string) => string> = [
  javaUrlEncode,
  (v) => rfc3986(v).replace(/%2A/g, '*'), // the `cs` client: quote(v, safe="*")
  rfc3986,
];

export function canonicalString(params: Record<string, string>, encode: (v: string) => string = javaUrlEncode): string {
  return Object.keys(params)
    .filter((k) => k.toLowerCase() !== 'signature')
    .sort() // Java's Collections.sort: by UTF-16 code unit, case-sensitive — as JS's default sort
    .map((k) => `${k}=${encode(params[k]!)}`)
    .join('&')
    .toLowerCase();
}

export function sign(params: Record<string, string>, secret: string): string {
  return createHmac('sha1', secret).update(canonicalString(params)).digest('base64');
}

export function verifySignature(params: Record<string, string>, secret: string, signature: string): boolean {
  // A '+' of the base64 signature that the client did not URL-encode arrives as a space.
  const given = Buffer.from(signature.replace(/ /g, '+'), 'base64');
  let ok = false;
  const seen = new Set<string>();
  for (const enc of ENCODERS) {
    const canon = canonicalString(params, enc);
    if (seen.has(canon)) continue;
    seen.add(canon);
    const mac = createHmac('sha1', secret).update(canon).digest();
    // Every candidate is computed and compared; no early exit reveals which one matched.
    if (given.length === mac.length && timingSafeEqual(given, mac)) ok = true;
  }
  return ok;
}

/** `expires` of signatureVersion 3: ISO-8601 with a zone, e.g. 2026-01-01T12:00:00+0000. */
export function parseExpires(s: string): Date | undefined {
  const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(?:\.\d+)?(Z|[+-]\d{2}:?\d{2})$/.exec(s);
  if (!m) return undefined;
  const zone = m[3] === 'Z' ? 'Z' : `${m[3]!.slice(0, 3)}:${m[3]!.slice(-2)}`;
  const d = new Date(`${m[1]}T${m[2]}${zone}`);
  return Number.isNaN(d.getTime()) ? undefined : d;
}
