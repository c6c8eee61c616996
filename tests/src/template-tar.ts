// A guest template tarball as a user would register it: the busybox root filesystem the agent
// builds for its own default template (same init, DHCP client and HTTP server), packed by GNU tar,
// with extra files (and optional random padding to reach a size).
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { buildGuestTemplate } from '@flotilla/agent/drivers/container';
import { UDHCPC_SCRIPT } from '@flotilla/agent/drivers/netns';

export async function guestTemplateTar(o: { files?: Record<string, string>; padBytes?: number } = {}): Promise<Buffer> {
  const work = mkdtempSync(join(tmpdir(), 'flt-tpl-'));
  try {
    const busybox = ['/usr/bin/busybox', '/bin/busybox'].find((p) => existsSync(p)) ?? 'busybox';
    const root = await buildGuestTemplate(work, { busybox, owner: 0, udhcpcScript: UDHCPC_SCRIPT });
    rmSync(join(root, '.flotilla-template'), { force: true });
    for (const [path, text] of Object.entries(o.files ?? {})) {
      mkdirSync(dirname(join(root, path)), { recursive: true });
      writeFileSync(join(root, path), text);
    }
    if (o.padBytes) writeFileSync(join(root, 'root/padding'), randomBytes(o.padBytes));
    execFileSync('tar', ['-C', root, '-cf', join(work, 'out.tar'), '.']);
    return readFileSync(join(work, 'out.tar'));
  } finally { rmSync(work, { recursive: true, force: true }); }
}
