import { readdirSync, readlinkSync } from 'node:fs';
import { check, loadLibc, OsError } from './libc.js';

/** Closes a file descriptor (EINTR on close on Linux means it is closed anyway). */
export function closeFd(fd: number): void {
  if (fd < 0) return;
  const r = Number(loadLibc().close(fd));
  if (r === -1) {
    const errno = loadLibc().koffi.errno();
    if (errno !== 4 /* EINTR */) throw new OsError('close', errno);
  }
}

/**
 * Reads one message from a non-blocking message fd (a SOCK_SEQPACKET socket, a TAP device) into `buf`: its length (0
 * at the end of the stream; a message longer than `buf` is cut to it), or null if none is waiting. Other errors throw
 * an OsError named `what`.
 */
export function readMessage(fd: number, buf: Uint8Array, what = 'read'): number | null {
  const libc = loadLibc();
  const r = Number(libc.read(fd, buf, buf.length));
  if (r >= 0) return r;
  if (libc.koffi.errno() === 11 /* EAGAIN */) return null;
  return check(what, r);
}

/** A new descriptor (close-on-exec) for what `fd` refers to. */
export function dupFd(fd: number): number {
  return check('fcntl F_DUPFD_CLOEXEC', loadLibc().fcntl(fd, 1030 /* F_DUPFD_CLOEXEC */, 0) as number);
}

/** Whether `fd` is an open descriptor of this process. */
export function isOpenFd(fd: number): boolean {
  return Number(loadLibc().fcntl(fd, 1 /* F_GETFD */, 0)) !== -1;
}

/** An owned file descriptor: close() releases it once; using it after close is a programming error. */
export class OwnedFd {
  #fd: number;

  constructor(fd: number) {
    this.#fd = fd;
  }

  get fd(): number {
    if (this.#fd < 0) throw new Error('file descriptor used after close');
    return this.#fd;
  }

  get closed(): boolean {
    return this.#fd < 0;
  }

  /** Closes the fd (once; later calls do nothing). */
  close(): void {
    const fd = this.#fd;
    this.#fd = -1;
    closeFd(fd);
  }
}

/**
 * The eventfds, memfds and sockets a process holds (`pid`, or 'self'), each fd with what it refers to: what a peer can
 * make a daemon hold. Plain files are left out (a thread loading a module opens them for a moment).
 */
export function heldKernelObjects(pid: number | 'self'): { fd: number; target: string }[] {
  return readdirSync(`/proc/${pid}/fd`).flatMap((fd) => {
    try {
      const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      return /eventfd|memfd:|socket:/.test(target) ? [{ fd: Number(fd), target }] : [];
    } catch {
      // Closed since the directory was read.
      return [];
    }
  });
}
