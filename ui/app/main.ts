// The web UI's entry: Vue 3, its router (hash history: every page is /client/#/…, so the
// manager serves one index.html), Naive UI components imported per use (tree-shaken).
import { createApp } from 'vue';
import App from './App.vue';
import { router } from './router.ts';
import './style.css';

createApp(App).use(router).mount('#app');
