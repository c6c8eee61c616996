// The tags area: what it brings to the manager (found by src/areas; nothing central lists it).
import { commandsOf, defineArea } from '../../areas/define.ts';
import * as tags_ from './index.ts';
import { TAGS_MIGRATION } from './schema.ts';

export const area = defineArea({
  name: 'tags',
  commands: commandsOf(tags_),
  migrations: [TAGS_MIGRATION],
});
