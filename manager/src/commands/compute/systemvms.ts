// listSystemVms: the console proxy and secondary storage VMs (CloudStack lists virtual routers
// with listRouters, not here). They are vm_instances of type ConsoleProxy / SecondaryStorageVm.
import { ADMIN, LIST_PARAMS, command, type ResponseDef } from '../../api/registry.ts';
import { compact, csDate } from '../../api/serialize.ts';
import { Where } from '../../db/sql.ts';

const SYSTEM_VM: ResponseDef = {
  name: 'systemvm',
  fields: {
    id: { type: 'string', description: 'the ID of the system VM' },
    name: { type: 'string', description: 'the name of the system VM' },
    systemvmtype: { type: 'string', description: 'the system VM type' },
    state: { type: 'string', description: 'the state of the system VM' },
    zoneid: { type: 'string', description: 'the Zone ID for the system VM' },
    zonename: { type: 'string', description: 'the Zone name for the system VM' },
    podid: { type: 'string', description: 'the Pod ID for the system VM' },
    hostid: { type: 'string', description: 'the host ID for the system VM' },
    hostname: { type: 'string', description: 'the hostname for the system VM' },
    templateid: { type: 'string', description: 'the template ID for the system VM' },
    hypervisor: { type: 'string', description: 'the hypervisor on which the template runs' },
    privateip: { type: 'string', description: 'the private IP address for the system VM' },
    publicip: { type: 'string', description: 'the public IP address for the system VM' },
    created: { type: 'date', description: 'the date and time the system VM was created' },
  },
};

const TYPES: Record<string, string> = { consoleproxy: 'ConsoleProxy', secondarystoragevm: 'SecondaryStorageVm' };

export const listSystemVms = command({
  name: 'listSystemVms', description: 'List system virtual machines.', since: '1.0', roles: ADMIN, response: SYSTEM_VM, shape: 'list',
  params: {
    ...LIST_PARAMS,
    id: { type: 'uuid', entity: 'systemvm', description: 'the ID of the system VM' },
    name: { type: 'string', description: 'the name of the system VM' },
    systemvmtype: { type: 'string', description: 'the system VM type. Possible types are "consoleproxy" and "secondarystoragevm".', values: ['consoleproxy', 'secondarystoragevm'] },
    state: { type: 'string', description: 'the state of the system VM' },
    zoneid: { type: 'uuid', entity: 'zone', description: 'the Zone ID of the system VM' },
    podid: { type: 'uuid', entity: 'pod', description: 'the Pod ID of the system VM' },
    hostid: { type: 'uuid', entity: 'host', description: 'the host ID of the system VM' },
  },
  async handler(ctx, a) {
    const w = new Where().add('v.type = ANY(?::text[])', a.systemvmtype ? [TYPES[a.systemvmtype]] : Object.values(TYPES))
      .add('v.id = ?', a.id).add('v.instance_name = ?', a.name).add('lower(v.state) = lower(?)', a.state).add('v.zone_id = ?', a.zoneid)
      .add('v.pod_id = ?', a.podid).add('v.host_id = ?', a.hostid).keyword(a.keyword, 'v.instance_name');
    const rows = await ctx.sql.query<{ id: string; instance_name: string; type: string; state: string; zone_id: string; zone_name: string; pod_id: string | null; host_id: string | null; host_name: string | null; template_id: string; hypervisor: string; private_ip: string | null; created: Date }>(
      `SELECT v.*, z.name AS zone_name, h.name AS host_name, t.hypervisor,
         (SELECT c.ip4 FROM nics c WHERE c.vm_id = v.id ORDER BY c.device_id LIMIT 1) AS private_ip
       FROM vm_instances v JOIN zones z ON z.id = v.zone_id LEFT JOIN hosts h ON h.id = v.host_id JOIN templates t ON t.id = v.template_id ${w} ORDER BY v.created`, w.params);
    const typeName = Object.fromEntries(Object.entries(TYPES).map(([k, v]) => [v, k]));
    return rows.map((r) => compact({
      id: r.id, name: r.instance_name, systemvmtype: typeName[r.type], state: r.state, zoneid: r.zone_id, zonename: r.zone_name, podid: r.pod_id ?? undefined,
      hostid: r.host_id ?? undefined, hostname: r.host_name ?? undefined, templateid: r.template_id, hypervisor: r.hypervisor, privateip: r.private_ip ?? undefined,
      created: csDate(r.created),
    }));
  },
});
