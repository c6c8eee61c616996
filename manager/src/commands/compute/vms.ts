// Guest VMs. deployVirtualMachine is async and not one transaction: it records the VM, its NICs
// (addresses, MACs) and its host in one transaction, starts it through the host agent, then
// marks it Running. Refusals (bad input, no capacity) happen before anything is written; a
// failed start destroys whatever the host made and removes the records, so nothing is left
// half-created. Re-run after a crash, it finds its VM by job id and continues.
import { randomBytes, randomUUID } from 'node:crypto';
import { checkResourceLimit } from '../limits/limits.ts';
import { ALL_ROLES, LIST_OWNED_PARAMS, SUCCESS_RESPONSE, command } from '../../api/registry.ts';
import { apiError, paramError } from '../../api/errors.ts';
import { applyScope, resolveScope } from '../../api/scope.ts';
import { ownerOf } from '../projects/lookup.ts';
import { Where, type Sql } from '../../db/sql.ts';
import { pagedRows } from '../../api/paging.ts';
import type { Context } from '../../api/context.ts';
import { zoneById } from '../infra/lookup.ts';
import { agentFailure, planHost, releaseUnusedNetworks, startOnHost } from '../../orchestrator/compute.ts';
import { NIC, NIC_SELECT, VM, VM_SELECT, nicView, vmView, type NicRow, type VmRow } from './views.ts';
import { networkById, serviceOfferingById, templateById, vmById } from './lookup.ts';
import { defaultNetworkFor } from './networks.ts';
import { DEFAULT_ROOT_BYTES, createRootVolume, ensureVmVolumes, expungeVmVolumes } from '../volumes/volumes.ts';
import { ipam } from '../infra/validate.ts';
import { firstFree, parseCidr, parseIPv4, spanText, subnetSpan, type Span } from '../../orchestrator/ipam.ts';
import { prepareVmNetworks, syncVmNetworks } from '../../orchestrator/router.ts';
import { domainMayUseNetwork } from '../../api/entities.ts';
import { keyPairOwner, keyPairsByName, type Owner } from '../ssh/keypairs.ts';
import { encryptPassword } from '../ssh/keys.ts';
import { VmMetadata } from '@flotilla/protocol/router';

/** The router serves a VM's keys as one metadata value; the protocol bounds its length. */
const MAX_PUBLIC_KEYS_TEXT = VmMetadata.properties['public-keys'].maxLength!;

/** A VM password as CloudStack generates them (vm.password.length): letters and digits, no look-alikes. */
function newPassword(): string {
  const alphabet = 'abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789';
  return [...randomBytes(10)].map((b) => alphabet[b % alphabet.length]).join('');
}

/** The VM's current password (set at deploy or reset), for the answer that reveals it once. */
async function passwordOf(ctx: Context, vmId: string): Promise<string | undefined> {
  const r = (await ctx.services.db.query<{ password_enc: string | null }>('SELECT password_enc FROM vm_instances WHERE id = $1', [vmId]))[0];
  if (!r?.password_enc) return undefined;
  try { return ctx.services.secrets.open(r.password_enc); } catch { return undefined; }
}

/** The networks a VM has NICs on (their routers serve its reservation and data). */
async function networksOf(sql: Sql, vmId: string): Promise<string[]> {
  return (await sql.query<{ network_id: string }>('SELECT network_id FROM nics WHERE vm_id = $1', [vmId])).map((r) => r.network_id);
}

/** The key pair names a command gives (keypair and keypairs merged, repeats dropped). */
function keyPairNames(a: { keypair?: string | undefined; keypairs?: string[] | undefined }): string[] {
  const out: string[] = [];
  for (const n of [...(a.keypair !== undefined ? [a.keypair] : []), ...(a.keypairs ?? [])]) {
    if (n.trim() === '') throw paramError('A key pair name must not be empty');
    if (!out.some((x) => x.toLowerCase() === n.toLowerCase())) out.push(n);
  }
  return out;
}

/**
 * What a VM keeps of its key pairs: their names, their public keys (one a line, the VM's own
 * copy) and, for a password-enabled template, the password encrypted under the first key for
 * getVMPassword. CloudStack can only encrypt with an RSA key and fails the VM's start
 * otherwise; Flotilla refuses before anything is written.
 */
async function vmKeys(sql: Sql, owner: Owner, names: string[], password: string | null, vmName: string): Promise<{ keypair: string | null; keys: string | null; encrypted: string | null }> {
  if (!names.length) return { keypair: null, keys: null, encrypted: null };
  const pairs = await keyPairsByName(sql, owner, names);
  const keys = pairs.map((p) => p.public_key).join('\n');
  if (keys.length > MAX_PUBLIC_KEYS_TEXT) throw paramError(`The public keys of key pairs ${names.join(',')} take ${keys.length} characters; a VM's keys may take at most ${MAX_PUBLIC_KEYS_TEXT}`);
  if (password !== null && !pairs[0]!.public_key.startsWith('ssh-rsa ')) {
    throw paramError(`Only RSA public keys can be used to encrypt a vm password: key pair ${pairs[0]!.name} of VM ${vmName} is ${pairs[0]!.public_key.split(' ')[0]}; give an ssh-rsa key pair first, or use a template without password`);
  }
  return { keypair: pairs.map((p) => p.name).join(','), keys, encrypted: password !== null ? encryptPassword(keys, password) : null };
}

const KEYPAIR_PARAMS = {
  keypair: { type: 'string', description: 'name of the ssh key pair used to login to the virtual machine' },
  keypairs: { type: 'list', of: 'string', description: 'names of the ssh key pairs used to login to the virtual machine', since: '4.17' },
} as const;

