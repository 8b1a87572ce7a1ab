import { Epoll, EPOLLIN } from '../os/epoll.js';
import { EventFd } from '../os/eventfd.js';

/** What a watcher hears: the epoll events its fd is ready for (EPOLLIN, EPOLLOUT, EPOLLHUP, EPOLLERR). */
export type ReadyHandler = (events: number) => void;

/** One fd being watched; set() changes the interest, close() stops watching (the fd itself stays open). */
export interface Watch {
  readonly fd: number;
  /** Changes the events watched for (EPOLLIN, EPOLLOUT). */
  set(interest: number): void;
  /** Stops watching. */
  close(): void;
}

/** The wake-up eventfd's token; registrations count from 1. */
const WAKE_TOKEN = 0;

/**
 * One readiness loop for every socket of the process: a single epoll set, waited on by a single call on libuv's pool
 * (never one parked pool thread per socket), whose handlers run on the main thread as events arrive. Level-triggered:
 * a handler reads what it wants and hears again while more is there. Nothing polls on a timer; with nothing watched
 * no wait is outstanding, so the loop keeps no process alive by itself.
 */
export class ReadinessLoop {
  static #shared: ReadinessLoop | null = null;

  /** The process's loop (made on first use). */
  static shared(): ReadinessLoop {
    ReadinessLoop.#shared ??= new ReadinessLoop();
    return ReadinessLoop.#shared;
  }

  readonly #epoll = Epoll.create(256);
  readonly #wake = EventFd.create();
  readonly #watches = new Map<number, { fd: number; onReady: ReadyHandler }>();
  #nextToken = 1;
  #waiting = false;
  /** Set by quiesce(): no new wait is started. */
  #quiescing = false;
  #idle: (() => void)[] = [];
  /** Handler exceptions (bugs: a handler owns its errors) are reported here rather than lost or thrown into libuv. */
  onHandlerError: (e: unknown) => void = (e) => console.error('vqkit readiness loop: handler failed:', e);

  private constructor() {
    this.#epoll.add(this.#wake.fd, EPOLLIN, WAKE_TOKEN);
  }

  /** How many fds are watched (for status and tests). */
  get size(): number {
    return this.#watches.size;
  }

  /** Watches `fd` for `interest` (EPOLLIN and/or EPOLLOUT; errors and hang-ups are always reported). */
  watch(fd: number, interest: number, onReady: ReadyHandler): Watch {
    const token = this.#token();
    this.#epoll.add(fd, interest, token);
    this.#watches.set(token, { fd, onReady });
    this.#arm();
    let open = true;
    // With no interest the fd leaves the set: epoll reports hang-ups whatever the interest, level-triggered, and a
    // watcher that is not reading (throttled) would hear the same one again and again.
    let inSet = true;
    return {
      fd,
      set: (events: number) => {
        if (!open) return;
        if (events === 0) {
          if (inSet) this.#epoll.remove(fd);
          inSet = false;
        } else if (inSet) {
          this.#epoll.modify(fd, events, token);
        } else {
          this.#epoll.add(fd, events, token);
          inSet = true;
        }
      },
      close: () => {
        if (!open) return;
        open = false;
        this.#watches.delete(token);
        if (inSet) this.#epoll.remove(fd);
        // An outstanding wait with nothing left to watch would hold the process open: end it.
        if (this.#watches.size === 0 && this.#waiting) this.#wake.signal();
      },
    };
  }

  /** Resolves true once one of `fds` is readable (or hung up), false if `signal` aborts first. */
  readable(fds: number | readonly number[], signal?: AbortSignal): Promise<boolean> {
    if (signal?.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = (ready: boolean): void => {
        watches.forEach((w) => w.close());
        signal?.removeEventListener('abort', aborted);
        resolve(ready);
      };
      const aborted = (): void => done(false);
      const watches = (typeof fds === 'number' ? [fds] : fds).map((fd) => this.watch(fd, EPOLLIN, () => done(true)));
      signal?.addEventListener('abort', aborted, { once: true });
    });
  }

  #token(): number {
    for (;;) {
      const t = this.#nextToken;
      this.#nextToken = t >= 0xffff_ffff ? 1 : t + 1;
      if (!this.#watches.has(t)) return t;
    }
  }

  /**
   * Ends the outstanding wait (if any) and starts no other: resolves once no call is left on libuv's pool. A thread
   * must not exit with one outstanding, or its completion would land in a torn-down environment (a fatal error).
   */
  quiesce(): Promise<void> {
    this.#quiescing = true;
    if (!this.#waiting) return Promise.resolve();
    this.#wake.signal();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  #arm(): void {
    if (this.#quiescing) {
      this.#idle.splice(0).forEach((resolve) => resolve());
      return;
    }
    if (this.#waiting || this.#watches.size === 0) return;
    this.#waiting = true;
    this.#epoll.waitAsync(-1, (err, ready) => {
      this.#waiting = false;
      if (err !== null) this.onHandlerError(err);
      for (const { token, events } of ready) {
        if (token === WAKE_TOKEN) {
          this.#wake.take();
          continue;
        }
        // A watch closed since the kernel reported it (its fd perhaps reused): the report is stale.
        const w = this.#watches.get(token);
        if (w === undefined) continue;
        try {
          w.onReady(events);
        } catch (e) {
          this.onHandlerError(e);
        }
      }
      this.#arm();
    });
  }
}
