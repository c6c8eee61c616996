// listManagementServers (CloudStack's ListMgmtsCmd, ManagementServerResponse): the managers that
// share this database (decision 0282), Up while their heartbeat is fresh (LEASE_MS), else Down.
// A single manager on PGlite writes no row and lists itself.
import { ADMIN, LIST_PARAMS, command, field as f, type ResponseDef } from '../api/registry.ts';
import { LEASE_MS } from './cluster.ts';

const MANAGEMENT_SERVER: ResponseDef = {
  name: 'managementserver',
  fields: {
    id: f('string', 'the ID of the management server'),
    name: f('string', 'the name of the management server'),
    state: f('string', 'the state of the management server'),
    version: f('string', 'the version of the management server'),
    lastserverstart: f('date', 'the last time this Management Server was started'),
  },
};

interface Row { id: string; url: string | null; version: string | null; started: Date; up: boolean }

export const listManagementServers = command({
  name: 'listManagementServers', description: 'Lists management servers.', since: '4.18.0', roles: ADMIN, response: MANAGEMENT_SERVER, shape: 'list',
  params: {
    ...LIST_PARAMS,
    id: { type: 'uuid', entity: 'managementserver', description: 'the id of the management server' },
    name: { type: 'string', description: 'the name of the management server' },
  },
  async handler(ctx, a) {
    const s = ctx.services;
    let rows = await ctx.sql.query<Row>(
      `SELECT id, url, version, started, heartbeat_at > now() - ($1::int * interval '1 millisecond') AS up FROM managers ORDER BY started`, [LEASE_MS]);
    if (!rows.length) rows = [{ id: s.runId, url: null, version: process.env.npm_package_version ?? null, started: new Date(Date.now() - process.uptime() * 1000), up: true }];
    const name = (r: Row) => (r.url ? new URL(r.url).host : r.id);
    // Filtered in memory: a handful of rows.
    return rows
      .filter((r) => (a.id === undefined || r.id === a.id) && (a.name === undefined || name(r) === a.name)
        && (!a.keyword || name(r).toLowerCase().includes(a.keyword.toLowerCase())))
      .map((r) => ({ id: r.id, name: name(r), state: r.up ? 'Up' : 'Down', ...(r.version ? { version: r.version } : {}), lastserverstart: r.started }));
  },
});
