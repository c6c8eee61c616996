// The accounts area: what it brings to the manager (found by src/areas; nothing central lists it).
import { commandsOf, defineArea } from '../../areas/define.ts';
import * as domains_ from './domains.ts';
import * as accounts_ from './accounts.ts';
import * as users_ from './users.ts';
import * as session_ from './session.ts';
import { SESSION_GUARDS_MIGRATION } from './schema.ts';

export const area = defineArea({
  name: 'accounts',
  commands: commandsOf(domains_, accounts_, users_, session_),
  migrations: [SESSION_GUARDS_MIGRATION],
});
