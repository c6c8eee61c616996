// listConfigurations and updateConfiguration: the global settings of config.ts. Flotilla keeps
// global values only; a request for a zone/cluster/account/domain-scoped value is refused rather
// than silently applied globally.
import { ADMIN, LIST_PARAMS, command } from '../../api/registry.ts';
import { paramError } from '../../api/errors.ts';
import { Where } from '../../db/sql.ts';
import { checkConfigValue, configDef, type ConfigType } from './config.ts';
import { CONFIGURATION, configurationView, type ConfigurationRow } from './views.ts';

const SCOPE_PARAMS = {
  zoneid: { type: 'uuid', entity: 'zone', description: 'the ID of the Zone to update the parameter value for corresponding zone' },
  clusterid: { type: 'uuid', entity: 'cluster', description: 'the ID of the Cluster to update the parameter value for corresponding cluster' },
  storageid: { type: 'uuid', entity: 'storagepool', description: 'the ID of the Storage pool to update the parameter value for corresponding storage pool' },
  accountid: { type: 'uuid', entity: 'account', description: 'the ID of the Account to update the parameter value for corresponding account' },
  domainid: { type: 'uuid', entity: 'domain', description: 'the ID of the Domain to update the parameter value for corresponding domain' },
} as const;

function refuseScope(a: Record<string, unknown>): void {
  const given = Object.keys(SCOPE_PARAMS).find((k) => a[k] !== undefined);
  if (given) throw paramError(`Invalid parameter ${given}: Flotilla keeps global configuration values only; scoped values (zone, cluster, storage, account, domain) are not supported`);
}

export const listConfigurations = command({
  name: 'listConfigurations', description: 'Lists all configurations.', since: '1.0', roles: ADMIN, response: CONFIGURATION, shape: 'list',
  params: {
    ...LIST_PARAMS,
    category: { type: 'string', description: 'lists configurations by category' },
    name: { type: 'string', description: 'lists configuration by name' },
    ...SCOPE_PARAMS,
  },
  async handler(ctx, a) {
    refuseScope(a);
    // CloudStack matches name as a substring (LIKE %name%) and category exactly.
    const w = new Where()
      .add('lower(c.category) = lower(?)', a.category)
      .add('strpos(lower(c.name), lower(?)) > 0', a.name)
      .keyword(a.keyword, 'c.name', 'c.description', 'c.category')
      .add(`c.category <> 'Hidden'`);
    const rows = await ctx.sql.query<ConfigurationRow>(`SELECT c.* FROM configurations c ${w} ORDER BY c.name`, w.params);
    return rows.map(configurationView);
  },
});

export const updateConfiguration = command({
  name: 'updateConfiguration', description: 'Updates a configuration.', since: '1.0', roles: ADMIN, response: CONFIGURATION, shape: 'object',
  event: 'CONFIGURATION.VALUE.EDIT',
  params: {
    name: { type: 'string', required: true, description: 'the name of the configuration' },
    value: { type: 'string', length: 4096, description: 'the value of the configuration' },
    ...SCOPE_PARAMS,
  },
  async handler(ctx, a) {
    refuseScope(a);
    const row = (await ctx.sql.query<ConfigurationRow>('SELECT * FROM configurations WHERE name = $1', [a.name]))[0];
    if (!row || row.category === 'Hidden') throw paramError(`Config parameter with name ${a.name} doesn't exist`);
    // A key config.ts defines is checked by its definition; a key another area seeded, by its stored type.
    const known = configDef(row.name);
    const def = known ?? { type: row.type as ConfigType, emptyAllowed: row.type === 'String' };
    // CloudStack clients reset a string setting with value=NULL (marvin does); that is the empty value here.
    const value = a.value === undefined || (def.emptyAllowed && a.value.toLowerCase() === 'null') ? '' : a.value;
    const why = checkConfigValue(def, value) ?? (value !== '' && known?.check ? await known.check(ctx.sql, value) : undefined);
    if (why) throw paramError(`Invalid value for configuration ${row.name}: ${value === '' ? '(empty)' : value}: ${why}`);
    const stored = value !== '' && known?.normalize ? known.normalize(value) : value;
    await ctx.sql.query('UPDATE configurations SET value = $2 WHERE name = $1', [row.name, stored]);
    ctx.setResource('Configuration', row.name);
    return configurationView({ ...row, value: stored });
  },
});
