// The ssh area: what it brings to the manager (found by src/areas; nothing central lists it).
import { commandsOf, defineArea } from '../../areas/define.ts';
import * as ssh_ from './index.ts';
import { SSH_MIGRATION, SSH_KEY_INDEX_MIGRATION } from './schema.ts';

export const area = defineArea({
  name: 'ssh',
  commands: commandsOf(ssh_),
  migrations: [SSH_MIGRATION, SSH_KEY_INDEX_MIGRATION],
});
