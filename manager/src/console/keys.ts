// The console token key and its rotation (docs/decisions/0600): the key of epoch n is
// HKDF-SHA256(master key, "flotilla console proxy key n"), so only epochs are stored
// (console_keys) and every manager sharing the database and master key agrees. Two keys are in
// force: the current one seals, the current and the previous one open; a rotation adds epoch n+1,
// so a token sealed under n still opens after one rotation and no longer after two.
import { hkdfSync } from 'node:crypto';
import { deriveConsoleKey } from '@flotilla/proxy';
import type { Sql } from '../db/sql.ts';

export interface KeyInForce { epoch: number; key: Buffer; created: Date }

/** The keys in force, current first (at most two). */
export async function keysInForce(sql: Sql, master: Buffer): Promise<KeyInForce[]> {
  const rows = await sql.query<{ epoch: number; created: Date }>('SELECT epoch, created FROM console_keys ORDER BY epoch DESC LIMIT 2');
  if (!rows.length) return [{ epoch: 0, key: deriveConsoleKey(master, 0), created: new Date(0) }];
  return rows.map((r) => ({ epoch: r.epoch, key: deriveConsoleKey(master, r.epoch), created: new Date(r.created) }));
}

/** Adds the next epoch (idempotent across managers racing: one insert wins); answers it. */
export async function rotateKeyEpoch(sql: Sql): Promise<number> {
  const cur = (await sql.query<{ epoch: number }>('SELECT coalesce(max(epoch), 0) AS epoch FROM console_keys'))[0]!.epoch;
  await sql.query('INSERT INTO console_keys (epoch) VALUES ($1) ON CONFLICT (epoch) DO NOTHING', [cur + 1]);
  // Old epochs are of no use once two newer exist.
  await sql.query('DELETE FROM console_keys WHERE epoch < $1', [cur - 1]);
  return cur + 1;
}

/** A system VM's secret for its link to the manager (/systemvm/console): derived, never stored. */
export function linkSecret(master: Buffer, vmId: string): string {
  return Buffer.from(hkdfSync('sha256', master, Buffer.alloc(0), `flotilla system vm link ${vmId}`, 32)).toString('base64url');
}
