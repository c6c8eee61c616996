// Lab topology for driver tests and the benchmark: N host namespaces whose `fab0` veths meet on
// a bridge in a fabric namespace (10.99.0.<i+1>/24), one NetnsDriver per host with its own
// random tag and state directory. Everything goes when the test ends: the drivers destroy their
// VMs and networks first, then the Lab deletes its namespaces.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { Lab, type Teardownable } from '@flotilla/tests/lab';
import { NetnsDriver } from '../../src/drivers/netns.ts';

export const ECHO_APPLIANCE = fileURLToPath(new URL('../fixtures/echo-appliance.mjs', import.meta.url));

export interface TestHost { ns: string; driver: NetnsDriver; fabricIp: string; stateDir: string }

export async function makeHosts(t: Teardownable | undefined, n: number, opts: { fabric?: boolean } = {}): Promise<{ lab: Lab; fab: string; hosts: TestHost[] }> {
  const lab = Lab.create(t, 'agnt');
  const fab = await lab.netns('fab');
  await lab.exec(fab, ['ip', 'link', 'add', 'br0', 'type', 'bridge']);
  await lab.exec(fab, ['ip', 'link', 'set', 'br0', 'up']);
  const hosts: TestHost[] = [];
  for (let i = 0; i < n; i++) {
    const ns = await lab.netns(`h${i + 1}`);
    const fabricIp = `10.99.0.${i + 1}`;
    if (opts.fabric !== false) {
      await lab.veth(ns, 'fab0', fab, `p${i + 1}`);
      await lab.exec(fab, ['ip', 'link', 'set', `p${i + 1}`, 'master', 'br0']);
      await lab.exec(ns, ['ip', 'addr', 'add', `${fabricIp}/24`, 'dev', 'fab0']);
    }
    const stateDir = await mkdtemp('/tmp/flt-agent-');
    const driver = new NetnsDriver({
      hostNamespace: ns, hostTag: randomBytes(2).toString('hex'), stateDir, stopGraceMs: 500,
      ...(opts.fabric !== false ? { fabric: { interface: 'fab0', localIp: fabricIp } } : {}),
      appliances: { echo: [process.execPath, ECHO_APPLIANCE, '{control}', '{state}'], linked: [process.execPath, ECHO_APPLIANCE, '{control}', '{state}', '{manager}'], gone: [process.execPath, '/nonexistent/appliance.mjs', '{control}'] },
    });
    lab.onCleanup(async () => { await driver.destroyAll().catch(() => undefined); await rm(stateDir, { recursive: true, force: true }); });
    hosts.push({ ns, driver, fabricIp, stateDir });
  }
  return { lab, fab, hosts };
}

export async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
