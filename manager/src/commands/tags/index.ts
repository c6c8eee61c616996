// Resource tags: createTags, deleteTags, listTags, and (views.ts) the `tags` of every taggable
// answer and the `tags[n]` filter of every taggable list, applied by the dispatcher.
export { createTags, deleteTags, listTags } from './tags.ts';
