// Volume files of the netns driver: real sparse files under the agent's state directory,
// created, grown, shrunk and removed through the driver's ops; names that could leave the
// volumes directory are refused before anything is touched. (No namespace needed: volumes are
// plain files of the host.)
import test from 'ava';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NetnsDriver } from '../src/drivers/netns.ts';
import { SimulatorDriver } from '../src/drivers/simulator.ts';

const GiB = 1024 ** 3;

test('netns driver: ensureVolume makes a sparse file of the size, resizes it idempotently; removeVolume removes it', async (t) => {
  const stateDir = await mkdtemp(join(tmpdir(), 'flt-vol-'));
  t.teardown(() => rm(stateDir, { recursive: true, force: true }));
  const d = new NetnsDriver({ hostNamespace: 'flt-vol-none', hostTag: 'vol1', stateDir });
  const file = join(stateDir, 'volumes', 'vol-a.img');

  const made = await d.ensureVolume({ volume: 'vol-a', sizeBytes: 5 * GiB });
  t.like(made, { volume: 'vol-a', sizeBytes: 5 * GiB, created: true });
  const st = await stat(file);
  t.is(st.size, 5 * GiB);
  t.true(st.blocks * 512 < 1024 * 1024, `sparse: ${st.blocks * 512} bytes allocated`);
  t.true(made.allocatedBytes < 1024 * 1024);
  t.is((st.mode & 0o777), 0o600);

  t.like(await d.ensureVolume({ volume: 'vol-a', sizeBytes: 5 * GiB }), { created: false, sizeBytes: 5 * GiB });
  t.like(await d.ensureVolume({ volume: 'vol-a', sizeBytes: 20 * GiB }), { created: false, sizeBytes: 20 * GiB });
  t.is((await stat(file)).size, 20 * GiB);
  t.like(await d.ensureVolume({ volume: 'vol-a', sizeBytes: 1 * GiB }), { sizeBytes: GiB });

  for (const volume of ['../escape', 'a/b', '.hidden', '']) {
    await t.throwsAsync(d.ensureVolume({ volume, sizeBytes: GiB }), { code: 'INVALID_ARGUMENT' } as never, volume);
  }
  await t.throwsAsync(d.ensureVolume({ volume: 'vol-b', sizeBytes: 0 }), { code: 'INVALID_ARGUMENT' } as never);
  t.deepEqual(await readdir(join(stateDir, 'volumes')), ['vol-a.img']);

  t.deepEqual(await d.removeVolume({ volume: 'vol-a' }), { volume: 'vol-a', existed: true });
  t.deepEqual(await d.removeVolume({ volume: 'vol-a' }), { volume: 'vol-a', existed: false });
  t.deepEqual(await readdir(join(stateDir, 'volumes')), []);
});

test('simulator driver records volumes', async (t) => {
  const d = new SimulatorDriver();
  t.like(await d.ensureVolume({ volume: 'v1', sizeBytes: GiB }), { created: true, sizeBytes: GiB });
  t.is(d.volumes.get('v1'), GiB);
  t.deepEqual(await d.removeVolume({ volume: 'v1' }), { volume: 'v1', existed: true });
  t.is(d.volumes.size, 0);
});
