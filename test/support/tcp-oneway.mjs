// One TCP connection, one way: `sink` reads everything and prints its SHA-256 and length; `source` sends BYTES random
// bytes and prints their SHA-256 and length. Usage: node tcp-oneway.mjs sink|source HOST PORT [BYTES]
// Prints "listening" when ready, then one JSON line when the connection is done.
import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:net';

const [role, host, port, bytes] = process.argv.slice(2);
const server = createServer((socket) => {
  server.close();
  const hash = createHash('sha256');
  let length = 0;
  const done = () => {
    process.stdout.write(`${JSON.stringify({ sha256: hash.digest('hex'), bytes: length })}\n`);
    process.exit(0);
  };
  socket.on('error', (e) => {
    process.stderr.write(`tcp-oneway ${role}: ${e.message}\n`);
    process.exit(1);
  });
  if (role === 'sink') {
    socket.on('data', (c) => {
      hash.update(c);
      length += c.length;
    });
    socket.on('end', done);
  } else {
    const data = randomBytes(Number(bytes));
    hash.update(data);
    length = data.length;
    socket.end(data, done);
  }
});
server.listen(Number(port), host, () => process.stdout.write('listening\n'));
