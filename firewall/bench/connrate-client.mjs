// New-connection rate client (plain JS so it starts fast inside `ip netns exec`): `conc` loops
// each connect, and on connect close with RST (resetAndDestroy) so neither side keeps
// TIME_WAIT and ports never run out. Bounded by time and by count. Prints one JSON line.
// Usage: node connrate-client.mjs <host> <port> <ms> <concurrency> [maxCount]
import net from 'node:net';

const [host, portText, msText, concText, maxText] = process.argv.slice(2);
const port = Number(portText), ms = Number(msText), conc = Number(concText), max = Number(maxText ?? 1e6);
let ok = 0, failed = 0, running = conc;
const start = process.hrtime.bigint();
const end = Date.now() + ms;

function one() {
  if (Date.now() >= end || ok + failed >= max) {
    if (--running === 0) {
      const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
      process.stdout.write(JSON.stringify({ ok, failed, seconds: elapsed, rate: ok / elapsed }) + '\n');
    }
    return;
  }
  let settled = false;
  const s = net.connect({ host, port });
  const next = (good) => { if (settled) return; settled = true; if (good) ok++; else failed++; s.setTimeout(0); setImmediate(one); };
  s.once('connect', () => { s.resetAndDestroy(); next(true); });
  s.once('error', () => { s.destroy(); next(false); });
  s.setTimeout(1000, () => { s.destroy(); next(false); });
}
for (let i = 0; i < conc; i++) one();
