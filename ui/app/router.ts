// Pages, each loaded on first visit (a chunk per page keeps the first page's JavaScript small),
// except the two landing pages, dashboard and instances, which are in the entry chunk: a lazy
// chunk is fetched only after the entry has run and the router has resolved the route, and the
// bench's profile of a cold load to the instances page showed that round trip at 150–700 ms on
// this loaded machine for a 1.8 KB chunk (decision 0801).
import { createRouter, createWebHashHistory } from 'vue-router';
import { isAdmin, session } from './api.ts';
import Dashboard from './pages/Dashboard.vue';
import Instances from './pages/Instances.vue';
import { status } from './components/run.ts';

export interface NavItem { path: string; label: string; admin?: boolean }
export const NAV: NavItem[] = [
  { path: '/dashboard', label: 'Dashboard' },
  { path: '/instances', label: 'Instances' },
  { path: '/volumes', label: 'Volumes' },
  { path: '/networks', label: 'Networks' },
  { path: '/publicips', label: 'Public IPs' },
  { path: '/sshkeys', label: 'SSH key pairs' },
  { path: '/apikeys', label: 'API keys' },
  { path: '/infra', label: 'Infrastructure', admin: true },
  { path: '/physicalnetworks', label: 'Physical networks', admin: true },
  { path: '/systemvms', label: 'System VMs & routers', admin: true },
  { path: '/accounts', label: 'Accounts & domains', admin: true },
  { path: '/settings', label: 'Global settings', admin: true },
  { path: '/events', label: 'Events & jobs' },
  { path: '/api', label: 'API explorer' },
];

export const router = createRouter({
  history: createWebHashHistory(),
  routes: [
    { path: '/', redirect: '/dashboard' },
    { path: '/login', component: () => import('./pages/Login.vue'), meta: { title: 'Log in' } },
    { path: '/dashboard', component: Dashboard, meta: { title: 'Dashboard' } },
    { path: '/instances', component: Instances, meta: { title: 'Instances' } },
    { path: '/instances/:id', component: () => import('./pages/Instance.vue'), props: true, meta: { title: 'Instance' } },
    { path: '/volumes', component: () => import('./pages/Volumes.vue'), meta: { title: 'Volumes' } },
    { path: '/networks', component: () => import('./pages/Networks.vue'), meta: { title: 'Networks' } },
    { path: '/networks/:id', component: () => import('./pages/Network.vue'), props: true, meta: { title: 'Network' } },
    { path: '/publicips', component: () => import('./pages/PublicIps.vue'), meta: { title: 'Public IP addresses' } },
    { path: '/publicips/:id', component: () => import('./pages/PublicIp.vue'), props: true, meta: { title: 'Public IP address' } },
    { path: '/sshkeys', component: () => import('./pages/SshKeys.vue'), meta: { title: 'SSH key pairs' } },
    { path: '/apikeys', component: () => import('./pages/ApiKeys.vue'), meta: { title: 'API keys' } },
    { path: '/infra', component: () => import('./pages/Infra.vue'), meta: { title: 'Infrastructure', admin: true } },
    { path: '/physicalnetworks', component: () => import('./pages/PhysicalNetworks.vue'), meta: { title: 'Physical networks', admin: true } },
    { path: '/systemvms', component: () => import('./pages/SystemVms.vue'), meta: { title: 'System VMs and routers', admin: true } },
    { path: '/accounts', component: () => import('./pages/Accounts.vue'), meta: { title: 'Accounts, domains and users', admin: true } },
    { path: '/settings', component: () => import('./pages/Settings.vue'), meta: { title: 'Global settings', admin: true } },
    { path: '/events', component: () => import('./pages/Events.vue'), meta: { title: 'Events and async jobs' } },
    { path: '/api', component: () => import('./pages/ApiExplorer.vue'), meta: { title: 'API explorer' } },
    { path: '/:rest(.*)', redirect: '/dashboard' },
  ],
});

router.beforeEach((to) => {
  if (!session.current && to.path !== '/login') return { path: '/login', query: { next: to.fullPath } };
  if (to.meta.admin && !isAdmin()) return '/dashboard';
  return true;
});
router.afterEach((to, from) => {
  // The last action's report belongs to the page it ran on.
  if (to.path !== from.path && !status.running) status.report = null;
  document.title = `${String(to.meta.title ?? 'Flotilla')} · Flotilla`;
});
