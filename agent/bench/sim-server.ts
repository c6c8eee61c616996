// Child process of the benchmark: the stand-in manager gateway (test/helpers/fake-manager.ts)
// in its own process, so the agents' and the server's memory and CPU are measured apart.
// Talks to the parent over IPC: {port} when listening, {sessions, rssMb, cpuMs} on 'stats'.
import { FakeManager } from '../test/helpers/fake-manager.ts';

const mgr = new FakeManager({ tokens: new Set(['bench']), heartbeatIntervalMs: Number(process.argv[2] ?? 1000), heartbeatTimeoutMs: 10_000 });
await mgr.listen();
process.send!({ port: mgr.port });
process.on('message', (m: string) => {
  if (m === 'stats') {
    const u = process.cpuUsage();
    process.send!({ sessions: mgr.sessions.length, rssMb: process.memoryUsage().rss / 1048576, cpuMs: (u.user + u.system) / 1000 });
  } else if (m === 'exit') void mgr.close().then(() => process.exit(0));
});
