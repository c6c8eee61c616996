// What an area declares (see ./index.ts, which finds them). Kept apart from the loader: an
// area's module imports this one, and the loader is still evaluating (its top-level await) while
// it imports the areas, so they must not import the loader.
import type { AnyCommand } from '../api/registry.ts';
import type { Migration } from '../db/migrations.ts';
import type { Sql } from '../db/sql.ts';

export type Seeder = (sql: Sql) => Promise<void>;

export interface Area {
  /** Unique; the folder's name by convention. */
  readonly name: string;
  readonly commands?: readonly AnyCommand[];
  /** Applied in id order across all areas, each once (db/migrations.ts). */
  readonly migrations?: readonly Migration[];
  /** Default data, run idempotently at every start inside the bootstrap transaction. */
  readonly seed?: Seeder;
}

export const defineArea = (a: Area): Area => a;

const isCommand = (v: unknown): v is AnyCommand =>
  typeof v === 'object' && v !== null && 'name' in v && 'handler' in v && 'params' in v;
/** Every command the modules export (an area's index.ts exports its commands by name). */
export const commandsOf = (...mods: Array<Record<string, unknown>>): AnyCommand[] => mods.flatMap((m) => Object.values(m).filter(isCommand));
