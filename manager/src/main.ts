// `npm start`: the manager on an embedded PGlite in ./data (or DATABASE_URL), on PORT.
import { createManager, settingsFromEnv } from './app.ts';
import { ensureUiBuilt } from '@flotilla/ui/build';
import { localCloudHelp, localDriver, startLocalCloud, type LocalCloud } from './local/cloud.ts';
import { guard, reportFailure } from './background.ts';
import { isLoopback, tlsFromEnv } from './tls.ts';

const base = settingsFromEnv();
const tls = await tlsFromEnv(process.env, base.dataDir);
const settings = { ...base, ...(tls ? { tls } : {}) };
// The web UI served at /client/: rebuilt when a source is newer than its build (ui/README.md).
try {
  if (await ensureUiBuilt()) process.stdout.write('Built the web UI (ui/dist)\n');
} catch (e) {
  process.stderr.write(`${(e as Error).message}\nThe manager starts without the web UI.\n`);
}
const m = await createManager({ settings });
const s = m.services;
// The last line of defence: every background path is guarded where it starts (background.ts), so
// reaching these handlers is a bug — reported as one, but never allowed to end the API that
// tenants are using.
process.on('unhandledRejection', (e) => void reportFailure(s, 'unhandled rejection (a bug: an unguarded background path)', e));
process.on('uncaughtException', (e) => void reportFailure(s, 'uncaught exception (a bug: an unguarded background path)', e));
if (m.generatedAdminPassword) {
  // Printed once, on the first start only; set FLOTILLA_ADMIN_PASSWORD to choose it instead.
  process.stdout.write(`\n  First start: user "admin" (domain ROOT) has password: ${m.generatedAdminPassword}\n\n`);
}
const address = await m.app.listen({ port: settings.port, host: settings.host });
const port = new URL(address).port;
const scheme = tls ? 'https' : 'http';
// Several managers (decision 0282): the others name this one by its URL (FLOTILLA_PUBLIC_URL
// when it is reached at another address than the one it binds).
await s.cluster?.setUrl(process.env.FLOTILLA_PUBLIC_URL ?? `${scheme}://${settings.host === '0.0.0.0' || settings.host === '::' ? '127.0.0.1' : settings.host}:${port}`);
process.stdout.write(`Flotilla manager listening on ${scheme}://localhost:${port}/client/api (database: ${s.db.dialect}; bound to ${settings.host})\n`);
process.stdout.write(`Web UI: ${scheme}://localhost:${port}/client/\n`);
if (tls) process.stdout.write(`TLS certificate ${tls.certFile} (SHA-256 ${tls.fingerprint256})\n`);
else if (!isLoopback(settings.host)) {
  process.stderr.write(`Warning: plain HTTP on ${settings.host}: passwords, session keys and agent tokens cross the network unencrypted. Set FLOTILLA_TLS_CERT/FLOTILLA_TLS_KEY or FLOTILLA_TLS=self-signed.\n`);
}
// The single-machine cloud (zone, host agent) unless FLOTILLA_LOCAL_CLOUD=off. It is set up in
// the background while the API answers; its failures are reported and retried, never fatal.
let local: LocalCloud | undefined;
if ((process.env.FLOTILLA_LOCAL_CLOUD ?? 'on') !== 'off') {
  local = startLocalCloud(m, `${scheme}://127.0.0.1:${port}`, settings.dataDir, localDriver());
  void local.ready.then(() => { process.stdout.write(`${localCloudHelp(local!.driver)}\n`); });
}
let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  void guard(s, 'shutdown', async () => { await local?.stop(); await m.close(); }).finally(() => process.exit(0));
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
