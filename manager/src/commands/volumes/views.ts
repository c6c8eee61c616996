// DiskOfferingResponse and VolumeResponse, next to the functions building them from rows.
import { field as f, type ResponseDef } from '../../api/registry.ts';
import { compact, csDate } from '../../api/serialize.ts';
import { ownerFields, projectColumns } from '../projects/lookup.ts';

export const GiB = 1024 ** 3;

export const DISK_OFFERING: ResponseDef = {
  name: 'diskoffering',
  fields: {
    id: f('string', 'unique ID of the disk offering'), name: f('string', 'the name of the disk offering'), displaytext: f('string', 'an alternate display text of the disk offering.'),
    disksize: f('long', 'the size of the disk offering in GB'), iscustomized: f('boolean', 'true if disk offering uses custom size, false otherwise'),
    created: f('date', 'the date this disk offering was created'), storagetype: f('string', 'the storage type for this disk offering'),
    provisioningtype: f('string', 'provisioning type used to create volumes.'), domainid: f('string', 'the domain ID(s) this disk offering belongs to. Ignore this information as it is not currently applicable.'),
    domain: f('string', 'the domain name(s) this disk offering belongs to. Ignore this information as it is not currently applicable.'),
    zoneid: f('string', 'the zone ID(s) this disk offering belongs to. Ignore this information as it is not currently applicable.'),
    zone: f('string', 'the zone name(s) this disk offering belongs to. Ignore this information as it is not currently applicable.'),
    displayoffering: f('boolean', 'whether to display the offering to the end user or not.'), state: f('string', 'state of the disk offering'),
    disksizestrictness: f('boolean', 'To allow or disallow the resize operation on the disks created from this disk offering, if the flag is true then resize is not allowed', '4.17'),
    encrypt: f('boolean', 'Whether disks using this offering will be encrypted on primary storage', '4.18'),
  },
};
export interface DiskOfferingRow { id: string; name: string; display_text: string; disk_size: string | number | null; is_customized: boolean; storage_type: string; provisioning_type: string; domain_id: string | null; domain_name: string | null; zone_id: string | null; zone_name: string | null; state: string; created: Date }
export const DISK_OFFERING_SELECT = `SELECT o.*, d.name AS domain_name, z.name AS zone_name FROM disk_offerings o LEFT JOIN domains d ON d.id = o.domain_id LEFT JOIN zones z ON z.id = o.zone_id`;
export function diskOfferingView(r: DiskOfferingRow): Record<string, unknown> {
  return compact({
    id: r.id, name: r.name, displaytext: r.display_text, disksize: r.disk_size === null ? 0 : Number(r.disk_size) / GiB, iscustomized: r.is_customized,
    created: csDate(r.created), storagetype: r.storage_type, provisioningtype: r.provisioning_type, domainid: r.domain_id ?? undefined, domain: r.domain_name ?? undefined,
    zoneid: r.zone_id ?? undefined, zone: r.zone_name ?? undefined, displayoffering: true, state: r.state, disksizestrictness: false, encrypt: false,
  });
}

