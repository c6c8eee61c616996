// Everything from the manager is checked here before any driver sees it: first the TypeBox
// schema of the op (shape, patterns, ranges), then semantics the schema cannot say (an address
// really parses, a MAC is unicast, a gateway lies in its subnet, device ids are unique). All
// problems are collected and reported at once as "path: problem"; a rejected request has
// touched nothing. Values come back normalised (lower-case MACs, canonical addresses).
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import type { TSchema } from '@sinclair/typebox';
import ipaddr from 'ipaddr.js';
import { AgentCommands, type AgentArgs, type AgentOp, type NetworkSpec, type NicSpec, type VmSpec } from '@flotilla/protocol/agent';
import { AgentError } from './errors.ts';

const compiled = new Map<TSchema, TypeCheck<TSchema>>();
function checker(schema: TSchema): TypeCheck<TSchema> {
  let c = compiled.get(schema);
  if (!c) { c = TypeCompiler.Compile(schema); compiled.set(schema, c); }
  return c;
}

/** Schema problems as "path: message" lines (path "/" for the root). */
export function schemaProblems(schema: TSchema, value: unknown, prefix = ''): string[] {
  const c = checker(schema);
  if (c.Check(value)) return [];
  const out: string[] = [];
  for (const e of c.Errors(value)) {
    const shown = typeof e.value === 'string' ? ` (got ${JSON.stringify(e.value.length > 80 ? `${e.value.slice(0, 80)}…` : e.value)})` : '';
    out.push(`${prefix}${e.path || '/'}: ${e.message}${shown}`);
    if (out.length >= 20) break;
  }
  return out;
}

function fail(what: string, problems: string[]): never {
  throw new AgentError('INVALID_ARGUMENT', `${what}: ${problems.join('; ')}`, { problems });
}

/** An IPv4 in dotted-quad or any IPv6, canonicalised; undefined when it is not one. (ipaddr's
 *  generic isValid also takes "10" or "0x0a.1"; those never reach `ip`.) */
export function parseIp(s: string): { family: 4 | 6; text: string } | undefined {
  if (ipaddr.IPv4.isValidFourPartDecimal(s)) return { family: 4, text: ipaddr.IPv4.parse(s).toString() };
  if (s.includes(':') && ipaddr.IPv6.isValid(s)) return { family: 6, text: ipaddr.IPv6.parse(s).toString() };
  return undefined;
}

/** "a.b.c.d/len" with a valid prefix for its family; keeps host bits (an interface address). */
export function parseCidr(s: string): { family: 4 | 6; address: string; prefix: number; text: string } | undefined {
  const slash = s.lastIndexOf('/');
  if (slash < 0) return undefined;
  const ip = parseIp(s.slice(0, slash));
  const lenText = s.slice(slash + 1);
  if (!ip || !/^(0|[1-9][0-9]{0,2})$/.test(lenText)) return undefined;
  const prefix = Number(lenText);
  if (prefix > (ip.family === 4 ? 32 : 128)) return undefined;
  return { family: ip.family, address: ip.text, prefix, text: `${ip.text}/${prefix}` };
}

export function inSubnet(ip: string, cidr: { address: string; prefix: number }): boolean {
  const a = ipaddr.parse(ip);
  const net = ipaddr.parse(cidr.address);
  return a.kind() === net.kind() && a.match(net, cidr.prefix);
}

/** Lower-cased, unicast and not all-zero (a multicast MAC on a NIC breaks the bridge). */
export function macProblem(mac: string): string | undefined {
  if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(mac)) return 'is not a MAC (xx:xx:xx:xx:xx:xx)';
  const first = parseInt(mac.slice(0, 2), 16);
  if (first & 1) return `is a multicast MAC (${mac})`;
  if (/^(00:){5}00$/.test(mac)) return 'is the all-zero MAC';
  return undefined;
}

export function checkNetworkSpec(spec: NetworkSpec, path = ''): NetworkSpec {
  const problems: string[] = [];
  const out: NetworkSpec = { ...spec };
  // A guest network is a VXLAN segment, or a flat (untagged) provider network bridged onto the
  // operator's uplink interface; one of the two must say where its frames go.
  if (spec.kind === 'guest' && spec.vni === undefined && !spec.uplinkInterface) problems.push(`${path}/vni: a guest network needs a VNI or an uplinkInterface (flat network)`);
  if (spec.peers) {
    if (spec.vni === undefined) problems.push(`${path}/peers: peers need a VNI (they are VXLAN endpoints)`);
    const peers: string[] = [];
    spec.peers.forEach((p, i) => {
      const ip = parseIp(p);
      if (!ip) problems.push(`${path}/peers/${i}: not an IP address (got ${JSON.stringify(p)})`);
      else if (!peers.includes(ip.text)) peers.push(ip.text);
    });
    out.peers = peers;
  }
  if (spec.hostAddress !== undefined) {
    const c = parseCidr(spec.hostAddress);
    if (!c) problems.push(`${path}/hostAddress: not an address with prefix length (got ${JSON.stringify(spec.hostAddress)})`);
    else out.hostAddress = c.text;
  }
  if (problems.length) fail('invalid network', problems);
  return out;
}