async function views(sql: Sql, rows: VmRow[], admin: boolean, withUserData = false): Promise<Record<string, unknown>[]> {
  if (!rows.length) return [];
  const nics = await sql.query<NicRow>(`${NIC_SELECT} WHERE c.vm_id = ANY($1::uuid[])`, [rows.map((r) => r.id)]);
  return rows.map((r) => vmView(r, nics, admin, withUserData));
}
async function viewOf(ctx: Context, id: string, withUserData = false): Promise<Record<string, unknown>> {
  return (await views(ctx.services.db, await ctx.services.db.query<VmRow>(`${VM_SELECT} WHERE v.id = $1`, [id]), ctx.caller.role === 'Admin', withUserData))[0]!;
}

/** A locally administered unicast MAC (02:…), as CloudStack gives guest NICs. */
function newMac(): string { return ['02', ...[...randomBytes(5)].map((b) => b.toString(16).padStart(2, '0'))].join(':'); }

/** The requested address if free and in range, else the lowest free one of the network's range
 *  (its start/end IP, or the subnet less network, gateway-by-convention .1 and broadcast). */
async function allocateIp(sql: Sql, net: { id: string; name: string; cidr: string; gateway: string; start_ip: string | null; end_ip: string | null }, wanted?: string): Promise<string> {
  const used = new Set((await sql.query<{ ip4: string }>('SELECT ip4 FROM nics WHERE network_id = $1 AND ip4 IS NOT NULL', [net.id])).map((r) => r.ip4));
  const sn = subnetSpan(parseCidr('cidr', net.cidr, 4, false));
  const range: Span = {
    family: 4,
    start: net.start_ip ? parseIPv4('startip', net.start_ip).value : sn.start + 2n,
    end: net.end_ip ? parseIPv4('endip', net.end_ip).value : sn.end - 1n,
  };
  if (wanted) {
    const a = ipam(() => parseIPv4('ipaddress', wanted));
    if (a.value < range.start || a.value > range.end) throw paramError(`The ipaddress ${wanted} is not in the IP range ${spanText(range)} of network ${net.name}`);
    if (a.text === net.gateway) throw paramError(`The ipaddress ${wanted} is the gateway of network ${net.name}`);
    if (used.has(a.text)) throw apiError('INSUFFICIENT_CAPACITY', `The ipaddress ${wanted} is already in use in network ${net.name}`);
    return a.text;
  }
  const ip = firstFree(range, (t) => used.has(t) || t === net.gateway);
  if (!ip) throw apiError('INSUFFICIENT_CAPACITY', `Network ${net.name} has no free IP address left in ${spanText(range)}`);
  return ip;
}

const HOSTNAME_RE = /^[A-Za-z]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
const checkHostname = (v: string) => (HOSTNAME_RE.test(v) ? undefined : 'a VM name must be a host name: letters, digits and hyphens, starting with a letter, at most 63 characters');
const checkUserData = (v: string) => {
  if (!/^[A-Za-z0-9+/\s]*={0,2}\s*$/.test(v)) return 'user data must be base64';
  return Buffer.from(v, 'base64').length > 1048576 ? 'user data is larger than 1 MiB once decoded' : undefined;
};

