// The projects area: what it brings to the manager (found by src/areas; nothing central lists it).
import { commandsOf, defineArea } from '../../areas/define.ts';
import * as projects_ from './index.ts';
import { PROJECTS_MIGRATION } from './schema.ts';

export const area = defineArea({
  name: 'projects',
  commands: commandsOf(projects_),
  migrations: [PROJECTS_MIGRATION],
});
