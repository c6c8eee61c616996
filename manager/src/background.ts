// Work that runs outside any request — the local cloud's set-up, timers, agent messages, host
// reconciliation, router monitors, the job runner — has no caller to answer. Node ends the
// process on an uncaught exception or an unhandled rejection, so one such error would take the
// API down for every tenant. Every background path therefore runs through guard()/guarded():
// a failure becomes one log line (level error, with the task and the stack) and one ERROR event
// of type BACKGROUND.FAILURE (listEvents listall=true; account `system` in ROOT, as CloudStack
// records its own work), and the process goes on. Whoever owns the task decides about retrying.
import { randomUUID } from 'node:crypto';
import type { Database } from './db/sql.ts';
import type { Logger } from './log.ts';

export interface Reporter { readonly db: Pick<Database, 'query'>; readonly log: Logger }

export const BACKGROUND_EVENT = 'BACKGROUND.FAILURE';
/** A task failing every heartbeat must not write an event every 2 s: one per task per window. */
const EVENT_WINDOW_MS = 60_000;
const lastEvent = new WeakMap<Reporter, Map<string, { at: number; suppressed: number }>>();

function message(e: unknown): string {
  if (e instanceof Error) return e.message || e.name;
  try { return String(e); } catch { return 'unprintable error'; }
}

/** Reports a failure of a background task: a log line always, an event (rate-limited per task). */
export async function reportFailure(r: Reporter, task: string, e: unknown, extra: Record<string, unknown> = {}): Promise<void> {
  try {
    r.log.error({ err: e, task, ...extra }, `background task failed: ${task}`);
  } catch { /* a broken logger must not turn a report into a crash */ }
  let seen = lastEvent.get(r);
  if (!seen) { seen = new Map(); lastEvent.set(r, seen); }
  const now = Date.now();
  const prev = seen.get(task);
  if (prev && now - prev.at < EVENT_WINDOW_MS) { prev.suppressed++; return; }
  seen.set(task, { at: now, suppressed: 0 });
  const more = prev?.suppressed ? ` (${prev.suppressed} more failure(s) of this task in the last minute were only logged)` : '';
  const text = message(e).slice(0, 2000);
  try {
    await r.db.query(
      `INSERT INTO events (id, type, level, state, description, command, result, errortext, username, account_name, domain_id)
       VALUES ($1, $2, 'ERROR', 'Completed', $3, $4, 'FAILURE', $5, 'system', 'system', (SELECT id FROM domains WHERE path = 'ROOT'))`,
      [randomUUID(), BACKGROUND_EVENT, `${task} failed: ${text}${more}`, task, text]);
  } catch (we) {
    try { r.log.error({ err: we, task }, 'could not record the background failure as an event'); } catch { /* see above */ }
  }
}

/** Runs fn (sync or async); whatever it throws is reported, never rethrown. */
export async function guard(r: Reporter, task: string, fn: () => unknown): Promise<void> {
  try {
    await fn();
  } catch (e) {
    await reportFailure(r, task, e);
  }
}

/** A callback for a timer or an event emitter that reports instead of throwing. */
export function guarded<A extends unknown[]>(r: Reporter, task: string, fn: (...args: A) => unknown): (...args: A) => void {
  return (...args: A) => { void guard(r, task, () => fn(...args)); };
}