export const deployVirtualMachine = command({
  name: 'deployVirtualMachine', description: 'Creates and automatically starts a virtual machine based on a service offering, disk offering, and template.', since: '1.0',
  roles: ALL_ROLES, response: VM, shape: 'object', isAsync: true, transactional: false, event: 'VM.CREATE', instance: { type: 'VirtualMachine', creates: true },
  params: {
    serviceofferingid: { type: 'uuid', entity: 'serviceoffering', required: true, description: 'the ID of the service offering for the virtual machine' },
    templateid: { type: 'uuid', entity: 'template', access: 'use', required: true, description: 'the ID of the template for the virtual machine' },
    zoneid: { type: 'uuid', entity: 'zone', required: true, description: 'availability zone for the virtual machine' },
    networkids: { type: 'list', entity: 'network', access: 'use', of: 'uuid', description: 'list of network ids used by virtual machine. Can\'t be specified with ipToNetworkList parameter' },
    ipaddress: { type: 'string', description: 'the ip address for default vm\'s network' },
    name: { type: 'string', description: 'host name for the virtual machine', check: checkHostname, length: 63 },
    displayname: { type: 'string', description: 'an optional user generated name for the virtual machine' },
    userdata: { type: 'string', length: 1400000, description: 'an optional binary data that can be sent to the virtual machine upon a successful deployment. This binary data must be base64 encoded before adding it to the request.', check: checkUserData },
    ...KEYPAIR_PARAMS,
    hostid: { type: 'uuid', entity: 'host', description: 'destination Host ID to deploy the VM to - parameter available for root admin only', adminOnly: true },
    podid: { type: 'uuid', entity: 'pod', description: 'destination Pod ID to deploy the VM to - parameter available for root admin only', adminOnly: true },
    clusterid: { type: 'uuid', entity: 'cluster', description: 'destination Cluster ID to deploy the VM to - parameter available for root admin only', adminOnly: true },
    startvm: { type: 'boolean', description: 'true if start vm after creating; defaulted to true if not specified' },
    rootdisksize: { type: 'long', description: 'Optional field to resize root disk on deploy. Value is in GB. Only applies to template-based deployments.', min: 1, max: 1048576, since: '4.4' },
    account: { type: 'string', description: 'an optional account for the virtual machine. Must be used with domainId.' },
    domainid: { type: 'uuid', entity: 'domain', description: 'an optional domainId for the virtual machine. If the account parameter is used, domainId must also be used.' },
    projectid: { type: 'uuid', entity: 'project', description: 'Deploy vm for the project' },
  },
  async handler(ctx, a) {
    const s = ctx.services;
    let vmId = ctx.jobId ? (await s.db.query<{ id: string }>('SELECT id FROM vm_instances WHERE job_id = $1', [ctx.jobId]))[0]?.id : undefined;
    let hostId: string | undefined;
    if (!vmId) {
      // Step 1, one transaction: validate everything, place, record. Any refusal writes nothing.
      const placed = await s.db.tx(async (sql) => {
        const tctx: Context = { ...ctx, sql };
        const zone = await zoneById(tctx, a.zoneid, 'zoneid');
        if (zone.allocation_state !== 'Enabled' && ctx.caller.role !== 'Admin') throw paramError(`Zone ${zone.name} is disabled`);
        const off = await serviceOfferingById(tctx, a.serviceofferingid);
        if (off.is_system) throw paramError(`Service offering ${off.name} is for system VMs`);
        const tpl = await templateById(tctx, a.templateid);
        if (!tpl.is_ready) throw paramError(`Template ${tpl.name} is not ready: ${tpl.status}`);
        if (tpl.kind !== 'guest') throw paramError(`Template ${tpl.name} is a system VM template`);
        if (tpl.zone_id && tpl.zone_id !== zone.id) throw paramError(`Template ${tpl.name} is not available in zone ${zone.name}`);
        // The caller, account+domainid an admin names, or the account of project `projectid`.
        const owner: Owner = await ownerOf(tctx, a);
        await checkResourceLimit(sql, owner.accountId, 'user_vm');
        await checkResourceLimit(sql, owner.accountId, 'volume');
        await checkResourceLimit(sql, owner.accountId, 'cpu', off.cpu_number);
        await checkResourceLimit(sql, owner.accountId, 'memory', off.memory);
        // Its domain and type: the VM's owner must be allowed a shared network, not only the caller.
        const ownerRow = (await sql.query<{ path: string; type: number }>('SELECT d.path, a.type FROM accounts a JOIN domains d ON d.id = a.domain_id WHERE a.id = $1', [owner.accountId]))[0]!;
        const ownerPath = ownerRow.path;
        const ownerType = ownerRow.type;
        // The owner's key pairs, looked up before anything is written (CloudStack's order too).
        const keyNames = keyPairNames(a);
        // No networkids: the owner's default network of the zone (made when it has none), as CloudStack.
        const networkIds = a.networkids?.length ? a.networkids : [await defaultNetworkFor(tctx, owner, zone)];
        const nets = [];
        for (const id of networkIds) {
          const n = await networkById(tctx, id, 'networkids');
          if (n.zone_id !== zone.id) throw paramError(`Network ${n.name} is not in zone ${zone.name}`);
          if (n.acl_type === 'Account' && n.account_id !== owner.accountId) throw apiError('ACCOUNT_ERROR', `Network ${n.name} belongs to another account`);
          // The dispatcher checked the caller; the VM's owner must also be allowed the shared
          // network (an admin deploying for a subdomain account: subdomainaccess decides), as
          // CloudStack's checkNetworkPermissions(owner, network); root admins may use any.
          if (n.acl_type !== 'Account' && ownerType !== 1 && !domainMayUseNetwork(ownerPath, n)) throw apiError('ACCOUNT_ERROR', `Account ${owner.accountName} does not have permission to access network id=${n.id}`, [n.id]);
          nets.push(n);
        }
        if (new Set(networkIds).size !== networkIds.length) throw paramError('networkids lists a network twice');
        const seq = (await sql.query<{ n: number }>(`SELECT nextval('vm_instance_seq')::int AS n`))[0]!.n;
        const name = a.name ?? `VM-${randomUUID().slice(0, 8)}`;
        // The router's DNS answers each VM name of an isolated network: names are unique there.
        for (const n of nets) {
          if (n.guest_type !== 'Isolated') continue;
          const dup = await sql.query(`SELECT 1 FROM nics c JOIN vm_instances v ON v.id = c.vm_id WHERE c.network_id = $1 AND v.type = 'User' AND v.state <> 'Destroyed' AND lower(v.name) = lower($2)`, [n.id, name]);
          if (dup.length) throw paramError(`The vm with hostName ${name} already exists in the network domain: ${n.network_domain}; network=${n.name}`);
        }
        const clear = tpl.password_enabled ? newPassword() : null;
        const password = clear !== null ? ctx.services.secrets.seal(clear) : null;
        const k = await vmKeys(sql, owner, keyNames, clear, name);
        const host = await planHost(sql, {
          zoneId: zone.id, ...(a.podid ? { podId: a.podid } : {}), ...(a.clusterid ? { clusterId: a.clusterid } : {}), ...(a.hostid ? { hostId: a.hostid } : {}),
          cpus: off.cpu_number, mhz: off.cpu_speed, memoryMb: off.memory, hypervisor: tpl.hypervisor, what: `VM ${name}`,
        });
        const id = ctx.newId ?? randomUUID();
        const start = a.startvm !== false;
        await sql.query(
          `INSERT INTO vm_instances (id, name, display_name, instance_name, type, state, zone_id, pod_id, host_id, template_id, service_offering_id,
             account_id, domain_id, user_data, job_id, password_enc, keypair, ssh_public_keys, password_encrypted)
             VALUES ($1,$2,$3,$4,'User',$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18)`,
          [id, name, a.displayname ?? name, `i-${seq}-VM`, start ? 'Starting' : 'Stopped', zone.id, start ? host.pod_id : null, start ? host.id : null,
            tpl.id, off.id, owner.accountId, owner.domainId, a.userdata?.replace(/\s/g, '') ?? null, ctx.jobId ?? null, password, k.keypair, k.keys, k.encrypted]);
        // Its ROOT volume: rootdisksize (GB), else the template's size (CloudStack: not below it).
        const tplBytes = tpl.size ? Number(tpl.size) : DEFAULT_ROOT_BYTES;
        const rootBytes = a.rootdisksize !== undefined ? a.rootdisksize * 1024 ** 3 : tplBytes;
        if (rootBytes < tplBytes) throw paramError(`Unsupported: rootdisksize of ${a.rootdisksize} GB is smaller than template size of ${tplBytes} bytes`);
        await createRootVolume(sql, { vmId: id, seq, zoneId: zone.id, accountId: owner.accountId, domainId: owner.domainId, templateId: tpl.id, sizeBytes: rootBytes });
        // Concurrent deploys into one network take its addresses one after the other.
        await sql.query('SELECT id FROM networks WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE', [nets.map((n) => n.id)]);
        if (a.ipaddress && nets[0]!.guest_type === 'L2') throw paramError(`ipaddress can not be given: network ${nets[0]!.name} is an L2 network, without IP address management`);
        for (const [i, n] of nets.entries()) {
          // An L2 network manages no addresses: the NIC is on the segment, the guest configures itself.
          const ip = n.guest_type === 'L2' ? null : await allocateIp(sql, n as typeof n & { cidr: string; gateway: string }, i === 0 ? a.ipaddress : undefined);
          await sql.query('INSERT INTO nics (id, vm_id, network_id, device_id, mac, ip4, is_default) VALUES ($1,$2,$3,$4,$5,$6,$7)',
            [randomUUID(), id, n.id, i, newMac(), ip, i === 0]);
        }
        return { id, hostId: start ? host.id : undefined };
      });
      vmId = placed.id;
      hostId = placed.hostId;
    } else {
      hostId = (await s.db.query<{ host_id: string | null }>('SELECT host_id FROM vm_instances WHERE id = $1', [vmId]))[0]?.host_id ?? undefined;
    }
    ctx.setResource('VirtualMachine', vmId);
    if (hostId) {
      const nets = await networksOf(s.db, vmId);
      try {
        // An isolated network is implemented now (router up) and its router holds the VM's
        // reservation before the guest asks DHCP.
        await prepareVmNetworks(s, vmId);
        await ensureVmVolumes(s, vmId, hostId);
        await startOnHost(s, vmId, hostId);
      } catch (e) {
        // Leave nothing half-made: the host's objects, then the records.
        const inst = (await s.db.query<{ instance_name: string }>('SELECT instance_name FROM vm_instances WHERE id = $1', [vmId]))[0];
        if (inst && s.agents.isConnected(hostId)) await s.agents.request(hostId, 'destroyVm', { name: inst.instance_name }).catch(() => undefined);
        await expungeVmVolumes(s, vmId).catch(() => undefined);
        await s.db.query('DELETE FROM vm_instances WHERE id = $1', [vmId]);
        await syncVmNetworks(s, nets).catch(() => undefined);
        await releaseUnusedNetworks(s, hostId).catch(() => undefined);
        throw agentFailure(e, 'Starting the VM');
      }
      await s.db.query(`UPDATE vm_instances SET state = 'Running' WHERE id = $1`, [vmId]);
    }
    const password = await passwordOf(ctx, vmId);
    return { ...(await viewOf(ctx, vmId)), ...(password ? { password } : {}) };
  },
});

