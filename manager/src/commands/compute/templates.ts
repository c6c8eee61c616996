// Templates. Two are built in: the netns guest template (a VM that asks DHCP at boot and serves
// its hostname on port 80; every image store builds it at its first start and serves it to hosts
// as any template, storage/src/guest-template.ts) and the system-VM template (runs an appliance
// role). Registered
// templates are downloaded by the zone's secondary storage service (commands/storage/): until
// then they show isready=false with the transfer's status, and deploying from them is refused.
import { pagedRows } from '../../api/paging.ts';
import { randomUUID } from 'node:crypto';
import { ALL_ROLES, LIST_OWNED_PARAMS, command, PROJECT_LIST_PARAM } from '../../api/registry.ts';
import { paramError, notFound } from '../../api/errors.ts';
import { osTypeById } from '../catalog/ostypes.ts';
import { applyScope, resolveScope } from '../../api/scope.ts';
import { Where } from '../../db/sql.ts';
import type { Sql } from '../../db/sql.ts';
import { zoneById } from '../infra/lookup.ts';
import { TEMPLATE, TEMPLATE_SELECT, templateView, type TemplateRow } from './views.ts';
import { checksumCheck, startDownload } from '../storage/images.ts';
import { storageOf } from '../storage/runtime.ts';
import { GUEST_TEMPLATE_ID } from '@flotilla/storage';

export const BUILTIN_TEMPLATES = [
  { id: GUEST_TEMPLATE_ID, name: 'Flotilla netns guest', display: 'Flotilla netns guest: DHCP client at boot, HTTP on port 80 answering its hostname', kind: 'guest', type: 'BUILTIN', featured: true, password: true },
  { id: '3b1b2a6e-0000-4000-8000-00000000a002', name: 'SystemVM Template (LXC)', display: 'SystemVM Template (LXC): runs Flotilla appliance roles', kind: 'system', type: 'SYSTEM', featured: false, password: false },
] as const;

export async function seedTemplates(sql: Sql): Promise<void> {
  for (const t of BUILTIN_TEMPLATES) {
    await sql.query(
      `INSERT INTO templates (id, name, display_text, kind, template_type, hypervisor, format, url, is_public, is_featured, is_ready, status, password_enabled)
       VALUES ($1,$2,$3,$4,$5,'LXC','TAR',$6,true,$7,true,'Download Complete',$8) ON CONFLICT (id) DO NOTHING`,
      [t.id, t.name, t.display, t.kind, t.type, `flotilla://${t.kind}`, t.featured, t.password]);
  }
}

const FILTERS = ['featured', 'self', 'selfexecutable', 'sharedexecutable', 'executable', 'community', 'all'] as const;

export const listTemplates = command({
  name: 'listTemplates', description: 'List all public, private, and privileged templates.', since: '1.0', roles: ALL_ROLES, response: TEMPLATE, shape: 'list',
  params: {
    ...LIST_OWNED_PARAMS, ...PROJECT_LIST_PARAM,
    templatefilter: { type: 'string', required: true, values: FILTERS, description: 'possible values are "featured", "self", "selfexecutable","sharedexecutable","executable", and "community". * featured : templates that have been marked as featured and public. * self : templates that have been registered or created by the calling user. * selfexecutable : same as self, but only returns templates that can be used to deploy a new VM. * sharedexecutable : templates ready to be deployed that have been granted to the calling user by another user. * executable : templates that are owned by the calling user, or public templates, that can be used to deploy a VM. * community : templates that have been marked as public but not featured. * all : all templates (only usable by admins).' },
    id: { type: 'uuid', entity: 'template', description: 'the template ID' },
    name: { type: 'string', description: 'the template name' },
    zoneid: { type: 'uuid', entity: 'zone', description: 'list templates by zoneId' },
    hypervisor: { type: 'string', description: 'the hypervisor for which to restrict the search' },
  },
  async handler(ctx, a) {
    // Transfers in flight report their progress first ("42% Downloaded").
    await storageOf(ctx.services).poll();
    const c = ctx.caller;
    const w = new Where().add('NOT t.is_iso').add('t.removed IS NULL');
    const mine = 't.account_id = ?';
    switch (a.templatefilter) {
      case 'featured': w.add('t.is_featured AND t.is_public'); break;
      case 'self': case 'selfexecutable': w.add(mine, c.accountId); break;
      case 'sharedexecutable': w.add('false'); break;
      case 'executable': w.add(`(t.is_public OR ${mine})`, c.accountId); break;
      case 'community': w.add('t.is_public AND NOT t.is_featured'); break;
      case 'all': if (c.role !== 'Admin') w.add(`(t.is_public OR ${mine})`, c.accountId); break;
    }
    // projectid: the project's own (CloudStack lists a project's templates by its project account).
    if (a.projectid) applyScope(w, await resolveScope(ctx.sql, c, { projectid: a.projectid }), { account: 't.account_id', domain: 't.account_id' });
    if (a.templatefilter === 'selfexecutable' || a.templatefilter === 'executable') w.add('t.is_ready');
    if (c.role !== 'Admin') w.add(`t.template_type <> 'SYSTEM'`);
    w.add('t.id = ?', a.id).add('lower(t.name) = lower(?)', a.name).add('(t.zone_id IS NULL OR t.zone_id = ?)', a.zoneid).add('lower(t.hypervisor) = lower(?)', a.hypervisor)
      .keyword(a.keyword, 't.name', 't.display_text');
    return (await pagedRows<TemplateRow>(ctx.sql, a, { select: TEMPLATE_SELECT, where: w, orderBy: 't.created, t.name, t.id' })).map(templateView);
  },
});

