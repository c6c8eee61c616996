// Checksums as CloudStack's registerTemplate accepts them (pure): a bare hexadecimal string is
// an MD5 sum; otherwise "{<algorithm>}<hex>" where <algorithm> is the Java name (MD5, SHA-1,
// SHA-224, SHA-256, SHA-384, SHA-512; Java has no "SHA256" nor "sha-256"). The hex length must
// be the algorithm's digest length.
import { createHash, type Hash } from 'node:crypto';

export interface Checksum { algorithm: string; node: string; hex: string }

const ALGORITHMS: Record<string, { node: string; hexLength: number }> = {
  'MD5': { node: 'md5', hexLength: 32 },
  'SHA-1': { node: 'sha1', hexLength: 40 },
  'SHA-224': { node: 'sha224', hexLength: 56 },
  'SHA-256': { node: 'sha256', hexLength: 64 },
  'SHA-384': { node: 'sha384', hexLength: 96 },
  'SHA-512': { node: 'sha512', hexLength: 128 },
};

/** Parses a checksum; a string naming what is wrong when it is not one. */
export function parseChecksum(text: string): Checksum | string {
  const m = /^(?:\{([^}]{1,20})\})?([0-9a-fA-F]+)$/.exec(text.trim());
  if (!m) return 'not a hexadecimal checksum, optionally prefixed with {algorithm}';
  const algorithm = m[1] ?? 'MD5';
  const a = ALGORITHMS[algorithm];
  if (!a) return `unsupported checksum algorithm ${algorithm} (one of ${Object.keys(ALGORITHMS).join(', ')})`;
  if (m[2]!.length !== a.hexLength) return `a ${algorithm} checksum has ${a.hexLength} hexadecimal digits, not ${m[2]!.length}`;
  return { algorithm, node: a.node, hex: m[2]!.toLowerCase() };
}

export function hasherFor(c: Checksum): Hash { return createHash(c.node); }

/** The checksum as CloudStack shows it: bare for MD5, else prefixed. */
export function formatChecksum(c: Checksum): string { return c.algorithm === 'MD5' ? c.hex : `{${c.algorithm}}${c.hex}`; }
