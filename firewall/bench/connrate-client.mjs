// New-connection rate client (plain JS so it starts fast inside `ip netns exec`). One process
// measures all targets, alternating every sample (rotating the order each round), so load from
// elsewhere on the machine hits every target alike. Each sample: `conc` loops connect, and on
// connect close with RST (resetAndDestroy), so neither side keeps TIME_WAIT and ports never run
// out. A target is a list of flows (`src>host:port`, joined by `|`; `src>` optional): its
// connections go to its flows in turn, each from the flow's source address. Bounded by time per
// sample and by a total count. Prints one JSON line:
//   {"rates": [[round0 target0, target1, …], …]}   (connections per second)
// Usage: node connrate-client.mjs <target,target,…> <sampleMs> <rounds> <concurrency>
import net from 'node:net';

const [targetsText, sampleText, roundsText, concText] = process.argv.slice(2);
const flowOf = (f) => {
  const gt = f.indexOf('>');
  const src = gt < 0 ? undefined : f.slice(0, gt);
  const hp = f.slice(gt + 1);
  const i = hp.lastIndexOf(':');
  return { src, host: hp.slice(0, i), port: Number(hp.slice(i + 1)) };
};
const targets = targetsText.split(',').map((t) => t.split('|').map(flowOf));
const sampleMs = Number(sampleText), rounds = Number(roundsText), conc = Number(concText);
const MAX_PER_SAMPLE = 200_000;

function sample(flows) {
  let turn = 0;
  return new Promise((resolve) => {
    let ok = 0, failed = 0, running = conc;
    const why = {};
    const start = process.hrtime.bigint();
    const end = Date.now() + sampleMs;
    const one = () => {
      if (Date.now() >= end || ok + failed >= MAX_PER_SAMPLE) {
        if (--running === 0) resolve({ ok, failed, why, rate: ok / (Number(process.hrtime.bigint() - start) / 1e9) });
        return;
      }
      let settled = false;
      const { src, host, port } = flows[turn++ % flows.length];
      const s = net.connect({ host, port, ...(src ? { localAddress: src } : {}) });
      const next = (good) => { if (settled) return; settled = true; if (good) ok++; else failed++; s.setTimeout(0); setImmediate(one); };
      s.once('connect', () => { s.resetAndDestroy(); next(true); });
      s.once('error', (e) => { why[e.code ?? 'error'] = (why[e.code ?? 'error'] ?? 0) + 1; s.destroy(); next(false); });
      s.setTimeout(1000, () => { why.timeout = (why.timeout ?? 0) + 1; s.destroy(); next(false); });
    };
    for (let i = 0; i < conc; i++) one();
  });
}

const rates = [];
for (let r = 0; r < rounds; r++) {
  const row = new Array(targets.length);
  for (let k = 0; k < targets.length; k++) {
    const i = (k + r) % targets.length;
    const s = await sample(targets[i]);
    if (s.ok === 0) { process.stderr.write(`no connection to ${targets[i].map((f) => `${f.host}:${f.port}`).join(' ')}\n`); process.exit(1); }
    if (s.failed > s.ok / 100) { process.stderr.write(`${s.failed} of ${s.ok + s.failed} connections to target ${i} failed (${JSON.stringify(s.why)})\n`); process.exit(1); }
    row[i] = s.rate;
  }
  rates.push(row);
}
process.stdout.write(JSON.stringify({ rates }) + '\n');