export const registerTemplate = command({
  name: 'registerTemplate', description: 'Registers an existing template into the CloudStack cloud. Flotilla records it; it becomes ready once the storage VM has downloaded it.', since: '1.0',
  roles: ALL_ROLES, response: TEMPLATE, shape: 'raw', event: 'TEMPLATE.CREATE', transactional: false,
  params: {
    name: { type: 'string', required: true, description: 'the name of the template' },
    displaytext: { type: 'string', description: 'The display text of the template, defaults to \'name\'.', length: 4096 },
    format: { type: 'string', required: true, description: 'the format for the template. Possible values include QCOW2, RAW, VHD and OVA.', values: ['QCOW2', 'RAW', 'VHD', 'OVA', 'TAR'] },
    hypervisor: { type: 'string', required: true, description: 'the target hypervisor for the template', values: ['LXC', 'KVM', 'Simulator'] },
    url: { type: 'string', required: true, length: 2048, description: 'the URL of where the template is hosted. Possible URL include http:// and https://',
      check: (v: string) => (/^https?:\/\/[^\s]+$/.test(v) ? undefined : 'not an http(s) URL') },
    zoneid: { type: 'uuid', entity: 'zone', description: 'the ID of the zone the template is to be hosted on' },
    zoneids: { type: 'list', entity: 'zone', of: 'uuid', description: 'A list of zone ids where the template will be hosted. Use this parameter if the template needs to be registered to multiple zones in one go. Use zoneid if the template needs to be registered to only one zone.Passing only -1 to this will cause the template to be registered as a cross zone template and will be copied to all zones. ' },
    ostypeid: { type: 'uuid', entity: 'ostype', description: 'the ID of the OS Type that best represents the OS of this template.' },
    ispublic: { type: 'boolean', description: 'true if the template is available to all accounts; default is true' },
    isfeatured: { type: 'boolean', description: 'true if this template is a featured template, false otherwise' },
    passwordenabled: { type: 'boolean', description: 'true if the template supports the password reset feature; default is false' },
    isextractable: { type: 'boolean', description: 'true if the template or its derivatives are extractable; default is false' },
    checksum: { type: 'string', description: 'the checksum value of this template. The parameter containing the checksum will be considered a MD5sum if it is not prefixed and just a plain ascii/utf8 representation of a hexadecimal string. If it is required to use another algorithm the hexadecimal string is to be prefixed with a string of the form, "{<algorithm>}", not including the double quotes. In this <algorithm> is the exact string representing the java supported algorithm, i.e. MD5 or SHA-256. Note that java does not contain an algorithm called SHA256 or one called sha-256, only SHA-256.',
      check: checksumCheck },
  },
  async handler(ctx, a) {
    const zoneIds = a.zoneids ?? (a.zoneid ? [a.zoneid] : []);
    if (!zoneIds.length) throw paramError('Please specify a valid zone id with zoneid or zoneids');
    const c = ctx.caller;
    if (c.role !== 'Admin' && a.isfeatured) throw paramError('Only root admins can register featured templates');
    const os = a.ostypeid ? osTypeById(a.ostypeid) : undefined;
    if (a.ostypeid && !os) throw notFound(ctx.command, 'ostypeid', a.ostypeid);
    const out: Record<string, unknown>[] = [];
    // Every zone is checked before anything is written (not in one transaction: the storage
    // service is called between the steps).
    for (const z of zoneIds) await zoneById(ctx, z, 'zoneid');
    for (const z of zoneIds) {
      const id = randomUUID();
      await ctx.sql.query(
        `INSERT INTO templates (id, name, display_text, kind, template_type, hypervisor, format, url, checksum, is_public, is_featured, is_ready, status,
           password_enabled, account_id, domain_id, zone_id, os_type, is_extractable) VALUES ($1,$2,$3,'guest','USER',$4,$5,$6,$7,$8,$9,false,'Not downloaded',$10,$11,$12,$13,$14,$15)`,
        [id, a.name, a.displaytext ?? a.name, a.hypervisor, a.format, a.url, a.checksum ?? null, a.ispublic ?? c.role === 'Admin', a.isfeatured ?? false,
          a.passwordenabled ?? false, c.accountId, c.domainId, z, os?.description ?? 'Other Linux (64-bit)', a.isextractable ?? false]);
      ctx.setResource('Template', id);
      await startDownload(ctx.services, { id, zoneId: z, url: a.url, format: a.format, ...(a.checksum ? { checksum: a.checksum } : {}), kind: 'template' });
      out.push(templateView((await ctx.sql.query<TemplateRow>(`${TEMPLATE_SELECT} WHERE t.id = $1`, [id]))[0]!));
    }
    return { count: out.length, template: out };
  },
});

