// CloudStack's answer shapes: JSON `{"<command>response": {...}}`, or XML (CloudStack's
// default when `response` is absent), dates as yyyy-MM-dd'T'HH:mm:ssZ.

/** CloudStack's date format, e.g. 2026-11-21T07:43:33+0000 (always UTC here). */
export function csDate(d: Date | string | null | undefined): string | undefined {
  if (d === null || d === undefined) return undefined;
  const x = typeof d === 'string' ? new Date(d) : d;
  return `${x.toISOString().slice(0, 19)}+0000`;
}

/** Drops undefined/null fields, as CloudStack's serializer does. */
export function compact<T extends Record<string, unknown>>(o: T): T {
  for (const k of Object.keys(o)) if (o[k] === undefined || o[k] === null) delete o[k];
  return o;
}

/** Text as XML character data: markup escaped, and characters XML 1.0 cannot carry at all
 *  (controls, U+FFFE/FFFF, lone surrogates) replaced by U+FFFD, so no echoed value can break or
 *  inject into the document. */
export function escapeXml(s: string): string {
  return s
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd')
    .replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!);
}

/** An element name is written only as a plain name: a user-chosen map key (details, tags) or
 *  anything else outside [A-Za-z0-9_.-] has those characters replaced by `_`, never echoed. */
function elementName(name: string): string {
  const safe = name.replace(/[^A-Za-z0-9_.-]/g, '_');
  return /^[A-Za-z_]/.test(safe) ? safe : `_${safe}`;
}

function toXml(tag: string, v: unknown): string {
  if (v === undefined || v === null) return '';
  const name = elementName(tag);
  if (Array.isArray(v)) return v.map((item) => toXml(name, item)).join('');
  if (v instanceof Date) return `<${name}>${csDate(v)}</${name}>`;
  if (typeof v === 'object') {
    return `<${name}>${Object.entries(v as Record<string, unknown>).map(([k, x]) => toXml(k, x)).join('')}</${name}>`;
  }
  return `<${name}>${escapeXml(String(v))}</${name}>`;
}

export const CS_VERSION = '4.20.0.0-flotilla';

export function renderXml(rootName: string, inner: Record<string, unknown>): string {
  const body = Object.entries(inner).map(([k, v]) => toXml(k, v)).join('');
  const root = elementName(rootName);
  return `<?xml version="1.0" encoding="UTF-8"?><${root} cloud-stack-version="${CS_VERSION}">${body}</${root}>`;
}
