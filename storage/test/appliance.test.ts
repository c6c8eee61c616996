// The appliance entry point over its control socket, as the system-VM framework drives it.
import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { GUEST_TEMPLATE_ID } from '../src/guest-template.ts';
import { tmp, until } from '../src/testing.ts';

const ENTRY = new URL('../src/appliance.ts', import.meta.url).pathname;

/** The appliance as a child on a control socket of a fresh directory, and `ask` (one JSON line
 *  out, the reply with the same id back). Everything goes at the test's end. */
async function appliance(t: ExecutionContext): Promise<{ dir: string; ask: (m: Record<string, unknown>) => Promise<Record<string, any>> }> {
  const dir = tmp();
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const sock = join(dir, 'control.sock');
  const child = spawn(process.execPath, ['--import', 'tsx', ENTRY, '--control', sock], { stdio: 'ignore' });
  t.teardown(() => { child.kill('SIGKILL'); });
  await until(() => existsSync(sock) || undefined, 20_000, 'control socket');
  // The socket's file exists from its bind, a moment before it listens: connect until it answers.
  const conn = await until(() => new Promise<net.Socket | undefined>((resolve) => {
    const c = net.connect(sock);
    c.once('connect', () => resolve(c)).once('error', () => resolve(undefined));
  }), 20_000, 'control socket listening');
  t.teardown(() => conn.destroy());
  let buf = '';
  const replies = new Map<string, Record<string, any>>();
  conn.on('data', (c) => { buf += c; let nl; while ((nl = buf.indexOf('\n')) >= 0) { const r = JSON.parse(buf.slice(0, nl)); replies.set(r.id, r); buf = buf.slice(nl + 1); } });
  let n = 0;
  const ask = async (m: Record<string, unknown>) => { const id = (m.id as string | undefined) ?? `q${n++}`; conn.write(`${JSON.stringify({ ...m, id })}\n`); return until(() => replies.get(id), 20_000, 'reply'); };
  return { dir, ask };
}

test('configure starts the storage server on the given port and store, which builds the built-in guest template; report counts images; bad configure is refused', async (t) => {
  const { dir, ask } = await appliance(t);
  t.like(await ask({ type: 'configure', id: 'a', port: 0, dir: 'rel', secret: 'x' }), { type: 'error', id: 'a', code: 'failed' });
  const srv = net.createServer(); await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port; await new Promise((r) => srv.close(r));
  t.deepEqual(await ask({ type: 'configure', id: 'b', port, dir: join(dir, 'store'), secret: Buffer.alloc(32, 1).toString('base64') }), { type: 'configured', id: 'b', listening: { port } });
  t.like(await (await fetch(`http://127.0.0.1:${port}/health`)).json(), { ok: true, role: 'storage' });
  t.true(existsSync(join(dir, 'store', '.flotilla-image-store')));
  t.like(await ask({ type: 'report', id: 'c' }), { type: 'report', id: 'c', role: 'storage', listening: { port } });
  // The store's first start builds the built-in guest template (from the host's busybox) and
  // takes it in as an upload: ready, hashed, its file in place.
  const built = await until(async () => { const r = await ask({ type: 'images', ids: [GUEST_TEMPLATE_ID] }); return r.images[0]?.state === 'Ready' ? r.images[0] : undefined; }, 20_000, 'guest template');
  t.like(built, { kind: 'template', format: 'TAR', status: 'Download Complete' });
  t.regex(built.sha256, /^[0-9a-f]{64}$/);
  t.true(existsSync(join(dir, 'store', 'templates', GUEST_TEMPLATE_ID, 'image')));
  t.like(await ask({ type: 'report' }), { images: { ready: 1, transferring: 0, failed: 0 } });
});

test('the appliance drives transfers over its control socket: download, images, delete; without a store only /health', async (t) => {
  const { rootfsTar, md5, serve } = await import('../src/testing.ts');
  const { dir, ask } = await appliance(t);
  const srv = net.createServer(); await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port; await new Promise((r) => srv.close(r));

  // No image store in the zone yet: health only; transfers are refused.
  t.like(await ask({ type: 'configure', port }), { type: 'configured', listening: { port } });
  t.like(await (await fetch(`http://127.0.0.1:${port}/health`)).json(), { ok: true, role: 'storage', store: false });
  t.like(await ask({ type: 'images' }), { type: 'error', code: 'no_store' });
  t.false('storeId' in await ask({ type: 'report' }));

  const storeId = '11111111-2222-4333-8444-555555555555';
  t.like(await ask({ type: 'configure', port, storeId, dir: join(dir, 'store'), secret: Buffer.alloc(32, 2).toString('base64') }), { type: 'configured', storeId });
  t.like(await ask({ type: 'report' }), { storeId });
  const tar = rootfsTar(100_000);
  const web = await serve({ 'ok.tar': tar });
  t.teardown(() => web.close());
  const good = 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee'; const bad = 'aaaaaaaa-bbbb-4ccc-8ddd-ffffffffffff';
  t.like(await ask({ type: 'download', image: { id: '../x', kind: 'template', format: 'TAR' }, url: `${web.url}/ok.tar` }), { type: 'error', errors: ['image.id must be an image id'] });
  t.like(await ask({ type: 'download', image: { id: good, kind: 'template', format: 'TAR', checksum: md5(tar) }, url: `${web.url}/ok.tar` }), { type: 'image', image: { id: good, state: 'Downloading' } });
  await ask({ type: 'download', image: { id: bad, kind: 'template', format: 'TAR', checksum: '0'.repeat(32) }, url: `${web.url}/ok.tar` });
  const done = await until(async () => { const r = await ask({ type: 'images', ids: [good, bad] }); return r.images.every((i: any) => i.state !== 'Downloading') ? r : undefined; }, 20_000, 'transfers');
  t.like(done.images[0], { id: good, state: 'Ready', status: 'Download Complete' });
  t.like(done.images[1], { id: bad, state: 'Error' });
  t.regex(done.images[1].status, /checksum mismatch/);
  t.true(existsSync(join(dir, 'store', 'templates', good, 'image')));
  t.like(await ask({ type: 'delete', image: good }), { type: 'deleted', deleted: true });
  t.false(existsSync(join(dir, 'store', 'templates', good)));
  t.deepEqual((await ask({ type: 'images', ids: [good] })).images, []);
});
