// The roles area: what it brings to the manager (found by src/areas; nothing central lists it).
import { commandsOf, defineArea } from '../../areas/define.ts';
import * as roles_ from './index.ts';
import { ROLES_MIGRATION } from './schema.ts';

export const area = defineArea({
  name: 'roles',
  commands: commandsOf(roles_),
  migrations: [ROLES_MIGRATION],
});
