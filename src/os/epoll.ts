import { OwnedFd } from './fd.js';
import { check, loadLibc, OsError } from './libc.js';

export const EPOLLIN = 0x001;
export const EPOLLOUT = 0x004;
export const EPOLLERR = 0x008;
export const EPOLLHUP = 0x010;
export const EPOLLRDHUP = 0x2000;

const EPOLL_CLOEXEC = 0o2000000;
const EPOLL_CTL_ADD = 1;
const EPOLL_CTL_DEL = 2;
const EPOLL_CTL_MOD = 3;
const EINTR = 4;

/**
 * struct epoll_event: { uint32 events; uint64 data }. x86-64 packs it (12 bytes, data at 4); other 64-bit Linux
 * targets align data to 8 (16 bytes).
 */
const EVENT_SIZE = process.arch === 'x64' ? 12 : 16;
const DATA_AT = process.arch === 'x64' ? 4 : 8;

/** One readiness report: which registration (its 32-bit token) and what it is ready for. */
export interface ReadyEvent {
  token: number;
  events: number;
}

/**
 * An epoll instance. Each watched fd carries a caller-chosen 32-bit token (not the fd: a token names one
 * registration, so a report about an fd closed and reused meanwhile can be recognised and dropped).
 * add/modify/remove may be called while another thread waits (the kernel allows it).
 */
export class Epoll extends OwnedFd {
  readonly #ctl = Buffer.alloc(EVENT_SIZE);
  readonly #out: Buffer;
  readonly #ready: ReadyEvent[];

  private constructor(
    fd: number,
    readonly maxEvents: number,
  ) {
    super(fd);
    this.#out = Buffer.alloc(EVENT_SIZE * maxEvents);
    this.#ready = Array.from({ length: maxEvents }, () => ({ token: 0, events: 0 }));
  }

  static create(maxEvents = 64): Epoll {
    return new Epoll(check('epoll_create1', loadLibc().epoll_create1(EPOLL_CLOEXEC) as number), maxEvents);
  }

  add(fd: number, events: number, token: number): void {
    this.#control(EPOLL_CTL_ADD, fd, events, token);
  }

  modify(fd: number, events: number, token: number): void {
    this.#control(EPOLL_CTL_MOD, fd, events, token);
  }

  /** Stops watching `fd` (a closed fd has left every epoll set by itself: that is not an error). */
  remove(fd: number): void {
    const r = Number(loadLibc().epoll_ctl(this.fd, EPOLL_CTL_DEL, fd, this.#ctl));
    if (r === -1) {
      const errno = loadLibc().koffi.errno();
      if (errno !== 9 /* EBADF */ && errno !== 2 /* ENOENT */) throw new OsError('epoll_ctl DEL', errno);
    }
  }

  #control(op: number, fd: number, events: number, token: number): void {
    this.#ctl.writeUInt32LE(events >>> 0, 0);
    this.#ctl.writeUInt32LE(token >>> 0, DATA_AT);
    this.#ctl.writeUInt32LE(0, DATA_AT + 4);
    check(
      op === EPOLL_CTL_ADD ? `epoll_ctl ADD fd ${fd}` : `epoll_ctl MOD fd ${fd}`,
      loadLibc().epoll_ctl(this.fd, op, fd, this.#ctl) as number,
    );
  }

  /** Blocks this thread up to `timeoutMs` (-1: until something is ready); the ready events (reused array). */
  waitSync(timeoutMs: number): ReadyEvent[] {
    const n = Number(loadLibc().epoll_wait(this.fd, this.#out, this.maxEvents, timeoutMs));
    if (n === -1) {
      const errno = loadLibc().koffi.errno();
      if (errno === EINTR) return [];
      throw new OsError('epoll_wait', errno);
    }
    return this.#decode(n);
  }

  /**
   * Waits on one thread of libuv's pool (the caller's event loop stays free) and calls back with the ready events.
   * One wait at a time: the result array is reused.
   */
  waitAsync(timeoutMs: number, done: (err: Error | null, ready: ReadyEvent[]) => void): void {
    const libc = loadLibc();
    libc.epoll_wait.async(this.fd, this.#out, this.maxEvents, timeoutMs, (err: unknown, r: number) => {
      if (err) return done(err as Error, []);
      if (r === -1) {
        const errno = libc.koffi.errno();
        return done(errno === EINTR ? null : new OsError('epoll_wait', errno), []);
      }
      done(null, this.#decode(r));
    });
  }

  #decode(n: number): ReadyEvent[] {
    for (let i = 0; i < n; i++) {
      this.#ready[i].events = this.#out.readUInt32LE(i * EVENT_SIZE);
      this.#ready[i].token = this.#out.readUInt32LE(i * EVENT_SIZE + DATA_AT);
    }
    return this.#ready.slice(0, n);
  }
}
