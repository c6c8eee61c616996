// The infra area: what it brings to the manager (found by src/areas; nothing central lists it).
import { commandsOf, defineArea } from '../../areas/define.ts';
import * as infra_ from './index.ts';
import { INFRA_MIGRATION } from './schema.ts';

export const area = defineArea({
  name: 'infra',
  commands: commandsOf(infra_),
  migrations: [INFRA_MIGRATION],
});
