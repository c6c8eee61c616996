// The cloud the real-client suites (tests/clients/) run against: a manager on loopback, an
// Advanced zone built through the API with a Simulator host (a real agent with the simulator
// driver: no kernel needed), Public traffic with a public range, and a tenant account with API
// keys. The client programs get everything as CLOUDSTACK_* / FLT_* environment variables
// (tests/clients/README.md is the contract) and are run as child processes with no code of
// ours in their signing, sending or parsing.
import type { ExecutionContext } from 'ava';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { signedClient, type Api } from '@flotilla/manager/client';
import { addHost, createZone, simulatorDriver, startCloud, type Cloud, type Zone } from './cloud.ts';

const run = promisify(execFile);
export const CLIENTS_DIR = new URL('../clients/', import.meta.url).pathname;

export interface ClientCloud { cloud: Cloud; z: Zone; zoneName: string; tenant: Api; tenantName: string; env: Record<string, string> }

/** A zone `name` on a Simulator host with public range 203.0.113.10-.99 and tenant `<name>-user`. */
export async function clientCloud(t: ExecutionContext, name: string): Promise<ClientCloud> {
  const cloud = await startCloud(t);
  const z = await createZone(cloud.admin, name, 'Simulator');
  await addHost(t, cloud, z, { name: `${name}-sim`, driver: simulatorDriver(), tag: 'sim1' });
  await cloud.admin.jobOk('addTrafficType', { physicalnetworkid: z.physicalNetworkId, traffictype: 'Public', kvmnetworklabel: 'up0' });
  await cloud.admin.ok('createVlanIpRange', { zoneid: z.zoneId, physicalnetworkid: z.physicalNetworkId, forvirtualnetwork: true, vlan: 'untagged', gateway: '203.0.113.1', netmask: '255.255.255.0', startip: '203.0.113.10', endip: '203.0.113.99' });
  const tenantName = `${name}-user`;
  const acc = (await cloud.admin.ok('createAccount', {
    username: tenantName, account: tenantName, password: `pw-${tenantName}-1`, email: `${tenantName}@example.org`, firstname: name, lastname: 'Client', accounttype: 0,
  })).account;
  const keys = (await cloud.admin.ok('registerUserKeys', { id: acc.user[0].id })).userkeys;
  const tenant = signedClient(cloud.url, keys.apikey, keys.secretkey);
  const env = {
    CLOUDSTACK_ENDPOINT: `${cloud.url}/client/api`, CLOUDSTACK_KEY: keys.apikey, CLOUDSTACK_SECRET: keys.secretkey,
    FLT_ADMIN_KEY: cloud.admin.apiKey, FLT_ADMIN_SECRET: cloud.admin.secretKey,
    FLT_ZONE: name, FLT_ZONE_ID: z.zoneId, FLT_PHYSICAL_NETWORK: `${name}-phys`, FLT_ACCOUNT: tenantName,
    FLT_TEMPLATE: 'Flotilla netns guest', FLT_OFFERING: 'Small Instance',
    FLT_NETWORK_OFFERING: 'DefaultIsolatedNetworkOfferingWithSourceNatService',
  };
  return { cloud, z, zoneName: name, tenant, tenantName, env };
}

/** A scratch directory removed when the test ends. */
export async function scratch(t: ExecutionContext, tag: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `flt-${tag}-`));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

export interface Ran { code: number; stdout: string; stderr: string }

/** Runs a client program; never throws on a non-zero exit (the test asserts on it). */
export async function runClient(file: string, args: string[], o: { env: Record<string, string>; cwd?: string; timeoutMs?: number }): Promise<Ran> {
  try {
    const r = await run(file, args, {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C.UTF-8', PYTHONDONTWRITEBYTECODE: '1', ...o.env }, cwd: o.cwd ?? CLIENTS_DIR,
      timeout: o.timeoutMs ?? 300_000, maxBuffer: 64 * 1024 * 1024,
    });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code?: number | string; stdout?: string; stderr?: string; message?: string };
    return { code: typeof x.code === 'number' ? x.code : 1, stdout: x.stdout ?? '', stderr: `${x.stderr ?? ''}${typeof x.code === 'number' ? '' : `\n${x.message}`}` };
  }
}

/** The JSON lines a client printed (`{"step": …}` records; other lines ignored). */
export function steps(stdout: string): Array<Record<string, any>> {
  return stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, any>);
}