export const listVirtualMachines = command({
  name: 'listVirtualMachines', description: 'List the virtual machines owned by the account.', since: '1.0', roles: ALL_ROLES, response: VM, shape: 'list',
  params: {
    ...LIST_OWNED_PARAMS,
    id: { type: 'uuid', entity: 'vm', description: 'the ID of the virtual machine' },
    ids: { type: 'list', entity: 'vm', of: 'uuid', description: 'the IDs of the virtual machines, mutually exclusive with id' },
    name: { type: 'string', description: 'name of the virtual machine (a substring match is made against the parameter value, data for all matching VMs will be returned)' },
    state: { type: 'string', description: 'state of the virtual machine. Possible values are: Running, Stopped, Present, Destroyed, Expunged. Present is used for the state equal not destroyed.' },
    zoneid: { type: 'uuid', entity: 'zone', description: 'the availability zone ID' },
    hostid: { type: 'uuid', entity: 'host', description: 'the host ID', adminOnly: true },
    networkid: { type: 'uuid', entity: 'network', description: 'list by network id' },
    templateid: { type: 'uuid', entity: 'template', description: 'list vms by template' },
    serviceofferingid: { type: 'uuid', entity: 'serviceoffering', description: 'list by the service offering' },
    userdata: { type: 'boolean', description: 'Whether to return the VMs\' user data or not. By default, user data will not be returned.' },
    keypair: { type: 'string', description: 'list vms by ssh keypair name' },
    projectid: { type: 'uuid', entity: 'project', description: 'list objects by project; if projectid=-1 lists All VMs' },
  },
  async handler(ctx, a) {
    const scope = await resolveScope(ctx.sql, ctx.caller, a);
    const w = applyScope(new Where([]), scope, { account: 'v.account_id', domain: 'v.domain_id' });
    w.add(`v.type = 'User'`).add('v.id = ?', a.id).add('v.id = ANY(?::uuid[])', a.ids).add('strpos(lower(v.name), lower(?)) > 0', a.name)
      .add('v.zone_id = ?', a.zoneid).add('v.host_id = ?', a.hostid).add('v.template_id = ?', a.templateid).add('v.service_offering_id = ?', a.serviceofferingid)
      .add(`lower(?) = ANY(string_to_array(lower(v.keypair), ','))`, a.keypair)
      .add('v.id IN (SELECT vm_id FROM nics WHERE network_id = ?)', a.networkid).keyword(a.keyword, 'v.name', 'v.display_name');
    if (a.state && a.state.toLowerCase() === 'present') w.add(`v.state <> 'Destroyed'`);
    else if (a.state) w.add('lower(v.state) = lower(?)', a.state);
    else if (ctx.caller.role !== 'Admin') w.add(`v.state <> 'Destroyed'`);
    const page = await pagedRows<VmRow>(ctx.sql, a, { select: VM_SELECT, where: w, orderBy: 'v.created, v.id', countFrom: 'FROM vm_instances v' });
    return page.mapAll((rows) => views(ctx.sql, [...rows], ctx.caller.role === 'Admin', Boolean(a.userdata)));
  },
});

