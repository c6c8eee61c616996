// The appliance entry point over its control socket, as the system-VM framework drives it.
import test from 'ava';
import { spawn } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { tmp, until } from '../src/testing.ts';

const ENTRY = new URL('../src/appliance.ts', import.meta.url).pathname;

test('configure starts the storage server on the given port and store; report counts images; bad configure is refused', async (t) => {
  const dir = tmp();
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const sock = join(dir, 'control.sock');
  const child = spawn(process.execPath, ['--import', 'tsx', ENTRY, '--control', sock], { stdio: 'ignore' });
  t.teardown(() => { child.kill('SIGKILL'); });
  await until(() => existsSync(sock) || undefined, 20_000, 'control socket');
  const conn = net.connect(sock);
  t.teardown(() => conn.destroy());
  let buf = '';
  const replies: Record<string, any>[] = [];
  conn.on('data', (c) => { buf += c; let nl; while ((nl = buf.indexOf('\n')) >= 0) { replies.push(JSON.parse(buf.slice(0, nl))); buf = buf.slice(nl + 1); } });
  const ask = async (m: Record<string, unknown>) => { const n = replies.length; conn.write(`${JSON.stringify(m)}\n`); return until(() => replies[n], 20_000, 'reply'); };
  t.like(await ask({ type: 'configure', id: 'a', port: 0, dir: 'rel', secret: 'x' }), { type: 'error', id: 'a', code: 'failed' });
  const srv = net.createServer(); await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port; await new Promise((r) => srv.close(r));
  t.deepEqual(await ask({ type: 'configure', id: 'b', port, dir: join(dir, 'store'), secret: Buffer.alloc(32, 1).toString('base64') }), { type: 'configured', id: 'b', listening: { port } });
  t.like(await (await fetch(`http://127.0.0.1:${port}/health`)).json(), { ok: true, role: 'storage' });
  t.true(existsSync(join(dir, 'store', '.flotilla-image-store')));
  t.like(await ask({ type: 'report', id: 'c' }), { type: 'report', id: 'c', role: 'storage', listening: { port }, images: { ready: 0, transferring: 0, failed: 0 } });
});
