// Templates and ISOs on image stores: the transfers behind registerTemplate/registerIso, browser
// uploads (getUploadParamsForTemplate), extractTemplate's time-limited URL, deleteTemplate/
// deleteIso (the files go), listIsos. The storage service does the I/O (storage/README.md).
import { randomUUID } from 'node:crypto';
import { parseChecksum } from '@flotilla/storage';
import { ALL_ROLES, LIST_OWNED_PARAMS, SUCCESS_RESPONSE, command, field as f, type ResponseDef, PROJECT_LIST_PARAM } from '../../api/registry.ts';
import { apiError, notFound, paramError } from '../../api/errors.ts';
import { pagedRows } from '../../api/paging.ts';
import { compact, csDate } from '../../api/serialize.ts';
import type { Context } from '../../api/context.ts';
import type { Services } from '../../services.ts';
import { applyScope, resolveScope } from '../../api/scope.ts';
import { Where } from '../../db/sql.ts';
import { osTypeById } from '../catalog/ostypes.ts';
import { zoneById } from '../infra/lookup.ts';
import { TEMPLATE, TEMPLATE_SELECT, templateView, type TemplateRow } from '../compute/views.ts';
import { storageOf, type StoreRow } from './runtime.ts';

export const ISO: ResponseDef = { ...TEMPLATE, name: 'iso', tagged: 'ISO' };

/** CloudStack's checksum parameter check, with the reason (algorithm, digest length). */
export function checksumCheck(v: string): string | undefined { const c = parseChecksum(v); return typeof c === 'string' ? c : undefined; }

/** Starts the download of a registered template/ISO on its zone's store; without a store it
 *  waits (status says so) and addImageStore starts it. */
export async function startDownload(s: Services, t: { id: string; zoneId: string; url: string; format: string; checksum?: string; kind: 'template' | 'iso' }): Promise<void> {
  const rt = storageOf(s);
  const st = await rt.storeForZone(s.db, t.zoneId);
  if (!st) {
    await s.db.query(`UPDATE templates SET status = 'Not downloaded: no image store in this zone yet (addImageStore)' WHERE id = $1`, [t.id]);
    return;
  }
  await rt.download(st, { id: t.id, kind: t.kind, format: t.format, ...(t.checksum ? { checksum: t.checksum } : {}) }, t.url).catch(async (e: Error) => {
    await s.db.query(`UPDATE templates SET transfer_state = 'Error', status = $2 WHERE id = $1`, [t.id, `Download Failed: the storage service is unavailable: ${e.message}`]);
  });
}

export async function kickPending(s: Services, st: StoreRow): Promise<void> {
  const rows = await s.db.query<{ id: string; zone_id: string; url: string; format: string; checksum: string | null; is_iso: boolean }>(
    `SELECT id, zone_id, url, format, checksum, is_iso FROM templates WHERE store_id IS NULL AND transfer_state IS NULL AND removed IS NULL
       AND template_type NOT IN ('BUILTIN', 'SYSTEM') AND url ~ '^https?://' AND zone_id IS NOT NULL AND ($1::uuid IS NULL OR zone_id = $1)`, [st.zone_id]);
  for (const r of rows) await startDownload(s, { id: r.id, zoneId: r.zone_id, url: r.url, format: r.format, ...(r.checksum ? { checksum: r.checksum } : {}), kind: r.is_iso ? 'iso' : 'template' });
}

async function imageById(ctx: Context, id: string, iso: boolean, param = 'id'): Promise<TemplateRow> {
  const t = (await ctx.sql.query<TemplateRow>(`${TEMPLATE_SELECT} WHERE t.id = $1 AND t.removed IS NULL AND t.is_iso = $2`, [id, iso]))[0];
  const c = ctx.caller;
  if (!t || !(t.is_public || c.role === 'Admin' || t.account_id === c.accountId)) throw notFound(ctx.command, param, id);
  return t;
}

function assertOwner(ctx: Context, t: TemplateRow, what: string): void {
  if (ctx.caller.role !== 'Admin' && t.account_id !== ctx.caller.accountId) throw apiError('ACCOUNT_ERROR', `Account ${ctx.caller.accountName} does not have permission to ${what} ${t.name}`, [t.id]);
}

// ---- browser upload ----

export const GET_UPLOAD_PARAMS: ResponseDef = {
  name: 'getuploadparams',
  fields: {
    id: f('string', 'the template/volume ID'), postURL: f('string', 'POST url to upload the file to'), metadata: f('string', 'encrypted data to be sent in the POST request.'),
    expires: f('string', 'the timestamp after which the signature expires'), signature: f('string', 'signature to be sent in the POST request.'),
  },
};

