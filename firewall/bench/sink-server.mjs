// Accepts TCP connections and lets the client's RST end them. Usage: node sink-server.mjs <port>
import net from 'node:net';
const server = net.createServer((s) => { s.on('error', () => s.destroy()); });
server.listen({ port: Number(process.argv[2]), backlog: 4096 }, () => process.stdout.write('listening\n'));
