// Guest OS types and categories as data (a subset of CloudStack's guest_os table, the names
// CloudStack uses). Ids are derived from the names, so they are the same on every cloud and
// need no table; templates keep their OS type by name and answer its id (ostypeid).
import { createHash } from 'node:crypto';

const CATEGORIES: Record<string, string[]> = {
  CentOS: ['CentOS 7', 'CentOS 8'],
  Debian: ['Debian GNU/Linux 10 (64-bit)', 'Debian GNU/Linux 11 (64-bit)', 'Debian GNU/Linux 12 (64-bit)'],
  Oracle: ['Oracle Linux 8', 'Oracle Linux 9'],
  RedHat: ['Red Hat Enterprise Linux 8', 'Red Hat Enterprise Linux 9'],
  SUSE: ['SUSE Linux Enterprise Server 15 (64-bit)'],
  Ubuntu: ['Ubuntu 20.04 LTS', 'Ubuntu 22.04 LTS', 'Ubuntu 24.04 LTS'],
  Unix: ['FreeBSD 13 (64-bit)'],
  Windows: ['Windows Server 2019 (64-bit)', 'Windows Server 2022 (64-bit)', 'Windows 10 (64-bit)'],
  Other: ['Other (64-bit)', 'Other Linux (64-bit)', 'Other PV (64-bit)'],
};

/** A stable id from a name (an RFC 4122 version-5-shaped UUID of SHA-1). */
export function stableId(kind: string, name: string): string {
  const h = createHash('sha1').update(`flotilla:${kind}:${name}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((parseInt(h[16]!, 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

export interface OsType { id: string; description: string; categoryId: string; categoryName: string }
export interface OsCategory { id: string; name: string }

export const OS_CATEGORIES: OsCategory[] = Object.keys(CATEGORIES).map((name) => ({ id: stableId('oscategory', name), name }));
export const OS_TYPES: OsType[] = Object.entries(CATEGORIES).flatMap(([cat, names]) =>
  names.map((description) => ({ id: stableId('ostype', description), description, categoryId: stableId('oscategory', cat), categoryName: cat })));

export const osTypeById = (id: string): OsType | undefined => OS_TYPES.find((o) => o.id === id);
export const osTypeByName = (name: string): OsType | undefined => OS_TYPES.find((o) => o.description.toLowerCase() === name.toLowerCase());
