// The system area: what it brings to the manager (found by src/areas; nothing central lists it).
import { commandsOf, defineArea } from '../../areas/define.ts';
import * as system_ from './index.ts';

export const area = defineArea({
  name: 'system',
  commands: commandsOf(system_),
});
