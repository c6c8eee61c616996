// Volumes (CloudStack's ListVolumesCmd, CreateVolumeCmd, AttachVolumeCmd, DetachVolumeCmd,
// ResizeVolumeCmd, DeleteVolumeCmd). Every VM has a ROOT volume, recorded with it and removed
// at expunge; data volumes come from disk offerings. A volume's storage is a file on the host
// its VM runs on (local storage; the netns driver makes a sparse file under its state
// directory, the simulator records it): made when the volume first meets a host (its VM starts,
// or it is attached to a VM that has one), resized and removed there through the host's agent.
// Until then it is Allocated, as CloudStack's volumes are until first use.
import { randomUUID } from 'node:crypto';
import { ALL_ROLES, LIST_OWNED_PARAMS, SUCCESS_RESPONSE, command } from '../../api/registry.ts';
import { apiError, notFound, paramError } from '../../api/errors.ts';
import { applyScope, resolveScope } from '../../api/scope.ts';
import type { Context } from '../../api/context.ts';
import { Where, type Sql } from '../../db/sql.ts';
import type { Services } from '../../services.ts';
import { agentFailure } from '../../orchestrator/compute.ts';
import { zoneById } from '../infra/lookup.ts';
import { accountByName } from '../accounts/lookup.ts';
import { vmById } from '../compute/lookup.ts';
import { checkResourceLimit } from '../limits/limits.ts';
import { diskOfferingById } from './offerings.ts';
import { GiB, VOLUME, VOLUME_SELECT, volumeView, type VolumeRow } from './views.ts';

/** A template without a recorded size gets a ROOT volume of this many bytes. */
export const DEFAULT_ROOT_BYTES = 2 * GiB;
/** Data disks take device ids 1..15; 3 is the CD-ROM's in CloudStack. */
const DATA_DEVICE_IDS = [1, 2, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];

async function viewOf(ctx: Context, id: string): Promise<Record<string, unknown>> {
  return volumeView((await ctx.services.db.query<VolumeRow>(`${VOLUME_SELECT} WHERE vo.id = $1`, [id]))[0]!, ctx.caller.role === 'Admin');
}

export async function volumeById(ctx: Context, id: string, param = 'id'): Promise<VolumeRow> {
  const v = (await ctx.services.db.query<VolumeRow>(`${VOLUME_SELECT} WHERE vo.id = $1`, [id]))[0];
  if (!v) throw notFound(ctx.command, param, id);
  return v;
}

// ---- the VM side: ROOT volumes and files on hosts ----

/** Records a VM's ROOT volume (in the deploy's transaction); its file is made when the VM starts. */
export async function createRootVolume(sql: Sql, o: { vmId: string; seq: number; zoneId: string; accountId: string; domainId: string; templateId: string; sizeBytes: number }): Promise<void> {
  const id = randomUUID();
  await sql.query(
    `INSERT INTO volumes (id, name, type, state, size, zone_id, account_id, domain_id, vm_id, device_id, template_id, file, attached)
     VALUES ($1,$2,'ROOT','Allocated',$3,$4,$5,$6,$7,0,$8,$9,now())`,
    [id, `ROOT-${o.seq}`, o.sizeBytes, o.zoneId, o.accountId, o.domainId, o.vmId, o.templateId, `vol-${id}`]);
}

/** Makes (or resizes) a volume's file on a host and records it there, Ready. */
async function fileOnHost(s: Services, v: { id: string; file: string; size: string | number; host_id: string | null }, hostId: string): Promise<void> {
  if (v.host_id && v.host_id !== hostId && s.agents.isConnected(v.host_id)) {
    // Local storage follows its VM: the file on the host it ran on before goes.
    await s.agents.request(v.host_id, 'removeVolume', { volume: v.file }).catch(() => undefined);
  }
  // The host is recorded before its file is made: a manager killed in between leaves a row that
  // names where the file may be, so a delete or an expunge removes it there (recorded after,
  // a kill leaked the file: the host kept it and no row named it).
  if (v.host_id !== hostId) await s.db.query('UPDATE volumes SET host_id = $2 WHERE id = $1', [v.id, hostId]);
  await s.agents.request(hostId, 'ensureVolume', { volume: v.file, sizeBytes: Number(v.size) }).catch((e) => { throw agentFailure(e, `Creating volume ${v.file} on its host`); });
  await s.db.query(`UPDATE volumes SET host_id = $2, state = 'Ready' WHERE id = $1`, [v.id, hostId]);
}

