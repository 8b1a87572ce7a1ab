import { VHOST_USER_HEADER_SIZE } from '../../spec/vhost-user.js';
import { checkHeader, type VhostUserMessage } from './messages.js';

/**
 * Assembles vhost-user messages from a stream socket. The caller reads at most wanted() bytes at a time - the rest of
 * the header, then the rest of the payload - so a read never crosses into the next message, and the file
 * descriptors a read brings (SCM_RIGHTS travel with the first byte of the sender's message, and the kernel would
 * hand them to a read that merely reaches it) always belong to the message being read. DPDK and QEMU read the same
 * way.
 */
export class MessageReader {
  readonly #header = new Uint8Array(VHOST_USER_HEADER_SIZE);
  #headerBytes = 0;
  #request = 0;
  #flags = 0;
  #payload: Uint8Array | null = null;
  #payloadBytes = 0;
  #fds: number[] = [];
  #ready: VhostUserMessage | null = null;

  constructor(readonly fromFrontend: boolean) {}

  /** How many bytes the next read may take without crossing a message boundary. */
  wanted(): number {
    if (this.#ready !== null) return 0;
    if (this.#payload === null) return VHOST_USER_HEADER_SIZE - this.#headerBytes;
    return this.#payload.length - this.#payloadBytes;
  }

  /**
   * Takes bytes (no more than wanted()) and the fds that came with them. A bad header throws
   * VhostUserProtocolError: the stream cannot be resynchronised after one, so the caller drops the connection and
   * closes takeAllFds().
   */
  push(data: Uint8Array, fds: readonly number[] = []): void {
    if (data.length > this.wanted()) throw new RangeError(`${data.length} bytes pushed, ${this.wanted()} wanted`);
    this.#fds.push(...fds);
    if (this.#payload === null) {
      this.#header.set(data, this.#headerBytes);
      this.#headerBytes += data.length;
      if (this.#headerBytes < VHOST_USER_HEADER_SIZE) return;
      const v = new DataView(this.#header.buffer);
      this.#request = v.getUint32(0, true);
      this.#flags = v.getUint32(4, true);
      const size = v.getUint32(8, true);
      checkHeader(this.#request, this.#flags, size, this.fromFrontend);
      this.#payload = new Uint8Array(size);
      this.#payloadBytes = 0;
    } else {
      this.#payload.set(data, this.#payloadBytes);
      this.#payloadBytes += data.length;
    }
    if (this.#payloadBytes === this.#payload.length) {
      this.#ready = { request: this.#request, flags: this.#flags, payload: this.#payload, fds: this.#fds };
      this.#headerBytes = 0;
      this.#payload = null;
      this.#fds = [];
    }
  }

  /** The message completed by the last push, once; null if it is not complete yet. */
  next(): VhostUserMessage | null {
    const m = this.#ready;
    this.#ready = null;
    return m;
  }

  /** The fds of a message not completed yet (for closing when the connection goes away). */
  takeAllFds(): number[] {
    const fds = this.#fds;
    this.#fds = [];
    return fds;
  }
}
