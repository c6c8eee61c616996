// Volume forms and actions shared by the volumes page and an instance's page: a data volume is
// made from a disk offering (createVolume; a custom offering takes a size in GB), attached to an
// instance in its zone (attachVolume), detached (detachVolume) and deleted once detached
// (deleteVolume), each CloudStack's command as a script would call it.
import type { Json } from '../api.ts';
import { bytes, stateTag } from './cells.ts';
import type { Action, Column, Field } from './types.ts';

export const offeringField: Field = {
  name: 'diskofferingid', label: 'Disk offering', type: 'select', required: true,
  options: { command: 'listDiskOfferings', label: (r) => `${r.name} (${r.iscustomized ? 'custom size' : `${r.disksize} GB`})` },
};
export const volumeFields = (withZone: boolean): Field[] => [
  { name: 'name', label: 'Volume name', required: true },
  ...(withZone ? [{ name: 'zoneid', label: 'Zone', type: 'select', required: true, options: { command: 'listZones', params: { available: 'true' } } } as Field] : []),
  offeringField,
  { name: 'size', label: 'Size (GB)', type: 'number', help: 'Only for a custom-size offering' },
];
export const isData = (r: Json) => r.type === 'DATADISK';

export const volumeColumns = (withVm: boolean): Column[] => [
  { key: 'name', title: 'Name' }, { key: 'type', title: 'Type' }, { key: 'state', title: 'State', render: stateTag() },
  { key: 'size', title: 'Size', render: (r) => bytes(r.size) },
  ...(withVm ? [{ key: 'vmname', title: 'Instance', link: (r: Json) => r.virtualmachineid ? `/instances/${r.virtualmachineid}` : '' } as Column] : []),
  { key: 'deviceid', title: 'Device' }, { key: 'diskofferingname', title: 'Disk offering' }, { key: 'zonename', title: 'Zone' },
];

export const detachAction: Action = { label: 'Detach', command: 'detachVolume', params: (r) => ({ id: r.id }), show: (r) => isData(r) && !!r.virtualmachineid, confirm: (r) => `Detach ${r.name} from ${r.vmname}?` };
export const deleteAction: Action = { label: 'Delete', command: 'deleteVolume', params: (r) => ({ id: r.id }), show: (r) => isData(r) && !r.virtualmachineid, confirm: (r) => `Delete volume ${r.name}? Its data is lost.` };
export const attachAction: Action = {
  label: 'Attach', command: 'attachVolume', params: (r) => ({ id: r.id }), show: (r) => isData(r) && !r.virtualmachineid,
  // The instances of the volume's zone and account that can take a disk (running or stopped).
  form: [{ name: 'virtualmachineid', label: 'Instance', type: 'select', required: true,
    options: { command: 'listVirtualMachines', params: { listall: 'true' }, filter: (v) => v.state === 'Running' || v.state === 'Stopped' } }],
  done: (res, r) => `Attached ${r.name} to ${res.volume?.vmname ?? 'the instance'}`,
};