/** Before a VM starts on a host: every volume of it has its file there. */
export async function ensureVmVolumes(s: Services, vmId: string, hostId: string): Promise<void> {
  const vols = await s.db.query<{ id: string; file: string; size: string; host_id: string | null }>('SELECT id, file, size, host_id FROM volumes WHERE vm_id = $1 ORDER BY device_id', [vmId]);
  for (const v of vols) await fileOnHost(s, v, hostId);
}

/** A VM is expunged: its ROOT volume goes (file and record), its data volumes are detached. */
export async function expungeVmVolumes(s: Services, vmId: string): Promise<void> {
  const roots = await s.db.query<{ id: string; file: string; host_id: string | null }>(`SELECT id, file, host_id FROM volumes WHERE vm_id = $1 AND type = 'ROOT'`, [vmId]);
  for (const r of roots) {
    const removed = !r.host_id || (s.agents.isConnected(r.host_id) && await s.agents.request(r.host_id, 'removeVolume', { volume: r.file })
      .then(() => true, (e) => { s.log.warn({ err: e, volume: r.id }, 'removing an expunged VM\'s ROOT volume file failed'); return false; }));
    // A file not removed now (its host away, or the removal failed) keeps its row, detached and
    // Destroy: the repair loop removes it when the host is back (finishVolumeDeletes). Deleting
    // the row anyway left the host a file no volume names (the kill harness found them).
    if (!removed) await s.db.query(`UPDATE volumes SET state = 'Destroy', vm_id = NULL, device_id = NULL, attached = NULL WHERE id = $1`, [r.id]);
  }
  await s.db.tx(async (sql) => {
    await sql.query(`DELETE FROM volumes WHERE vm_id = $1 AND type = 'ROOT'`, [vmId]);
    await sql.query(`UPDATE volumes SET vm_id = NULL, device_id = NULL, attached = NULL WHERE vm_id = $1`, [vmId]);
  });
}

/** Finishes the deletes a killed manager left: each Destroy volume's file goes from its host
 *  (when connected; else next pass), then its row. Run by the repair loop. */
export async function finishVolumeDeletes(s: Services): Promise<number> {
  const left = await s.db.query<{ id: string; file: string; host_id: string | null }>(`SELECT id, file, host_id FROM volumes WHERE state = 'Destroy' AND vm_id IS NULL`);
  let done = 0;
  for (const v of left) {
    if (v.host_id) {
      if (!s.agents.isConnected(v.host_id)) continue;
      await s.agents.request(v.host_id, 'removeVolume', { volume: v.file });
    }
    await s.db.query(`DELETE FROM volumes WHERE id = $1 AND state = 'Destroy'`, [v.id]);
    done++;
  }
  return done;
}

// ---- commands ----

