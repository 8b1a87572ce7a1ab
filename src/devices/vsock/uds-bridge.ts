import { unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { VIRTIO_VSOCK_SHUTDOWN_SEND, VIRTIO_VSOCK_TYPE_SEQPACKET } from '../../spec/vsock.js';
import type { VsockConnection, VsockEndpoint } from './endpoint.js';
import { SeqpacketLink } from './seqpacket-link.js';

/** Bytes a host socket may have waiting for the guest's credit before we stop reading it. */
const HIGH_WATER = 1 << 20;
/** The longest first line a host program may send ("CONNECT <port>\n"). */
const MAX_LINE = 64;

/**
 * The host side of a vsock device, as Firecracker and vhost-device-vsock do it: a host program connects to the unix
 * socket `udsPath`, writes `CONNECT <port>\n` and gets `OK <host port>\n`, then streams to the guest's port; a guest
 * connecting to host port P is bridged to the unix socket `<udsPath>_<P>` (refused with RST if nobody listens there):
 * a stream socket for a stream connection, a SOCK_SEQPACKET socket for a seqpacket one (message for message).
 */
export class UdsBridge {
  #server: Server | null = null;
  /** Host sockets paused because the guest has not taken their data yet. */
  readonly #paused = new Map<Socket, VsockConnection>();
  readonly #sockets = new Set<Socket>();
  readonly #links = new Set<SeqpacketLink>();

  constructor(
    readonly endpoint: VsockEndpoint,
    readonly udsPath: string,
    readonly log: (line: string) => void,
  ) {
    endpoint.listenAny((conn) => this.#fromGuest(conn));
  }

  /** Listens on udsPath (replacing a stale socket file). */
  start(): Promise<void> {
    try {
      unlinkSync(this.udsPath);
    } catch {
      // none there
    }
    // Half-open: a host program that ends its side still gets what the guest sends.
    const server = createServer({ allowHalfOpen: true }, (socket) => this.#fromHost(socket));
    this.#server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.udsPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
  }

  /** After the device moved packets: host sockets whose data the guest took are read again. */
  afterRound(): void {
    for (const link of this.#links) link.afterRound();
    for (const [socket, conn] of this.#paused) {
      if (conn.outBytes < HIGH_WATER / 2) {
        this.#paused.delete(socket);
        socket.resume();
      }
    }
  }

  close(): void {
    this.#server?.close();
    for (const s of this.#sockets) s.destroy();
    try {
      unlinkSync(this.udsPath);
    } catch {
      // already gone
    }
  }

  /** A guest connects to host port P: connect to `<udsPath>_<P>`, accept once that works. */
  #fromGuest(conn: VsockConnection): void {
    const path = `${this.udsPath}_${conn.localPort}`;
    if (conn.type === VIRTIO_VSOCK_TYPE_SEQPACKET) {
      const link = SeqpacketLink.open(conn, path, this.log);
      if (link === null) return;
      this.#links.add(link);
      link.onClose = () => this.#links.delete(link);
      return;
    }
    const socket = createConnection({ path, allowHalfOpen: true });
    this.#sockets.add(socket);
    socket.once('connect', () => {
      socket.off('error', refuse);
      conn.accept();
      this.#join(conn, socket);
    });
    const refuse = (e: Error): void => {
      this.log(`guest port ${conn.peerPort} -> host port ${conn.localPort}: refused (${path}: ${e.message})`);
      this.#sockets.delete(socket);
      conn.reset();
    };
    socket.once('error', refuse);
  }

  /** A host program connects to udsPath: read its CONNECT line, then open the connection to the guest. */
  #fromHost(socket: Socket): void {
    this.#sockets.add(socket);
    let line = Buffer.alloc(0);
    const onLine = (chunk: Buffer): void => {
      line = Buffer.concat([line, chunk]);
      const end = line.indexOf(10);
      if (end < 0) {
        if (line.length > MAX_LINE) this.#refuseHost(socket, 'no CONNECT line');
        return;
      }
      socket.off('data', onLine);
      socket.pause();
      const m = /^CONNECT (\d{1,10})$/.exec(line.subarray(0, end).toString('latin1').trim());
      const port = m === null ? NaN : Number(m[1]);
      if (!(port <= 0xffff_ffff))
        return this.#refuseHost(socket, `bad line ${JSON.stringify(line.subarray(0, end).toString('latin1'))}`);
      const rest = line.subarray(end + 1);
      const conn = this.endpoint.connect(port);
      conn.onConnected = () => {
        socket.write(`OK ${conn.localPort}\n`);
        this.#join(conn, socket);
        if (rest.length > 0) conn.write(rest);
      };
      conn.onClose = () => socket.destroy();
    };
    socket.on('data', onLine);
    socket.on('error', () => socket.destroy());
  }

  #refuseHost(socket: Socket, why: string): void {
    this.log(`host connection refused: ${why}`);
    socket.destroy();
    this.#sockets.delete(socket);
  }

  /** Bytes both ways between an established connection and a host socket; ends and resets carried across. */
  #join(conn: VsockConnection, socket: Socket): void {
    conn.onData = (bytes) => {
      // The credit goes back once the kernel has the bytes: a host reader that stops reading stops the guest.
      if (socket.writable) socket.write(bytes, () => conn.consumed(bytes.length));
      else conn.consumed(bytes.length);
    };
    conn.onEnd = () => socket.end();
    conn.onClose = (reason) => {
      this.#paused.delete(socket);
      this.#sockets.delete(socket);
      if (reason === 'closed') socket.end();
      else socket.destroy();
    };
    socket.on('data', (chunk: Buffer) => {
      if (conn.state === 'closed') return;
      conn.write(chunk);
      if (conn.outBytes > HIGH_WATER) {
        socket.pause();
        this.#paused.set(socket, conn);
      }
    });
    socket.on('end', () => {
      if (conn.state !== 'closed') conn.shutdown(VIRTIO_VSOCK_SHUTDOWN_SEND);
    });
    socket.on('close', () => {
      this.#sockets.delete(socket);
      if (conn.state !== 'closed') conn.shutdown();
    });
    socket.on('error', () => conn.reset());
    socket.resume();
  }
}
