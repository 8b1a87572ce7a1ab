import { closeFd } from '../../os/fd.js';
import { connectUnix, listenUnix, peerPid, unlinkPath } from '../../os/unix-socket.js';
import { acceptConnection } from '../../runtime/accept.js';
import type { SessionChild } from '../../runtime/session-child.js';
import { ThreadPool } from '../../runtime/thread-pool.js';
import { VhostUserConnection } from './connection.js';
import type { ServedDevice } from './served-device.js';
import { BackendSession, type PortStatus } from './session.js';

/** What one vhost-user port serves, and where. */
export interface BackendOptions {
  /** The unix socket to listen on (or connect to, with `client`). */
  socketPath: string;
  /** Connect to a front-end that listens (DPDK virtio-user server=1) instead of listening. */
  client?: boolean;
  /** The device model served, with what it offers and how its queues map to workers. */
  device: ServedDevice;
  /**
   * The data-plane threads the queues run on, shared by every port of a daemon. Without one the back-end starts
   * its own (a thread per CPU) and stops it when serve() returns.
   */
  pool?: ThreadPool;
  /**
   * Serve each connection from a child process instead (the daemon's --isolation process): given the accepted fd,
   * starts the child that serves it and takes the fd.
   */
  isolate?: (fd: number) => SessionChild;
  /** Where the port's log lines go. */
  log?: (line: string) => void;
}

export { BACKEND_PROTOCOL_FEATURES, MAX_MEM_SLOTS, type PortStatus } from './session.js';

/**
 * A vhost-user back-end serving the test device: one connection at a time on its socket; each started queue's data
 * path runs in its own worker thread. A bad message gets an error reply (REPLY_ACK) or a logged disconnect, never a
 * crash; when the front-end goes away every fd and mapping is released and the next connection is accepted.
 */
export class VhostUserBackend {
  #stopped = false;
  /** Aborted by close(): ends a wait for a connection (or a reconnect back-off). */
  readonly #stopping = new AbortController();
  #listenFd = -1;
  #session: BackendSession | null = null;
  /** With isolation: the child serving the current connection. */
  #child: { child: SessionChild; frontendPid: number | null } | null = null;
  #pool: ThreadPool | null = null;
  /** Sessions served so far (for tests and logs). */
  sessions = 0;

  constructor(readonly options: BackendOptions) {}

  /** Serves connections until close(). */
  async serve(): Promise<void> {
    try {
      await this.#serve(this.options.log ?? (() => {}));
    } finally {
      await this.#closeOwnPool();
    }
  }

  /**
   * Serves one connection already accepted (what a session child does with the fd it was given) and returns when
   * it ends.
   */
  async serveConnection(fd: number): Promise<void> {
    try {
      await this.#runSession(fd, this.options.log ?? (() => {}));
    } finally {
      await this.#closeOwnPool();
    }
  }

  /** The given pool, or one of our own made when a session first needs it. */
  #dataPlane(log: (line: string) => void): ThreadPool {
    if (this.options.pool !== undefined) return this.options.pool;
    this.#pool ??= new ThreadPool({ log });
    return this.#pool;
  }

  async #closeOwnPool(): Promise<void> {
    const pool = this.#pool;
    this.#pool = null;
    await pool?.close();
  }

  async #runSession(fd: number, log: (line: string) => void): Promise<void> {
    this.sessions++;
    const pid = peerPid(fd);
    log(`front-end connected (session ${this.sessions}${pid === null ? '' : `, pid ${pid}`})`);
    this.#session = new BackendSession(
      new VhostUserConnection(fd, true),
      this.options.device,
      this.#dataPlane(log),
      log,
      pid,
    );
    try {
      await this.#session.run();
    } catch (e) {
      // A bug of ours must not take the daemon down with the session.
      log(`session ${this.sessions} ended on an internal error: ${(e as Error).stack ?? String(e)}`);
    }
    this.#session = null;
    log(`front-end gone (session ${this.sessions}): all queues stopped, fds and mappings released`);
  }

  /** Serves a connection from a child process and waits for it to end, however it ends. */
  async #runIsolated(fd: number, log: (line: string) => void): Promise<void> {
    this.sessions++;
    const frontendPid = peerPid(fd);
    const child = this.options.isolate!(fd);
    this.#child = { child, frontendPid };
    const who = frontendPid === null ? '' : `, pid ${frontendPid}`;
    log(`front-end connected (session ${this.sessions}${who}): served by child pid ${child.pid}`);
    const how = await child.ended;
    this.#child = null;
    log(`front-end gone (session ${this.sessions}): child pid ${child.pid} ${how}`);
  }

  /** Binds the socket now (a path that cannot be bound throws OsError here); serve() then accepts on it. */
  listen(): void {
    const o = this.options;
    if (o.client || this.#listenFd >= 0) return;
    this.#listenFd = listenUnix(o.socketPath);
    o.log?.(`listening on ${o.socketPath}`);
  }

  async #serve(log: (line: string) => void): Promise<void> {
    const o = this.options;
    this.listen();
    while (!this.#stopped) {
      let fd: number | null;
      try {
        fd = o.client ? await this.#connectRetry() : await acceptConnection(this.#listenFd, this.#stopping.signal);
      } catch (e) {
        // Out of descriptors, say: back off a little and accept again rather than stop serving.
        log(`accept failed: ${(e as Error).message}`);
        await this.#backOff();
        continue;
      }
      if (fd === null) break;
      if (o.isolate !== undefined) await this.#runIsolated(fd, log);
      else await this.#runSession(fd, log);
      if (o.client) await this.#backOff();
    }
  }

  /** A pause before trying again after a failure (not a poll: nothing is waited for but the time). */
  #backOff(): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, 200);
      const signal = this.#stopping.signal;
      function done(): void {
        clearTimeout(t);
        signal.removeEventListener('abort', done);
        resolve();
      }
      signal.addEventListener('abort', done, { once: true });
    });
  }

  async #connectRetry(): Promise<number | null> {
    while (!this.#stopped) {
      try {
        return connectUnix(this.options.socketPath);
      } catch {
        await this.#backOff();
      }
    }
    return null;
  }

  /** What this port serves now; `counters` are the pool's unit counters by unit id (ThreadPool.stats). */
  status(counters: ReadonlyMap<number, Record<string, unknown>>): PortStatus {
    const o = this.options;
    const base = { socket: o.socketPath, device: o.device.kind, client: o.client === true, sessions: this.sessions };
    const c = this.#child;
    if (c !== null) {
      const child = { frontendPid: c.frontendPid, childPid: c.child.pid, negotiated: null, features: null };
      return { ...base, connected: true, ...child, queues: [], units: [] };
    }
    const s = this.#session;
    if (s === null)
      return {
        ...base,
        connected: false,
        frontendPid: null,
        childPid: null,
        negotiated: null,
        features: null,
        queues: [],
        units: [],
      };
    return { ...base, connected: true, childPid: null, ...s.status(counters) };
  }

  /** Stops serving: the connection (if any) and the socket close, serve() returns. */
  async close(): Promise<void> {
    this.#stopped = true;
    this.#stopping.abort();
    await this.#session?.end();
    const c = this.#child;
    if (c !== null) {
      c.child.stop();
      await c.child.ended;
    }
    if (this.#listenFd >= 0) {
      closeFd(this.#listenFd);
      this.#listenFd = -1;
      unlinkPath(this.options.socketPath);
    }
  }
}