export const listVolumes = command({
  name: 'listVolumes', description: 'Lists all volumes.', since: '1.0', roles: ALL_ROLES, response: VOLUME, shape: 'list',
  params: {
    ...LIST_OWNED_PARAMS,
    id: { type: 'uuid', entity: 'volume', description: 'the ID of the disk volume' },
    ids: { type: 'list', entity: 'volume', of: 'uuid', description: 'the IDs of the volumes, mutually exclusive with id', since: '4.9' },
    name: { type: 'string', description: 'the name of the disk volume' },
    type: { type: 'string', description: 'the type of disk volume', values: ['ROOT', 'DATADISK'] },
    virtualmachineid: { type: 'uuid', entity: 'vm', description: 'the ID of the virtual machine' },
    zoneid: { type: 'uuid', entity: 'zone', description: 'the ID of the availability zone' },
    podid: { type: 'uuid', entity: 'pod', description: 'the pod id the disk volume belongs to', adminOnly: true },
    clusterid: { type: 'uuid', entity: 'cluster', description: 'the cluster id the disk volume belongs to', adminOnly: true },
    hostid: { type: 'uuid', entity: 'host', description: 'list volumes on specified host', adminOnly: true },
    storageid: { type: 'string', description: 'the ID of the storage pool, available to ROOT admin only', adminOnly: true },
    diskofferingid: { type: 'uuid', entity: 'diskoffering', description: 'list volumes by disk offering', since: '4.4' },
    displayvolume: { type: 'boolean', description: 'list resources by display flag; only ROOT admin is eligible to pass this parameter', since: '4.4', adminOnly: true },
    state: { type: 'string', description: 'state of the volume. Possible values are: Ready, Allocated, Destroy, Expunging, Expunged.' },
    isencrypted: { type: 'boolean', description: 'list only volumes that are encrypted', since: '4.19' },
    projectid: { type: 'uuid', entity: 'project', description: 'list objects by project; if projectid=-1 lists All VMs' },
  },
  async handler(ctx, a) {
    if (a.isencrypted) return [];
    const scope = await resolveScope(ctx.sql, ctx.caller, a);
    const w = applyScope(new Where([]), scope, { account: 'vo.account_id', domain: 'vo.domain_id' });
    w.add('vo.id = ?', a.id).add('vo.id = ANY(?::uuid[])', a.ids).add('lower(vo.name) = lower(?)', a.name).add('vo.type = ?', a.type).add('vo.vm_id = ?', a.virtualmachineid)
      .add('vo.zone_id = ?', a.zoneid).add('vo.host_id = ?', a.hostid).add('vo.host_id::text = lower(?)', a.storageid).add('vo.disk_offering_id = ?', a.diskofferingid)
      .add('lower(vo.state) = lower(?)', a.state).add('h.pod_id = ?', a.podid).add('h.cluster_id = ?', a.clusterid).keyword(a.keyword, 'vo.name');
    if (a.displayvolume === false) return [];
    return (await ctx.sql.query<VolumeRow>(`${VOLUME_SELECT} ${w} ORDER BY vo.created, vo.id`, w.params)).map((r) => volumeView(r, ctx.caller.role === 'Admin'));
  },
});

const checkName = (v: string) => (/^[A-Za-z0-9][A-Za-z0-9 _.-]*$/.test(v) ? undefined : 'a volume name is letters, digits, spaces, dots, hyphens and underscores, starting with a letter or digit');

