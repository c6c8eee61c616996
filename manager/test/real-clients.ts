// The real CloudStack clients our tests drive, with no code of ours in the signing path:
// Debian's `cs` CLI (python3-cs, run by Debian's python) and the `csclient` npm package.
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { promisify } from 'node:util';

const run = promisify(execFile);
const require = createRequire(import.meta.url);
/** The csclient npm package's client class (CommonJS). */
export const CloudStackClient = require('csclient');

/** Runs `cs <args>` against a manager; `out` is the parsed JSON it printed (or its raw text). */
export async function cs(url: string, key: string, secret: string, args: string[]): Promise<{ code: number; out: any; err: string }> {
  try {
    const r = await run('/usr/bin/python3', ['-m', 'cs', ...args], {
      env: { PATH: process.env.PATH, HOME: '/nonexistent', CLOUDSTACK_ENDPOINT: `${url}/client/api`, CLOUDSTACK_KEY: key, CLOUDSTACK_SECRET: secret },
      timeout: 60_000,
    });
    return { code: 0, out: JSON.parse(r.stdout), err: r.stderr };
  } catch (e) {
    const x = e as { code?: number; stdout?: string; stderr?: string };
    let out: any;
    try { out = JSON.parse(x.stdout ?? ''); } catch { out = x.stdout; }
    return { code: typeof x.code === 'number' ? x.code : 1, out, err: x.stderr ?? '' };
  }
}
