// The dedication area: what it brings to the manager (found by src/areas; nothing central lists it).
import { commandsOf, defineArea } from '../../areas/define.ts';
import * as dedication_ from './index.ts';
import { DEDICATION_MIGRATION } from './schema.ts';

export const area = defineArea({
  name: 'dedication',
  commands: commandsOf(dedication_),
  migrations: [DEDICATION_MIGRATION],
});
