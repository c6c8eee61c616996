// Which console a VM has, for createConsoleEndpoint's token (claims.console) and page: `vnc`
// when its host reports a VNC server for it (VmState.consoles.vnc: qemu's `-vnc` on KVM, or a
// test host pointing at a real VNC server), else `serial`. LXC (netns) hosts run containers,
// which never have a VNC display: they are not asked, so the serial path costs no round trip.
// A host that does not answer in time gets `serial` (the open then says what is wrong).
import type { Services } from '../services.ts';
import type { Sql } from '../db/sql.ts';

export type ConsoleKind = 'serial' | 'vnc';

export async function consoleKind(s: Services, sql: Sql, vm: { instance_name: string; host_id: string }): Promise<ConsoleKind> {
  const host = (await sql.query<{ hypervisor: string }>('SELECT hypervisor FROM hosts WHERE id = $1', [vm.host_id]))[0];
  if (!host || host.hypervisor === 'LXC') return 'serial';
  try {
    const state = await s.agents.request(vm.host_id, 'listState', {}, 5_000);
    return state.vms.find((v) => v.name === vm.instance_name)?.consoles.vnc ? 'vnc' : 'serial';
  } catch {
    return 'serial';
  }
}

/** The page a console kind opens: the xterm.js page at the prefix itself, noVNC's at `vnc.html`. */
export function pageFor(kind: ConsoleKind, url: string): string {
  return kind === 'vnc' ? url.replace(/\/\?token=/, '/vnc.html?token=') : url;
}
