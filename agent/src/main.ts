// CLI: node --import tsx agent/src/main.ts --manager ws://host:port/agent --token-file FILE
//        --driver netns|simulator [--host-namespace flt-host1 --fabric-interface eth0 --fabric-ip 10.0.0.1]
// The token may also come from FLT_AGENT_TOKEN (preferred over --token: argv is world-readable
// in /proc). SIGINT/SIGTERM close the channel; VMs keep running.
// --exit-with-stdin: the agent ends when its stdin reaches end of file. A manager that starts its
// own agent (the local cloud) gives it a pipe: the kernel closes the manager's end however the
// manager dies (kill -9 included, where no handler runs), so the agent never outlives it.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Agent, normalizeFingerprint } from './agent.ts';
import type { Driver } from './driver.ts';
import { AgentError } from './errors.ts';
import { KvmDriver } from './drivers/kvm.ts';
import { NetnsDriver } from './drivers/netns.ts';
import { SimulatorDriver } from './drivers/simulator.ts';

const usage = `usage: agent --manager ws://HOST:PORT/PATH (--token T | --token-file F | env FLT_AGENT_TOKEN)
             --driver netns|simulator|kvm [--host-name NAME]
  netns:     --host-namespace NS [--host-tag abcd] [--fabric-interface IF --fabric-ip IP] [--state-dir DIR]
  simulator: [--sim-delay-ms N] [--sim-failure-rate 0..1]
  --exit-with-stdin: end when stdin closes (the starting manager holds its other end)
  wss://: [--ca-file PEM] (a CA, or the manager's own certificate) [--manager-fingerprint SHA256-HEX] (pin)`;

function die(msg: string): never {
  process.stderr.write(`agent: ${msg}\n${usage}\n`);
  process.exit(2);
}

let values: Record<string, string | undefined>;
try {
  ({ values } = parseArgs({
    options: {
      manager: { type: 'string' }, token: { type: 'string' }, 'token-file': { type: 'string' },
      driver: { type: 'string' }, 'host-name': { type: 'string' },
      'host-namespace': { type: 'string' }, 'host-tag': { type: 'string' },
      'fabric-interface': { type: 'string' }, 'fabric-ip': { type: 'string' }, 'state-dir': { type: 'string' },
      'sim-delay-ms': { type: 'string' }, 'sim-failure-rate': { type: 'string' },
      'exit-with-stdin': { type: 'boolean' },
      'ca-file': { type: 'string' }, 'manager-fingerprint': { type: 'string' },
    },
    strict: true,
  }) as unknown as { values: Record<string, string | undefined> });
} catch (e) { die((e as Error).message); }

// Several managers (decision 0282): a comma-separated list, dialled in turn.
const url = values.manager ?? process.env.FLOTILLA_MANAGER_URLS ?? die('--manager (or FLOTILLA_MANAGER_URLS) is required');
for (const u of url.split(',')) if (!/^wss?:\/\//.test(u.trim())) die(`--manager must be ws:// or wss:// URLs, comma-separated (got ${u})`);
const token = values.token ?? (values['token-file'] ? readFileSync(values['token-file'], 'utf8').trim() : process.env.FLT_AGENT_TOKEN) ?? die('a token is required');

let driver: Driver;
try {
  switch (values.driver) {
    case 'netns': {
      const ns = values['host-namespace'] ?? die('--host-namespace is required with --driver netns');
      const fi = values['fabric-interface']; const fip = values['fabric-ip'];
      if ((fi === undefined) !== (fip === undefined)) die('--fabric-interface and --fabric-ip go together');
      driver = new NetnsDriver({
        hostNamespace: ns,
        ...(values['host-tag'] ? { hostTag: values['host-tag'] } : {}),
        ...(fi && fip ? { fabric: { interface: fi, localIp: fip } } : {}),
        ...(values['state-dir'] ? { stateDir: values['state-dir'] } : {}),
      });
      break;
    }
    case 'simulator':
      driver = new SimulatorDriver({
        delayMs: Number(values['sim-delay-ms'] ?? 0),
        failureRate: Number(values['sim-failure-rate'] ?? 0),
      });
      break;
    case 'kvm':
      driver = new KvmDriver({ hostNamespace: values['host-namespace'] ?? '', pools: {} });
      break;
    default: die(`--driver must be netns, simulator or kvm (got ${String(values.driver)})`);
  }
  await driver.hostFacts();
} catch (e) {
  die(e instanceof AgentError ? `${e.code}: ${e.message}` : String(e));
}

const ca = values['ca-file'] ? readFileSync(values['ca-file'], 'utf8') : undefined;
const fingerprint256 = values['manager-fingerprint'];
if (fingerprint256 !== undefined && normalizeFingerprint(fingerprint256).length !== 64) die('--manager-fingerprint must be a SHA-256 fingerprint (64 hex digits, colons allowed)');
if ((ca || fingerprint256) && !url.split(',').every((u) => u.trim().startsWith('wss://'))) die('--ca-file and --manager-fingerprint need a wss:// manager URL');
const agent = new Agent({
  url, token, driver, ...(ca || fingerprint256 ? { tls: { ...(ca ? { ca } : {}), ...(fingerprint256 ? { fingerprint256 } : {}) } } : {}), ...(values['host-name'] ? { hostName: values['host-name'] } : {}),
  log: (level, msg) => process.stderr.write(`${new Date().toISOString()} ${level} ${msg}\n`),
});
agent.on('refused', ({ code, message }) => {
  process.stderr.write(`agent: refused by the manager: ${code}: ${message}\n`);
  process.exit(3);
});
agent.on('fenced', ({ message }) => process.stderr.write(`${new Date().toISOString()} warn fenced: ${message}\n`));
agent.on('reconnecting', ({ attempt, delayMs }) => process.stderr.write(`${new Date().toISOString()} info reconnect attempt ${attempt + 1} in ${delayMs} ms\n`));
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => { void agent.stop().then(() => process.exit(0)); });
}
if ((values as Record<string, unknown>)['exit-with-stdin'] === true) {
  const parentGone = () => {
    process.stderr.write(`${new Date().toISOString()} info the manager that started this agent is gone (stdin closed); stopping\n`);
    void agent.stop().then(() => process.exit(0));
    // The channel close must not hold the exit up for long.
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.stdin.once('end', parentGone);
  process.stdin.once('close', parentGone);
  process.stdin.once('error', parentGone);
  process.stdin.resume();
}
agent.start();
