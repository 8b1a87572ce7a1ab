import { EPOLLERR, EPOLLHUP, EPOLLIN, EPOLLOUT } from '../../os/epoll.js';
import { closeFd, readMessage } from '../../os/fd.js';
import { SOCK_SEQPACKET } from '../../os/libc.js';
import { connectUnix, sendMessage, shutdownWrite } from '../../os/unix-socket.js';
import { ReadinessLoop, type Watch } from '../../runtime/readiness-loop.js';
import { VIRTIO_VSOCK_SHUTDOWN_SEND } from '../../spec/vsock.js';
import type { VsockConnection } from './endpoint.js';

/** The longest message taken from a host program; a longer one resets the connection (it cannot reach the guest whole). */
export const MAX_HOST_MESSAGE = 256 * 1024;
/** Bytes a host socket may have waiting for the guest's credit before we stop reading it. */
const HIGH_WATER = 1 << 20;

/**
 * A guest's seqpacket connection to host port P, joined to the SOCK_SEQPACKET unix socket `<udsPath>_P`: each message
 * the guest sends (up to EOM) is one message on the socket, and each message the host program sends is one message to
 * the guest (EOM on its last packet). Credit goes back to the guest as the socket takes its messages.
 */
export class SeqpacketLink {
  readonly #watch: Watch;
  /** The message being received from the guest, in pieces. */
  #parts: Uint8Array[] = [];
  #partBytes = 0;
  /** Messages for the host program that its socket had no room for yet. */
  readonly #toHost: Uint8Array[] = [];
  readonly #buf = new Uint8Array(MAX_HOST_MESSAGE + 1);
  /** The guest sends no more: the socket's sending side ends once its messages are written. */
  #guestEnded = false;
  /** The host program sends no more. */
  #hostEnded = false;
  #hostWriteEnded = false;
  #closed = false;

  /** Connects to `path` and accepts `conn`; null (the connection reset) if nobody listens there. */
  static open(conn: VsockConnection, path: string, log: (line: string) => void): SeqpacketLink | null {
    let fd: number;
    try {
      fd = connectUnix(path, SOCK_SEQPACKET);
    } catch (e) {
      log(
        `guest port ${conn.peerPort} -> host port ${conn.localPort} (seqpacket): refused (${path}: ${(e as Error).message})`,
      );
      conn.reset();
      return null;
    }
    conn.accept();
    return new SeqpacketLink(conn, fd, log);
  }

  private constructor(
    readonly conn: VsockConnection,
    readonly fd: number,
    readonly log: (line: string) => void,
  ) {
    this.#watch = ReadinessLoop.shared().watch(fd, EPOLLIN, (events) => this.#ready(events));
    conn.onData = (bytes) => {
      this.#parts.push(bytes);
      this.#partBytes += bytes.length;
    };
    conn.onMessageEnd = () => {
      const message = this.#parts.length === 1 ? this.#parts[0] : Buffer.concat(this.#parts);
      const n = this.#partBytes;
      this.#parts = [];
      this.#partBytes = 0;
      this.#toHost.push(message);
      this.#flushToHost();
      // The credit of a message goes back once the socket has it (or at once if it is gone).
      if (this.#closed) conn.consumed(n);
    };
    conn.onEnd = () => {
      this.#guestEnded = true;
      this.#flushToHost();
    };
    conn.onClose = () => {
      this.#close();
      this.onClose();
    };
  }

  /** Called once the connection has ended (and the socket is closed). */
  onClose: () => void = () => {};

  /** After the device moved packets: a socket paused for the guest's credit is read again once that drains. */
  afterRound(): void {
    if (!this.#closed && this.conn.outBytes < HIGH_WATER / 2) this.#interest();
  }

  #ready(events: number): void {
    if (this.#closed) return;
    if (events & EPOLLOUT) this.#flushToHost();
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) this.#fromHost();
    this.#interest();
  }

  #fromHost(): void {
    const conn = this.conn;
    while (!this.#closed && !this.#hostEnded && conn.state === 'established' && conn.outBytes <= HIGH_WATER) {
      let n: number | null;
      try {
        n = readMessage(this.fd, this.#buf);
      } catch {
        return this.#fail('read failed');
      }
      if (n === null) return;
      if (n === 0) {
        // The host program closed: nothing more to send (a message of 0 bytes cannot be told from this).
        this.#hostEnded = true;
        conn.shutdown(VIRTIO_VSOCK_SHUTDOWN_SEND);
        return;
      }
      if (n > MAX_HOST_MESSAGE) return this.#fail(`a message of more than ${MAX_HOST_MESSAGE} bytes`);
      conn.writeMessage(this.#buf.slice(0, n));
    }
  }

  #flushToHost(): void {
    while (!this.#closed && this.#toHost.length > 0) {
      const message = this.#toHost[0];
      let sent: boolean;
      try {
        sent = sendMessage(this.fd, message);
      } catch {
        return this.#fail('the host program is gone');
      }
      if (!sent) break;
      this.#toHost.shift();
      this.conn.consumed(message.length);
    }
    if (this.#guestEnded && this.#toHost.length === 0 && !this.#closed && !this.#hostWriteEnded) {
      this.#hostWriteEnded = true;
      try {
        shutdownWrite(this.fd);
      } catch {
        // the host program is gone already: its side is closed
      }
    }
    this.#interest();
  }

  #interest(): void {
    if (this.#closed) return;
    const reading = !this.#hostEnded && this.conn.state === 'established' && this.conn.outBytes <= HIGH_WATER;
    this.#watch.set((reading ? EPOLLIN : 0) | (this.#toHost.length > 0 ? EPOLLOUT : 0));
  }

  #fail(why: string): void {
    this.log(`guest port ${this.conn.peerPort} -> host port ${this.conn.localPort} (seqpacket): ${why}`);
    this.conn.reset();
    this.#close();
  }

  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#watch.close();
    closeFd(this.fd);
  }
}
