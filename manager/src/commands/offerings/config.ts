// The global configuration keys Flotilla defines, as data: CloudStack's name, category, type,
// default and description, and who reads each one. Only keys something really reads belong here;
// a key listed but ignored would be a lie to the operator. Other areas may add their own keys to
// this table when they start reading them.
import type { Sql } from '../../db/sql.ts';
import { isUuid } from '../../api/params.ts';

export type ConfigType = 'Number' | 'Decimal' | 'Boolean' | 'String';

export interface ConfigDef {
  readonly name: string;
  readonly category: string;
  readonly type: ConfigType;
  readonly defaultValue: string;
  readonly description: string;
  readonly dynamic: boolean;
  readonly min?: number;
  readonly max?: number;
  /** may the value be set to the empty string (meaning: use the built-in choice)? */
  readonly emptyAllowed?: boolean;
  /** a relational check against the database; returns why the value is refused */
  readonly check?: (sql: Sql, value: string) => Promise<string | undefined>;
  /** the stored spelling of an accepted value */
  readonly normalize?: (value: string) => string;
  /** who reads it (documentation; kept next to the key so the list stays honest) */
  readonly readBy: string;
}

export const CONFIG_DEFS: readonly ConfigDef[] = [
  {
    name: 'incorrect.login.attempts.allowed', category: 'Advanced', type: 'Number', defaultValue: '5', dynamic: true, min: 1, max: 1000,
    description: 'Incorrect login attempts allowed before the user is disabled',
    readBy: 'login (commands/accounts/session.ts): a user is locked after this many failed logins in a row (not the default admin)',
  },
  {
    name: 'cpu.overprovisioning.factor', category: 'Advanced', type: 'Decimal', defaultValue: '1', dynamic: true, min: 1, max: 1000,
    description: 'Used for CPU overprovisioning calculation; available CPU will be (actualCpuCapacity * cpu.overprovisioning.factor)',
    readBy: 'the host planner (orchestrator/compute.ts planHost) for every VM placement',
  },
  {
    name: 'mem.overprovisioning.factor', category: 'Advanced', type: 'Decimal', defaultValue: '1', dynamic: true, min: 1, max: 1000,
    description: 'Used for memory overprovisioning calculation',
    readBy: 'the host planner (orchestrator/compute.ts planHost) for every VM placement',
  },
  {
    name: 'network.throttling.rate', category: 'Network', type: 'Number', defaultValue: '200', dynamic: true, min: 0, max: 2147483647,
    description: 'Default data transfer rate in megabits per second allowed in network.',
    readBy: 'network offering responses (networkrate of an offering without its own rate); later the router spec builder',
  },
  {
    name: 'network.loadbalancer.haproxy.max.conn', category: 'Network', type: 'Number', defaultValue: '4096', dynamic: false, min: 1, max: 2147483647,
    description: 'Load Balancer(haproxy) maximum number of concurrent connections(global max)',
    readBy: 'createNetworkOffering (maxconnections of an offering given LB capabilities but no maxconnections)',
  },
  {
    name: 'router.service.offering', category: 'Advanced', type: 'String', defaultValue: '', dynamic: true, emptyAllowed: true,
    description: 'Uuid of the service offering used by virtual routers; if NULL - system offering will be used',
    readBy: 'network offering responses (serviceofferingid of an offering without its own), deleteServiceOffering (in use), the router planner',
    normalize: (v) => v.toLowerCase(),
    async check(sql, value) {
      if (!isUuid(value)) return 'it is not the id of a service offering';
      const so = (await sql.query<{ is_system: boolean; system_vm_type: string | null; state: string }>(
        'SELECT is_system, system_vm_type, state FROM service_offerings WHERE id = $1', [value.toLowerCase()]))[0];
      if (!so) return `no service offering has id ${value}`;
      if (!so.is_system || so.system_vm_type !== 'domainrouter') return 'the service offering is not a system offering for virtual routers (systemvmtype=domainrouter)';
      if (so.state !== 'Active') return 'the service offering is inactive';
      return undefined;
    },
  },
  {
    name: 'remote.access.vpn.client.iprange', category: 'Network', type: 'String', defaultValue: '10.1.2.1-10.1.2.8', dynamic: true,
    description: 'The range of ips to be allocated to remote access vpn clients. The first ip in the range is used by the VPN server',
    readBy: 'createRemoteAccessVpn without iprange (commands/vpn/vpns.ts)',
  },
  {
    name: 'remote.access.vpn.user.limit', category: 'Network', type: 'Number', defaultValue: '8', dynamic: true, min: 0, max: 65535,
    description: 'The maximum number of VPN users that can be created per account',
    readBy: 'addVpnUser (commands/vpn/users.ts)',
  },
  {
    name: 'remote.access.vpn.wireguard.port', category: 'Network', type: 'Number', defaultValue: '51820', dynamic: true, min: 1, max: 65535,
    description: "UDP port of the remote access VPN's WireGuard server on the router (Flotilla; taken when a VPN is created)",
    readBy: 'createRemoteAccessVpn (commands/vpn/vpns.ts)',
  },
  // Console proxy (manager/src/console, proxy/): read when an endpoint is made and a console opens.
  {
    name: 'consoleproxy.session.timeout', category: 'Console Proxy', type: 'Number', defaultValue: '30000', dynamic: true, min: 1000, max: 3600000,
    description: 'Milliseconds a console endpoint (its single-use token) stays valid to be opened',
    readBy: 'createConsoleEndpoint (token expiry) and the console proxy (reconnect tokens)',
  },
  {
    name: 'consoleproxy.url.domain', category: 'Console Proxy', type: 'String', defaultValue: '', dynamic: true, emptyAllowed: true,
    description: 'host[:port] browsers reach the console proxy at (a reverse proxy\'s name); *.domain: the console proxy VM\'s public address dashed under domain (as CloudStack); empty: the manager\'s own address (it forwards to the console proxy VM)',
    readBy: 'createConsoleEndpoint (url, websocket.host/port)',
    async check(_sql, value) { return /^(\*\.)?(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/.test(value) ? undefined : 'it is not host[:port] or *.domain'; },
  },
  {
    name: 'consoleproxy.url.scheme', category: 'Console Proxy', type: 'String', defaultValue: 'http', dynamic: true,
    description: 'http or https: the scheme browsers reach the console proxy with',
    readBy: 'createConsoleEndpoint (url)',
    async check(_sql, value) { return value === 'http' || value === 'https' ? undefined : 'it is neither http nor https'; },
  },
  {
    name: 'consoleproxy.url.path', category: 'Console Proxy', type: 'String', defaultValue: '/console/', dynamic: true,
    description: 'Path prefix browsers reach the console proxy under (what a reverse proxy forwards to the manager\'s /console/)',
    readBy: 'createConsoleEndpoint (url, websocket.path)',
    async check(_sql, value) { return /^\/?([A-Za-z0-9._~-]+\/?)*$/.test(value) ? undefined : 'it is not a path of letters, digits, . _ ~ - and /'; },
  },
  // System VMs of the zone (manager/src/systemvm): read by the system VM monitor on every check.
  {
    name: 'consoleproxy.vm.enabled', category: 'Console Proxy', type: 'Boolean', defaultValue: 'true', dynamic: true,
    description: 'Whether each zone runs console proxy system VMs (Flotilla; false: consoles are served by the manager itself)',
    readBy: 'the system VM monitor (systemvm/orchestrator.ts ensureZoneSystemVms)',
  },
  {
    name: 'consoleproxy.session.max', category: 'Console Proxy', type: 'Number', defaultValue: '50', dynamic: true, min: 1, max: 100000,
    description: 'The max number of viewer sessions console proxy is configured to serve for',
    readBy: 'the system VM monitor: a zone gets one more console proxy VM per this many open sessions (systemvm/console-role.ts)',
  },
  {
    name: 'consoleproxy.key.rotation.interval', category: 'Console Proxy', type: 'Number', defaultValue: '86400000', dynamic: true, min: 1000, max: 2147483647,
    description: 'Milliseconds between rotations of the console token key (Flotilla); tokens sealed under the previous key open until the next rotation',
    readBy: 'the system VM monitor (systemvm/console-role.ts tick)',
  },
  {
    name: 'secondary.storage.vm', category: 'Advanced', type: 'Boolean', defaultValue: 'true', dynamic: true,
    description: 'Deploys a VM per zone to manage secondary storage if true',
    readBy: 'the system VM monitor (systemvm/orchestrator.ts ensureZoneSystemVms)',
  },
];

export const configDef = (name: string): ConfigDef | undefined => CONFIG_DEFS.find((d) => d.name === name);

/** Why `value` is not a valid value of a key of this type, or undefined. */
export function checkConfigValue(def: Pick<ConfigDef, 'type' | 'min' | 'max' | 'emptyAllowed'>, value: string): string | undefined {
  if (value === '') return def.emptyAllowed ? undefined : 'an empty value is not allowed for this configuration';
  switch (def.type) {
    case 'Number': {
      if (!/^-?\d{1,10}$/.test(value)) return 'it is not a whole number';
      const n = Number(value);
      if (def.min !== undefined && n < def.min) return `it is less than ${def.min}`;
      if (def.max !== undefined && n > def.max) return `it is greater than ${def.max}`;
      return undefined;
    }
    case 'Decimal': {
      if (!/^\d{1,6}(\.\d{1,6})?$/.test(value)) return 'it is not a decimal number (e.g. 2 or 1.5)';
      const n = Number(value);
      if (def.min !== undefined && n < def.min) return `it is less than ${def.min}`;
      if (def.max !== undefined && n > def.max) return `it is greater than ${def.max}`;
      return undefined;
    }
    case 'Boolean': return value === 'true' || value === 'false' ? undefined : 'it is not a boolean (true or false)';
    case 'String': return undefined;
  }
}

/** The current value of a key (its default when unset); throws for a key nobody defined. */
export async function configValue(sql: Sql, name: string): Promise<string> {
  const row = (await sql.query<{ value: string | null; default_value: string | null }>(
    'SELECT value, default_value FROM configurations WHERE name = $1', [name]))[0];
  const v = row?.value ?? row?.default_value ?? configDef(name)?.defaultValue;
  if (v === undefined) throw new Error(`configuration ${name} is not defined`);
  return v;
}

export async function configNumber(sql: Sql, name: string): Promise<number> {
  const v = Number(await configValue(sql, name));
  if (!Number.isFinite(v)) throw new Error(`configuration ${name} does not hold a number`);
  return v;
}

/** Inserts missing keys with their defaults and refreshes definitions; never touches a set value. */
export async function seedConfigurations(sql: Sql): Promise<void> {
  for (const d of CONFIG_DEFS) {
    await sql.query(
      `INSERT INTO configurations (name, category, value, default_value, description, type, is_dynamic)
       VALUES ($1, $2, $3, $3, $4, $5, $6)
       ON CONFLICT (name) DO UPDATE SET category = EXCLUDED.category, default_value = EXCLUDED.default_value,
         description = EXCLUDED.description, type = EXCLUDED.type, is_dynamic = EXCLUDED.is_dynamic`,
      [d.name, d.category, d.defaultValue, d.description, d.type, d.dynamic]);
  }
}
