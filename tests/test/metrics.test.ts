/// <reference path="../../manager/test/prometheus-parser.d.ts" />
// The manager's /metrics carries what a real router reports through the router monitor:
// per-rule packets and bytes of the kernel's firewall counters, DHCP leases, DNS queries — read
// with a Prometheus text-format parser after real traffic.
import test from 'ava';
import parsePrometheus, { type Family } from 'parse-prometheus-text-format';
import { kernelTestsUnavailable } from '../src/lab.ts';
import { waitFor } from '../src/cloud.ts';
import { deploy, isolatedOffering, leased, nsOf, tenant, world } from '../src/router-world.ts';

const skip = kernelTestsUnavailable();
const kernelTest = skip ? test.skip : test.serial;

async function scrape(url: string): Promise<Family[]> {
  const r = await fetch(`${url}/metrics`);
  if (r.status !== 200) throw new Error(`/metrics answered ${r.status}`);
  return parsePrometheus(await r.text());
}
function value(fams: Family[], name: string, labels: Record<string, string>): number | undefined {
  const s = fams.find((f) => f.name === name)?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
  return s?.value !== undefined ? Number(s.value) : undefined;
}

kernelTest('a router\'s rule counters, DHCP leases and DNS queries reach /metrics, labelled by zone, network and router; its generation lag is 0; its host\'s agent is connected', async (t) => {
  const w = await world(t, 'met', 1000);
  const { api } = await tenant(w.cloud, 'mia');
  const offering = await isolatedOffering(w.cloud, 'iso-met', true);
  const net = (await api.ok('createNetwork', { name: 'metnet', zoneid: w.z.zoneId, networkofferingid: offering })).network;
  const vm1 = await deploy(w, api, 'vm1', net.id);
  const ns1 = await nsOf(w, vm1.id);
  await leased(w, ns1, vm1.nic[0].ipaddress);
  const snat = (await api.ok('listPublicIpAddresses', { associatednetworkid: net.id, issourcenat: true })).publicipaddress[0];
  await api.jobOk('createPortForwardingRule', { ipaddressid: snat.id, protocol: 'tcp', publicport: 8080, privateport: 80, virtualmachineid: vm1.id, cidrlist: '0.0.0.0/0' });
  // openfirewall (default true) made the forward's firewall rule, which counts the connections it opens.
  const pf = (await api.ok('listFirewallRules', { ipaddressid: snat.id })).firewallrule.find((r: any) => r.startport === 8080);
  t.truthy(pf, 'the forward\'s firewall rule');
  for (let i = 0; i < 3; i++) t.is((await w.lab.exec(w.uplink, ['curl', '-sS', '--max-time', '3', `http://${snat.ipaddress}:8080/`])).stdout.trim(), 'vm1');
  const domain = (await api.ok('listNetworks', { id: net.id })).network[0].networkdomain;
  await w.lab.exec(ns1, ['busybox', 'nslookup', `vm1.${domain}`, '10.1.0.1']);
  const router = (await w.cloud.admin.ok('listRouters', { networkid: net.id })).router[0];
  const zone = (await w.cloud.admin.ok('listZones', { id: w.z.zoneId })).zone[0].name;
  const l = { zone, network: net.id, router: router.name };

  // The router monitor (every second here) records the router's report; the scrape reads it.
  let fams: Family[] = [];
  await waitFor(async () => {
    fams = await scrape(w.cloud.url);
    return (value(fams, 'flotilla_router_rule_packets_total', { ...l, rule: pf.id }) ?? 0) >= 3
      && (value(fams, 'flotilla_router_dns_queries_total', { ...l, event: 'answered' }) ?? 0) >= 1;
  }, 'rule and DNS counters in /metrics', 30_000);
  t.is(fams.find((f) => f.name === 'flotilla_router_rule_packets_total')?.type, 'COUNTER');
  t.true(value(fams, 'flotilla_router_rule_bytes_total', { ...l, rule: pf.id })! > 3 * 40, 'bytes of at least three SYNs');
  t.is(value(fams, 'flotilla_router_dhcp_leases', l), 1);
  t.true(value(fams, 'flotilla_router_dhcp_events_total', { ...l, event: 'ack' })! >= 1);
  t.is(value(fams, 'flotilla_router_generation_lag', l), 0);
  t.is(value(fams, 'flotilla_router_spec_generation', l), router.generation);
  t.is(value(fams, 'flotilla_router_info', { ...l, network_name: 'metnet' }), 1);
  t.is(value(fams, 'flotilla_routers', { zone, state: 'Running' }), 1);
  t.is(value(fams, 'flotilla_agent_connected', { zone, host: 'host1' }), 1);
  const beat = value(fams, 'flotilla_agent_last_heartbeat_timestamp_seconds', { zone, host: 'host1' })!;
  t.true(Math.abs(Date.now() / 1000 - beat) < 60, `last heartbeat ${beat}`);
  t.true(value(fams, 'flotilla_api_requests_total', { command: 'createPortForwardingRule', code: '200' })! >= 1);
  t.is(value(fams, 'flotilla_jobs', { state: 'succeeded', command: 'deployVirtualMachine' }), 1);

  // More traffic moves the counter.
  const before = value(fams, 'flotilla_router_rule_packets_total', { ...l, rule: pf.id })!;
  await w.lab.exec(w.uplink, ['curl', '-sS', '--max-time', '3', `http://${snat.ipaddress}:8080/`]);
  let after = before;
  await waitFor(async () => { after = value(await scrape(w.cloud.url), 'flotilla_router_rule_packets_total', { ...l, rule: pf.id }) ?? 0; return after > before; }, 'the counter moves', 30_000);
  t.true(after > before, `rule packets ${before} → ${after}`);
});