const VM_ID = { id: { type: 'uuid', entity: 'vm', required: true, description: 'The ID of the virtual machine' } } as const;

export const startVirtualMachine = command({
  name: 'startVirtualMachine', description: 'Starts a virtual machine.', since: '1.0', roles: ALL_ROLES, response: VM, shape: 'object', isAsync: true, transactional: false,
  event: 'VM.START', instance: { type: 'VirtualMachine', param: 'id' },
  params: { ...VM_ID, hostid: { type: 'uuid', entity: 'host', description: 'destination Host ID to deploy the VM to - parameter available for root admin only', adminOnly: true } },
  async handler(ctx, a) {
    const s = ctx.services;
    const v = await vmById(ctx, a.id);
    if (v.state === 'Running') return viewOf(ctx, v.id);
    if (v.state !== 'Stopped' && v.state !== 'Starting') throw paramError(`Virtual machine ${v.name} is ${v.state}; only a Stopped VM can be started`);
    const host = await s.db.tx(async (sql) => {
      const tpl = (await sql.query<{ hypervisor: string }>('SELECT hypervisor FROM templates WHERE id = $1', [v.template_id]))[0]!;
      const h = await planHost(sql, { zoneId: v.zone_id, ...(a.hostid ? { hostId: a.hostid } : {}), cpus: v.cpu_number, mhz: v.cpu_speed, memoryMb: v.memory, hypervisor: tpl.hypervisor, what: `VM ${v.name}` });
      await sql.query(`UPDATE vm_instances SET state = 'Starting', host_id = $2, pod_id = $3 WHERE id = $1`, [v.id, h.id, h.pod_id]);
      return h;
    });
    try {
      await prepareVmNetworks(s, v.id);
      await ensureVmVolumes(s, v.id, host.id);
      await startOnHost(s, v.id, host.id);
    } catch (e) {
      await s.db.query(`UPDATE vm_instances SET state = 'Stopped', host_id = NULL WHERE id = $1`, [v.id]);
      if (s.agents.isConnected(host.id)) await s.agents.request(host.id, 'destroyVm', { name: v.instance_name }).catch(() => undefined);
      throw agentFailure(e, `Starting VM ${v.name}`);
    }
    await s.db.query(`UPDATE vm_instances SET state = 'Running' WHERE id = $1`, [v.id]);
    ctx.setResource('VirtualMachine', v.id);
    return viewOf(ctx, v.id);
  },
});

/** Takes a VM off its host (stop or destroy there) and records it as `state`. */
async function takeDown(ctx: Context, v: VmRow, destroy: boolean, state: 'Stopped' | 'Destroyed'): Promise<void> {
  const s = ctx.services;
  if (v.host_id && s.agents.isConnected(v.host_id)) {
    await s.agents.request(v.host_id, destroy ? 'destroyVm' : 'stopVm', { name: v.instance_name }).catch((e) => { throw agentFailure(e, `${destroy ? 'Destroying' : 'Stopping'} VM ${v.name}`); });
  }
  // A disconnected host's copy is removed by reconciliation when it comes back.
  await s.db.query(`UPDATE vm_instances SET state = $2, last_host_id = coalesce(host_id, last_host_id), host_id = NULL, pod_id = NULL WHERE id = $1`, [v.id, state]);
  if (v.host_id) await releaseUnusedNetworks(s, v.host_id).catch(() => undefined);
}

export const stopVirtualMachine = command({
  name: 'stopVirtualMachine', description: 'Stops a virtual machine.', since: '1.0', roles: ALL_ROLES, response: VM, shape: 'object', isAsync: true, transactional: false,
  event: 'VM.STOP', instance: { type: 'VirtualMachine', param: 'id' },
  params: { ...VM_ID, forced: { type: 'boolean', description: 'Force stop the VM (vm is marked as Stopped even when command fails to be send to the backend, otherwise a force poweroff is attempted).' } },
  async handler(ctx, a) {
    const v = await vmById(ctx, a.id);
    if (v.state === 'Stopped') return viewOf(ctx, v.id);
    if (!['Running', 'Starting', 'Error'].includes(v.state)) throw paramError(`Virtual machine ${v.name} is ${v.state} and cannot be stopped`);
    await takeDown(ctx, v, false, 'Stopped');
    ctx.setResource('VirtualMachine', v.id);
    return viewOf(ctx, v.id);
  },
});

export const rebootVirtualMachine = command({
  name: 'rebootVirtualMachine', description: 'Reboots a virtual machine.', since: '1.0', roles: ALL_ROLES, response: VM, shape: 'object', isAsync: true, transactional: false,
  event: 'VM.REBOOT', instance: { type: 'VirtualMachine', param: 'id' },
  params: { ...VM_ID },
  async handler(ctx, a) {
    const s = ctx.services;
    const v = await vmById(ctx, a.id);
    if (v.state !== 'Running' || !v.host_id) throw paramError(`Virtual machine ${v.name} is ${v.state}; only a Running VM can be rebooted`);
    await s.agents.request(v.host_id, 'rebootVm', { name: v.instance_name }, 120_000).catch((e) => { throw agentFailure(e, `Rebooting VM ${v.name}`); });
    ctx.setResource('VirtualMachine', v.id);
    return viewOf(ctx, v.id);
  },
});

