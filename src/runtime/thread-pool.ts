import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { EventFd } from '../os/eventfd.js';
import { compiledWorkerUrl } from './worker-url.js';
import type { FromPoolThread, ToPoolThread } from './data-plane.js';
import type { FromLoopThread, ToLoopThread } from './loop-thread-worker.js';
import type { PoolThreadInput } from './pool-thread.js';

/** How many data-plane threads, where they run, and how they wait. */
export interface ThreadPoolOptions {
  /** Threads (default: the CPUs this process may use). */
  threads?: number;
  /** CPUs to pin the threads to, in turn (thread i on cpus[i % length]); empty: not pinned. */
  cpus?: readonly number[];
  /** Each thread spins this many microseconds for work before sleeping. */
  busyPollUs?: number;
  /** Where the pool logs (its size, pinning, failed units). */
  log?: (line: string) => void;
}

/** A unit running on the pool: which thread, and how it ends. */
export interface PooledUnit {
  readonly id: number;
  readonly thread: number;
  /** Resolves with what the unit returned when it finished (or a failure text if it could not run). */
  readonly done: Promise<{ result: unknown } | { failure: string }>;
  /** Wakes the unit's thread so it sees the unit's STOP flags (set them first). */
  wake(): void;
}

interface PoolThread {
  worker: Worker;
  wake: EventFd;
  /** Set with the wake-up eventfd: a busy thread reads this flag each round instead of the eventfd. */
  nudged: Int32Array;
  units: Set<number>;
  /** The thread died (a bug in a unit module, out of memory): its units were failed, it takes no more. */
  dead: boolean;
}

/** Tells a thread to look at its messages and re-arm its units: the flag for a busy thread, the eventfd for a sleeping one. */
function nudge(t: PoolThread): void {
  Atomics.store(t.nudged, 0, 1);
  t.wake.signal();
}

/**
 * The data plane: a fixed number of threads, each serving many units and sleeping in one poll over all their fds
 * plus a wake-up eventfd. Units go to the thread with the fewest when they start and leave when they stop. Nothing
 * wakes an idle thread but a kick, a backend fd or the pool.
 */
export class ThreadPool {
  readonly #threads: PoolThread[];
  readonly #waiting = new Map<number, (r: { result: unknown } | { failure: string }) => void>();
  readonly #log: (line: string) => void;
  #nextId = 1;
  /** The thread for units that need an event loop, made on first use. */
  #loopThread: Worker | null = null;
  /** Units on the event-loop thread, each with where its log lines go. */
  #loopUnits = new Map<number, (line: string) => void>();
  #nextRequest = 1;
  readonly #statsWaiting = new Map<number, (units: Record<number, Record<string, unknown>>) => void>();

  constructor(o: ThreadPoolOptions = {}) {
    const n = o.threads ?? availableParallelism();
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`thread count ${n}`);
    this.#log = o.log ?? (() => {});
    const cpus = o.cpus ?? [];
    this.#threads = Array.from({ length: n }, (_, index) => {
      const wake = EventFd.create();
      const nudged = new Int32Array(new SharedArrayBuffer(4));
      const data: PoolThreadInput = {
        index,
        wakeFd: wake.fd,
        nudged: nudged.buffer as SharedArrayBuffer,
        cpu: cpus.length > 0 ? cpus[index % cpus.length] : -1,
        busyPollUs: o.busyPollUs ?? 0,
      };
      const worker = new Worker(compiledWorkerUrl(import.meta.url, './pool-thread.js'), { workerData: data });
      const t: PoolThread = { worker, wake, nudged, units: new Set(), dead: false };
      worker.on('message', (m: FromPoolThread) => this.#onMessage(index, m));
      worker.on('error', (e) => this.#threadDied(index, String(e)));
      worker.on('exit', () => this.#threadDied(index, 'thread exited'));
      // Kept referenced: the process must not exit (and tear down a thread asleep in a system call) before close().
      return t;
    });
    this.#log(`data plane: ${n} thread(s)${cpus.length > 0 ? ` pinned to CPUs ${cpus.join(',')}` : ''}`);
    // A process that exits without close() (an uncaught error, process.exit) joins its threads, and a thread asleep
    // in epoll_wait cannot be terminated there: tell them all to quit and wake them, so the exit does not hang.
    process.once('exit', this.#wakeForExit);
  }

  get size(): number {
    return this.#threads.length;
  }

  /** Units per thread (for status). */
  get load(): number[] {
    return this.#threads.map((t) => t.units.size);
  }

  /** Starts a unit from `module` (a DataPlaneUnit module URL) on the least loaded thread. */
  start(module: URL, data: unknown): PooledUnit {
    const live = this.#threads.map((t, i) => ({ t, i })).filter(({ t }) => !t.dead);
    if (live.length === 0) throw new Error('every data-plane thread has died');
    const { t, i } = live.reduce((a, b) => (b.t.units.size < a.t.units.size ? b : a));
    const id = this.#nextId++;
    t.units.add(id);
    const done = new Promise<{ result: unknown } | { failure: string }>((resolve) => this.#waiting.set(id, resolve));
    const msg: ToPoolThread = { type: 'start', id, module: module.href, data };
    t.worker.postMessage(msg);
    nudge(t);
    return { id, thread: i, done, wake: () => !t.dead && nudge(t) };
  }

  #settle(thread: number, id: number, r: { result: unknown } | { failure: string }): void {
    this.#threads[thread].units.delete(id);
    const resolve = this.#waiting.get(id);
    this.#waiting.delete(id);
    resolve?.(r);
  }

  #onMessage(thread: number, m: FromPoolThread): void {
    if (m.type === 'log') this.#log(m.line);
    else if (m.type === 'pinned')
      this.#log(`data plane: thread ${thread} ${m.ok ? 'pinned to' : 'could not be pinned to'} CPU ${m.cpu}`);
    else if (m.type === 'stats') {
      this.#statsWaiting.get(m.request)?.(m.units);
      this.#statsWaiting.delete(m.request);
    } else if (m.type === 'done') this.#settle(thread, m.id, { result: m.result });
    else this.#settle(thread, m.id, { failure: m.failure });
  }

