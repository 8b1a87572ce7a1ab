import { EPOLLERR, EPOLLHUP, EPOLLIN, EPOLLOUT } from '../../os/epoll.js';
import { closeFd, dupFd } from '../../os/fd.js';
import { recvWithFds, trySendWithFds } from '../../os/fd-passing.js';
import { OsError } from '../../os/libc.js';
import { ReadinessLoop, type Watch } from '../../runtime/readiness-loop.js';
import { VHOST_USER_REPLY, VHOST_USER_VERSION } from '../../spec/vhost-user.js';
import { encodeMessage, type VhostUserMessage } from './messages.js';
import { MessageReader } from './reader.js';

/** Messages read ahead of the handler before the connection stops reading (the peer then waits in its send). */
const INBOX_HIGH_WATER = 64;
/** Reply bytes queued for a peer that does not read them before the connection stops reading its requests. */
const OUTBOX_HIGH_WATER = 256 * 1024;

interface Outgoing {
  data: Uint8Array;
  /** Our own duplicates of the fds still to go with data's first byte (closed once sent). */
  fds: number[];
}

type Inbound = VhostUserMessage | Error | null;

/**
 * One vhost-user connection over a non-blocking AF_UNIX socket, driven by the process's readiness loop: messages in
 * (with their fds) as they arrive, messages out with back-pressure (a partial send or a full socket buffer keeps the
 * rest queued until the socket is writable; neither is an error). A peer that floods requests or stops reading
 * replies is throttled by no longer reading it, which stalls only this connection. The socket fd is owned here and
 * closed by close(), with any fd of a message not received whole or not sent yet.
 */
export class VhostUserConnection {
  readonly #reader: MessageReader;
  readonly #watch: Watch;
  readonly #inbox: Inbound[] = [];
  readonly #waiters: { resolve: (m: VhostUserMessage | null) => void; reject: (e: Error) => void }[] = [];
  readonly #outbox: Outgoing[] = [];
  #outBytes = 0;
  #fd: number;
  /** No more will be read: the peer closed, a read failed, or the stream could not be parsed. */
  #ended = false;
  /** A queued send failed (the peer is gone); later sends throw it. */
  #sendError: Error | null = null;
  #interest = 0;

  /** `peerIsFrontend`: the messages we receive are requests from a front-end (we are the back-end). */
  constructor(fd: number, peerIsFrontend: boolean, loop: ReadinessLoop = ReadinessLoop.shared()) {
    this.#fd = fd;
    this.#reader = new MessageReader(peerIsFrontend);
    this.#interest = EPOLLIN;
    this.#watch = loop.watch(fd, EPOLLIN, (events) => this.#onReady(events));
  }

  get closed(): boolean {
    return this.#fd < 0;
  }

  /** Reply bytes waiting for the socket to take them. */
  get queuedBytes(): number {
    return this.#outBytes;
  }

