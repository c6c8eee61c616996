export { updateResourceLimit } from './limits.ts';
