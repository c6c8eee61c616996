// Spec validation: the TypeBox schema (shape, string patterns) and then the semantics a schema
// cannot say (addresses parse, belong to their networks, are unique, names resolve). Every
// problem is collected before any is reported, and nothing is applied unless the list is empty.
import { TypeCompiler } from '@sinclair/typebox/compiler';
import ipaddr from 'ipaddr.js';
import { RouterSpec, type RouterSpec as Spec } from '@flotilla/protocol/router';

// Compiled once: a spec with 10,000 VPN peers is checked in a few ms instead of ~60 (measured).
const checker = TypeCompiler.Compile(RouterSpec);

export function validateSpec(input: unknown): { ok: true; spec: Spec } | { ok: false; errors: string[] } {
  if (!checker.Check(input)) {
    const errors = [...checker.Errors(input)].slice(0, 50).map((e) => `${e.path || '/'}: ${e.message}`);
    return { ok: false, errors };
  }
  const spec = input as Spec;
  const errors: string[] = [];
  const err = (path: string, msg: string) => errors.push(`${path}: ${msg}`);
  const ip = (path: string, s: string): ipaddr.IPv4 | ipaddr.IPv6 | undefined => {
    if (!ipaddr.isValid(s)) { err(path, `invalid IP address ${JSON.stringify(s)}`); return undefined; }
    return ipaddr.parse(s);
  };
  const cidr = (path: string, s: string): [ipaddr.IPv4 | ipaddr.IPv6, number] | undefined => {
    try { return ipaddr.parseCIDR(s); } catch { err(path, `invalid prefix ${JSON.stringify(s)}`); return undefined; }
  };

  const ifaces = new Map<string, Spec['interfaces'][number]>();
  const macs = new Set<string>();
  spec.interfaces.forEach((i, n) => {
    const p = `/interfaces/${n}`;
    if (ifaces.has(i.name)) err(`${p}/name`, `duplicate interface ${i.name}`);
    ifaces.set(i.name, i);
    if (macs.has(i.mac.toLowerCase())) err(`${p}/mac`, `duplicate MAC ${i.mac}`);
    macs.add(i.mac.toLowerCase());
    i.addresses.forEach((a, k) => cidr(`${p}/addresses/${k}`, a));
  });
  spec.routes.forEach((r, n) => {
    const p = `/routes/${n}`;
    if (r.destination !== 'default' && r.destination !== 'default6') cidr(`${p}/destination`, r.destination);
    if (r.gateway) ip(`${p}/gateway`, r.gateway);
    if (r.interface && !ifaces.has(r.interface)) err(`${p}/interface`, `unknown interface ${r.interface}`);
    if (!r.gateway && !r.interface) err(p, 'a route needs a gateway or an interface');
  });

  const gwIfaces = new Set<string>();
  spec.guestNetworks.forEach((g, n) => {
    const p = `/guestNetworks/${n}`;
    const i = ifaces.get(g.interface);
    if (!i) err(`${p}/interface`, `unknown interface ${g.interface}`);
    else if (i.role !== 'guest') err(`${p}/interface`, `interface ${g.interface} has role ${i.role}, not guest`);
    if (gwIfaces.has(g.interface)) err(`${p}/interface`, `interface ${g.interface} already serves a guest network`);
    gwIfaces.add(g.interface);
    const c = cidr(`${p}/cidr`, g.cidr);
    if (c && c[0].kind() !== 'ipv4') err(`${p}/cidr`, 'guest network CIDR must be IPv4 (DHCPv4)');
    const inside = (path: string, s: string): boolean => {
      const a = ip(path, s);
      if (!a || !c) return false;
      if (a.kind() !== c[0].kind() || !a.match(c)) { err(path, `${s} is outside ${g.cidr}`); return false; }
      return true;
    };
    inside(`${p}/gateway`, g.gateway);
    if (i && c && !i.addresses.some((a) => a.split('/')[0] === g.gateway)) err(`${p}/gateway`, `${g.gateway} is not an address of ${g.interface}`);
    g.dnsForwarders.forEach((f, k) => ip(`${p}/dnsForwarders/${k}`, f));
    const seenMac = new Set<string>(); const seenIp = new Set<string>([g.gateway]); const seenHost = new Set<string>(['data-server']);
    g.reservations.forEach((r, k) => {
      const rp = `${p}/reservations/${k}`;
      if (seenMac.has(r.mac.toLowerCase())) err(`${rp}/mac`, `duplicate MAC ${r.mac}`);
      seenMac.add(r.mac.toLowerCase());
      if (inside(`${rp}/ip`, r.ip) && seenIp.has(r.ip)) err(`${rp}/ip`, `address ${r.ip} used twice`);
      seenIp.add(r.ip);
      if (r.ip6 !== undefined) { const a = ip(`${rp}/ip6`, r.ip6); if (a && a.kind() !== 'ipv6') err(`${rp}/ip6`, `${r.ip6} is not an IPv6 address`); }
      if (r.hostname) {
        if (seenHost.has(r.hostname.toLowerCase())) err(`${rp}/hostname`, `duplicate host name ${r.hostname}`);
        seenHost.add(r.hostname.toLowerCase());
      }
    });
    if (g.dynamicRange) {
      const ok = inside(`${p}/dynamicRange/start`, g.dynamicRange.start) && inside(`${p}/dynamicRange/end`, g.dynamicRange.end);
      if (ok) {
        const s = ipaddr.parse(g.dynamicRange.start).toByteArray(); const e = ipaddr.parse(g.dynamicRange.end).toByteArray();
        if (Buffer.compare(Buffer.from(s), Buffer.from(e)) > 0) err(`${p}/dynamicRange`, 'start is after end');
      }
    }
    const seenVm = new Set<string>();
    g.vms.forEach((v, k) => {
      const vp = `${p}/vms/${k}`;
      if (inside(`${vp}/ip`, v.ip) && seenVm.has(v.ip)) err(`${vp}/ip`, `VM data for ${v.ip} given twice`);
      seenVm.add(v.ip);
      if (v.userData !== undefined) {
        const compact = v.userData.replace(/[\r\n]/g, '');
        if (compact.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(compact)) err(`${vp}/userData`, 'not valid base64');
      }
      for (const f of ['local-ipv4', 'public-ipv4'] as const) { const val = v.metadata[f]; if (val !== undefined) ip(`${vp}/metadata/${f}`, val); }
    });
  });
  return errors.length ? { ok: false, errors } : { ok: true, spec };
}
