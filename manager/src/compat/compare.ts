// Compares the command registry with CloudStack 4.18's own command list (docs/compat/): which
// commands exist, which parameters and response fields each lacks, and where a declaration
// disagrees with CloudStack's type. Pure: data in, report and markdown out (the CLI in main.ts
// reads and writes the files).
import type { AnyCommand } from '../api/registry.ts';

/** One command of CloudStack's listApis, reduced to what the comparison needs. */
export interface CsApi {
  readonly name: string;
  readonly isasync: boolean;
  /** [name, type, required] */
  readonly params: readonly (readonly [string, string, boolean])[];
  /** [name, type] */
  readonly response: readonly (readonly [string, string])[];
}

export interface Mismatch { readonly command: string; readonly kind: 'param' | 'field' | 'async' | 'param name' | 'field name'; readonly name: string; readonly ours: string; readonly theirs: string }

export interface CommandReport {
  readonly name: string;
  readonly area: string;
  readonly status: 'implemented' | 'partial' | 'not yet' | 'flotilla only';
  readonly missingParams: readonly string[];
  readonly missingFields: readonly string[];
  /** declared, refused with 431 "not supported yet" (compat/unsupported.ts) */
  readonly unsupportedParams: readonly string[];
  /** declared, always CloudStack's empty value (compat/empty-fields.ts) */
  readonly emptyFields: number;
  readonly params: { readonly have: number; readonly of: number };
  readonly fields: { readonly have: number; readonly of: number };
}

export interface Report {
  readonly commands: readonly CommandReport[];
  readonly mismatches: readonly Mismatch[];
  readonly totals: {
    readonly cloudstack: number; readonly implemented: number; readonly partial: number; readonly notYet: number; readonly flotillaOnly: number;
    readonly params: { readonly have: number; readonly of: number; readonly unsupported: number };
    readonly fields: { readonly have: number; readonly of: number; readonly empty: number };
  };
}

// Parameter types must agree exactly, except CloudStack's `short` which clients treat as an
// integer. A response field's type only tells clients how to print it: numbers agree with
// numbers, and ids (uuid) with CloudStack's string.
const PARAM_SAME: Record<string, string> = { short: 'integer' };
const paramType = (t: string): string => PARAM_SAME[t] ?? t;
const FIELD_CLASS: Record<string, string> = {
  uuid: 'string', string: 'string', url: 'string', state: 'string', status: 'string', type: 'string', hypervisortype: 'string',
  imageformat: 'string', powerstate: 'string', scopetype: 'string', hastate: 'string', storagepoolstatus: 'string', resourceobjecttype: 'string',
  integer: 'number', int: 'number', long: 'number', short: 'number', double: 'number', float: 'number',
  boolean: 'boolean', date: 'date',
  list: 'collection', set: 'collection', 'string[]': 'collection', 'long[]': 'collection', 'double[]': 'collection',
  map: 'object', object: 'object', responseobject: 'object',
};
const fieldClass = (t: string): string => FIELD_CLASS[t] ?? (t.endsWith('response') ? 'object' : t);

/** Fields of CloudStack's BaseResponse that every response object declares, set only while an
 *  async job acts on the object; Flotilla's listApis adds them to async commands itself. */
const BASE_FIELDS = new Set(['jobid', 'jobstatus']);

// Areas, by the resource a command's name is about (CloudStack's API reference groups them the
// same way). First match wins; what matches nothing is "Other".
const AREAS: readonly (readonly [string, RegExp])[] = [
  ['Network rules', /FirewallRule|PortForwarding|IpForwarding|StaticNat|EgressFirewall|SecurityGroup|Ipv6FirewallRule|RoutingFirewall/],
  ['VPC', /Vpc|VPC|NetworkACL|PrivateGateway|StaticRoute/],
  ['Load balancing', /LoadBalancer|LBStickiness|LBHealthCheck|SslCert|GlobalLoadBalancer|AutoScale|Condition|Counter/],
  ['VPN', /Vpn/],
  ['Virtual machines', /VirtualMachine|Vm(s)?$|VMSnapshot|InstanceGroup|AffinityGroup|VMPassword|SSHKey|VmNic|Nic$|ToNic|FromNic|VMReservations|Userdata|UserData|VMSchedule|Console/],
  ['Volumes and storage', /Volume|DiskOffering|Snapshot|StoragePool|ImageStore|Storage|Bucket|ObjectStore/],
  ['Templates and ISOs', /Template|Iso|OsType|OsCategory|GuestOs/],
  ['Accounts and users', /^(login|logout|.*(Account|User|Domain|Role|RolePermission|Project|ProjectAccount|ProjectInvitation|ApiKey|UserKeys|Ldap|Saml|OauthProvider|TwoFactor).*)$/],
  ['Public IPs', /IpAddress|PublicIp|PodIp|VlanIpRange|GuestVlan|Ipv4Range|Ipv6Range|Subnet/],
  ['Routers and system VMs', /Router|SystemVm|InternalLoadBalancerElement|InternalLoadBalancerVM|VirtualRouterElement|OvsElement/],
  ['Network plugins', /Tungsten|Nicira|BigSwitch|Brocade|Cisco|PaloAlto|Stratosphere|OpenDaylight|Netscaler|NetScaler|F5|Srx|TrafficMonitor|Nuage|ServiceInstance/],
  ['Networks', /Network|TrafficType|PortableIp/],
  ['Kubernetes', /Kubernetes/],
  ['Service offerings', /ServiceOffering|Offering/],
  ['Hosts and clusters', /Host|Cluster|Hypervisor|OutOfBand|HAFor|Ha(Provider|Resource)|Dedicated|Dedicate|Kvm|Ucs|BaremetalPxe|Baremetal/],
  ['Zones and pods', /Zone|Pod|Region|Cloud/],
  ['Events, jobs and alerts', /Event|AsyncJob|Alert|Usage|Metrics|Capacity/],
  ['Tags, limits and configuration', /Tags|ResourceLimit|ResourceCount|Configuration|Capabilities|Apis|ApiLimit|ResourceDetail|ResourceIcon|Annotation|Quota|Setting/],
];
export const areaOf = (name: string): string => AREAS.find(([, re]) => re.test(name))?.[0] ?? 'Other';

