// The zone's system VMs (CloudStack's console proxy and secondary storage VMs; routers are
// listRouters'): list, start, stop, reboot, destroy — root admins only, as in CloudStack. They
// are vm_instances of a registered system VM role's type with a system_vms row (public and
// link-local addresses, last report); the framework is manager/src/systemvm.
import { ADMIN, LIST_PARAMS, command, type ResponseDef } from '../../api/registry.ts';
import { compact, csDate } from '../../api/serialize.ts';
import { notFound } from '../../api/errors.ts';
import { applianceLifecycle } from '../appliance-lifecycle.ts';
import type { Context } from '../../api/context.ts';
import { Where } from '../../db/sql.ts';
import { roleOfApiName, roleOfType, systemVmTypes } from '../../systemvm/index.ts';
import { bringUpSystemVm, rebootSystemVm as rebootOnHost, takeDownSystemVm } from '../../systemvm/orchestrator.ts';

const f = (type: 'string' | 'integer' | 'date' | 'list' | 'boolean', description: string) => ({ type, description } as const);
const SYSTEM_VM: ResponseDef = {
  name: 'systemvm',
  fields: {
    id: f('string', 'the ID of the system VM'),
    systemvmtype: f('string', 'the system VM type'),
    zoneid: f('string', 'the Zone ID for the system VM'),
    zonename: f('string', 'the Zone name for the system VM'),
    dns1: f('string', 'the first DNS for the system VM'),
    dns2: f('string', 'the second DNS for the system VM'),
    gateway: f('string', 'the gateway for the system VM'),
    name: f('string', 'the name of the system VM'),
    podid: f('string', 'the Pod ID for the system VM'),
    podname: f('string', 'the Pod name for the system VM'),
    hostid: f('string', 'the host ID for the system VM'),
    hostname: f('string', 'the hostname for the system VM'),
    hypervisor: f('string', 'the hypervisor on which the template runs'),
    linklocalip: f('string', 'the link local IP address for the system vm'),
    linklocalmacaddress: f('string', 'the link local MAC address for the system vm'),
    linklocalnetmask: f('string', 'the link local netmask for the system vm'),
    publicip: f('string', 'the public IP address for the system VM'),
    publicmacaddress: f('string', 'the public MAC address for the system VM'),
    publicnetmask: f('string', 'the public netmask for the system VM'),
    templateid: f('string', 'the template ID for the system VM'),
    templatename: f('string', 'the template name for the system VM'),
    created: f('date', 'the date and time the system VM was created'),
    state: f('string', 'the state of the system VM'),
    agentstate: f('string', 'the agent state of the system VM'),
    activeviewersessions: f('integer', 'the number of active console sessions for the console proxy system vm'),
    version: f('string', 'the systemvm agent version'),
    isdynamicallyscalable: f('boolean', 'true if vm contains XS/VMWare tools inorder to support dynamic scaling of VM cpu/memory.'),
    hasannotations: f('boolean', 'true if the entity/resource has annotations'),
  },
};

interface Row {
  id: string; instance_name: string; type: string; state: string; zone_id: string; zone_name: string; dns1: string | null; dns2: string | null;
  pod_id: string | null; pod_name: string | null; host_id: string | null; host_name: string | null; template_id: string; template_name: string; hypervisor: string;
  public_ip: string; public_netmask: string; public_gateway: string; public_mac: string; control_mac: string; link_local_ip: string;
  sessions: number; last_report: Date | null; created: Date;
}
const SELECT = `SELECT v.id, v.instance_name, v.type, v.state, v.zone_id, z.name AS zone_name, z.dns1, z.dns2, v.pod_id, p.name AS pod_name, v.host_id, h.name AS host_name,
    v.template_id, t.name AS template_name, t.hypervisor, x.public_ip, x.public_netmask, x.public_gateway, x.public_mac, x.control_mac, x.link_local_ip,
    x.sessions, x.last_report, v.created
  FROM vm_instances v JOIN system_vms x ON x.vm_id = v.id JOIN zones z ON z.id = v.zone_id LEFT JOIN pods p ON p.id = v.pod_id
  LEFT JOIN hosts h ON h.id = v.host_id JOIN templates t ON t.id = v.template_id`;

/** A report within this long counts as the appliance being up (agentstate Up). */
const REPORT_FRESH_MS = 60_000;

function view(r: Row): Record<string, unknown> {
  const role = roleOfType(r.type);
  const up = r.state === 'Running' && r.last_report !== null && Date.now() - new Date(r.last_report).getTime() < REPORT_FRESH_MS;
  return compact({
    id: r.id, systemvmtype: role?.apiName ?? r.type, zoneid: r.zone_id, zonename: r.zone_name, dns1: r.dns1 ?? undefined, dns2: r.dns2 ?? undefined,
    gateway: r.public_gateway, name: r.instance_name, podid: r.pod_id ?? undefined, podname: r.pod_name ?? undefined,
    hostid: r.host_id ?? undefined, hostname: r.host_name ?? undefined, hypervisor: r.hypervisor,
    linklocalip: r.link_local_ip, linklocalmacaddress: r.control_mac, linklocalnetmask: '255.255.0.0',
    publicip: r.public_ip, publicmacaddress: r.public_mac, publicnetmask: r.public_netmask,
    templateid: r.template_id, templatename: r.template_name, created: csDate(r.created), state: r.state,
    isdynamicallyscalable: false, hasannotations: false,
    agentstate: up ? 'Up' : r.state === 'Running' ? 'Connecting' : 'Disconnected',
    ...(r.type === 'ConsoleProxy' ? { activeviewersessions: r.sessions } : {}),
  });
}

