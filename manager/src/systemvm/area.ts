// The system VM framework's schema (its commands live with compute's, commands/compute/systemvms.ts).
import { defineArea } from '../areas/define.ts';
import { SYSTEM_VMS_MIGRATION } from './schema.ts';

export const area = defineArea({ name: 'systemvm', migrations: [SYSTEM_VMS_MIGRATION] });
