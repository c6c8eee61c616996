// The network area: what it brings to the manager (found by src/areas; nothing central lists it).
import { commandsOf, defineArea } from '../../areas/define.ts';
import * as network_ from './index.ts';
import { NETWORK_MIGRATION, NETWORK_RELATED_RULES_MIGRATION } from './schema.ts';

export const area = defineArea({
  name: 'network',
  commands: commandsOf(network_),
  migrations: [NETWORK_MIGRATION, NETWORK_RELATED_RULES_MIGRATION],
});
