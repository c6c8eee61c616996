// Host commands, always as argv arrays (never a shell). A failure becomes DRIVER_FAILURE whose
// message carries the command and its stderr, so the manager's error says what the host refused.
import { execFile } from 'node:child_process';
import { AgentError } from './errors.ts';

export interface RunResult { stdout: string; stderr: string }

export function run(argv: readonly string[], opts: { timeoutMs?: number; input?: string } = {}): Promise<RunResult> {
  const [cmd, ...args] = argv;
  return new Promise((resolve, reject) => {
    const child = execFile(cmd!, args, { timeout: opts.timeoutMs ?? 30_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err) {
        const why = (stderr || err.message).trim().split('\n').slice(-3).join(' | ');
        reject(new AgentError('DRIVER_FAILURE', `${argv.join(' ')}: ${why}`, { argv, exitCode: (err as { code?: unknown }).code }));
      } else resolve({ stdout, stderr });
    });
    // `ip -batch -` and the like read their commands here (one process for many commands).
    if (opts.input !== undefined) { child.stdin?.on('error', () => undefined); child.stdin?.end(opts.input); }
  });
}

/** Like run, but resolves false instead of rejecting (for probes and best-effort cleanup). */
export async function tryRun(argv: readonly string[]): Promise<boolean> {
  try { await run(argv); return true; } catch { return false; }
}

export async function runJson<T>(argv: readonly string[]): Promise<T> {
  const { stdout } = await run(argv);
  const text = stdout.trim();
  return (text ? JSON.parse(text) : []) as T;
}
