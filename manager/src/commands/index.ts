// Every command module, registered once. The registry refuses duplicates and mutating
// commands without an audit event type.
import { Registry, type AnyCommand } from '../api/registry.ts';
import * as domains from './accounts/domains.ts';
import * as accounts from './accounts/accounts.ts';
import * as users from './accounts/users.ts';
import { loginCmd, logoutCmd } from './accounts/session.ts';
import * as system from './system/index.ts';
import * as infra from './infra/index.ts';
import * as offerings from './offerings/index.ts';
import * as compute from './compute/index.ts';
import * as network from './network/index.ts';
import * as ssh from './ssh/index.ts';
import * as roles from './roles/index.ts';
import * as vpn from './vpn/index.ts';
import * as tags from './tags/index.ts';
import * as volumes from './volumes/index.ts';
import * as catalog from './catalog/index.ts';
import * as lb from './lb/index.ts';
import * as storage from './storage/index.ts';
import * as projects from './projects/index.ts';
import * as dedication from './dedication/index.ts';
import * as regions from './regions/index.ts';
import * as limits from './limits/index.ts';
import { createConsoleEndpoint } from '../console/endpoint.ts';

const isCommand = (v: unknown): v is AnyCommand =>
  typeof v === 'object' && v !== null && 'name' in v && 'handler' in v && 'params' in v;
const commandsOf = (mod: Record<string, unknown>): AnyCommand[] => Object.values(mod).filter(isCommand);

export function buildRegistry(): Registry {
  return new Registry().add(
    loginCmd, logoutCmd,
    ...commandsOf(domains), ...commandsOf(accounts), ...commandsOf(users), ...commandsOf(system),
    ...commandsOf(infra), ...commandsOf(offerings), ...commandsOf(compute), ...commandsOf(network), ...commandsOf(ssh),
    ...commandsOf(roles),
    ...commandsOf(vpn),
    ...commandsOf(tags),
    ...commandsOf(volumes),
    ...commandsOf(catalog),
    ...commandsOf(lb),
    ...commandsOf(storage),
    ...commandsOf(projects),
    ...commandsOf(dedication),
    ...commandsOf(regions),
    ...commandsOf(limits),
    createConsoleEndpoint,
  );
}
