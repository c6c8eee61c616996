// Several managers on one PostgreSQL (decision 0282): leadership, routed agent calls, /healthz.
import { defineArea } from '../areas/define.ts';
import { MANAGERS_MIGRATION } from './schema.ts';
import { listManagementServers } from './commands.ts';

export const area = defineArea({ name: 'cluster', commands: [listManagementServers], migrations: [MANAGERS_MIGRATION] });