  /**
   * The next message, or null once the peer has closed (or close() was called). A malformed header rejects with
   * VhostUserProtocolError (nothing more is read after it); the caller then closes the connection.
   */
  receive(): Promise<VhostUserMessage | null> {
    if (this.#inbox.length > 0) {
      const m = this.#inbox.shift()!;
      this.#updateInterest();
      return m instanceof Error ? Promise.reject(m) : Promise.resolve(m);
    }
    if (this.#fd < 0 || this.#ended) return Promise.resolve(null);
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  /**
   * Queues a message; it goes out now if the socket takes it, else when it becomes writable. Throws OsError if the
   * peer is known to be gone, and Error if the connection was closed here.
   */
  send(request: number, payload?: Uint8Array, fds: readonly number[] = [], flags = VHOST_USER_VERSION): void {
    if (this.#fd < 0) throw new Error('vhost-user connection is closed');
    if (this.#sendError !== null) throw this.#sendError;
    const data = encodeMessage(request, flags, payload);
    if (this.#outbox.length === 0) {
      const n = trySendWithFds(this.#fd, data, fds);
      if (n === data.length) return;
      // fds travel with the first byte: sent if anything was.
      this.#queue({ data: n === null ? data : data.subarray(n), fds: n === null ? fds.map(dupFd) : [] });
      return;
    }
    // The caller may close its fds once send returns: the queue keeps duplicates until they are sent.
    this.#queue({ data, fds: fds.map(dupFd) });
  }

  /** Queues a reply to `request` (the REPLY flag set); written as the socket takes it. */
  reply(request: number, payload?: Uint8Array): void {
    this.send(request, payload, [], VHOST_USER_VERSION | VHOST_USER_REPLY);
  }

  /** Closes the socket and every fd still queued or received; pending receives resolve with null. */
  close(): void {
    const fd = this.#fd;
    if (fd < 0) return;
    this.#fd = -1;
    this.#watch.close();
    this.#reader.takeAllFds().forEach(closeFd);
    for (const m of this.#inbox) if (m !== null && !(m instanceof Error)) m.fds.forEach(closeFd);
    this.#inbox.length = 0;
    for (const o of this.#outbox) o.fds.forEach(closeFd);
    this.#outbox.length = 0;
    this.#outBytes = 0;
    closeFd(fd);
    for (const w of this.#waiters.splice(0)) w.resolve(null);
  }

  #queue(o: Outgoing): void {
    this.#outbox.push(o);
    this.#outBytes += o.data.length;
    this.#updateInterest();
  }

  #onReady(events: number): void {
    if (this.#fd < 0) return;
    if ((events & EPOLLOUT) !== 0) this.#flush();
    if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) !== 0 && !this.#ended) this.#read();
    this.#updateInterest();
  }

  /** Reads whole messages while the socket has bytes and the inbox has room. */
  #read(): void {
    while (this.#fd >= 0 && !this.#ended && this.#inbox.length < INBOX_HIGH_WATER) {
      let got;
      try {
        got = recvWithFds(this.#fd, this.#reader.wanted());
      } catch (e) {
        // Too many fds (the message is refused) or a failed read: either way nothing more is read.
        return this.#end(e as Error);
      }
      if (got === null) return;
      if (got.data.length === 0) {
        got.fds.forEach(closeFd);
        return this.#end(null);
      }
      try {
        this.#reader.push(got.data, got.fds);
      } catch (e) {
        return this.#end(e as Error);
      }
      const m = this.#reader.next();
      if (m !== null) this.#deliver(m);
    }
  }

  #end(reason: Error | null): void {
    this.#ended = true;
    // A failed read of a vanished peer is its going away; a bad message is the caller's to report.
    if (reason !== null && !(reason instanceof OsError)) this.#deliver(reason);
    this.#deliver(null);
  }

  #deliver(m: Inbound): void {
    const w = this.#waiters.shift();
    if (w === undefined) {
      // One end marker is enough.
      if (m !== null || this.#inbox.at(-1) !== null) this.#inbox.push(m);
      return;
    }
    if (m instanceof Error) w.reject(m);
    else w.resolve(m);
  }

  /** Sends queued bytes until the socket is full or the queue empty. */
  #flush(): void {
    while (this.#outbox.length > 0 && this.#fd >= 0) {
      const o = this.#outbox[0];
      let n: number | null;
      try {
        n = trySendWithFds(this.#fd, o.data, o.fds);
      } catch (e) {
        this.#sendError = e as Error;
        for (const q of this.#outbox) q.fds.forEach(closeFd);
        this.#outbox.length = 0;
        this.#outBytes = 0;
        if (!this.#ended) this.#end(null);
        return;
      }
      if (n === null) return;
      o.fds.forEach(closeFd);
      o.fds = [];
      this.#outBytes -= n;
      if (n === o.data.length) this.#outbox.shift();
      else o.data = o.data.subarray(n);
    }
  }

  /** Read while there is room to hold what is read and the peer takes its replies; write while bytes wait. */
  #updateInterest(): void {
    if (this.#fd < 0) return;
    let want = 0;
    if (!this.#ended && this.#inbox.length < INBOX_HIGH_WATER && this.#outBytes < OUTBOX_HIGH_WATER) want |= EPOLLIN;
    if (this.#outbox.length > 0) want |= EPOLLOUT;
    if (want === this.#interest) return;
    this.#interest = want;
    this.#watch.set(want);
  }
}
