import { OwnedFd } from './fd.js';
import { EFD_CLOEXEC, EFD_NONBLOCK, loadLibc, OsError, POLLIN } from './libc.js';

const EAGAIN = 11;

/**
 * An eventfd (non-blocking): vhost-user's kick and call notifications. signal() adds 1; take() reads and resets the
 * counter (0 if nothing was signalled); whenReadable() waits off the main thread.
 */
export class EventFd extends OwnedFd {
  readonly #word = new Uint8Array(8);

  /** A new non-blocking eventfd. */
  static create(): EventFd {
    const fd = Number(loadLibc().eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (fd === -1) throw new OsError('eventfd', loadLibc().koffi.errno());
    return new EventFd(fd);
  }

  /** Adds 1 to the counter: wakes whoever waits on it. */
  signal(): void {
    new DataView(this.#word.buffer).setBigUint64(0, 1n, true);
    const r = Number(loadLibc().write(this.fd, this.#word, 8));
    // EAGAIN: the counter is at its maximum; the reader will wake anyway.
    if (r === -1 && loadLibc().koffi.errno() !== EAGAIN) throw new OsError('eventfd write', loadLibc().koffi.errno());
  }

  /** The number of signals since the last take(), and resets it. */
  take(): number {
    const r = Number(loadLibc().read(this.fd, this.#word, 8));
    if (r === -1) {
      const errno = loadLibc().koffi.errno();
      if (errno === EAGAIN) return 0;
      throw new OsError('eventfd read', errno);
    }
    return Number(new DataView(this.#word.buffer).getBigUint64(0, true));
  }

  /** Resolves true when signalled, false after `timeoutMs` (poll(2) on libuv's thread pool; -1 waits forever). */
  whenReadable(timeoutMs: number): Promise<boolean> {
    return pollReadable(this.fd, timeoutMs);
  }
}

/** Waits for `fd` to be readable without blocking the event loop; true if it is, false on timeout. */
export async function pollReadable(fd: number, timeoutMs: number): Promise<boolean> {
  return (await pollAnyReadable([fd], timeoutMs)) > 0;
}

/** Waits for any of `fds` to be readable without blocking the event loop; how many are (0 on timeout). */
export function pollAnyReadable(fds: readonly number[], timeoutMs: number): Promise<number> {
  const libc = loadLibc();
  const pfd = fds.map((fd) => ({ fd, events: POLLIN, revents: 0 }));
  return new Promise((resolve, reject) => {
    libc.poll.async(pfd, pfd.length, timeoutMs, (err: unknown, r: number) => {
      if (err) reject(err);
      else if (r === -1) reject(new OsError('poll', libc.koffi.errno()));
      else resolve(r);
    });
  });
}

const eventWord = new Uint8Array(8);

/** Adds 1 to an eventfd owned elsewhere (a worker signalling the call fd of its queue). */
export function signalEventFd(fd: number): void {
  new DataView(eventWord.buffer).setBigUint64(0, 1n, true);
  loadLibc().write(fd, eventWord, 8);
}

/** Reads and resets an eventfd owned elsewhere; 0 if it was not signalled (or is not readable). */
export function drainEventFd(fd: number): number {
  const r = Number(loadLibc().read(fd, eventWord, 8));
  return r === 8 ? Number(new DataView(eventWord.buffer).getBigUint64(0, true)) : 0;
}

/** Blocks the calling thread (a worker) until `fd` is readable or `timeoutMs` passes; true if readable. */
export function waitReadableSync(fd: number, timeoutMs: number): boolean {
  const pfd = [{ fd, events: POLLIN, revents: 0 }];
  const r = Number(loadLibc().poll(pfd, 1, timeoutMs));
  return r > 0 && (pfd[0].revents & POLLIN) !== 0;
}

/** Blocks the calling thread until one of `fds` is readable or `timeoutMs` passes; returns how many are readable. */
export function waitAnyReadableSync(fds: readonly number[], timeoutMs: number): number {
  const pfd = fds.map((fd) => ({ fd, events: POLLIN, revents: 0 }));
  return Math.max(0, Number(loadLibc().poll(pfd, pfd.length, timeoutMs)));
}
