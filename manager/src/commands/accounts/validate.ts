// Value checks shared by the accounts area (and reused by networks later).

/** RFC 1123 domain name, as CloudStack's NetUtils.verifyDomainName. */
export function checkNetworkDomain(v: string): string | undefined {
  if (v.length > 253) return 'a network domain longer than 253 characters';
  const ok = v.split('.').every((l) => /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i.test(l));
  return ok ? undefined : 'an invalid network domain: labels of letters, digits and hyphens separated by dots, each at most 63 characters, not starting or ending with a hyphen';
}

export function checkUsername(v: string): string | undefined {
  return /^[^\s/\\:*?"<>|]+$/.test(v) ? undefined : 'a username without spaces or any of / \\ : * ? " < > |';
}

export function checkEmail(v: string): string | undefined {
  return /^[^\s@]+@[^\s@]+$/.test(v) ? undefined : 'an invalid email address';
}

export function checkTimezone(v: string): string | undefined {
  try { new Intl.DateTimeFormat('en', { timeZone: v }); return undefined; } catch { return 'an unknown time zone'; }
}
