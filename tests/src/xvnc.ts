// A real VNC server for console tests: Xvfb (its own display, picked with -displayfd, so no clash
// with other tests) + x11vnc on a free loopback port, and `xev -root` printing the key events the
// X server gets. Shared by console-vnc.test.ts (the manager's own proxy role) and
// console-browser.test.ts (through the zone's console proxy VM). Processes are stopped by PID at
// teardown.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import type { Page } from 'playwright-core';
import { waitFor } from './cloud.ts';

export const VNC_TOOLS = ['/usr/bin/Xvfb', '/usr/bin/x11vnc', '/usr/bin/xsetroot', '/usr/bin/xev'];
export const missingVncTools = (): string[] => VNC_TOOLS.filter((p) => !existsSync(p));

interface Teardownable { teardown(fn: () => unknown): void }

// x11vnc and xev get SIGKILL: x11vnc's SIGTERM handler deadlocked once (futex wait, SIGTERM
// blocked in its handler) after Xvfb had gone, and its open pipes kept the test worker, and CI,
// waiting forever. Xvfb gets SIGTERM: it removes its display's lock and socket itself.
function started(t: Teardownable, argv: string[], env: NodeJS.ProcessEnv = process.env, extraFd = false, signal: NodeJS.Signals = 'SIGTERM'): ChildProcess {
  const p = spawn(argv[0]!, argv.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe', ...(extraFd ? ['pipe' as const] : [])] });
  t.teardown(() => { if (p.exitCode === null && p.signalCode === null && p.pid) p.kill(signal); });
  return p;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => { const { port } = s.address() as net.AddressInfo; s.close(() => resolve(port)); });
    s.on('error', reject);
  });
}

export function run(argv: string[], env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn(argv[0]!, argv.slice(1), { env, stdio: 'ignore' });
    p.on('exit', (code) => code === 0 ? resolve() : reject(new Error(`${argv.join(' ')} exited ${code}`)));
    p.on('error', reject);
  });
}

export interface VncServer { port: number; display: string; env: NodeJS.ProcessEnv; keys: () => string; setRoot(colour: string): Promise<void> }

/** Xvfb + x11vnc (loopback, no password) + xev on the root window; the root colour set first. */
export async function startVncServer(t: Teardownable, colour = '#3366cc'): Promise<VncServer> {
  // -noreset: xsetroot is its first client, and a reset when it leaves would drop the root colour.
  const xvfb = started(t, ['Xvfb', '-displayfd', '3', '-screen', '0', '640x480x24', '-nolisten', 'tcp', '-noreset'], process.env, true);
  const display = await new Promise<string>((resolve, reject) => {
    let out = '';
    (xvfb.stdio[3] as NodeJS.ReadableStream).on('data', (b: Buffer) => { out += b.toString(); if (out.includes('\n')) resolve(`:${out.trim()}`); });
    xvfb.on('exit', (code) => reject(new Error(`Xvfb exited ${code}`)));
    setTimeout(() => reject(new Error('Xvfb did not name its display')), 20_000);
  });
  const env = { ...process.env, DISPLAY: display };
  await run(['xsetroot', '-solid', colour], env);
  const port = await freePort();
  started(t, ['x11vnc', '-display', display, '-localhost', '-rfbport', String(port), '-nopw', '-forever', '-shared', '-noxdamage', '-noxrecord', '-quiet'], env, false, 'SIGKILL');
  // Key events on the root window (the focus with no window manager), as the X server delivers them.
  const xev = started(t, ['xev', '-root', '-event', 'keyboard'], env, false, 'SIGKILL');
  let keys = '';
  xev.stdout!.on('data', (b: Buffer) => { keys += b.toString(); });
  await waitFor(() => new Promise<boolean>((resolve) => {
    const c = net.connect(port, '127.0.0.1', () => { c.destroy(); resolve(true); });
    c.on('error', () => resolve(false));
  }), 'x11vnc listening', 30_000);
  return { port, display, env, keys: () => keys, setRoot: (c) => run(['xsetroot', '-solid', c], env) };
}

/** The canvas pixel at the middle of the remote screen, [r, g, b]. */
export const middlePixel = (page: Page) => page.evaluate<Array<number | string>>(`(() => {
  const c = document.querySelector('#screen canvas');
  if (!c || !c.width) return [c ? c.width : -1];
  try { return Array.from(c.getContext('2d').getImageData(c.width >> 1, c.height >> 1, 1, 1).data.slice(0, 3)); } catch (e) { return ['error: ' + e.message]; }
})()`);

/** Waits until the middle pixel is `rgb` ("r,g,b"); the error names the last pixel read. */
export async function waitPixel(page: Page, rgb: string, what: string, ms = 30_000): Promise<void> {
  let px: Array<number | string> = [];
  try {
    await waitFor(async () => (px = await middlePixel(page)).join() === rgb, what, ms);
  } catch (e) { throw new Error(`${(e as Error).message}: last pixel ${JSON.stringify(px)}`); }
}