/** upload.operation.timeout in CloudStack (minutes) */
const UPLOAD_TTL_SECONDS = 3600;

export const getUploadParamsForTemplate = command({
  name: 'getUploadParamsForTemplate', description: 'upload an existing template into the CloudStack cloud. ', since: '4.6.0', roles: ALL_ROLES,
  response: GET_UPLOAD_PARAMS, shape: 'object', event: 'TEMPLATE.CREATE', transactional: false,
  params: {
    name: { type: 'string', required: true, description: 'the name of the template' },
    displaytext: { type: 'string', required: true, length: 4096, description: 'the display text of the template. This is usually used for display purposes.' },
    format: { type: 'string', required: true, values: ['QCOW2', 'RAW', 'VHD', 'OVA', 'TAR'], description: 'the format for the volume. Possible values include QCOW2, OVA, and VHD.' },
    hypervisor: { type: 'string', required: true, values: ['LXC', 'KVM', 'Simulator'], description: 'the target hypervisor for the template' },
    zoneid: { type: 'uuid', entity: 'zone', required: true, description: 'the ID of the zone the volume/template/iso is to be hosted on' },
    ostypeid: { type: 'uuid', entity: 'ostype', description: 'the ID of the OS Type that best represents the OS of this template.' },
    checksum: { type: 'string', description: 'the checksum value of this volume/template/iso The parameter containing the checksum will be considered a MD5sum if it is not prefixed and just a plain ascii/utf8 representation of a hexadecimal string. If it is required to use another algorithm the hexadecimal string is to be prefixed with a string of the form, "{<algorithm>}", not including the double quotes. In this <algorithm> is the exact string representing the java supported algorithm, i.e. MD5 or SHA-256. Note that java does not contain an algorithm called SHA256 or one called sha-256, only SHA-256.', check: checksumCheck },
    ispublic: { type: 'boolean', description: 'true if the template is available to all accounts; default is true' },
    isfeatured: { type: 'boolean', description: 'true if this template is a featured template, false otherwise' },
    isextractable: { type: 'boolean', description: 'true if the template or its derivatives are extractable; default is false' },
    passwordenabled: { type: 'boolean', description: 'true if the template supports the password reset feature; default is false' },
  },
  async handler(ctx, a) {
    const c = ctx.caller;
    if (c.role !== 'Admin' && a.isfeatured) throw paramError('Only root admins can register featured templates');
    const zone = await zoneById(ctx, a.zoneid, 'zoneid');
    const os = a.ostypeid ? osTypeById(a.ostypeid) : undefined;
    if (a.ostypeid && !os) throw notFound(ctx.command, 'ostypeid', a.ostypeid);
    const rt = storageOf(ctx.services);
    const st = await rt.storeForZone(ctx.sql, zone.id);
    if (!st) throw apiError('RESOURCE_UNAVAILABLE', `Unable to find a secondary storage in zone ${zone.name}: add one with addImageStore`);
    const id = randomUUID();
    const params = await rt.uploadParams(st, { id, kind: 'template', format: a.format, ...(a.checksum ? { checksum: a.checksum } : {}) }, UPLOAD_TTL_SECONDS);
    await ctx.sql.query(
      `INSERT INTO templates (id, name, display_text, kind, template_type, hypervisor, format, url, checksum, is_public, is_featured, is_ready, status,
         password_enabled, account_id, domain_id, zone_id, os_type, store_id, transfer_state, is_extractable)
       VALUES ($1,$2,$3,'guest','USER',$4,$5,NULL,$6,$7,$8,false,'Not Uploaded',$9,$10,$11,$12,$13,$14,'NotUploaded',$15)`,
      [id, a.name, a.displaytext, a.hypervisor, a.format, a.checksum ?? null, a.ispublic ?? c.role === 'Admin', a.isfeatured ?? false, a.passwordenabled ?? false,
        c.accountId, c.domainId, zone.id, os?.description ?? 'Other Linux (64-bit)', st.id, a.isextractable ?? false]);
    ctx.setResource('Template', id);
    return { id, ...params };
  },
});

// ---- extract ----

