// Accepts TCP connections and lets the client's RST end them. Usage: node sink-server.mjs <port>[,<port>…]
import net from 'node:net';
for (const port of process.argv[2].split(',').map(Number)) {
  const server = net.createServer((s) => { s.on('error', () => s.destroy()); });
  server.listen({ port, backlog: 4096 });
}
