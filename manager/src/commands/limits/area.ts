// The limits area: what it brings to the manager (found by src/areas; nothing central lists it).
import { commandsOf, defineArea } from '../../areas/define.ts';
import * as limits_ from './index.ts';
import { LIMITS_MIGRATION } from './schema.ts';

export const area = defineArea({
  name: 'limits',
  commands: commandsOf(limits_),
  migrations: [LIMITS_MIGRATION],
});