export function checkNic(nic: NicSpec, path: string, problems: string[]): NicSpec {
  const out: NicSpec = { ...nic, mac: nic.mac.toLowerCase() };
  const m = macProblem(nic.mac);
  if (m) problems.push(`${path}/mac: ${m}`);
  if (nic.ipv4) {
    const c = parseCidr(nic.ipv4.address);
    if (!c || c.family !== 4 || c.prefix < 1) problems.push(`${path}/ipv4/address: not an IPv4 address with prefix length 1-32 (got ${JSON.stringify(nic.ipv4.address)})`);
    else {
      out.ipv4 = { address: c.text };
      if (nic.ipv4.gateway !== undefined) {
        const g = parseIp(nic.ipv4.gateway);
        if (!g || g.family !== 4) problems.push(`${path}/ipv4/gateway: not an IPv4 address (got ${JSON.stringify(nic.ipv4.gateway)})`);
        else if (!inSubnet(g.text, c)) problems.push(`${path}/ipv4/gateway: ${g.text} is outside ${c.text}`);
        else out.ipv4.gateway = g.text;
      }
    }
  }
  return out;
}

export function checkVmSpec(spec: VmSpec): VmSpec {
  const problems: string[] = [];
  const nics = spec.nics.map((n, i) => checkNic(n, `/nics/${i}`, problems));
  const ids = new Set<number>(); const macs = new Set<string>();
  nics.forEach((n, i) => {
    if (ids.has(n.deviceId)) problems.push(`/nics/${i}/deviceId: ${n.deviceId} is used twice`);
    if (macs.has(n.mac)) problems.push(`/nics/${i}/mac: ${n.mac} is used twice`);
    ids.add(n.deviceId); macs.add(n.mac);
  });
  if (nics.filter((n) => n.default).length > 1) problems.push('/nics: more than one NIC is marked default');
  const dns = (spec.dns ?? []).map((d, i) => {
    const ip = parseIp(d);
    if (!ip) problems.push(`/dns/${i}: not an IP address (got ${JSON.stringify(d)})`);
    return ip?.text ?? d;
  });
  const disks = new Set<number>();
  (spec.disks ?? []).forEach((d, i) => {
    if (disks.has(d.deviceId)) problems.push(`/disks/${i}/deviceId: ${d.deviceId} is used twice`);
    disks.add(d.deviceId);
  });
  if (problems.length) fail(`invalid VM ${spec.name}`, problems);
  const out: VmSpec = { ...spec, nics: [...nics].sort((a, b) => a.deviceId - b.deviceId) };
  if (spec.dns) out.dns = dns;
  return out;
}

/** Schema + semantics of one op's args; returns the normalised args or throws INVALID_ARGUMENT. */
export function checkArgs<O extends AgentOp>(op: O, args: unknown): AgentArgs<O> {
  const problems = schemaProblems(AgentCommands[op].args, args);
  if (problems.length) fail(`invalid arguments to ${op}`, problems);
  const a = args as AgentArgs<AgentOp>;
  switch (op) {
    case 'prepareNetwork': return checkNetworkSpec(a as NetworkSpec) as AgentArgs<O>;
    case 'startVm': return { spec: checkVmSpec((a as AgentArgs<'startVm'>).spec) } as AgentArgs<O>;
    case 'plugNic': {
      const p: string[] = [];
      const nic = checkNic((a as AgentArgs<'plugNic'>).nic, '/nic', p);
      if (p.length) fail('invalid arguments to plugNic', p);
      return { ...(a as AgentArgs<'plugNic'>), nic } as AgentArgs<O>;
    }
    case 'unplugNic': {
      const m = macProblem((a as AgentArgs<'unplugNic'>).mac);
      if (m) fail('invalid arguments to unplugNic', [`/mac: ${m}`]);
      return { ...(a as AgentArgs<'unplugNic'>), mac: (a as AgentArgs<'unplugNic'>).mac.toLowerCase() } as AgentArgs<O>;
    }
    default: return a as AgentArgs<O>;
  }
}
