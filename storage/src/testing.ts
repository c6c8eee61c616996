// Helpers for tests and benchmarks: real tarballs made by GNU tar, a loopback HTTP server that serves them (slowly or
// cut short when asked).
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function tmp(prefix = 'flt-storage-'): string { return mkdtempSync(join(tmpdir(), prefix)); }

/** A minimal root filesystem tarball (bin/sh, sbin → bin) with `extraBytes` of random data. */
export function rootfsTar(extraBytes = 0, opts: { gzip?: boolean } = {}): Buffer {
  const d = tmp('flt-rootfs-');
  try {
    mkdirSync(join(d, 'bin')); mkdirSync(join(d, 'etc'));
    writeFileSync(join(d, 'bin/sh'), '#!/bin/true\n', { mode: 0o755 });
    symlinkSync('bin', join(d, 'sbin'));
    writeFileSync(join(d, 'etc/hostname'), 'guest\n');
    if (extraBytes) writeFileSync(join(d, 'blob'), randomBytes(extraBytes));
    execFileSync('tar', ['-C', d, opts.gzip ? '-czf' : '-cf', join(d, '..', `${d.split('/').pop()}.tar`), '.']);
    const out = readFileSync(join(d, '..', `${d.split('/').pop()}.tar`));
    rmSync(join(d, '..', `${d.split('/').pop()}.tar`));
    return out;
  } finally { rmSync(d, { recursive: true, force: true }); }
}

export const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');
export const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

export interface Served { url: string; close(): Promise<void> }

/** Serves `files` on 127.0.0.1 (or on the unix socket `socket`, for a test that bridges it into a
 *  namespace of its own): `/name`; `slow` sends 64 KiB every `slowMs`; `cutAfter` drops the
 *  connection after that many bytes (Content-Length announces the whole file); `redirects` answers
 *  a name with a 302 to the given Location. */
export async function serve(files: Record<string, Buffer>, opts: { slowMs?: number; cutAfter?: number; socket?: string; redirects?: Record<string, string> } = {}): Promise<Served> {
  const server = http.createServer((req, res) => {
    const raw = (req.url ?? '/').slice(1);
    let path = raw;
    try { path = decodeURIComponent(raw); } catch { /* not percent-encoding: as sent */ }
    const to = opts.redirects?.[path];
    if (to !== undefined) { res.writeHead(302, { location: to }).end(); return; }
    const f = files[path];
    if (!f) { res.writeHead(404).end('no'); return; }
    res.writeHead(200, { 'content-length': f.length, 'content-type': 'application/x-tar' });
    if (!opts.slowMs && opts.cutAfter === undefined) { res.end(f); return; }
    let at = 0;
    const step = () => {
      if (res.destroyed) return;
      const end = Math.min(f.length, at + 65536, opts.cutAfter ?? Infinity);
      res.write(f.subarray(at, end));
      at = end;
      if (opts.cutAfter !== undefined && at >= opts.cutAfter) { setTimeout(() => res.destroy(), 50); return; }
      if (at >= f.length) { res.end(); return; }
      setTimeout(step, opts.slowMs ?? 0);
    };
    step();
  });
  if (opts.socket) await new Promise<void>((r) => server.listen(opts.socket, r));
  else await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: opts.socket ? `unix:${opts.socket}` : `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

export async function until<T>(f: () => Promise<T | undefined> | T | undefined, ms = 20_000, what = 'condition'): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
