// Child process of the benchmark: N Agents with the simulator driver, in a fresh process so
// its RSS is the agents' alone. argv: <port> <N>. Reports over IPC once all are connected and
// again after a steady window: {connected, connectMs, rssMb, cpuMs}.
import { Agent } from '../src/agent.ts';
import { SimulatorDriver } from '../src/drivers/simulator.ts';

const port = Number(process.argv[2]);
const N = Number(process.argv[3] ?? 1000);
const baseRss = process.memoryUsage().rss;
const agents: Agent[] = [];
let connected = 0;
const t0 = performance.now();
for (let i = 0; i < N; i++) {
  const a = new Agent({ url: `ws://127.0.0.1:${port}/agent`, token: 'bench', hostName: `sim-${i}`, driver: new SimulatorDriver() });
  a.once('connected', () => { connected++; });
  agents.push(a);
  a.start();
  if (i % 100 === 99) await new Promise((r) => setImmediate(r));
}
while (connected < N) await new Promise((r) => setTimeout(r, 20));
const connectMs = performance.now() - t0;
const stats = () => {
  const u = process.cpuUsage();
  return { connected, connectMs, rssMb: process.memoryUsage().rss / 1048576, baseRssMb: baseRss / 1048576, cpuMs: (u.user + u.system) / 1000 };
};
process.send!(stats());
process.on('message', (m: string) => {
  if (m === 'stats') process.send!(stats());
  else if (m === 'exit') void Promise.all(agents.map((a) => a.stop())).then(() => process.exit(0));
});
