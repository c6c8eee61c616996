// The command registry of this manager: every area's commands (each area declares them in its
// own area.ts, found by ../areas). The registry refuses duplicates and mutating commands without
// an audit event type.
import { Registry } from '../api/registry.ts';
import { AREAS } from '../areas/index.ts';

export function buildRegistry(): Registry {
  return new Registry().add(...AREAS.flatMap((a) => a.commands ?? []));
}
