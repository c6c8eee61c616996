// The lb area: what it brings to the manager (found by src/areas; nothing central lists it).
import { commandsOf, defineArea } from '../../areas/define.ts';
import * as lb_ from './index.ts';
import { LB_MIGRATION, LB_FORDISPLAY_MIGRATION } from './schema.ts';

export const area = defineArea({
  name: 'lb',
  commands: commandsOf(lb_),
  migrations: [LB_MIGRATION, LB_FORDISPLAY_MIGRATION],
});
