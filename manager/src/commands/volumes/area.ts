// The volumes area: what it brings to the manager (found by src/areas; nothing central lists it).
import { commandsOf, defineArea } from '../../areas/define.ts';
import * as volumes_ from './index.ts';
import { VOLUMES_MIGRATION } from './schema.ts';

export const area = defineArea({
  name: 'volumes',
  commands: commandsOf(volumes_),
  migrations: [VOLUMES_MIGRATION],
  seed: volumes_.seed,
});
