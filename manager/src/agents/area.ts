// The host agents' gateway: its schema (session epochs that fence a second agent per host).
import { defineArea } from '../areas/define.ts';
import { AGENT_EPOCH_MIGRATION } from './schema.ts';

export const area = defineArea({ name: 'agents', migrations: [AGENT_EPOCH_MIGRATION] });
