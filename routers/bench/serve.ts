// Runs one of the router's servers alone in the current namespace for the benchmark: the same
// classes src/router.ts drives (DhcpServer with its durable lease journal, DnsServer with a
// compiled zone), without the control socket, so both peers sit on an identical topology.
// Usage: serve.ts dhcp <lease file> | serve.ts dns <listen address>
import { compileDhcpNetwork } from '../src/dhcp/engine.ts';
import { LeaseStore } from '../src/dhcp/leases.ts';
import { DhcpServer } from '../src/dhcp/server.ts';
import { DnsServer } from '../src/dns/server.ts';
import { compileZone } from '../src/dns/zone.ts';
import { benchNet } from './net.ts';

const [mode, arg] = process.argv.slice(2);
let close: () => Promise<void>;
let counters: () => unknown;
if (mode === 'dhcp') {
  const leases = await LeaseStore.open(arg!);
  const s = new DhcpServer(leases);
  await s.apply([compileDhcpNetwork(benchNet())]);
  close = async () => { await s.close(); await leases.close(); };
  counters = () => s.counters;
} else {
  const s = new DnsServer();
  await s.apply([{ address: arg!, zone: compileZone(benchNet(), 1) }]);
  close = () => s.close();
  counters = () => s.counters;
}
process.stdout.write('ready\n');
process.once('SIGTERM', () => { process.stderr.write(`${JSON.stringify(counters())}\n`); void close().finally(() => process.exit(0)); });
