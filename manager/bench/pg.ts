// A PostgreSQL server for the manager's benchmarks (bench:api, bench:scale): the one given by
// BENCH_PG_URL / FLOTILLA_TEST_PG_URL, or a throwaway one of this machine's postgresql package
// (initdb refuses root, so the cluster runs as `postgres`; loopback only, fsync off).
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A PostgreSQL server: the given one, or a throwaway one of this machine's postgresql package. */
export async function pgServer(): Promise<{ url: string; stop(): void }> {
  const given = process.env.BENCH_PG_URL ?? process.env.FLOTILLA_TEST_PG_URL;
  if (given) return { url: given, stop: () => undefined };
  const bin = readdirSync('/usr/lib/postgresql').sort().map((v) => `/usr/lib/postgresql/${v}/bin`).pop();
  if (!bin) throw new Error('no PostgreSQL: set BENCH_PG_URL or install the postgresql package');
  const dir = mkdtempSync(join(tmpdir(), 'flt-bench-pg-'));
  chmodSync(dir, 0o777);
  const asPg = (cmd: string, args: string[]) => execFileSync(process.getuid?.() === 0 ? 'runuser' : cmd, process.getuid?.() === 0 ? ['-u', 'postgres', '--', cmd, ...args] : args, { stdio: 'ignore' });
  const port = 20000 + (process.pid % 20000);
  asPg(`${bin}/initdb`, ['-D', `${dir}/data`, '-A', 'trust', '-U', 'postgres']);
  asPg(`${bin}/pg_ctl`, ['-D', `${dir}/data`, '-l', `${dir}/log`, '-w', '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`, 'start']);
  return { url: `postgres://postgres@127.0.0.1:${port}/postgres`, stop: () => { try { asPg(`${bin}/pg_ctl`, ['-D', `${dir}/data`, '-m', 'fast', 'stop']); } finally { rmSync(dir, { recursive: true, force: true }); } } };
}

