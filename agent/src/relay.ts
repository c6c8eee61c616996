// The host end of an appliance's control channel: newline-delimited JSON over a unix socket
// (the convention of protocol/src/router.ts). One relay = one connection: write the payload as
// one line, return the first reply line (or, when the payload carries a string `id`, the first
// reply echoing it). Connection attempts are retried until the deadline because an appliance
// that was just started may not listen yet.
import { createConnection, type Socket } from 'node:net';
import { AgentError } from './errors.ts';

export async function relayUnix(path: string, payload: unknown, timeoutMs: number, vm: string): Promise<unknown> {
  const deadline = Date.now() + timeoutMs;
  const wantId = payload && typeof payload === 'object' && typeof (payload as { id?: unknown }).id === 'string'
    ? (payload as { id: string }).id : undefined;
  const line = `${JSON.stringify(payload)}\n`;
  let lastError = '';
  while (Date.now() < deadline) {
    const sock = await connect(path, deadline - Date.now()).catch((e: Error) => { lastError = e.message; return undefined; });
    if (!sock) { await new Promise((r) => setTimeout(r, 100)); continue; }
    return await exchange(sock, line, wantId, deadline, vm);
  }
  throw new AgentError(lastError ? 'APPLIANCE_UNREACHABLE' : 'TIMEOUT',
    `appliance of VM ${vm} did not accept a connection on its control socket within ${timeoutMs} ms${lastError ? ` (${lastError})` : ''}`);
}

function connect(path: string, ms: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createConnection(path);
    const timer = setTimeout(() => { s.destroy(); reject(new Error('connect timeout')); }, Math.max(ms, 1));
    s.once('connect', () => { clearTimeout(timer); resolve(s); });
    s.once('error', (e) => { clearTimeout(timer); s.destroy(); reject(e); });
  });
}

function exchange(sock: Socket, line: string, wantId: string | undefined, deadline: number, vm: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const done = (fn: () => void) => { clearTimeout(timer); sock.removeAllListeners('data'); sock.destroy(); fn(); };
    const timer = setTimeout(() => done(() => reject(new AgentError('TIMEOUT', `appliance of VM ${vm} did not answer within the relay timeout`))), Math.max(deadline - Date.now(), 1));
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => {
      buf += chunk;
      if (buf.length > 16 << 20) return done(() => reject(new AgentError('DRIVER_FAILURE', `appliance of VM ${vm} sent a line over 16 MiB`)));
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const text = buf.slice(0, nl); buf = buf.slice(nl + 1);
        if (!text.trim()) continue;
        let msg: unknown;
        try { msg = JSON.parse(text); } catch {
          return done(() => reject(new AgentError('DRIVER_FAILURE', `appliance of VM ${vm} replied with a line that is not JSON`)));
        }
        if (wantId !== undefined && (msg as { id?: unknown } | null)?.id !== wantId) continue;
        return done(() => resolve(msg));
      }
    });
    // A reset or broken pipe is the appliance closing (or dying) before it answered: the same
    // case as a clean close, reported the same way whichever of the two the kernel delivers.
    sock.once('error', (e: NodeJS.ErrnoException) => done(() => reject(new AgentError('APPLIANCE_UNREACHABLE',
      e.code === 'ECONNRESET' || e.code === 'EPIPE' ? `appliance of VM ${vm} closed its control socket without answering (${e.code})` : `control socket of VM ${vm}: ${e.message}`))));
    sock.once('close', () => done(() => reject(new AgentError('APPLIANCE_UNREACHABLE', `appliance of VM ${vm} closed its control socket without answering`))));
    sock.write(line);
  });
}
