// A small client for the router's control socket (used by the host agent's netns driver, the
// tests and the benchmark): one request at a time per call, replies matched by order.
import net from 'node:net';
import type { AppliedMessage, ErrorMessage, ReportMessage, RouterReply, RouterSpec } from '@flotilla/protocol/router';

export class RouterControl {
  private buf = '';
  private readonly waiting: Array<(r: RouterReply) => void> = [];
  private constructor(private readonly sock: net.Socket) {
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      this.buf += d;
      let nl: number;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, nl); this.buf = this.buf.slice(nl + 1);
        this.waiting.shift()?.(JSON.parse(line) as RouterReply);
      }
    });
  }

  static connect(path: string): Promise<RouterControl> {
    return new Promise((resolve, reject) => {
      const s = net.connect(path, () => { s.off('error', reject); resolve(new RouterControl(s)); });
      s.once('error', reject);
    });
  }

  /** Sends one raw line (tests use it for malformed input) and waits for its reply. */
  request(line: string): Promise<RouterReply> {
    return new Promise((resolve, reject) => {
      if (this.sock.destroyed) { reject(new Error('control socket closed')); return; }
      this.waiting.push(resolve);
      this.sock.write(line.endsWith('\n') ? line : `${line}\n`);
    });
  }

  apply(spec: RouterSpec): Promise<AppliedMessage | ErrorMessage> {
    return this.request(JSON.stringify({ type: 'apply', spec })) as Promise<AppliedMessage | ErrorMessage>;
  }

  report(): Promise<ReportMessage> { return this.request(JSON.stringify({ type: 'report' })) as Promise<ReportMessage>; }

  close(): void { this.sock.end(); }
}
