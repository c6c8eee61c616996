// DHCPv4 wire format (RFC 2131 §2, options RFC 2132). Pure: bytes ⇄ objects, no I/O.
export const BOOTREQUEST = 1;
export const BOOTREPLY = 2;
const MAGIC = 0x63825363;
const FIXED = 236; // header up to (not including) the magic cookie

export enum MsgType { DISCOVER = 1, OFFER = 2, REQUEST = 3, DECLINE = 4, ACK = 5, NAK = 6, RELEASE = 7, INFORM = 8 }

export enum Opt {
  PAD = 0, SUBNET_MASK = 1, ROUTER = 3, DNS = 6, HOSTNAME = 12, DOMAIN = 15, BROADCAST = 28,
  REQUESTED_IP = 50, LEASE_TIME = 51, OVERLOAD = 52, MSG_TYPE = 53, SERVER_ID = 54, PARAM_LIST = 55,
  MESSAGE = 56, MAX_SIZE = 57, RENEWAL_T1 = 58, REBINDING_T2 = 59, CLIENT_ID = 61, END = 255,
}

export interface DhcpPacket {
  op: number; htype: number; hlen: number; hops: number; xid: number; secs: number; flags: number;
  ciaddr: string; yiaddr: string; siaddr: string; giaddr: string;
  /** Hardware address, lower-case colon form ("52:54:00:12:34:56") for Ethernet. */
  chaddr: string;
  /** Option code → raw value (first occurrence; RFC 3396 concatenation of repeats applied). */
  options: Map<number, Buffer>;
}

export class DhcpParseError extends Error {}

export const ipToInt = (ip: string): number => {
  const p = ip.split('.');
  return ((+p[0]! << 24) | (+p[1]! << 16) | (+p[2]! << 8) | +p[3]!) >>> 0;
};
export const intToIp = (n: number): string => `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
const readIp = (b: Buffer, o: number) => `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;

export function parse(buf: Buffer): DhcpPacket {
  if (buf.length < FIXED + 4) throw new DhcpParseError(`short packet (${buf.length} bytes)`);
  if (buf.readUInt32BE(FIXED) !== MAGIC) throw new DhcpParseError('bad magic cookie');
  const hlen = buf[2]!;
  if (hlen > 16) throw new DhcpParseError(`hlen ${hlen} > 16`);
  const hw: string[] = [];
  for (let i = 0; i < hlen; i++) hw.push(buf[28 + i]!.toString(16).padStart(2, '0'));
  const options = new Map<number, Buffer>();
  let o = FIXED + 4;
  while (o < buf.length) {
    const code = buf[o]!;
    if (code === Opt.PAD) { o++; continue; }
    if (code === Opt.END) break;
    if (o + 1 >= buf.length) throw new DhcpParseError(`option ${code} truncated`);
    const len = buf[o + 1]!;
    if (o + 2 + len > buf.length) throw new DhcpParseError(`option ${code} overruns packet`);
    const val = buf.subarray(o + 2, o + 2 + len);
    const prev = options.get(code);
    options.set(code, prev ? Buffer.concat([prev, val]) : val);
    o += 2 + len;
  }
  return {
    op: buf[0]!, htype: buf[1]!, hlen, hops: buf[3]!, xid: buf.readUInt32BE(4), secs: buf.readUInt16BE(8),
    flags: buf.readUInt16BE(10), ciaddr: readIp(buf, 12), yiaddr: readIp(buf, 16), siaddr: readIp(buf, 20),
    giaddr: readIp(buf, 24), chaddr: hw.join(':'), options,
  };
}

export function msgType(p: DhcpPacket): MsgType | undefined {
  const v = p.options.get(Opt.MSG_TYPE);
  return v && v.length === 1 ? (v[0] as MsgType) : undefined;
}
export function optIp(p: DhcpPacket, code: Opt): string | undefined {
  const v = p.options.get(code);
  return v && v.length === 4 ? readIp(v, 0) : undefined;
}
export function optString(p: DhcpPacket, code: Opt): string | undefined {
  const v = p.options.get(code);
  return v ? v.toString('latin1').replace(/\0+$/, '') : undefined;
}

export interface ReplyOptions {
  /** Option code → value, written in insertion order; 53 and 54 must be present. */
  options: Array<[number, Buffer]>;
}

/** Encodes a reply to `req`; options longer than 255 bytes are split (RFC 3396). */
export function encodeReply(req: DhcpPacket, f: { yiaddr: string; siaddr: string; ciaddr?: string }, opts: Array<[number, Buffer]>): Buffer {
  let optLen = 1;
  for (const [, v] of opts) optLen += Math.ceil(Math.max(v.length, 1) / 255) * 2 + v.length;
  const size = Math.max(FIXED + 4 + optLen, 300); // 300: BOOTP minimum, some clients drop less
  const b = Buffer.alloc(size);
  b[0] = BOOTREPLY; b[1] = req.htype; b[2] = req.hlen; b[3] = 0;
  b.writeUInt32BE(req.xid, 4);
  b.writeUInt16BE(0, 8);
  b.writeUInt16BE(req.flags, 10);
  b.writeUInt32BE(ipToInt(f.ciaddr ?? '0.0.0.0'), 12);
  b.writeUInt32BE(ipToInt(f.yiaddr), 16);
  b.writeUInt32BE(ipToInt(f.siaddr), 20);
  b.writeUInt32BE(ipToInt(req.giaddr), 24);
  const hw = req.chaddr.split(':');
  for (let i = 0; i < hw.length && i < 16; i++) b[28 + i] = parseInt(hw[i]!, 16);
  b.writeUInt32BE(MAGIC, FIXED);
  let o = FIXED + 4;
  for (const [code, v] of opts) {
    if (v.length === 0) { b[o++] = code; b[o++] = 0; continue; }
    for (let s = 0; s < v.length; s += 255) {
      const chunk = v.subarray(s, s + 255);
      b[o++] = code; b[o++] = chunk.length; chunk.copy(b, o); o += chunk.length;
    }
  }
  b[o] = Opt.END;
  return b;
}

export const ipBuf = (...ips: string[]): Buffer => {
  const b = Buffer.alloc(4 * ips.length);
  ips.forEach((ip, i) => b.writeUInt32BE(ipToInt(ip), 4 * i));
  return b;
};
export const u32Buf = (n: number): Buffer => { const b = Buffer.alloc(4); b.writeUInt32BE(n >>> 0); return b; };

/** Builds a client request (tests, benchmarks): the inverse of what the server parses. */
export function encodeRequest(f: { xid: number; chaddr: string; type: MsgType; ciaddr?: string; giaddr?: string; flags?: number; options?: Array<[number, Buffer]> }): Buffer {
  const fake: DhcpPacket = { op: BOOTREQUEST, htype: 1, hlen: 6, hops: 0, xid: f.xid, secs: 0, flags: f.flags ?? 0, ciaddr: f.ciaddr ?? '0.0.0.0', yiaddr: '0.0.0.0', siaddr: '0.0.0.0', giaddr: f.giaddr ?? '0.0.0.0', chaddr: f.chaddr, options: new Map() };
  const b = encodeReply(fake, { yiaddr: '0.0.0.0', siaddr: '0.0.0.0', ciaddr: f.ciaddr ?? '0.0.0.0' }, [[Opt.MSG_TYPE, Buffer.from([f.type])], ...(f.options ?? [])]);
  b[0] = BOOTREQUEST;
  return b;
}
