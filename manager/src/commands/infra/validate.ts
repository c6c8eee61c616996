// Value checks of the infra area, used as parameter `check`s (they return why a value is
// invalid) and a bridge from IPAM's refusals to the API's 431.
import { paramError, type ApiError } from '../../api/errors.ts';
import { IpamError, parseCidr, parseGuestCidr, parseIPv4, parseIPv6, parseNetmask, parseVnetRanges } from '../../orchestrator/ipam.ts';

/** Runs IPAM code; an IpamError becomes a 431 with its text (which names the parameter). */
export function ipam<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof IpamError) throw paramError(e.message) as ApiError;
    throw e;
  }
}

const why = (fn: () => unknown, reason: string) => () => { try { fn(); return undefined; } catch { return reason; } };

export const checkIPv4 = (v: string) => why(() => parseIPv4('v', v), 'it is not an IPv4 address (dotted decimal)')();
export const checkIPv6 = (v: string) => why(() => parseIPv6('v', v), 'it is not an IPv6 address')();
export const checkNetmask = (v: string) => { try { parseNetmask('v', v); return undefined; } catch (e) { return e instanceof IpamError ? e.message.replace(/^.* due to /, '') : 'it is not a netmask'; } };
export const checkIp6Cidr = (v: string) => { try { parseCidr('v', v, 6); return undefined; } catch (e) { return e instanceof IpamError ? e.message.replace(/^.* due to /, '') : 'it is not an IPv6 CIDR'; } };
export const checkGuestCidr = (v: string) => { try { parseGuestCidr('v', v); return undefined; } catch (e) { return e instanceof IpamError ? e.message.replace(/^.* due to /, '') : 'it is not a CIDR'; } };
/** Syntax only; the limits depend on the physical network's isolation method (checked later). */
export const checkVnetSyntax = (v: string) => { try { parseVnetRanges('v', v, 'GRE'); return undefined; } catch (e) { return e instanceof IpamError ? e.message.replace(/^.* due to /, '') : 'it is not a VLAN range'; } };

/** Names of zones, pods, clusters, physical networks: printable, no surrounding spaces. */
export function checkName(v: string): string | undefined {
  if (v.trim() === '') return 'an empty name';
  if (v.trim() !== v) return 'leading or trailing spaces';
  return undefined;
}

/**
 * A KVM traffic label is the name of a Linux bridge or interface on the host: it ends up on an
 * agent's command line, so only what the kernel accepts as an interface name (≤ 15 bytes).
 */
export function checkKvmLabel(v: string): string | undefined {
  return /^[A-Za-z0-9_.-]{1,15}$/.test(v) && v !== '.' && v !== '..' ? undefined : 'a Linux interface name (1-15 letters, digits, _ . -)';
}

/** Other hypervisors' labels (vSwitch0,100,vmwaresvs …): a conservative character set. */
export function checkLabel(v: string): string | undefined {
  return /^[A-Za-z0-9_.,:/-]{1,255}$/.test(v) ? undefined : 'a label of letters, digits and _ . , : / -';
}

export function checkTag(v: string): string | undefined {
  return /^[A-Za-z0-9_.-]{1,64}$/.test(v) ? undefined : 'a tag of letters, digits and _ . - (at most 64)';
}

export function checkNetworkSpeed(v: string): string | undefined {
  return /^\d{1,6}(\.\d{1,3})?[KMGT]?$/i.test(v) ? undefined : 'a speed like 1G or 10G';
}
