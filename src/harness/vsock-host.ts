import { createConnection, createServer, type Server, type Socket } from 'node:net';

// The host side of a vsock device's unix-socket bridge, as host programs use it (Firecracker's convention).

/** Reads a host socket to its end. */
export const readAll = (s: Socket): Promise<Buffer> =>
  new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    s.on('data', (c: Buffer) => parts.push(c));
    s.once('end', () => resolve(Buffer.concat(parts)));
    s.once('error', reject);
  });

/** Listens on `<uds>_<port>` as a host program does; each connection is handed to `onConn`. */
export function hostListen(uds: string, port: number, onConn: (s: Socket) => void): Promise<Server> {
  const server = createServer({ allowHalfOpen: true }, onConn);
  return new Promise((resolve) => server.listen(`${uds}_${port}`, () => resolve(server)));
}

/** A host program's connection to a guest port: CONNECT, OK, then the socket. */
export async function hostConnect(uds: string, port: number): Promise<{ socket: Socket; reply: string }> {
  const socket = createConnection({ path: uds, allowHalfOpen: true });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  socket.write(`CONNECT ${port}\n`);
  const reply = await new Promise<string>((resolve) => {
    let line = '';
    const onData = (c: Buffer): void => {
      line += c.toString('latin1');
      const end = line.indexOf('\n');
      if (end < 0) return;
      socket.off('data', onData);
      socket.pause();
      if (end + 1 < line.length) socket.unshift(Buffer.from(line.slice(end + 1), 'latin1'));
      resolve(line.slice(0, end));
    };
    socket.on('data', onData);
    // Refused: the daemon closes the socket without a reply.
    socket.once('end', () => resolve(line));
  });
  return { socket, reply };
}
