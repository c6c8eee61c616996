// Runs one of the router's servers alone in the current namespace for the benchmark: the same
// classes src/router.ts drives (DhcpServer with its durable lease journal, DnsServer with a
// compiled zone), without the control socket, so both peers sit on an identical topology.
// Usage: serve.ts dhcp <lease file> [reservations] | serve.ts dns <listen address> [names] [forwarder]
//   dhcp without a count: benchNet()'s dynamic pool; with one: reservationNet(count), the
//   production path.
import { compileDhcpNetwork } from '../src/dhcp/engine.ts';
import { LeaseStore } from '../src/dhcp/leases.ts';
import { DhcpServer } from '../src/dhcp/server.ts';
import { DnsServer } from '../src/dns/server.ts';
import { compileZone } from '../src/dns/zone.ts';
import { NAMES, benchNet, reservationNet } from './net.ts';

const [mode, arg, count, forwarder] = process.argv.slice(2);
let close: () => Promise<void>;
let counters: () => unknown;
if (mode === 'dhcp') {
  const leases = await LeaseStore.open(arg!);
  const s = new DhcpServer(leases);
  await s.apply([compileDhcpNetwork(count ? reservationNet(Number(count)) : benchNet())]);
  close = async () => { await s.close(); await leases.close(); };
  counters = () => s.counters;
} else {
  const s = new DnsServer();
  // 200 names: benchNet()'s; more: reservationNet(count)'s (the same names the peer's hosts file has).
  const net = !count || Number(count) === NAMES ? benchNet() : reservationNet(Number(count));
  await s.apply([{ address: arg!, zone: compileZone({ ...net, dnsForwarders: forwarder ? [forwarder] : [] }, 1) }]);
  close = () => s.close();
  counters = () => s.counters;
}
process.stdout.write('ready\n');
process.once('SIGTERM', () => { process.stderr.write(`${JSON.stringify(counters())}\n`); void close().finally(() => process.exit(0)); });
