// Several managers on one PostgreSQL (decision 0282): leadership, routed agent calls, /healthz.
import { defineArea } from '../areas/define.ts';
import { MANAGERS_MIGRATION } from './schema.ts';

export const area = defineArea({ name: 'cluster', migrations: [MANAGERS_MIGRATION] });
