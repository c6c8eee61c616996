// A placeholder appliance for a system VM role whose real entry point is not written yet (the
// secondary storage VM until storage/src/main.ts exists): `health-appliance.ts --control <sock>
// [--role <name>]`. It answers the control socket like any appliance — `{type:'configure', port}`
// → `{type:'configured', listening:{port}}` and `{type:'report'}` → `{type:'report', role,
// placeholder:true}` — and, once configured, serves `GET /health` → `{"ok":true,...}` on every
// address of its VM, so the system VM framework (start, monitor, re-create, public address) is
// exercised end to end before the role's own service exists.
import { rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { control: { type: 'string' }, role: { type: 'string', default: 'storage' } } });
if (!values.control) { process.stderr.write('usage: health-appliance.ts --control <unix socket> [--role <name>]\n'); process.exit(2); }
const role = values.role!;
let web: http.Server | undefined;
let port: number | undefined;

async function handle(line: string): Promise<Record<string, unknown>> {
  let m: Record<string, unknown>;
  try { m = JSON.parse(line) as Record<string, unknown>; } catch { return { type: 'error', code: 'invalid_message', errors: ['not JSON'] }; }
  const id = typeof m.id === 'string' ? { id: m.id } : {};
  if (m.type === 'report') return { type: 'report', ...id, role, placeholder: true, ...(port ? { listening: { port } } : {}) };
  if (m.type === 'configure') {
    const p = Number(m.port);
    if (!Number.isInteger(p) || p < 1 || p > 65535) return { type: 'error', ...id, code: 'failed', errors: ['configure needs a port'] };
    if (!web) {
      web = http.createServer((req, res) => {
        const ok = req.url === '/health';
        res.writeHead(ok ? 200 : 404, { 'content-type': 'application/json' });
        res.end(JSON.stringify(ok ? { ok: true, role, placeholder: true } : { error: 'not found' }));
      });
      await new Promise<void>((resolve, reject) => { web!.once('error', reject); web!.listen(p, '0.0.0.0', () => resolve()); });
      port = p;
    }
    return { type: 'configured', ...id, listening: { port } };
  }
  return { type: 'error', ...id, code: 'invalid_message', errors: [`unknown type ${JSON.stringify(m.type)}`] };
}

try { rmSync(values.control, { force: true }); } catch { /* stale */ }
const server = net.createServer((conn) => {
  let buf = '';
  conn.setEncoding('utf8');
  conn.on('error', () => undefined);
  conn.on('data', (chunk: string) => {
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl); buf = buf.slice(nl + 1);
      if (line.trim()) void handle(line).then((r) => { if (!conn.destroyed) conn.write(JSON.stringify(r) + '\n'); });
    }
  });
});
const oldMask = process.umask(0o177);
try { server.listen(values.control); } finally { process.umask(oldMask); }
const stop = () => { server.close(); web?.close(); process.exit(0); };
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
