// The compute area: what it brings to the manager (found by src/areas; nothing central lists it).
import { commandsOf, defineArea } from '../../areas/define.ts';
import * as compute_ from './index.ts';
import { COMPUTE_MIGRATION, VM_RECOVER_MIGRATION, L2_NETWORKS_MIGRATION } from './schema.ts';

export const area = defineArea({
  name: 'compute',
  commands: commandsOf(compute_),
  migrations: [COMPUTE_MIGRATION, VM_RECOVER_MIGRATION, L2_NETWORKS_MIGRATION],
  seed: compute_.seed,
});
