// The regions area: what it brings to the manager (found by src/areas; nothing central lists it).
import { commandsOf, defineArea } from '../../areas/define.ts';
import * as regions_ from './index.ts';
import { REGIONS_MIGRATION } from './schema.ts';

export const area = defineArea({
  name: 'regions',
  commands: commandsOf(regions_),
  migrations: [REGIONS_MIGRATION],
});
