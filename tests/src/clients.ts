// Clouds on simulated hosts for API tests, on both dialects, and Debian's `cs` CLI (python3-cs) run as an API client's user: real signing (v3 + expires),
// real polling of async jobs (cs prints the job's result, or its failed queryAsyncJobResult).
import type { ExecutionContext } from 'ava';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { createManager } from '@flotilla/manager/app';
import { keysFor, signedClient, type Api } from '@flotilla/manager/client';
import { createLogger } from '@flotilla/manager/log';
import { openDatabase } from '@flotilla/manager/db/index';
import { openPostgres } from '@flotilla/manager/db/postgres';
import { addHost, createZone, simulatorDriver, type Cloud, type Zone } from './cloud.ts';

const run = promisify(execFile);

/** `cs <args>` as the given client's user; the JSON it printed (also for a failed call). */
export async function csCli(api: Api, args: string[]): Promise<any> {
  try {
    const r = await run('/usr/bin/python3', ['-m', 'cs', ...args], {
      env: { PATH: process.env.PATH, HOME: '/nonexistent', CLOUDSTACK_ENDPOINT: `${api.url}/client/api`, CLOUDSTACK_KEY: api.apiKey, CLOUDSTACK_SECRET: api.secretKey }, timeout: 120_000,
    });
    // cs prints nothing for an empty answer ({}).
    return r.stdout.trim() === '' ? {} : JSON.parse(r.stdout);
  } catch (e) {
    const x = e as { stdout?: string; stderr?: string };
    try { return JSON.parse(x.stdout ?? ''); } catch { throw new Error(`cs ${args[0]} failed: ${x.stderr ?? x.stdout}`); }
  }
}

const PG_URL = process.env.FLOTILLA_TEST_PG_URL;
/** The database dialects tests run on: PGlite, and PostgreSQL when FLOTILLA_TEST_PG_URL names a server. */
export const DIALECTS = PG_URL ? ['pglite', 'postgres'] as const : ['pglite'] as const;

/** A manager on a fresh database of the dialect (a throwaway PostgreSQL database, dropped after). */
export async function cloudOn(t: ExecutionContext, dialect: 'pglite' | 'postgres', env: NodeJS.ProcessEnv = {}): Promise<Cloud> {
  let db;
  if (dialect === 'postgres') {
    const name = `flt_sem_${randomBytes(6).toString('hex')}`;
    const server = await openPostgres(PG_URL!);
    await server.query(`CREATE DATABASE ${name}`);
    const u = new URL(PG_URL!); u.pathname = `/${name}`;
    db = await openDatabase({ url: u.toString() });
    t.teardown(async () => {
      await db!.close().catch(() => undefined);
      await server.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => undefined);
      await server.close();
    });
  }
  const m = await createManager({
    settings: { port: 0, host: '127.0.0.1', dataDir: '', sessionTimeout: 1800, jobDelayMs: 0 },
    ...(db ? { db } : {}), memory: true, adminPassword: 'e2e-admin', log: createLogger(process.env.FLOTILLA_TEST_LOG ?? 'silent'), env,
  });
  t.teardown(() => m.close());
  const url = await m.app.listen({ port: 0, host: '127.0.0.1' });
  return { m, url, admin: await keysFor(url, 'admin', 'e2e-admin'), wsUrl: `${url.replace(/^http/, 'ws')}/agent` };
}

export async function tenant(cloud: Cloud, name: string): Promise<Api> {
  const acc = (await cloud.admin.ok('createAccount', { username: name, account: name, password: `pw-${name}-1`, email: `${name}@example.org`, firstname: name, lastname: 'Tenant', accounttype: 0 })).account;
  const keys = (await cloud.admin.ok('registerUserKeys', { id: acc.user[0].id })).userkeys;
  return signedClient(cloud.url, keys.apikey, keys.secretkey);
}

/** A Simulator zone with a host and a public range 203.0.113.10-50, ready for isolated networks. */
export async function simZone(t: ExecutionContext, cloud: Cloud, name: string): Promise<Zone> {
  const z = await createZone(cloud.admin, name, 'Simulator');
  await addHost(t, cloud, z, { name: `${name}-sim`, driver: simulatorDriver(), tag: 'sim1' });
  await cloud.admin.jobOk('addTrafficType', { physicalnetworkid: z.physicalNetworkId, traffictype: 'Public' });
  await cloud.admin.ok('createVlanIpRange', { zoneid: z.zoneId, physicalnetworkid: z.physicalNetworkId, forvirtualnetwork: true, vlan: 'untagged', gateway: '203.0.113.1', netmask: '255.255.255.0', startip: '203.0.113.10', endip: '203.0.113.50' });
  return z;
}

