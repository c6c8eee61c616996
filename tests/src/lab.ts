// A throwaway network lab for kernel tests: network namespaces and veth pairs, all named with
// the `flt-` prefix, created without touching the root namespace (veth ends are created directly
// inside their namespaces), and removed when the test ends, pass or fail, and on process exit.
import { execFile, execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface Teardownable { teardown(fn: () => unknown): void }

export interface ExecResult { stdout: string; stderr: string }

const live = new Set<Lab>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  const sweep = () => { for (const lab of live) lab.cleanupSync(); };
  process.once('exit', sweep);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => { sweep(); process.exit(130); });
  }
}

/** True when this process may create namespaces (root). */
export function isRoot(): boolean { return process.getuid?.() === 0; }

/**
 * Kernel tests need root. Outside CI a non-root run skips them with a reason; in CI
 * (CI=true) a missing privilege is a failure, so a green CI always means they ran.
 */
export function kernelTestsUnavailable(): string | undefined {
  if (isRoot()) return undefined;
  if (process.env.CI === 'true') throw new Error('kernel tests must run as root in CI');
  return 'needs root (network namespaces)';
}

export class Lab {
  readonly id: string;
  private readonly namespaces: string[] = [];
  private readonly children: ChildProcess[] = [];
  private readonly cleanups: Array<() => Promise<void> | void> = [];
  private closed = false;

  private constructor(tag: string) {
    // Short: interface names built from it must fit IFNAMSIZ (15).
    this.id = `${tag.slice(0, 4)}${randomBytes(2).toString('hex')}`;
  }

  /** A new lab whose objects go when the test ends (pass, fail or throw). */
  static create(t: Teardownable | undefined, tag = 'lab'): Lab {
    installExitHook();
    const lab = new Lab(tag);
    live.add(lab);
    t?.teardown(() => lab.cleanup());
    return lab;
  }

  /** Creates namespace `flt-<id>-<name>` with loopback up; returns its name. */
  async netns(name: string): Promise<string> {
    const ns = `flt-${this.id}-${name}`;
    await run('ip', ['netns', 'add', ns]);
    this.namespaces.push(ns);
    await this.exec(ns, ['ip', 'link', 'set', 'lo', 'up']);
    return ns;
  }

  /** A veth pair with one end in each namespace (names ≤ 15 chars, chosen by the caller). */
  async veth(nsA: string, ifA: string, nsB: string, ifB: string): Promise<void> {
    await run('ip', ['link', 'add', ifA, 'netns', nsA, 'type', 'veth', 'peer', 'name', ifB, 'netns', nsB]);
    await this.exec(nsA, ['ip', 'link', 'set', ifA, 'up']);
    await this.exec(nsB, ['ip', 'link', 'set', ifB, 'up']);
  }

  /** Runs a command inside a namespace; rejects with its stderr on a non-zero exit. */
  async exec(ns: string, argv: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<ExecResult> {
    return execIn(ns, argv, opts);
  }

  /** Like exec but resolves with the exit code instead of rejecting. */
  async tryExec(ns: string, argv: string[], opts: { timeoutMs?: number } = {}): Promise<ExecResult & { code: number }> {
    try {
      const r = await execIn(ns, argv, opts);
      return { ...r, code: 0 };
    } catch (e) {
      const err = e as { code?: number; stdout?: string; stderr?: string };
      return { code: typeof err.code === 'number' ? err.code : 1, stdout: err.stdout ?? '', stderr: err.stderr ?? String(e) };
    }
  }

  /** Starts a long-running process inside a namespace; it is killed (by PID) at cleanup. */
  spawn(ns: string, argv: string[], opts: SpawnOptions = {}): ChildProcess {
    const [cmd, ...args] = argv;
    const child = spawn('ip', ['netns', 'exec', ns, cmd!, ...args], { stdio: 'pipe', ...opts });
    this.children.push(child);
    return child;
  }

  /** Registers extra cleanup (run before namespaces are deleted, last registered first). */
  onCleanup(fn: () => Promise<void> | void): void { this.cleanups.push(fn); }

  async cleanup(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    live.delete(this);
    for (const fn of this.cleanups.reverse()) { try { await fn(); } catch { /* keep cleaning */ } }
    for (const c of this.children) if (c.exitCode === null && c.pid) { try { process.kill(c.pid, 'SIGKILL'); } catch { /* gone */ } }
    // Deleting a namespace destroys its veth ends (and their peers) with it.
    for (const ns of this.namespaces.reverse()) { await run('ip', ['netns', 'del', ns]).catch(() => undefined); }
  }

  /** Last-chance cleanup from the process 'exit' hook, where only sync work runs. */
  cleanupSync(): void {
    if (this.closed) return;
    this.closed = true;
    for (const c of this.children) if (c.exitCode === null && c.pid) { try { process.kill(c.pid, 'SIGKILL'); } catch { /* gone */ } }
    for (const ns of this.namespaces) { try { execFileSync('ip', ['netns', 'del', ns]); } catch { /* gone */ } }
  }
}

export async function execIn(ns: string, argv: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<ExecResult> {
  const [cmd, ...args] = argv;
  const p = run('ip', ['netns', 'exec', ns, cmd!, ...args], { timeout: opts.timeoutMs ?? 30_000, maxBuffer: 64 << 20 });
  if (opts.input !== undefined) p.child.stdin?.end(opts.input);
  const r = await p;
  return { stdout: r.stdout, stderr: r.stderr };
}
