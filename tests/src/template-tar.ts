// A guest template tarball as a user would register it: the built-in guest template's root
// filesystem (same init, DHCP client and HTTP server), packed by GNU tar, with extra files (and
// optional random padding to reach a size).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findBusybox, guestTemplateTar as buildTar } from '@flotilla/storage/guest-template';

export async function guestTemplateTar(o: { files?: Record<string, string>; padBytes?: number } = {}): Promise<Buffer> {
  const work = mkdtempSync(join(tmpdir(), 'flt-tpl-'));
  try {
    const out = join(work, 'out.tar');
    await buildTar(out, { busybox: findBusybox(), files: { ...o.files, ...(o.padBytes ? { 'root/padding': randomBytes(o.padBytes) } : {}) } });
    return readFileSync(out);
  } finally { rmSync(work, { recursive: true, force: true }); }
}
