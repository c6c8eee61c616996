// Debian's `cs` CLI (python3-cs) run as an API client's user: real signing (v3 + expires),
// real polling of async jobs (cs prints the job's result, or its failed queryAsyncJobResult).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Api } from '@flotilla/manager/client';

const run = promisify(execFile);

/** `cs <args>` as the given client's user; the JSON it printed (also for a failed call). */
export async function csCli(api: Api, args: string[]): Promise<any> {
  try {
    const r = await run('/usr/bin/python3', ['-m', 'cs', ...args], {
      env: { PATH: process.env.PATH, HOME: '/nonexistent', CLOUDSTACK_ENDPOINT: `${api.url}/client/api`, CLOUDSTACK_KEY: api.apiKey, CLOUDSTACK_SECRET: api.secretKey }, timeout: 120_000,
    });
    return JSON.parse(r.stdout);
  } catch (e) {
    const x = e as { stdout?: string; stderr?: string };
    try { return JSON.parse(x.stdout ?? ''); } catch { throw new Error(`cs ${args[0]} failed: ${x.stderr ?? x.stdout}`); }
  }
}
