// Shared set-up of the infra tests: a zone built the way an operator builds one, and a
// snapshot of every infra table to prove that a refused command changed nothing.
import type { ExecutionContext } from 'ava';
import type { Api } from './helpers.ts';
import type { Database } from '../src/db/sql.ts';

export const INFRA_TABLES = ['zones', 'pods', 'clusters', 'hosts', 'physical_networks', 'traffic_types', 'network_service_providers', 'virtual_router_elements', 'vlan_ip_ranges'] as const;

/** Every row of every infra table, in a stable order, as one string. */
export async function snapshot(db: Database): Promise<string> {
  const parts: string[] = [];
  for (const t of INFRA_TABLES) {
    const rows = await db.query(`SELECT * FROM ${t} ORDER BY id`);
    parts.push(`${t}:${JSON.stringify(rows)}`);
  }
  return parts.join('\n');
}

/** Calls and expects a synchronous API error; returns the errortext. */
export async function refused(t: ExecutionContext, api: Api, command: string, params: Record<string, string | number | boolean>, code: number, text?: RegExp): Promise<string> {
  const r = await api.call(command, params);
  t.is(r.status, code, `${command} ${JSON.stringify(params)} → ${JSON.stringify(r.body)}`);
  t.is(r.body.errorcode, code);
  if (text) t.regex(String(r.body.errortext), text);
  return String(r.body.errortext);
}

/** Runs an async command expecting its job to fail with `code`; returns the errortext. */
export async function jobRefused(t: ExecutionContext, api: Api, command: string, params: Record<string, string | number | boolean>, code: number, text?: RegExp): Promise<string> {
  const q = await api.job(command, params);
  t.is(q.jobstatus, 2, `${command} should fail: ${JSON.stringify(q.jobresult)}`);
  t.is(q.jobresultcode, code, JSON.stringify(q.jobresult));
  t.is(q.jobresult?.errorcode, code);
  if (text) t.regex(String(q.jobresult?.errortext), text);
  return String(q.jobresult?.errortext);
}

export async function jobOk(t: ExecutionContext, api: Api, command: string, params: Record<string, string | number | boolean>): Promise<Record<string, any>> {
  const q = await api.job(command, params);
  t.is(q.jobstatus, 1, `${command} failed: ${JSON.stringify(q.jobresult)}`);
  return q.jobresult;
}

export interface Env { zoneId: string; podId: string; clusterId: string; pnetId: string; rangeId: string }

/** An Advanced zone with a pod, a cluster, a physical network carrying Public and Guest traffic, and one public range. */
export async function buildZone(t: ExecutionContext, admin: Api, name = 'local'): Promise<Env> {
  const zone = (await admin.ok('createZone', { name, dns1: '192.0.2.53', networktype: 'Advanced', guestcidraddress: '10.1.1.0/24' })).zone;
  const pod = (await admin.ok('createPod', { name: `${name}-pod1`, zoneid: zone.id, gateway: '192.168.56.1', netmask: '255.255.255.0', startip: '192.168.56.10', endip: '192.168.56.50' })).pod;
  const cluster = (await admin.ok('addCluster', { clustername: `${name}-c1`, zoneid: zone.id, podid: pod.id, hypervisor: 'KVM', clustertype: 'CloudManaged' })).cluster[0];
  const pnet = (await jobOk(t, admin, 'createPhysicalNetwork', { name: `${name}-pn1`, zoneid: zone.id, vlan: '100-199', isolationmethods: 'VLAN' })).physicalnetwork;
  await jobOk(t, admin, 'addTrafficType', { physicalnetworkid: pnet.id, traffictype: 'Public', kvmnetworklabel: 'cloudbr0' });
  await jobOk(t, admin, 'addTrafficType', { physicalnetworkid: pnet.id, traffictype: 'Guest', kvmnetworklabel: 'cloudbr1' });
  const range = (await admin.ok('createVlanIpRange', { zoneid: zone.id, vlan: '50', gateway: '203.0.113.1', netmask: '255.255.255.0', startip: '203.0.113.10', endip: '203.0.113.50', forvirtualnetwork: true })).vlan;
  return { zoneId: zone.id, podId: pod.id, clusterId: cluster.id, pnetId: pnet.id, rangeId: range.id };
}