  #threadDied(thread: number, why: string): void {
    const t = this.#threads[thread];
    if (t.dead) return;
    t.dead = true;
    if (t.units.size > 0) this.#log(`data plane: thread ${thread} died (${why}); its ${t.units.size} unit(s) stop`);
    for (const id of [...t.units]) this.#settle(thread, id, { failure: `data-plane thread ${thread} died: ${why}` });
  }

  /**
   * Starts a unit that needs an event loop (an AsyncUnitModule: host sockets through node:net) on the pool's one
   * event-loop thread, which serves every such unit of the process; its thread number is the pool's size.
   */
  startOnLoopThread(module: URL, data: unknown, log: (line: string) => void = this.#log): PooledUnit {
    const t = (this.#loopThread ??= this.#newLoopThread());
    const id = this.#nextId++;
    this.#loopUnits.set(id, log);
    const done = new Promise<{ result: unknown } | { failure: string }>((resolve) => this.#waiting.set(id, resolve));
    const msg: ToLoopThread = { type: 'start', id, module: module.href, data };
    t.postMessage(msg);
    const stop: ToLoopThread = { type: 'stop', id };
    return { id, thread: this.#threads.length, done, wake: () => this.#loopUnits.has(id) && t.postMessage(stop) };
  }

  #newLoopThread(): Worker {
    const worker = new Worker(compiledWorkerUrl(import.meta.url, './loop-thread-worker.js'));
    const settle = (id: number, r: { result: unknown } | { failure: string }): void => {
      this.#loopUnits.delete(id);
      this.#waiting.get(id)?.(r);
      this.#waiting.delete(id);
    };
    worker.on('message', (m: FromLoopThread) => {
      if (m.type === 'log') (this.#loopUnits.get(m.id) ?? this.#log)(m.line);
      else if (m.type === 'done') settle(m.id, { result: m.result });
      else settle(m.id, { failure: m.failure });
    });
    const died = (why: string): void => {
      this.#loopThread = null;
      for (const id of [...this.#loopUnits.keys()]) settle(id, { failure: `the event-loop thread died: ${why}` });
    };
    worker.on('error', (e) => died(String(e)));
    worker.on('exit', () => died('it exited'));
    return worker;
  }

  /** Every running unit's counters, by unit id, asked of each thread (which answers between two rounds). */
  async stats(): Promise<Map<number, Record<string, unknown>>> {
    const live = this.#threads.filter((t) => !t.dead);
    const answers = await Promise.all(
      live.map(
        (t) =>
          new Promise<Record<number, Record<string, unknown>>>((resolve) => {
            const request = this.#nextRequest++;
            this.#statsWaiting.set(request, resolve);
            const msg: ToPoolThread = { type: 'stats', request };
            t.worker.postMessage(msg);
            nudge(t);
          }),
      ),
    );
    const all = new Map<number, Record<string, unknown>>();
    for (const a of answers) for (const [id, s] of Object.entries(a)) all.set(Number(id), s);
    return all;
  }

  /** On process exit without close(): every thread told to quit and woken, so that Node's join of it returns. */
  readonly #wakeForExit = (): void => {
    const quit: ToPoolThread = { type: 'quit' };
    for (const t of this.#threads) {
      if (t.dead) continue;
      t.worker.postMessage(quit);
      nudge(t);
    }
  };

  /** Stops every thread (their units finish first) and waits for them. */
  async close(): Promise<void> {
    process.off('exit', this.#wakeForExit);
    const loop = this.#loopThread;
    if (loop !== null) {
      const quit: ToLoopThread = { type: 'quit' };
      const exited = new Promise((r) => loop.once('exit', r));
      loop.postMessage(quit);
      await exited;
    }
    await Promise.all(
      this.#threads.map(async (t) => {
        if (t.dead) return;
        const msg: ToPoolThread = { type: 'quit' };
        t.worker.postMessage(msg);
        nudge(t);
        await new Promise((r) => t.worker.once('exit', r));
        t.wake.close();
      }),
    );
  }
}
