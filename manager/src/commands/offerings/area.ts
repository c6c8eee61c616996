// The offerings area: what it brings to the manager (found by src/areas; nothing central lists it).
import { commandsOf, defineArea } from '../../areas/define.ts';
import * as offerings_ from './index.ts';
import { OFFERINGS_MIGRATION } from './schema.ts';

export const area = defineArea({
  name: 'offerings',
  commands: commandsOf(offerings_),
  migrations: [OFFERINGS_MIGRATION],
  seed: offerings_.seed,
});
