// The vpn area: what it brings to the manager (found by src/areas; nothing central lists it).
import { commandsOf, defineArea } from '../../areas/define.ts';
import * as vpn_ from './index.ts';
import { VPN_MIGRATION } from './schema.ts';

export const area = defineArea({
  name: 'vpn',
  commands: commandsOf(vpn_),
  migrations: [VPN_MIGRATION],
});
