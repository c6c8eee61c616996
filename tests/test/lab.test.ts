import test from 'ava';
import { Lab, kernelTestsUnavailable } from '../src/lab.ts';
import { execFileSync } from 'node:child_process';

const skip = kernelTestsUnavailable();

(skip ? test.skip : test)('lab namespaces reach each other over veth and are removed at cleanup', async (t) => {
  const lab = Lab.create(undefined, 'lab');
  const a = await lab.netns('a');
  const b = await lab.netns('b');
  await lab.veth(a, 'flt-x0', b, 'flt-x1');
  await lab.exec(a, ['ip', 'addr', 'add', '10.255.0.1/30', 'dev', 'flt-x0']);
  await lab.exec(b, ['ip', 'addr', 'add', '10.255.0.2/30', 'dev', 'flt-x1']);
  const ping = await lab.tryExec(a, ['ping', '-c1', '-W2', '10.255.0.2']);
  t.is(ping.code, 0, ping.stderr);
  await lab.cleanup();
  const left = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  t.false(left.includes(a));
  t.false(left.includes(b));
});
