import { pollReadable } from '../../os/eventfd.js';
import { closeFd } from '../../os/fd.js';
import { recvWithFds, sendWithFds } from '../../os/fd-passing.js';
import { VHOST_USER_REPLY, VHOST_USER_VERSION } from '../../spec/vhost-user.js';
import { encodeMessage, type VhostUserMessage } from './messages.js';
import { MessageReader } from './reader.js';

/** How long one wait for bytes lasts before the connection checks whether it was closed. */
const POLL_SLICE_MS = 200;

/**
 * One vhost-user connection over a non-blocking AF_UNIX socket: messages in (with their fds), messages out. The
 * socket fd is owned here and closed by close(), with any fd of a message not received whole.
 */
export class VhostUserConnection {
  readonly #reader: MessageReader;
  #fd: number;

  /** `peerIsFrontend`: the messages we receive are requests from a front-end (we are the back-end). */
  constructor(fd: number, peerIsFrontend: boolean) {
    this.#fd = fd;
    this.#reader = new MessageReader(peerIsFrontend);
  }

  get closed(): boolean {
    return this.#fd < 0;
  }

  /**
   * The next message, or null once the peer has closed (or close() was called). A malformed header throws
   * VhostUserProtocolError; the caller then closes the connection.
   */
  async receive(): Promise<VhostUserMessage | null> {
    for (;;) {
      if (this.#fd < 0) return null;
      const got = recvWithFds(this.#fd, this.#reader.wanted());
      if (got === null) {
        await pollReadable(this.#fd, POLL_SLICE_MS);
        continue;
      }
      if (got.data.length === 0) {
        got.fds.forEach(closeFd);
        return null;
      }
      this.#reader.push(got.data, got.fds);
      const m = this.#reader.next();
      if (m !== null) return m;
    }
  }

  send(request: number, payload?: Uint8Array, fds: readonly number[] = [], flags = VHOST_USER_VERSION): void {
    if (this.#fd < 0) throw new Error('vhost-user connection is closed');
    sendWithFds(this.#fd, encodeMessage(request, flags, payload), fds);
  }

  reply(request: number, payload?: Uint8Array): void {
    this.send(request, payload, [], VHOST_USER_VERSION | VHOST_USER_REPLY);
  }

  close(): void {
    const fd = this.#fd;
    this.#fd = -1;
    this.#reader.takeAllFds().forEach(closeFd);
    closeFd(fd);
  }
}