export const createVolume = command({
  name: 'createVolume', description: 'Creates a disk volume from a disk offering. This disk volume must still be attached to a virtual machine to make use of it.', since: '1.0',
  roles: ALL_ROLES, response: VOLUME, shape: 'object', isAsync: true, transactional: false, event: 'VOLUME.CREATE', instance: { type: 'Volume', creates: true },
  params: {
    name: { type: 'string', description: 'the name of the disk volume', check: checkName },
    zoneid: { type: 'uuid', entity: 'zone', description: 'the ID of the availability zone' },
    diskofferingid: { type: 'uuid', entity: 'diskoffering', description: 'the ID of the disk offering. Either diskOfferingId or snapshotId must be passed in.' },
    size: { type: 'long', description: 'Arbitrary volume size (in GB)', min: 1, max: 1048576 },
    account: { type: 'string', description: 'the account associated with the disk volume. Must be used with the domainId parameter.' },
    domainid: { type: 'uuid', entity: 'domain', description: 'the domain ID associated with the disk offering. If used with the account parameter returns the disk volume associated with the account for the specified domain.' },
    projectid: { type: 'uuid', entity: 'project', description: 'the project associated with the volume. Mutually exclusive with account parameter' },
    snapshotid: { type: 'uuid', entity: 'snapshot', description: 'the snapshot ID for the disk volume. Either diskOfferingId or snapshotId must be passed in.' },
    virtualmachineid: { type: 'uuid', entity: 'vm', description: 'the ID of the virtual machine; to be used with snapshot Id, VM to which the volume gets attached after creation', since: '4.16' },
    displayvolume: { type: 'boolean', description: 'an optional field, whether to display the volume to the end user or not.' },
    miniops: { type: 'long', description: 'min iops' },
    maxiops: { type: 'long', description: 'max iops' },
  },
  async handler(ctx, a) {
    const s = ctx.services;
    const id = ctx.newId ?? randomUUID();
    if (!(await s.db.query('SELECT 1 FROM volumes WHERE id = $1', [id])).length) {
      if (a.snapshotid) throw paramError('Volume snapshots are not supported yet: give diskofferingid');
      if (a.projectid) throw paramError('Projects are not supported yet');
      if (!a.diskofferingid) throw paramError('Unable to execute API command createvolume due to missing parameter diskofferingid: either diskOfferingId or snapshotId must be passed in');
      if (!a.zoneid) throw paramError('Unable to execute API command createvolume due to missing parameter zoneid');
      await s.db.tx(async (sql) => {
        const tctx: Context = { ...ctx, sql };
        const zone = await zoneById(tctx, a.zoneid!, 'zoneid');
        const off = await diskOfferingById(tctx, a.diskofferingid!);
        if (off.zone_id && off.zone_id !== zone.id) throw paramError(`Disk offering ${off.name} is not available in zone ${zone.name}`);
        let size: number;
        if (off.is_customized) {
          if (a.size === undefined) throw paramError(`This disk offering requires a custom size specified: give size (GB) for disk offering ${off.name}`);
          size = a.size * GiB;
        } else {
          if (a.size !== undefined && a.size * GiB !== Number(off.disk_size)) throw paramError(`This disk offering does not allow custom size: disk offering ${off.name} is ${Number(off.disk_size) / GiB} GB`);
          size = Number(off.disk_size);
        }
        let owner = { accountId: ctx.caller.accountId, domainId: ctx.caller.domainId };
        if (a.account !== undefined || a.domainid !== undefined) {
          if (a.account === undefined || a.domainid === undefined) throw paramError('account and domainid must be given together');
          const acc = await accountByName(tctx, a.account, a.domainid);
          owner = { accountId: acc.id, domainId: acc.domain_id };
        }
        if (a.virtualmachineid) {
          const vm = await vmById(tctx, a.virtualmachineid, 'virtualmachineid');
          if (vm.account_id !== owner.accountId) throw paramError(`Virtual machine ${vm.name} belongs to another account than the volume`);
        }
        await checkResourceLimit(sql, owner.accountId, 'volume');
        await sql.query(
          `INSERT INTO volumes (id, name, type, state, size, zone_id, account_id, domain_id, disk_offering_id, file) VALUES ($1,$2,'DATADISK','Allocated',$3,$4,$5,$6,$7,$8)`,
          [id, a.name ?? `DATA-${id.slice(0, 8)}`, size, zone.id, owner.accountId, owner.domainId, off.id, `vol-${id}`]);
      });
    }
    ctx.setResource('Volume', id);
    if (a.virtualmachineid) {
      const v = await volumeById(ctx, id);
      if (!v.vm_id) await attach(ctx, v, a.virtualmachineid, undefined);
    }
    return viewOf(ctx, id);
  },
});

async function attach(ctx: Context, v: VolumeRow, vmId: string, deviceId: number | undefined): Promise<void> {
  const s = ctx.services;
  const vm = await vmById(ctx, vmId, 'virtualmachineid');
  if (v.type !== 'DATADISK') throw paramError(`Volume ${v.name} is a ${v.type} volume; only data volumes can be attached`);
  if (v.vm_id) throw paramError(`Volume ${v.name} is already attached to virtual machine ${v.vm_name}; detach it first`);
  if (vm.account_id !== v.account_id) throw apiError('ACCOUNT_ERROR', `Volume ${v.name} and virtual machine ${vm.name} belong to different accounts`, [v.id]);
  if (vm.zone_id !== v.zone_id) throw paramError(`Volume ${v.name} is in zone ${v.zone_name}, virtual machine ${vm.name} in zone ${vm.zone_name}`);
  if (vm.state !== 'Running' && vm.state !== 'Stopped') throw paramError(`Please specify a virtual machine that is either running or stopped: ${vm.name} is ${vm.state}`);
  await s.db.tx(async (sql) => {
    await sql.query('SELECT id FROM vm_instances WHERE id = $1 FOR UPDATE', [vm.id]);
    const used = new Set((await sql.query<{ device_id: number }>('SELECT device_id FROM volumes WHERE vm_id = $1', [vm.id])).map((r) => r.device_id));
    let dev = deviceId;
    if (dev !== undefined) {
      if (dev === 0) throw paramError('deviceid 0 is the ROOT volume\'s');
      if (dev === 3) throw paramError('deviceid 3 is reserved for the CD-ROM');
      if (used.has(dev)) throw paramError(`deviceid ${dev} is already used on virtual machine ${vm.name}`);
    } else {
      dev = DATA_DEVICE_IDS.find((d) => !used.has(d));
      if (dev === undefined) throw paramError(`Virtual machine ${vm.name} has the maximum number of data volumes (${DATA_DEVICE_IDS.length}) attached`);
    }
    await sql.query('UPDATE volumes SET vm_id = $2, device_id = $3, attached = now() WHERE id = $1', [v.id, vm.id, dev]);
  });
  // A VM on a host gets the file there now; a stopped one at its next start.
  if (vm.host_id) {
    try { await fileOnHost(s, v, vm.host_id); } catch (e) {
      await s.db.query('UPDATE volumes SET vm_id = NULL, device_id = NULL, attached = NULL WHERE id = $1', [v.id]);
      throw e;
    }
  }
}