async function viewOf(ctx: Context, id: string): Promise<Record<string, unknown>> {
  const r = (await ctx.services.db.query<Row>(`${SELECT} WHERE v.id = $1`, [id]))[0];
  return r ? view(r) : { id, state: 'Destroyed' };
}

/** A system VM that is not destroyed, or CloudStack's invalid-parameter answer. */
async function systemVmOf(ctx: Context, id: string): Promise<{ id: string; state: string; instance_name: string; type: string }> {
  const v = (await ctx.sql.query<{ id: string; state: string; instance_name: string; type: string }>(
    `SELECT v.id, v.state, v.instance_name, v.type FROM vm_instances v JOIN system_vms x ON x.vm_id = v.id WHERE v.id = $1 AND v.state <> 'Destroyed' AND v.type = ANY($2::text[])`,
    [id, systemVmTypes()]))[0];
  if (!v) throw notFound(ctx.command, 'id', id);
  return v;
}

export const listSystemVms = command({
  name: 'listSystemVms', description: 'List system virtual machines.', since: '1.0', roles: ADMIN, response: SYSTEM_VM, shape: 'list', transactional: false,
  params: {
    ...LIST_PARAMS,
    id: { type: 'uuid', entity: 'systemvm', description: 'the ID of the system VM' },
    name: { type: 'string', description: 'the name of the system VM' },
    systemvmtype: { type: 'string', description: 'the system VM type. Possible types are "consoleproxy" and "secondarystoragevm".', values: ['consoleproxy', 'secondarystoragevm'] },
    state: { type: 'string', description: 'the state of the system VM' },
    zoneid: { type: 'uuid', entity: 'zone', description: 'the Zone ID of the system VM' },
    podid: { type: 'uuid', entity: 'pod', description: 'the Pod ID of the system VM' },
    hostid: { type: 'uuid', entity: 'host', description: 'the host ID of the system VM' },
    storageid: { type: 'uuid', entity: 'storagepool', description: 'the storage ID where vm\'s volumes belong to' },
  },
  async handler(ctx, a) {
    const types = a.systemvmtype ? [roleOfApiName(a.systemvmtype)?.type ?? '-'] : systemVmTypes();
    const w = new Where().add('v.type = ANY(?::text[])', types).add(`v.state <> 'Destroyed'`)
      .add('v.id = ?', a.id).add('v.instance_name = ?', a.name).add('lower(v.state) = lower(?)', a.state).add('v.zone_id = ?', a.zoneid)
      .add('v.pod_id = ?', a.podid).add('v.host_id = ?', a.hostid).keyword(a.keyword, 'v.instance_name');
    if (a.storageid) w.add('false');
    const rows = await ctx.sql.query<Row>(`${SELECT} ${w} ORDER BY v.created`, w.params);
    return rows.map(view);
  },
});

/** start/stop/reboot/destroy (appliance-lifecycle.ts). Stopped by an admin, the monitor leaves
 *  it so; destroyed, its public address goes back to the range and the zone's next check makes
 *  a new VM of the role. A forced reboot is a stop and a start; a plain one restarts the
 *  appliance on its host and configures it again. */
export const { start: startSystemVm, stop: stopSystemVm, reboot: rebootSystemVm, destroy: destroySystemVm } = applianceLifecycle({
  label: 'System VM', entity: 'systemvm', idDescription: 'The ID of the system virtual machine', roles: ADMIN, response: SYSTEM_VM,
  instanceType: 'SystemVm', eventPrefix: 'SYSTEMVM', startRunning: 'refuse',
  find: async (ctx, id) => { const v = await systemVmOf(ctx, id); return { id: v.id, state: v.state, name: v.instance_name }; },
  view: viewOf,
  start: (ctx, v) => bringUpSystemVm(ctx.services, v.id),
  stop: (ctx, v, forced) => takeDownSystemVm(ctx.services, v.id, false, forced),
  reboot: async (ctx, v, forced) => {
    if (!forced) return rebootOnHost(ctx.services, v.id);
    await takeDownSystemVm(ctx.services, v.id, false, true);
    await bringUpSystemVm(ctx.services, v.id);
  },
  destroy: (ctx, v) => takeDownSystemVm(ctx.services, v.id, true),
}, {
  start: { name: 'startSystemVm', description: 'Starts a system virtual machine.', since: '1.0' },
  stop: { name: 'stopSystemVm', description: 'Stops a system VM.', since: '1.0', forced: 'Force stop the VM (vm is marked as Stopped even when command fails to be send to the backend, otherwise a force poweroff is attempted). The caller knows the VM is stopped.' },
  reboot: { name: 'rebootSystemVm', description: 'Reboots a system VM.', since: '1.0', forced: 'Force reboot the VM (VM is force stopped first then started)' },
  destroy: { name: 'destroySystemVm', description: 'Destroys a system virtual machine.', since: '3.0.0' },
});