export const EXTRACT: ResponseDef = {
  name: 'template',
  fields: {
    id: f('string', 'the id of extracted object'), name: f('string', 'the name of the extracted object'), extractId: f('string', 'the upload id of extracted object'),
    uploadpercentage: f('integer', 'the percentage of the entity uploaded to the specified location'), status: f('string', 'the status of the extraction'),
    accountid: f('string', 'the account id to which the extracted object belongs'), resultstring: f('string', ''), created: f('date', 'the time and date the object was created'),
    state: f('string', 'the state of the extracted object'), storagetype: f('string', 'type of the storage'), zoneid: f('string', 'zone ID the object was extracted from'),
    zonename: f('string', 'zone name the object was extracted from'), extractMode: f('string', 'the mode of extraction - upload or download'), url: f('string', 'if mode = upload then url of the uploaded entity. if mode = download the url from which the entity can be downloaded'),
  },
};

/** extract.url.expiration.interval in CloudStack (seconds) */
const EXTRACT_TTL_SECONDS = 14400;

export const extractTemplate = command({
  name: 'extractTemplate', description: 'Extracts a template', since: '1.0', roles: ALL_ROLES, response: EXTRACT, shape: 'object', isAsync: true, transactional: false,
  event: 'TEMPLATE.EXTRACT', instance: { type: 'Template', param: 'id' },
  params: {
    id: { type: 'uuid', entity: 'template', required: true, description: 'the ID of the template' },
    mode: { type: 'string', required: true, values: ['HTTP_DOWNLOAD', 'FTP_UPLOAD'], description: 'the mode of extraction - HTTP_DOWNLOAD or FTP_UPLOAD' },
    zoneid: { type: 'uuid', entity: 'zone', description: 'the ID of the zone where the ISO is originally located' },
    url: { type: 'string', length: 2048, description: 'the url to which the ISO would be extracted' },
  },
  async create(ctx, a) { await checkExtract(ctx, a); },
  async handler(ctx, a) {
    const { t, st } = await checkExtract(ctx, a);
    const url = await storageOf(ctx.services).extractUrl(st, t.id, EXTRACT_TTL_SECONDS);
    return compact({
      id: t.id, name: t.name, extractId: randomUUID(), accountid: t.account_id ?? undefined, state: 'DOWNLOAD_URL_CREATED', status: 'DOWNLOAD_URL_CREATED',
      uploadpercentage: 0, storagetype: 'Image', created: csDate(new Date()), zoneid: t.zone_id ?? undefined, zonename: t.zone_name ?? undefined, extractMode: 'HTTP_DOWNLOAD', url,
    });
  },
});

async function checkExtract(ctx: Context, a: { id: string; mode: string; zoneid?: string }): Promise<{ t: TemplateRow; st: StoreRow }> {
  const t = await imageById(ctx, a.id, false);
  if (a.mode !== 'HTTP_DOWNLOAD') throw paramError('Only the HTTP_DOWNLOAD mode of extraction is supported');
  if (t.template_type === 'BUILTIN' || t.template_type === 'SYSTEM') throw paramError(`Unable to extract the template ${t.name}: it is a built-in template`);
  const admin = ctx.caller.role === 'Admin';
  if (!admin && t.account_id !== ctx.caller.accountId) throw apiError('ACCOUNT_ERROR', `Unable to extract template ${t.name}: it is not yours`, [t.id]);
  if (!admin && !t.is_extractable) throw paramError(`Unable to extract template id=${t.id} as it's not extractable`);
  if (a.zoneid && t.zone_id && a.zoneid !== t.zone_id) throw paramError(`The template ${t.name} is not in zone ${a.zoneid}`);
  if (!t.is_ready || !t.store_id) throw paramError(`Unable to extract template ${t.name}: it is not ready (${t.status})`);
  const st = await storageOf(ctx.services).storeById(t.store_id);
  if (!st) throw apiError('RESOURCE_UNAVAILABLE', `The image store of template ${t.name} is gone`);
  return { t, st };
}

// ---- delete ----

async function deleteImage(ctx: Context, a: { id: string; zoneid?: string; forced?: boolean }, iso: boolean): Promise<void> {
  const t = await imageById(ctx, a.id, iso);
  const what = iso ? 'ISO' : 'template';
  assertOwner(ctx, t, `delete ${what}`);
  if (t.template_type === 'BUILTIN' || t.template_type === 'SYSTEM') throw paramError(`Unable to delete the built-in ${what} ${t.name}`);
  if (a.zoneid && t.zone_id && a.zoneid !== t.zone_id) throw paramError(`The ${what} ${t.name} is not in zone ${a.zoneid}`);
  if (!iso && !a.forced) {
    const vms = await ctx.sql.query<{ name: string }>(`SELECT name FROM vm_instances WHERE template_id = $1 AND state NOT IN ('Expunging', 'Destroyed', 'Expunged') ORDER BY name`, [t.id]);
    if (vms.length) throw paramError(`Unable to delete template with id: ${t.id} because VM instances: [${vms.map((v) => v.name).join(', ')}] are using it.`);
  }
  if (t.store_id) await storageOf(ctx.services).deleteFiles(t.store_id, t.id);
  await ctx.sql.query(`UPDATE templates SET removed = now(), is_ready = false, transfer_state = NULL WHERE id = $1`, [t.id]);
  ctx.setResource(iso ? 'ISO' : 'Template', t.id);
}