export const attachVolume = command({
  name: 'attachVolume', description: 'Attaches a disk volume to a virtual machine.', since: '1.0', roles: ALL_ROLES, response: VOLUME, shape: 'object',
  isAsync: true, transactional: false, event: 'VOLUME.ATTACH', instance: { type: 'Volume', param: 'id' },
  params: {
    id: { type: 'uuid', entity: 'volume', required: true, description: 'the ID of the disk volume' },
    virtualmachineid: { type: 'uuid', entity: 'vm', required: true, description: '	the ID of the virtual machine' },
    deviceid: { type: 'long', description: 'The ID of the device to map the volume to the guest OS. If no deviceID is informed, the next available deviceID will be chosen.', min: 0, max: 15 },
  },
  async handler(ctx, a) {
    const v = await volumeById(ctx, a.id);
    if (v.vm_id === a.virtualmachineid) return viewOf(ctx, v.id);
    await attach(ctx, v, a.virtualmachineid, a.deviceid);
    ctx.setResource('Volume', v.id);
    return viewOf(ctx, v.id);
  },
});

export const detachVolume = command({
  name: 'detachVolume', description: 'Detaches a disk volume from a virtual machine.', since: '1.0', roles: ALL_ROLES, response: VOLUME, shape: 'object',
  isAsync: true, transactional: false, event: 'VOLUME.DETACH', instance: { type: 'Volume', param: 'id' },
  params: {
    id: { type: 'uuid', entity: 'volume', description: 'the ID of the disk volume' },
    deviceid: { type: 'long', description: 'the device ID on the virtual machine where volume is detached from', min: 0, max: 15 },
    virtualmachineid: { type: 'uuid', entity: 'vm', description: 'the ID of the virtual machine where the volume is detached from' },
  },
  async handler(ctx, a) {
    let id = a.id;
    if (!id) {
      if (!a.virtualmachineid || a.deviceid === undefined) throw paramError('Please provide either a volume id, or a tuple(device id, instance id)');
      const vm = await vmById(ctx, a.virtualmachineid, 'virtualmachineid');
      id = (await ctx.services.db.query<{ id: string }>('SELECT id FROM volumes WHERE vm_id = $1 AND device_id = $2', [vm.id, a.deviceid]))[0]?.id;
      if (!id) throw paramError(`Unable to find volume with device id ${a.deviceid} on virtual machine ${vm.name}`);
    } else if (a.virtualmachineid || a.deviceid !== undefined) {
      throw paramError('Please provide either a volume id, or a tuple(device id, instance id)');
    }
    const v = await volumeById(ctx, id);
    if (v.type === 'ROOT') throw paramError(`Volume ${v.name} is the ROOT volume of virtual machine ${v.vm_name}; it cannot be detached`);
    if (!v.vm_id) throw paramError(`Volume ${v.name} is not attached to any virtual machine`);
    if (v.vm_state !== 'Running' && v.vm_state !== 'Stopped') throw paramError(`Please specify a VM that is either running or stopped: ${v.vm_name} is ${v.vm_state}`);
    // The file stays where it is (the volume keeps its data); it follows the next VM it is attached to.
    await ctx.services.db.query('UPDATE volumes SET vm_id = NULL, device_id = NULL, attached = NULL WHERE id = $1', [v.id]);
    ctx.setResource('Volume', v.id);
    return viewOf(ctx, v.id);
  },
});