export function compare(registry: readonly AnyCommand[], cs: readonly CsApi[]): Report {
  const ours = new Map(registry.map((c) => [c.name, c]));
  const commands: CommandReport[] = [];
  const mismatches: Mismatch[] = [];
  const totals = { params: { have: 0, of: 0, unsupported: 0 }, fields: { have: 0, of: 0, empty: 0 } };
  let implemented = 0, partial = 0, notYet = 0;
  for (const api of cs) {
    const c = ours.get(api.name);
    const csFields = api.response.filter(([n]) => !BASE_FIELDS.has(n));
    if (!c) {
      notYet++;
      commands.push({ name: api.name, area: areaOf(api.name), status: 'not yet', missingParams: [], missingFields: [], unsupportedParams: [], emptyFields: 0, params: { have: 0, of: api.params.length }, fields: { have: 0, of: csFields.length } });
      continue;
    }
    const missingParams: string[] = [];
    const unsupportedParams: string[] = [];
    let emptyFields = 0;
    for (const [name, type] of api.params) {
      const p = c.params[name];
      if (!p) { missingParams.push(name); continue; }
      if (p.unsupported) unsupportedParams.push(name);
      if (paramType(p.type) !== paramType(type)) mismatches.push({ command: api.name, kind: 'param', name, ours: p.type, theirs: type });
    }
    const missingFields: string[] = [];
    for (const [name, type] of csFields) {
      const f = c.response.fields[name];
      if (!f) { missingFields.push(name); continue; }
      if (f.empty) emptyFields++;
      if (fieldClass(f.type) !== fieldClass(type)) mismatches.push({ command: api.name, kind: 'field', name, ours: f.type, theirs: type });
    }
    // The same parameter or field spelled differently (CloudStack's `cacheMode` answered as `cachemode`):
    // a client reading CloudStack's name would not find it.
    const spelled = (theirs: readonly string[], ours: readonly string[], kind: 'param name' | 'field name') => {
      const exact = new Set(theirs);
      const lower = new Map(theirs.map((n) => [n.toLowerCase(), n]));
      for (const n of ours) if (!exact.has(n) && lower.has(n.toLowerCase())) mismatches.push({ command: api.name, kind, name: n, ours: n, theirs: lower.get(n.toLowerCase())! });
    };
    spelled(api.params.map(([n]) => n), Object.keys(c.params), 'param name');
    spelled(api.response.map(([n]) => n), Object.keys(c.response.fields), 'field name');
    if (Boolean(c.isAsync) !== api.isasync) mismatches.push({ command: api.name, kind: 'async', name: 'isasync', ours: String(Boolean(c.isAsync)), theirs: String(api.isasync) });
    const params = { have: api.params.length - missingParams.length, of: api.params.length };
    const fields = { have: csFields.length - missingFields.length, of: csFields.length };
    totals.params.have += params.have; totals.params.of += params.of;
    totals.fields.have += fields.have; totals.fields.of += fields.of;
    totals.params.unsupported += unsupportedParams.length; totals.fields.empty += emptyFields;
    const complete = !missingParams.length && !missingFields.length;
    if (complete) implemented++; else partial++;
    commands.push({ name: api.name, area: areaOf(api.name), status: complete ? 'implemented' : 'partial', missingParams, missingFields, unsupportedParams, emptyFields, params, fields });
  }
  const known = new Set(cs.map((a) => a.name));
  const extra = registry.filter((c) => !known.has(c.name));
  for (const c of extra) {
    commands.push({ name: c.name, area: areaOf(c.name), status: 'flotilla only', missingParams: [], missingFields: [], unsupportedParams: [], emptyFields: 0, params: { have: 0, of: 0 }, fields: { have: 0, of: 0 } });
  }
  return {
    commands, mismatches,
    totals: { cloudstack: cs.length, implemented, partial, notYet, flotillaOnly: extra.length, ...totals },
  };
}

