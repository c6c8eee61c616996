// UDP server for kernel tests: answers every datagram with the sender address it sees. (socat's
// UDP-RECVFROM,fork lets a lingering child steal the next datagram, which made tests flaky.)
import dgram from 'node:dgram';
const sock = dgram.createSocket(process.argv[3] === '6' ? 'udp6' : 'udp4');
sock.on('message', (_msg, rinfo) => sock.send(`${rinfo.address}\n`, rinfo.port, rinfo.address));
sock.bind(Number(process.argv[2]));