export const destroyVirtualMachine = command({
  name: 'destroyVirtualMachine', description: 'Destroys a virtual machine. With expunge=true its records are removed at once; otherwise it stays listed as Destroyed and its addresses are released.', since: '1.0',
  roles: ALL_ROLES, response: VM, shape: 'object', isAsync: true, transactional: false, event: 'VM.DESTROY', instance: { type: 'VirtualMachine', param: 'id' },
  params: { ...VM_ID, expunge: { type: 'boolean', description: 'If true is passed, the vm is expunged immediately. False by default.' } },
  async handler(ctx, a) {
    const v = await vmById(ctx, a.id);
    if (v.state === 'Destroyed' && !a.expunge) throw paramError(`Virtual machine ${v.name} is already destroyed`);
    await takeDown(ctx, v, true, 'Destroyed');
    const out = await viewOf(ctx, v.id);
    // Its addresses go back to the networks now, with the rules and static NAT that led to it
    // (as CloudStack's expunge does); expunge removes the VM record too.
    const nets = await networksOf(ctx.services.db, v.id);
    await ctx.services.db.tx(async (sql) => {
      await sql.query('DELETE FROM network_rules WHERE vm_id = $1', [v.id]);
      await sql.query(`DELETE FROM network_rules WHERE purpose = 'StaticNat' AND ip_address_id IN (SELECT id FROM public_ip_addresses WHERE static_nat_vm_id = $1)`, [v.id]);
      await sql.query('UPDATE public_ip_addresses SET static_nat_vm_id = NULL, static_nat_ip = NULL WHERE static_nat_vm_id = $1', [v.id]);
      // Out of its load balancers (CloudStack's removeVmFromLoadBalancers): its address is
      // released below, and the router's next spec must not send connections to it.
      await sql.query('DELETE FROM lb_members WHERE vm_id = $1', [v.id]);
      // What recoverVirtualMachine gives back (the same addresses, if still free).
      if (!a.expunge && v.state !== 'Destroyed') {
        await sql.query(`UPDATE vm_instances SET released_nics = (SELECT jsonb_agg(jsonb_build_object('network_id', network_id, 'device_id', device_id, 'mac', mac, 'ip4', ip4, 'is_default', is_default) ORDER BY device_id) FROM nics WHERE vm_id = $1) WHERE id = $1`, [v.id]);
      }
      await sql.query('DELETE FROM nics WHERE vm_id = $1', [v.id]);
    });
    if (a.expunge) {
      await expungeVmVolumes(ctx.services, v.id);
      await ctx.services.db.query('DELETE FROM vm_instances WHERE id = $1', [v.id]);
    }
    await syncVmNetworks(ctx.services, nets).catch((e) => ctx.services.log.warn({ err: e, vm: v.id }, 'router update after VM destroy failed'));
    ctx.setResource('VirtualMachine', v.id);
    return { ...out, state: a.expunge ? 'Expunging' : 'Destroyed' };
  },
});

export const listNics = command({
  name: 'listNics', description: 'list the vm nics  IP to NIC', since: '4.2.0', roles: ALL_ROLES, response: NIC, shape: 'list',
  params: {
    virtualmachineid: { type: 'uuid', entity: 'vm', access: 'operate', required: true, description: 'the ID of the vm' },
    nicid: { type: 'uuid', entity: 'nic', description: 'the ID of the nic to to list IPs' },
    networkid: { type: 'uuid', entity: 'network', description: 'list nic of the specific vm\'s network' },
    keyword: { type: 'string', description: 'List by keyword' },
    page: { type: 'integer', description: 'the page number of the result set (from 1)', min: 1 },
    pagesize: { type: 'integer', description: 'the number of items per page', min: -1 },
  },
  async handler(ctx, a) {
    const v = await vmById(ctx, a.virtualmachineid, 'virtualmachineid');
    const w = new Where().add('c.vm_id = ?', v.id).add('c.id = ?', a.nicid).add('c.network_id = ?', a.networkid);
    return (await pagedRows<NicRow>(ctx.sql, a, { select: NIC_SELECT, where: w, orderBy: 'c.device_id, c.id' })).map(nicView);
  },
});


export const updateVirtualMachine = command({
  name: 'updateVirtualMachine', description: 'Updates properties of a virtual machine. The VM has to be stopped and restarted for the new properties to take effect. UpdateVirtualMachine does not first check whether the VM is stopped. Therefore, stop the VM manually before issuing this call.', since: '1.0',
  roles: ALL_ROLES, response: VM, shape: 'object', transactional: false, event: 'VM.UPDATE',
  params: {
    ...VM_ID,
    displayname: { type: 'string', description: 'user generated name' },
    userdata: { type: 'string', length: 1400000, description: 'an optional binary data that can be sent to the virtual machine upon a successful deployment. This binary data must be base64 encoded before adding it to the request.', check: checkUserData },
    name: { type: 'string', description: 'new host name of the vm. The VM has to be stopped/started for this update to take affect', check: checkHostname, length: 63 },
  },
  async handler(ctx, a) {
    const s = ctx.services;
    const v = await vmById(ctx, a.id);
    if (v.state === 'Destroyed') throw paramError(`Virtual machine ${v.name} is destroyed`);
    if (a.name && a.name.toLowerCase() !== v.name.toLowerCase()) {
      const dup = await s.db.query(`SELECT 1 FROM nics c JOIN networks n ON n.id = c.network_id JOIN nics o ON o.network_id = c.network_id JOIN vm_instances w ON w.id = o.vm_id
        WHERE c.vm_id = $1 AND n.guest_type = 'Isolated' AND w.id <> $1 AND w.type = 'User' AND w.state <> 'Destroyed' AND lower(w.name) = lower($2)`, [v.id, a.name]);
      if (dup.length) throw paramError(`The vm with hostName ${a.name} already exists in one of the networks of VM ${v.name}`);
    }
    await s.db.query(`UPDATE vm_instances SET display_name = coalesce($2, display_name), user_data = coalesce($3, user_data), name = coalesce($4, name) WHERE id = $1`,
      [v.id, a.displayname ?? null, a.userdata?.replace(/\s/g, '') ?? null, a.name ?? null]);
    // The router serves user data (and the name in DNS): it gets the new spec now.
    await syncVmNetworks(s, await networksOf(s.db, v.id)).catch((e) => { throw agentFailure(e, `Updating the router of VM ${v.name}`); });
    ctx.setResource('VirtualMachine', v.id);
    return viewOf(ctx, v.id);
  },
});