export const VOLUME: ResponseDef = {
  name: 'volume', tagged: 'Volume',
  fields: {
    id: f('string', 'ID of the disk volume'), name: f('string', 'name of the disk volume'), zoneid: f('string', 'ID of the availability zone'), zonename: f('string', 'name of the availability zone'),
    type: f('string', 'type of the disk volume (ROOT or DATADISK)'), deviceid: f('long', 'the ID of the device on user vm the volume is attahed to. This tag is not returned when the volume is detached.'),
    virtualmachineid: f('string', 'id of the virtual machine'), vmname: f('string', 'name of the virtual machine'), vmdisplayname: f('string', 'display name of the virtual machine'),
    vmstate: f('string', 'state of the virtual machine'), provisioningtype: f('string', 'provisioning type used to create volumes.'), size: f('long', 'size of the disk volume'),
    created: f('date', 'the date the disk volume was created'), state: f('string', 'the state of the disk volume'), account: f('string', 'the account associated with the disk volume'),
    projectid: f('string', 'the project id of the vpn'), project: f('string', 'the project name of the vpn'),
    domainid: f('string', 'the ID of the domain associated with the disk volume'), domain: f('string', 'the domain associated with the disk volume'),
    storagetype: f('string', 'shared or local storage'), hypervisor: f('string', 'Hypervisor the volume belongs to'),
    diskofferingid: f('string', 'ID of the disk offering'), diskofferingname: f('string', 'name of the disk offering'), diskofferingdisplaytext: f('string', 'the display text of the disk offering'),
    storage: f('string', 'name of the primary storage hosting the disk volume'), storageid: f('string', 'id of the primary storage hosting the disk volume; returned to admin user only'),
    destroyed: f('boolean', 'the boolean state of whether the volume is destroyed or not'), isextractable: f('boolean', 'true if the volume is extractable, false otherwise'),
    templateid: f('string', 'the ID of the template for the disk volume'), templatename: f('string', 'name of the template'), templatedisplaytext: f('string', ' an alternate display text of the template.'),
    attached: f('date', 'the date the volume was attached to a VM instance'), path: f('string', 'the path of the volume'),
    serviceofferingid: f('string', 'ID of the service offering for root disk'), serviceofferingname: f('string', 'name of the service offering for root disk'),
    displayvolume: f('boolean', 'an optional field whether to the display the volume to the end user or not.'), physicalsize: f('long', 'the bytes actually consumed on disk'),
    virtualsize: f('long', 'the bytes allocated'), hostid: f('string', 'Flotilla: the host that has the volume\'s file (local storage); admins only'),
  },
};
export interface VolumeRow {
  id: string; name: string; type: string; state: string; size: string | number; zone_id: string; zone_name: string; account_id: string; account_name: string; domain_id: string; domain_name: string; domain_path: string;
  vm_id: string | null; vm_name: string | null; vm_display_name: string | null; vm_state: string | null; vm_hypervisor: string | null; device_id: number | null; disk_offering_id: string | null;
  offering_name: string | null; offering_display_text: string | null; provisioning_type: string | null; storage_type: string | null; template_id: string | null; template_name: string | null; template_display_text: string | null;
  service_offering_id: string | null; service_offering_name: string | null; host_id: string | null; host_name: string | null; file: string; attached: Date | null; created: Date; project_id?: string | null; project_name?: string | null;
}
export const VOLUME_SELECT = `SELECT vo.*, ${projectColumns('vo')}, z.name AS zone_name, a.name AS account_name, d.name AS domain_name, d.path AS domain_path, v.name AS vm_name, v.display_name AS vm_display_name,
  v.state AS vm_state, t.hypervisor AS vm_hypervisor, o.name AS offering_name, o.display_text AS offering_display_text, o.provisioning_type, o.storage_type,
  vt.name AS template_name, vt.display_text AS template_display_text, v.service_offering_id, so.name AS service_offering_name, h.name AS host_name
  FROM volumes vo JOIN zones z ON z.id = vo.zone_id JOIN accounts a ON a.id = vo.account_id JOIN domains d ON d.id = vo.domain_id
  LEFT JOIN vm_instances v ON v.id = vo.vm_id LEFT JOIN templates t ON t.id = v.template_id LEFT JOIN disk_offerings o ON o.id = vo.disk_offering_id
  LEFT JOIN templates vt ON vt.id = vo.template_id LEFT JOIN service_offerings so ON so.id = v.service_offering_id AND vo.type = 'ROOT' LEFT JOIN hosts h ON h.id = vo.host_id`;
export function volumeView(r: VolumeRow, admin: boolean): Record<string, unknown> {
  return compact({
    id: r.id, name: r.name, zoneid: r.zone_id, zonename: r.zone_name, type: r.type, deviceid: r.vm_id ? r.device_id ?? undefined : undefined,
    virtualmachineid: r.vm_id ?? undefined, vmname: r.vm_name ?? undefined, vmdisplayname: r.vm_name ? r.vm_display_name ?? r.vm_name : undefined, vmstate: r.vm_state ?? undefined,
    provisioningtype: r.provisioning_type ?? 'thin', size: Number(r.size), created: csDate(r.created), state: r.state, ...ownerFields(r, r.account_name), domainid: r.domain_id, domain: r.domain_name,
    storagetype: 'local', hypervisor: r.vm_hypervisor ?? 'None',
    diskofferingid: r.disk_offering_id ?? undefined, diskofferingname: r.offering_name ?? undefined, diskofferingdisplaytext: r.offering_display_text ?? undefined,
    storage: r.host_name ? `${r.host_name}-local` : undefined, storageid: admin && r.host_id ? r.host_id : undefined, destroyed: false, isextractable: false,
    templateid: r.template_id ?? undefined, templatename: r.template_name ?? undefined, templatedisplaytext: r.template_display_text ?? undefined,
    attached: r.vm_id ? csDate(r.attached) : undefined, path: r.file, serviceofferingid: r.service_offering_id ?? undefined, serviceofferingname: r.service_offering_name ?? undefined,
    displayvolume: true, virtualsize: Number(r.size), hostid: admin ? r.host_id ?? undefined : undefined,
  });
}