export const deleteTemplate = command({
  name: 'deleteTemplate', description: 'Deletes a template from the system. All virtual machines using the deleted template will not be affected.', since: '1.0', roles: ALL_ROLES,
  response: SUCCESS_RESPONSE, shape: 'success', isAsync: true, transactional: false, event: 'TEMPLATE.DELETE', instance: { type: 'Template', param: 'id' },
  params: {
    id: { type: 'uuid', entity: 'template', required: true, description: 'the ID of the template' },
    zoneid: { type: 'uuid', entity: 'zone', description: 'the ID of zone of the template' },
    forced: { type: 'boolean', description: 'Force delete a template.', since: '4.9+' },
  },
  async create(ctx, a) { await imageById(ctx, a.id, false); },
  async handler(ctx, a) { await deleteImage(ctx, a, false); },
});

export const deleteIso = command({
  name: 'deleteIso', description: 'Deletes an ISO file.', since: '1.0', roles: ALL_ROLES, response: SUCCESS_RESPONSE, shape: 'success', isAsync: true, transactional: false,
  event: 'ISO.DELETE', instance: { type: 'Iso', param: 'id' },
  params: {
    id: { type: 'uuid', entity: 'template', required: true, description: 'the ID of the ISO file' },
    zoneid: { type: 'uuid', entity: 'zone', description: 'the ID of the zone of the ISO file. If not specified, the ISO will be deleted from all the zones' },
  },
  async create(ctx, a) { await imageById(ctx, a.id, true); },
  async handler(ctx, a) { await deleteImage(ctx, a, true); },
});

// ---- ISOs ----

export const registerIso = command({
  name: 'registerIso', description: 'Registers an existing ISO into the CloudStack Cloud.', since: '1.0', roles: ALL_ROLES, response: ISO, shape: 'raw', event: 'ISO.CREATE',
  transactional: false,
  params: {
    name: { type: 'string', required: true, description: 'the name of the ISO' },
    displaytext: { type: 'string', required: true, length: 4096, description: 'the display text of the ISO, defaults to the \'name\'' },
    url: { type: 'string', required: true, length: 2048, description: 'the URL to where the ISO is currently being hosted',
      check: (v: string) => (/^https?:\/\/[^\s]+$/.test(v) ? undefined : 'not an http(s) URL') },
    zoneid: { type: 'uuid', entity: 'zone', required: true, description: 'the ID of the zone you wish to register the ISO to.' },
    bootable: { type: 'boolean', description: 'true if this ISO is bootable. If not passed explicitly its assumed to be true' },
    isextractable: { type: 'boolean', description: 'true if the ISO or its derivatives are extractable; default is false' },
    ispublic: { type: 'boolean', description: 'true if you want to register the ISO to be publicly available to all users, false otherwise.' },
    isfeatured: { type: 'boolean', description: 'true if you want this ISO to be featured' },
    ostypeid: { type: 'uuid', entity: 'ostype', description: 'the ID of the OS type that best represents the OS of this ISO. If the ISO is bootable this parameter needs to be passed' },
    checksum: { type: 'string', description: 'the checksum value of this ISO. The parameter containing the checksum will be considered a MD5sum if it is not prefixed and just a plain ascii/utf8 representation of a hexadecimal string. If it is required to use another algorithm the hexadecimal string is to be prefixed with a string of the form, "{<algorithm>}", not including the double quotes. In this <algorithm> is the exact string representing the java supported algorithm, i.e. MD5 or SHA-256. Note that java does not contain an algorithm called SHA256 or one called sha-256, only SHA-256.', check: checksumCheck },
  },
  async handler(ctx, a) {
    const c = ctx.caller;
    if (c.role !== 'Admin' && a.isfeatured) throw paramError('Only root admins can register featured ISOs');
    const zone = await zoneById(ctx, a.zoneid, 'zoneid');
    const os = a.ostypeid ? osTypeById(a.ostypeid) : undefined;
    if (a.ostypeid && !os) throw notFound(ctx.command, 'ostypeid', a.ostypeid);
    const id = randomUUID();
    await ctx.sql.query(
      `INSERT INTO templates (id, name, display_text, kind, template_type, hypervisor, format, url, checksum, is_public, is_featured, is_ready, status,
         account_id, domain_id, zone_id, os_type, is_iso, bootable, is_extractable)
       VALUES ($1,$2,$3,'iso','USER','None','ISO',$4,$5,$6,$7,false,'Not downloaded',$8,$9,$10,$11,true,$12,$13)`,
      [id, a.name, a.displaytext, a.url, a.checksum ?? null, a.ispublic ?? false, a.isfeatured ?? false, c.accountId, c.domainId, zone.id,
        os?.description ?? 'Other (64-bit)', a.bootable ?? true, a.isextractable ?? false]);
    ctx.setResource('ISO', id);
    await startDownload(ctx.services, { id, zoneId: zone.id, url: a.url, format: 'ISO', ...(a.checksum ? { checksum: a.checksum } : {}), kind: 'iso' });
    return { count: 1, iso: [templateView((await ctx.sql.query<TemplateRow>(`${TEMPLATE_SELECT} WHERE t.id = $1`, [id]))[0]!)] };
  },
});