export const resetPasswordForVirtualMachine = command({
  name: 'resetPasswordForVirtualMachine', description: 'Resets the password for virtual machine. The virtual machine must be in a "Stopped" state and the template must already support this feature for this command to take effect.', since: '1.0',
  roles: ALL_ROLES, response: VM, shape: 'object', isAsync: true, transactional: false, event: 'VM.RESETPASSWORD', instance: { type: 'VirtualMachine', param: 'id' },
  params: { ...VM_ID },
  async handler(ctx, a) {
    const s = ctx.services;
    const v = await vmById(ctx, a.id);
    if (!v.password_enabled) throw paramError(`Fail to reset password for the virtual machine ${v.name}: the template is not password enabled`);
    if (v.state !== 'Stopped') throw paramError(`Vm ${v.name} should be stopped to do password reset`);
    const password = newPassword();
    // A VM with key pairs keeps the new password encrypted under its first key too (getVMPassword).
    const keys = (await s.db.query<{ ssh_public_keys: string | null }>('SELECT ssh_public_keys FROM vm_instances WHERE id = $1', [v.id]))[0]?.ssh_public_keys ?? null;
    const encrypted = keys?.startsWith('ssh-rsa ') ? encryptPassword(keys, password) : null;
    await s.db.query('UPDATE vm_instances SET password_enc = $2, password_encrypted = $3 WHERE id = $1', [v.id, s.secrets.seal(password), encrypted]);
    // The router's password service hands it to the guest at its next boot (DomU_Request).
    await syncVmNetworks(s, await networksOf(s.db, v.id)).catch((e) => { throw agentFailure(e, `Updating the router of VM ${v.name}`); });
    ctx.setResource('VirtualMachine', v.id);
    return { ...(await viewOf(ctx, v.id)), password };
  },
});

export const getVMPassword = command({
  name: 'getVMPassword', description: 'Returns an encrypted password for the VM', since: '3.0.0', roles: ALL_ROLES,
  response: { name: 'password', fields: { encryptedpassword: { type: 'string', description: 'The base64 encoded encrypted password of the VM' } } }, shape: 'object',
  params: { ...VM_ID },
  async handler(ctx, a) {
    const v = await vmById(ctx, a.id);
    // CloudStack keeps only the password encrypted with the VM's SSH public key (RSA PKCS#1
    // v1.5, base64) and answers this error when there is none.
    const enc = (await ctx.sql.query<{ password_encrypted: string | null }>('SELECT password_encrypted FROM vm_instances WHERE id = $1', [v.id]))[0]?.password_encrypted;
    if (!enc) {
      throw paramError(`No password for VM with id '${v.id}' found. getVMPassword needs a VM of a password-enabled template deployed with an SSH key pair; otherwise the password is shown once, in the answer of deployVirtualMachine or resetPasswordForVirtualMachine`);
    }
    return { encryptedpassword: enc };
  },
});

export const resetSSHKeyForVirtualMachine = command({
  name: 'resetSSHKeyForVirtualMachine', description: 'Resets the SSH Key for virtual machine. The virtual machine must be in a "Stopped" state.', since: '4.0.0',
  roles: ALL_ROLES, response: VM, shape: 'object', isAsync: true, transactional: false, event: 'VM.RESETSSHKEY', instance: { type: 'VirtualMachine', param: 'id' },
  params: {
    ...VM_ID,
    ...KEYPAIR_PARAMS,
    account: { type: 'string', description: 'an optional account for the ssh key. Must be used with domainId.' },
    domainid: { type: 'uuid', entity: 'domain', description: 'an optional domainId for the virtual machine. If the account parameter is used, domainId must also be used.' },
    projectid: { type: 'uuid', entity: 'project', description: 'an optional project for the ssh key' },
  },
  async handler(ctx, a) {
    const s = ctx.services;
    const v = await vmById(ctx, a.id);
    const names = keyPairNames(a);
    if (!names.length) throw paramError('Unable to execute API command resetsshkeyforvirtualmachine due to missing parameter keypair or keypairs');
    if (v.state !== 'Stopped') throw paramError(`Vm ${v.name} should be stopped to do SSH Key reset`);
    // The key pairs of the named account, else of the VM's owner (whose key pairs they must be).
    const owner = a.account !== undefined || a.domainid !== undefined || a.projectid !== undefined
      ? await keyPairOwner(ctx, a) : { accountId: v.account_id, accountName: v.account_name, domainId: v.domain_id };
    if (owner.accountId !== v.account_id) throw paramError(`The key pairs must belong to account ${v.account_name}, the owner of VM ${v.name}`);
    const password = v.password_enabled ? newPassword() : null;
    const k = await vmKeys(s.db, owner, names, password, v.name);
    await s.db.query(`UPDATE vm_instances SET keypair = $2, ssh_public_keys = $3, password_encrypted = $4, password_enc = coalesce($5, password_enc) WHERE id = $1`,
      [v.id, k.keypair, k.keys, k.encrypted, password !== null ? s.secrets.seal(password) : null]);
    // The router's metadata service serves the new keys (and password) at the guest's next boot.
    await syncVmNetworks(s, await networksOf(s.db, v.id)).catch((e) => { throw agentFailure(e, `Updating the router of VM ${v.name}`); });
    ctx.setResource('VirtualMachine', v.id);
    return { ...(await viewOf(ctx, v.id)), ...(password !== null ? { password } : {}) };
  },
});

