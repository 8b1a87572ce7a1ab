// One TCP connection that carries `bytes` random bytes each way; prints what went and came as SHA-256 digests.
// Usage: node tcp-exchange.mjs server|client HOST PORT BYTES   (the server prints "listening" when ready)
import { createHash, randomBytes } from 'node:crypto';
import { connect, createServer } from 'node:net';

const [role, host, port, bytes] = process.argv.slice(2);
const total = Number(bytes);

function exchange(socket) {
  const data = randomBytes(total);
  const received = createHash('sha256');
  let receivedBytes = 0;
  socket.on('data', (chunk) => {
    received.update(chunk);
    receivedBytes += chunk.length;
  });
  // Done when the peer has ended and all of ours is written (destroying earlier would cut our data short).
  let pending = 2;
  const done = () => {
    if (--pending > 0) return;
    const sent = createHash('sha256').update(data).digest('hex');
    process.stdout.write(
      `${JSON.stringify({ sent, sentBytes: total, received: received.digest('hex'), receivedBytes })}\n`,
    );
    socket.destroy();
    process.exit(0);
  };
  socket.on('end', done);
  socket.on('error', (e) => {
    process.stderr.write(`tcp-exchange ${role}: ${e.message}\n`);
    process.exit(1);
  });
  socket.end(data, done);
}

if (role === 'server') {
  const server = createServer((socket) => {
    server.close();
    exchange(socket);
  });
  server.listen(Number(port), host, () => process.stdout.write('listening\n'));
} else {
  const socket = connect(Number(port), host, () => exchange(socket));
  socket.on('error', (e) => {
    process.stderr.write(`tcp-exchange client: ${e.message}\n`);
    process.exit(1);
  });
}