const ISO_FILTERS = ['featured', 'self', 'selfexecutable', 'sharedexecutable', 'executable', 'community', 'all'] as const;

export const listIsos = command({
  name: 'listIsos', description: 'Lists all available ISO files.', since: '1.0', roles: ALL_ROLES, response: ISO, shape: 'list',
  params: {
    ...LIST_OWNED_PARAMS, ...PROJECT_LIST_PARAM,
    isofilter: { type: 'string', values: ISO_FILTERS, description: 'possible values are "featured", "self", "selfexecutable","sharedexecutable","executable", and "community". * featured : templates that have been marked as featured and public. * self : templates that have been registered or created by the calling user. * selfexecutable : same as self, but only returns templates that can be used to deploy a new VM. * sharedexecutable : templates ready to be deployed that have been granted to the calling user by another user. * executable : templates that are owned by the calling user, or public templates, that can be used to deploy a VM. * community : templates that have been marked as public but not featured. * all : all templates (only usable by admins).' },
    id: { type: 'uuid', entity: 'template', description: 'list ISO by ID' },
    name: { type: 'string', description: 'list all ISOs by name' },
    bootable: { type: 'boolean', description: 'true if the ISO is bootable, false otherwise' },
    ispublic: { type: 'boolean', description: 'true if the ISO is publicly available to all users, false otherwise.' },
    isready: { type: 'boolean', description: 'true if this ISO is ready to be deployed' },
    zoneid: { type: 'uuid', entity: 'zone', description: 'the ID of the zone' },
    hypervisor: { type: 'string', description: 'the hypervisor for which to restrict the search' },
  },
  async handler(ctx, a) {
    await storageOf(ctx.services).poll();
    const c = ctx.caller;
    const w = new Where().add('t.is_iso').add('t.removed IS NULL');
    const mine = 't.account_id = ?';
    switch (a.isofilter ?? 'all') {
      case 'featured': w.add('t.is_featured AND t.is_public'); break;
      case 'self': case 'selfexecutable': w.add(mine, c.accountId); break;
      case 'sharedexecutable': w.add('false'); break;
      case 'executable': w.add(`(t.is_public OR ${mine})`, c.accountId); break;
      case 'community': w.add('t.is_public AND NOT t.is_featured'); break;
      case 'all': if (c.role !== 'Admin') w.add(`(t.is_public OR ${mine})`, c.accountId); break;
    }
    // projectid: the project's own (CloudStack lists a project's templates by its project account).
    if (a.projectid) applyScope(w, await resolveScope(ctx.sql, c, { projectid: a.projectid }), { account: 't.account_id', domain: 't.account_id' });
    w.add('t.id = ?', a.id).add('lower(t.name) = lower(?)', a.name).add('t.bootable = ?', a.bootable).add('t.is_public = ?', a.ispublic).add('t.is_ready = ?', a.isready)
      .add('(t.zone_id IS NULL OR t.zone_id = ?)', a.zoneid).keyword(a.keyword, 't.name', 't.display_text');
    return (await pagedRows<TemplateRow>(ctx.sql, a, { select: TEMPLATE_SELECT, where: w, orderBy: 't.created, t.name, t.id' })).map(templateView);
  },
});
