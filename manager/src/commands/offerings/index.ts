// The offerings area's commands (each exported const is a command) and its seed data.
import type { Seeder } from '../../seed.ts';

/** Default data of this area, run idempotently at every start. */
export const seed: Seeder = async () => {};