// ---- expunge, recover, change of service offering ----

export const expungeVirtualMachine = command({
  name: 'expungeVirtualMachine', description: 'Expunge a virtual machine. Once expunged, it cannot be recoverd.', since: '4.2.0',
  roles: ALL_ROLES, response: SUCCESS_RESPONSE, shape: 'success', isAsync: true, transactional: false, event: 'VM.EXPUNGE', instance: { type: 'VirtualMachine', param: 'id' },
  params: { ...VM_ID },
  async handler(ctx, a) {
    const v = await vmById(ctx, a.id);
    if (v.state !== 'Destroyed') throw paramError(`Please specify a VM that is in Destroyed state: ${v.name} is ${v.state}`);
    await expungeVmVolumes(ctx.services, v.id);
    await ctx.services.db.query('DELETE FROM vm_instances WHERE id = $1', [v.id]);
    ctx.setResource('VirtualMachine', v.id);
  },
});

export const recoverVirtualMachine = command({
  name: 'recoverVirtualMachine', description: 'Recovers a virtual machine.', since: '1.0', roles: ALL_ROLES, response: VM, shape: 'object', transactional: false, event: 'VM.RECOVER',
  params: { ...VM_ID },
  async handler(ctx, a) {
    const s = ctx.services;
    const v = await vmById(ctx, a.id);
    if (v.state !== 'Destroyed') throw paramError(`Unable to recover VM as it is not in Destroyed state: ${v.name} is ${v.state}`);
    await s.db.tx(async (sql) => {
      const saved = (await sql.query<{ released_nics: Array<{ network_id: string; device_id: number; mac: string; ip4: string | null; is_default: boolean }> | null }>(
        'SELECT released_nics FROM vm_instances WHERE id = $1 FOR UPDATE', [v.id]))[0]?.released_nics ?? [];
      // It gets its addresses back, unless another VM took one meanwhile.
      for (const n of saved) {
        const net = (await sql.query<{ name: string }>('SELECT name FROM networks WHERE id = $1 FOR UPDATE', [n.network_id]))[0];
        if (!net) throw paramError(`Unable to recover VM ${v.name}: its network ${n.network_id} was deleted`);
        if (n.ip4 && (await sql.query('SELECT 1 FROM nics WHERE network_id = $1 AND ip4 = $2', [n.network_id, n.ip4])).length) {
          throw apiError('INSUFFICIENT_CAPACITY', `Unable to recover VM ${v.name}: its address ${n.ip4} in network ${net.name} is in use by another VM now`);
        }
        const mac = (await sql.query('SELECT 1 FROM nics WHERE mac = $1', [n.mac])).length ? newMac() : n.mac;
        await sql.query('INSERT INTO nics (id, vm_id, network_id, device_id, mac, ip4, is_default) VALUES ($1,$2,$3,$4,$5,$6,$7)', [randomUUID(), v.id, n.network_id, n.device_id, mac, n.ip4, n.is_default]);
      }
      await sql.query(`UPDATE vm_instances SET state = 'Stopped', released_nics = NULL WHERE id = $1`, [v.id]);
    });
    ctx.setResource('VirtualMachine', v.id);
    return viewOf(ctx, v.id);
  },
});

/** Changes a stopped VM's service offering (CloudStack scales running VMs only on hypervisors that can; Flotilla's cannot). */
async function changeOffering(ctx: Context, a: { id: string; serviceofferingid: string }): Promise<Record<string, unknown>> {
  const v = await vmById(ctx, a.id);
  const off = await serviceOfferingById(ctx, a.serviceofferingid);
  if (off.is_system) throw paramError(`Service offering ${off.name} is for system VMs`);
  if (v.service_offering_id === off.id) throw paramError(`Not upgrading vm ${v.name} since it already has the requested service offering (${off.name})`);
  if (v.state !== 'Stopped') throw paramError(`Unable to upgrade virtual machine ${v.name}: it is ${v.state}; stop it first (its hypervisor cannot scale a running VM)`);
  await ctx.services.db.query('UPDATE vm_instances SET service_offering_id = $2 WHERE id = $1', [v.id, off.id]);
  ctx.setResource('VirtualMachine', v.id);
  return viewOf(ctx, v.id);
}
const CHANGE_PARAMS = {
  ...VM_ID,
  serviceofferingid: { type: 'uuid', entity: 'serviceoffering', required: true, description: 'the service offering ID to apply to the virtual machine' },
  details: { type: 'map', description: 'name value pairs of custom parameters for cpu, memory and cpunumber. example details[i].name=value' },
} as const;

export const changeServiceForVirtualMachine = command({
  name: 'changeServiceForVirtualMachine', description: 'Changes the service offering for a virtual machine. The virtual machine must be in a "Stopped" state for this command to take effect.', since: '1.0',
  roles: ALL_ROLES, response: VM, shape: 'object', transactional: false, event: 'VM.UPGRADE', params: CHANGE_PARAMS,
  async handler(ctx, a) { return changeOffering(ctx, a); },
});

export const scaleVirtualMachine = command({
  name: 'scaleVirtualMachine', description: 'Scales the virtual machine to a new service offering. This command also considers the volume size in the service offering or disk offering linked to the new service offering and apply all characteristics to the root volume.', since: '4.2.0',
  roles: ALL_ROLES, response: VM, shape: 'object', isAsync: true, transactional: false, event: 'VM.DYNAMIC.SCALE', instance: { type: 'VirtualMachine', param: 'id' }, params: CHANGE_PARAMS,
  async handler(ctx, a) { return changeOffering(ctx, a); },
});