const pct = (x: { have: number; of: number }): string => (x.of ? `${((100 * x.have) / x.of).toFixed(1)}%` : '—');
const list = (xs: readonly string[]): string => (xs.length ? xs.map((x) => `\`${x}\``).join(', ') : '');

/** The table of docs/compatibility.md. Deterministic: the same inputs give the same bytes. */
export function render(r: Report): string {
  const t = r.totals;
  const out: string[] = [
    '# Compatibility with CloudStack 4.18',
    '',
    '<!-- Generated by `npm run compat` (manager/src/compat/) from the command registry and',
    '     docs/compat/cloudstack-4.18-apis.json. Do not edit by hand: manager/test/compat.test.ts',
    '     fails when this file is stale. -->',
    '',
    `CloudStack 4.18 has ${t.cloudstack} commands. Flotilla has ${t.implemented + t.partial} of them: ` +
      `${t.implemented} with every parameter and top-level response field CloudStack declares, ${t.partial} partly; ` +
      `${t.notYet} not yet. ${t.flotillaOnly} Flotilla commands are not in CloudStack 4.18.`,
    '',
    `For the commands Flotilla has: parameters ${t.params.have}/${t.params.of} (${pct(t.params)}; ` +
      `${t.params.unsupported} of them refused with a 431 as not supported yet), ` +
      `response fields ${t.fields.have}/${t.fields.of} (${pct(t.fields)}; ${t.fields.empty} of them always CloudStack's empty value). ` +
      `Declarations that disagree with CloudStack's types or spelling: ${r.mismatches.length}.`,
    '',
    'Status: **implemented** (all of CloudStack\'s parameters and response fields are declared), ' +
      '**partial** (the missing ones are named), **not yet**, **flotilla only**. A declared parameter ' +
      'is validated and handled, or (named under "not supported yet") refused with a 431 saying so unless its value ' +
      'is CloudStack\'s no-op default (manager/src/compat/unsupported.ts); a declared field is set by the view, or ' +
      '(counted under "empty") always CloudStack\'s empty value for a concept Flotilla does not have: false, [], or ' +
      'omitted where CloudStack\'s value is null (manager/src/compat/empty-fields.ts).',
    '',
  ];
  const byArea = new Map<string, CommandReport[]>();
  for (const c of r.commands) byArea.set(c.area, [...(byArea.get(c.area) ?? []), c]);
  const areas = [...byArea.keys()].sort((a, b) => (a === 'Other' ? 1 : b === 'Other' ? -1 : a.localeCompare(b)));
  out.push('| area | implemented | partial | not yet |', '|---|---|---|---|');
  for (const a of areas) {
    const cs = byArea.get(a)!;
    const n = (s: CommandReport['status']) => cs.filter((c) => c.status === s).length;
    out.push(`| [${a}](#${a.toLowerCase().replace(/[^a-z0-9 -]/g, '').replace(/ /g, '-')}) | ${n('implemented')} | ${n('partial')} | ${n('not yet')} |`);
  }
  out.push('');
  for (const a of areas) {
    out.push(`## ${a}`, '', '| command | status | parameters | response fields | empty | missing | not supported yet |', '|---|---|---|---|---|---|---|');
    for (const c of byArea.get(a)!.sort((x, y) => x.name.localeCompare(y.name))) {
      const missing = [c.missingParams.length ? `parameters: ${list(c.missingParams)}` : '', c.missingFields.length ? `fields: ${list(c.missingFields)}` : '']
        .filter(Boolean).join('; ');
      const counts = c.status === 'not yet' || c.status === 'flotilla only' ? ['', ''] : [`${c.params.have}/${c.params.of}`, `${c.fields.have}/${c.fields.of}`];
      out.push(`| \`${c.name}\` | ${c.status} | ${counts[0]} | ${counts[1]} | ${c.emptyFields || ''} | ${missing} | ${list(c.unsupportedParams)} |`);
    }
    out.push('');
  }
  if (r.mismatches.length) {
    out.push('## Declarations that differ from CloudStack', '', '| command | what | name | Flotilla | CloudStack |', '|---|---|---|---|---|');
    for (const m of r.mismatches) out.push(`| \`${m.command}\` | ${m.kind} | \`${m.name}\` | ${m.ours} | ${m.theirs} |`);
    out.push('');
  }
  return out.join('\n');
}
