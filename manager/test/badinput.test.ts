// Bad input for EVERY command in the registry, generated from the declarations: a missing
// required parameter, and for each parameter a malformed, wrong-typed or oversized value,
// must answer 431 naming the parameter, and change nothing in the database.
import { buildRegistry } from '../src/commands/index.ts';
import type { ParamDef } from '../src/api/params.ts';
import type { Sql } from '../src/db/sql.ts';
import { eachDialect, startManager } from './helpers.ts';

const SKIP = new Set(['login', 'logout']); // handled by the HTTP layer, tested in auth.test.ts

/** Values that must be refused for a parameter of this declaration (with why). */
function badValues(def: ParamDef): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  switch (def.type) {
    case 'uuid': out.push(['not-a-uuid', 'malformed uuid'], ["1' OR '1'='1", 'injection-shaped uuid']); break;
    case 'integer': case 'long': case 'short': out.push(['abc', 'not a number'], ['1.5', 'fraction'], ['99999999999999999999', 'out of range']); break;
    // booleans: any value parses (Boolean.parseBoolean: not "true" is false), tested in semantics.test.ts
    case 'date': out.push(['yesterday', 'not a date']); break;
    case 'list': if (def.of === 'uuid') out.push(['x,y', 'list of malformed uuids']); break;
    case 'string': out.push(['x'.repeat((def.length ?? 255) + 1), 'oversized'], ['a\u0001b', 'control character']); break;
    case 'map': break;
  }
  if (def.values && def.type === 'string') out.push(['no-such-value', 'not one of the allowed values']);
  return out;
}

async function snapshot(sql: Sql): Promise<string> {
  const tables = await sql.query<{ tablename: string }>(
    `SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename NOT IN ('events', 'sessions', 'async_jobs', 'schema_migrations') ORDER BY tablename`);
  const parts: string[] = [];
  for (const { tablename } of tables) {
    const rows = await sql.query(`SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) AS h, count(*) AS n FROM ${tablename} t`);
    parts.push(`${tablename}:${JSON.stringify(rows[0])}`);
  }
  return parts.join('\n');
}

eachDialect('every command refuses missing, malformed, wrong-typed and oversized parameters with 431 and changes nothing', async (t, dialect) => {
  const { admin, db } = await startManager(t, dialect);
  const before = await snapshot(db);
  let checked = 0;
  for (const cmd of buildRegistry().all()) {
    if (SKIP.has(cmd.name)) continue;
    const required = Object.entries(cmd.params).filter(([, d]) => d.required).map(([n]) => n);
    if (required.length) {
      const r = await admin.call(cmd.name, {});
      t.is(r.status, 431, `${cmd.name} without parameters: ${JSON.stringify(r.body)}`);
      t.is(r.body.cserrorcode, 4350, cmd.name);
      for (const name of required) t.true(String(r.body.errortext).includes(`missing parameter ${name}`), `${cmd.name}: ${r.body.errortext}`);
      checked++;
    }
    for (const [name, def] of Object.entries(cmd.params)) {
      for (const [value, why] of badValues(def)) {
        const r = await admin.call(cmd.name, { [name]: value });
        t.is(r.status, 431, `${cmd.name} ${name} (${why}): ${JSON.stringify(r.body)}`);
        t.true(String(r.body.errortext).includes(name), `${cmd.name} ${name} (${why}) errortext does not name it: ${r.body.errortext}`);
        checked++;
      }
    }
  }
  t.true(checked > 50, `only ${checked} cases`);
  t.is(await snapshot(db), before, 'a refused call changed the database');
});

eachDialect('an unknown command, or none, answers 432', async (t, dialect) => {
  const { admin, url } = await startManager(t, dialect);
  const none = await fetch(`${url}/client/api?response=json`);
  t.is(none.status, 432);
  const r = await admin.call('launchRockets', {});
  t.is(r.status, 432);
  t.is(r.body.errorcode, 432);
  t.regex(r.body.errortext, /launchRockets does not exist/);
  // CloudStack answers an unknown command under errorresponse (not <command>response).
  const raw = await (await fetch(`${url}/client/api?command=launchRockets&response=json`)).json() as Record<string, any>;
  t.deepEqual(Object.keys(raw), ['errorresponse']);
});