export const resizeVolume = command({
  name: 'resizeVolume', description: 'Resizes a volume', since: '4.2.0', roles: ALL_ROLES, response: VOLUME, shape: 'object',
  isAsync: true, transactional: false, event: 'VOLUME.RESIZE', instance: { type: 'Volume', param: 'id' },
  params: {
    id: { type: 'uuid', entity: 'volume', required: true, description: 'the ID of the disk volume' },
    size: { type: 'long', description: 'New volume size in GB', min: 1, max: 1048576 },
    diskofferingid: { type: 'uuid', entity: 'diskoffering', description: 'new disk offering id' },
    shrinkok: { type: 'boolean', description: 'Verify OK to Shrink' },
    miniops: { type: 'long', description: 'New minimum number of IOPS' },
    maxiops: { type: 'long', description: 'New maximum number of IOPS' },
  },
  async handler(ctx, a) {
    const s = ctx.services;
    const v = await volumeById(ctx, a.id);
    let size: number | undefined;
    let offeringId = v.disk_offering_id;
    if (a.diskofferingid) {
      const off = await diskOfferingById(ctx, a.diskofferingid);
      if (v.type === 'ROOT') throw paramError('The ROOT volume takes a new size (size), not a disk offering');
      if (off.is_customized) {
        if (a.size === undefined) throw paramError(`Disk offering ${off.name} is customized: give size (GB)`);
        size = a.size * GiB;
      } else {
        if (a.size !== undefined) throw paramError(`Disk offering ${off.name} has a fixed size: give size or a fixed offering, not both`);
        size = Number(off.disk_size);
      }
      offeringId = off.id;
    } else {
      if (a.size === undefined) throw paramError('Unable to execute API command resizevolume due to missing parameter size or diskofferingid');
      if (v.type === 'DATADISK' && v.disk_offering_id) {
        const cur = (await s.db.query<{ is_customized: boolean; name: string }>('SELECT is_customized, name FROM disk_offerings WHERE id = $1', [v.disk_offering_id]))[0];
        if (cur && !cur.is_customized) throw paramError(`Volume ${v.name} has the fixed-size disk offering ${cur.name}: give a diskofferingid to resize it`);
      }
      size = a.size * GiB;
    }
    const current = Number(v.size);
    if (size < current && !a.shrinkok) throw paramError(`Going from existing size of ${current} to size of ${size} would shrink the volume. Need to sign off by supplying the shrinkok parameter with value of true.`);
    if (size !== current) {
      if (v.host_id) await fileOnHost(s, { id: v.id, file: v.file, size, host_id: v.host_id }, v.host_id);
      await s.db.query('UPDATE volumes SET size = $2, disk_offering_id = $3 WHERE id = $1', [v.id, size, offeringId]);
    } else if (offeringId !== v.disk_offering_id) {
      await s.db.query('UPDATE volumes SET disk_offering_id = $2 WHERE id = $1', [v.id, offeringId]);
    }
    ctx.setResource('Volume', v.id);
    return viewOf(ctx, v.id);
  },
});

export const deleteVolume = command({
  name: 'deleteVolume', description: 'Deletes a detached disk volume.', since: '1.0', roles: ALL_ROLES, response: SUCCESS_RESPONSE, shape: 'success',
  transactional: false, event: 'VOLUME.DELETE',
  params: { id: { type: 'uuid', entity: 'volume', required: true, description: 'The ID of the disk volume' } },
  async handler(ctx, a) {
    const s = ctx.services;
    const v = await volumeById(ctx, a.id);
    if (v.vm_id) throw paramError(`Please specify a volume that is not attached to any VM: ${v.name} is attached to ${v.vm_name}`);
    if (v.host_id && !(await s.agents.isConnectedNow(v.host_id))) throw apiError('RESOURCE_UNAVAILABLE', `The host ${v.host_name} of volume ${v.name} is not connected; its file cannot be removed now`);
    // Destroy first (CloudStack's state of a volume on its way out): a manager killed before the
    // row is gone leaves a Destroy volume that the repair loop finishes (finishVolumeDeletes),
    // not a Ready one whose file is already removed.
    await s.db.query(`UPDATE volumes SET state = 'Destroy' WHERE id = $1`, [v.id]);
    if (v.host_id) await s.agents.request(v.host_id, 'removeVolume', { volume: v.file }).catch((e) => { throw agentFailure(e, `Removing volume ${v.name}`); });
    await s.db.query('DELETE FROM volumes WHERE id = $1', [v.id]);
    ctx.setResource('Volume', v.id);
  },
});
