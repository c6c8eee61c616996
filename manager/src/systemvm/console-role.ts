// The console proxy role (CloudStack's ConsoleProxy system VM): its appliance is proxy/src/main.ts
// (agent role `proxy`), serving the console pages and WebSocket on the VM's public address. It is
// handed the console keys in force (current + previous), its link secret and the session timeout;
// a report showing an older key gets the configuration again; the key rotates every
// `consoleproxy.key.rotation.interval`; a zone gets one more proxy VM per
// `consoleproxy.session.max` open sessions.
import type { Services } from '../services.ts';
import { configNumber } from '../commands/offerings/config.ts';
import { CONSOLE_PROXY_PORT, consoleService, refreshConsoleKeys, rotateConsoleKey } from '../console/index.ts';
import { linkSecret } from '../console/keys.ts';
import { reconfigureRole } from './orchestrator.ts';
import type { SystemVmRole, SystemVmRow } from './roles.ts';

/** How many proxy VMs a zone wants for `sessions` open sessions at `max` per proxy: one, plus one
 *  per full `max` (so a proxy with room is always there for the next console). */
export function proxiesWanted(sessions: number, max: number): number { return Math.max(1, Math.floor(sessions / Math.max(1, max)) + 1); }

/** Rotates the console key and hands the new pair to every running proxy VM. */
export async function rotateConsoleKeyNow(s: Services): Promise<number> {
  const epoch = await rotateConsoleKey(s);
  s.log.info({ epoch }, 'console key rotated');
  await reconfigureRole(s, 'ConsoleProxy');
  return epoch;
}

export const CONSOLE_PROXY_ROLE: SystemVmRole = {
  type: 'ConsoleProxy', apiName: 'consoleproxy', appliance: 'proxy', namePrefix: 'v', offering: 'Cloud.com-ConsoleProxy',
  eventPrefix: 'PROXY', enabledKey: 'consoleproxy.vm.enabled',
  async wanted(s, _zoneId, vms: SystemVmRow[]) {
    const sessions = vms.filter((v) => v.state === 'Running').reduce((n, v) => n + v.sessions, 0);
    return proxiesWanted(sessions, await configNumber(s.db, 'consoleproxy.session.max'));
  },
  async configure(s, vm) {
    const c = consoleService(s);
    const keys = await refreshConsoleKeys(s);
    // Behind the single-machine cloud's forward the manager's requests come from the uplink
    // side of the public network (its gateway): the browser's address is in X-Forwarded-For.
    const trustProxy = c.netns ? [vm.public_gateway] : [];
    return {
      vmId: vm.vm_id, secret: linkSecret(c.master, vm.vm_id), port: CONSOLE_PROXY_PORT,
      keys: keys.map((k) => ({ epoch: k.epoch, key: k.key.toString('base64') })),
      timeoutMs: await configNumber(s.db, 'consoleproxy.session.timeout'), trustProxy,
    };
  },
  async stale(s, vm, report) {
    const epochs = Array.isArray(report.epochs) ? report.epochs : [];
    const trust = Array.isArray(report.trustProxy) ? report.trustProxy : [];
    return epochs[0] !== consoleService(s).keys[0]?.epoch || (consoleService(s).netns ? trust[0] !== vm.public_gateway : trust.length > 0);
  },
  async tick(s) {
    const keys = await refreshConsoleKeys(s);
    const interval = await configNumber(s.db, 'consoleproxy.key.rotation.interval');
    if (Date.now() - keys[0]!.created.getTime() < interval) return;
    await rotateConsoleKeyNow(s);
  },
};
