import { tryAcceptUnix } from '../os/unix-socket.js';
import { ReadinessLoop } from './readiness-loop.js';

/**
 * The next connection on a listening socket, waiting on the readiness loop (no pool thread is held); null if
 * `signal` aborts first. accept4's own errors (EMFILE, say) are thrown for the caller to log and back off.
 */
export async function acceptConnection(listenFd: number, signal?: AbortSignal): Promise<number | null> {
  for (;;) {
    if (signal?.aborted) return null;
    const fd = tryAcceptUnix(listenFd);
    if (fd !== null) return fd;
    if (!(await ReadinessLoop.shared().readable(listenFd, signal))) return null;
  }
}
