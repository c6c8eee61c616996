// The API layer's own schema: the indexes that let lists page in SQL (list-indexes.ts).
import { defineArea } from '../areas/define.ts';
import { LIST_INDEX_MIGRATION } from './list-indexes.ts';

export const area = defineArea({ name: 'api', migrations: [LIST_INDEX_MIGRATION] });
