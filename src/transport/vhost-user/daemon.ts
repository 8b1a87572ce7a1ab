import { readFileSync } from 'node:fs';
import { ControlServer } from '../../runtime/control-server.js';
import { spawnSessionChild } from '../../runtime/session-child.js';
import { ThreadPool, type ThreadPoolOptions } from '../../runtime/thread-pool.js';
import { VhostUserBackend, type PortStatus } from './backend.js';
import type { ServedDevice } from './served-device.js';

/** One port of a daemon: a socket and the device served on it. */
export interface DaemonPort {
  socketPath: string;
  /** Connect to a front-end that listens instead of listening. */
  client?: boolean;
  device: ServedDevice;
  /** Where the port's log lines go (negotiation, queues, errors). */
  log: (line: string) => void;
}

/**
 * thread: every front-end is served in this process, its queues on the shared data-plane threads. process: each
 * front-end is served by a child process of its own (`sessionArgv` starts the same daemon for one connection), so
 * a fault it provokes (SIGBUS on memory it truncated) ends only that child.
 */
export type Isolation = 'thread' | 'process';

/** What a daemon serves and how. */
export interface DaemonOptions {
  /** The sockets, each with its device. */
  ports: readonly DaemonPort[];
  /** The data-plane threads shared by every port. */
  pool: ThreadPoolOptions;
  /** Whether a front-end is served in this process (thread) or a child of its own (process). */
  isolation: Isolation;
  /** With process isolation: the arguments (after node) of the child that serves a connection of port `port` as fd 3. */
  sessionArgv?: (port: number) => string[];
  /** The control socket `vq status` asks (null: none). */
  controlPath: string | null;
  /** Where the daemon's own log lines go. */
  log: (line: string) => void;
}

/** What `vq status` prints. */
export interface DaemonStatus {
  pid: number;
  isolation: Isolation;
  /** Data-plane threads, and how many units each runs. */
  threads: number;
  unitsPerThread: number[];
  /** Threads of the whole process (from /proc), pool and Node's own. */
  processThreads: number;
  rssBytes: number;
  ports: PortStatus[];
}

/** The default control socket: beside the first port's socket. */
export const defaultControlPath = (firstSocket: string): string => `${firstSocket}.ctl`;

/**
 * A vhost-user daemon: many ports (one front-end each at a time) served by one process, its control plane on the
 * readiness loop, its queues on one fixed pool of data-plane threads, and a control socket that answers `status`.
 */
export class VhostUserDaemon {
  /** @internal The data plane (none in the parent under process isolation: the children have their own). */
  readonly pool: ThreadPool | null;
  readonly backends: VhostUserBackend[];
  #control: ControlServer | null = null;

  constructor(readonly options: DaemonOptions) {
    const isolated = options.isolation === 'process';
    if (isolated && options.sessionArgv === undefined) throw new Error('process isolation needs sessionArgv');
    this.pool = isolated ? null : new ThreadPool({ ...options.pool, log: options.log });
    this.backends = options.ports.map(
      (p, i) =>
        new VhostUserBackend({
          socketPath: p.socketPath,
          client: p.client,
          device: p.device,
          pool: this.pool ?? undefined,
          isolate: isolated ? (fd) => spawnSessionChild(fd, options.sessionArgv!(i)) : undefined,
          log: p.log,
        }),
    );
    if (isolated) options.log('isolation: each front-end is served by a child process of its own');
  }

  /** Serves every port until close(), then stops the data plane. */
  async serve(): Promise<void> {
    try {
      // Every port's socket first: one that cannot be bound stops the daemon before it serves anything.
      this.backends.forEach((b) => b.listen());
      if (this.options.controlPath !== null) {
        this.#control = await ControlServer.listen(this.options.controlPath, (request) => this.#answer(request));
        this.options.log(
          `control socket ${this.options.controlPath} (vq status --control ${this.options.controlPath})`,
        );
      }
      await Promise.all(this.backends.map((b) => b.serve()));
    } finally {
      await this.close();
      await this.#control?.close();
      await this.pool?.close();
    }
  }

  /** Stops serving: every port closes its connection and socket; serve() then returns. */
  async close(): Promise<void> {
    await Promise.all(this.backends.map((b) => b.close()));
  }

  /** What the daemon serves now, with the queues' counters collected from their threads. */
  async status(): Promise<DaemonStatus> {
    const counters = (await this.pool?.stats()) ?? new Map<number, Record<string, unknown>>();
    return {
      pid: process.pid,
      isolation: this.options.isolation,
      threads: this.pool?.size ?? 0,
      unitsPerThread: this.pool?.load ?? [],
      processThreads: processThreads(),
      rssBytes: process.memoryUsage.rss(),
      ports: this.backends.map((b) => b.status(counters)),
    };
  }

  #answer(request: string): Promise<unknown> {
    if (request === 'status') return this.status();
    return Promise.reject(new Error(`unknown request '${request.slice(0, 40)}' (this daemon answers: status)`));
  }
}

/** The process's thread count, from /proc/self/status (0 where there is none). */
function processThreads(): number {
  try {
    const m = /^Threads:\s+(\d+)/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return m === null ? 0 : Number(m[1]);
  } catch {
    return 0;
  }
}
