// The storage area: what it brings to the manager (found by src/areas; nothing central lists it).
import { commandsOf, defineArea } from '../../areas/define.ts';
import * as storage_ from './index.ts';
import { STORAGE_MIGRATION } from './schema.ts';

export const area = defineArea({
  name: 'storage',
  commands: commandsOf(storage_),
  migrations: [STORAGE_MIGRATION],
});
