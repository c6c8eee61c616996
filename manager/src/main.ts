// `npm start`: the manager on an embedded PGlite in ./data (or DATABASE_URL), on PORT.
import { createManager, settingsFromEnv } from './app.ts';
import { ensureUiBuilt } from '@flotilla/ui/build';
import { localCloudHelp, startLocalCloud, type LocalCloud } from './local/cloud.ts';

const settings = settingsFromEnv();
// The web UI served at /client/: rebuilt when a source is newer than its build (ui/README.md).
try {
  if (await ensureUiBuilt()) process.stdout.write('Built the web UI (ui/dist)\n');
} catch (e) {
  process.stderr.write(`${(e as Error).message}\nThe manager starts without the web UI.\n`);
}
const m = await createManager({ settings });
if (m.generatedAdminPassword) {
  // Printed once, on the first start only; set FLOTILLA_ADMIN_PASSWORD to choose it instead.
  process.stdout.write(`\n  First start: user "admin" (domain ROOT) has password: ${m.generatedAdminPassword}\n\n`);
}
const address = await m.app.listen({ port: settings.port, host: settings.host });
const port = new URL(address).port;
process.stdout.write(`Flotilla manager listening on http://localhost:${port}/client/api (database: ${m.services.db.dialect})\n`);
process.stdout.write(`Web UI: http://localhost:${port}/client/\n`);
// The single-machine cloud (zone, host agent) unless FLOTILLA_LOCAL_CLOUD=off.
let local: LocalCloud | undefined;
if ((process.env.FLOTILLA_LOCAL_CLOUD ?? 'on') !== 'off') {
  local = await startLocalCloud(m, `http://127.0.0.1:${port}`, settings.dataDir);
  process.stdout.write(`${localCloudHelp(local.driver)}\n`);
}
const stop = async () => { await local?.stop(); await m.close(); process.exit(0); };
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
