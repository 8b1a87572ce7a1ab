import { closeFd } from './fd.js';
import { AF_UNIX, OsError, SOCK_CLOEXEC, SOCK_NONBLOCK, SOCK_STREAM, check, loadLibc } from './libc.js';

const SUN_PATH_MAX = 108;
const EAGAIN = 11;
const ENOENT = 2;

/** struct sockaddr_un for a path. */
function sockaddrUn(path: string): Uint8Array {
  const bytes = new TextEncoder().encode(path);
  if (bytes.length === 0 || bytes.length >= SUN_PATH_MAX) {
    throw new RangeError(`unix socket path must be 1..${SUN_PATH_MAX - 1} bytes: ${path}`);
  }
  const addr = new Uint8Array(2 + SUN_PATH_MAX);
  new DataView(addr.buffer).setUint16(0, AF_UNIX, true);
  addr.set(bytes, 2);
  return addr;
}

function newSocket(type: number): number {
  return check('socket', loadLibc().socket(AF_UNIX, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0) as number);
}

/**
 * A non-blocking listening AF_UNIX socket at `path` (a stale socket file there is replaced); `type` SOCK_STREAM, or
 * SOCK_SEQPACKET for messages.
 */
export function listenUnix(path: string, backlog = 4, type = SOCK_STREAM): number {
  const addr = sockaddrUn(path);
  const libc = loadLibc();
  if (Number(libc.unlink(path)) === -1 && libc.koffi.errno() !== ENOENT)
    throw new OsError(`unlink ${path}`, libc.koffi.errno());
  const fd = newSocket(type);
  try {
    check(`bind ${path}`, libc.bind(fd, addr, addr.length) as number);
    check('listen', libc.listen(fd, backlog) as number);
  } catch (e) {
    closeFd(fd);
    throw e;
  }
  return fd;
}

/** Accepts a pending connection (non-blocking fd), or null if none is pending. */
export function tryAcceptUnix(listenFd: number): number | null {
  const libc = loadLibc();
  const fd = Number(libc.accept4(listenFd, null, null, SOCK_CLOEXEC | SOCK_NONBLOCK));
  if (fd !== -1) return fd;
  const errno = libc.koffi.errno();
  if (errno !== EAGAIN) throw new OsError('accept4', errno);
  return null;
}

/** Connects to `path` (non-blocking fd once connected); `type` SOCK_STREAM, or SOCK_SEQPACKET for messages. */
export function connectUnix(path: string, type = SOCK_STREAM): number {
  const addr = sockaddrUn(path);
  const libc = loadLibc();
  const fd = check('socket', libc.socket(AF_UNIX, type | SOCK_CLOEXEC, 0) as number);
  try {
    check(`connect ${path}`, libc.connect(fd, addr, addr.length) as number);
    // O_NONBLOCK after connecting: a unix connect completes at once or fails.
    check('fcntl', libc.fcntl(fd, 4 /* F_SETFL */, SOCK_NONBLOCK) as number);
  } catch (e) {
    closeFd(fd);
    throw e;
  }
  return fd;
}

export function unlinkPath(path: string): void {
  loadLibc().unlink(path);
}

/** The pid of the process at the other end of a connected unix socket (SO_PEERCRED), or null if unknown. */
export function peerPid(fd: number): number | null {
  const cred = new Uint8Array(12);
  const len = [12];
  if (Number(loadLibc().getsockopt(fd, 1 /* SOL_SOCKET */, 17 /* SO_PEERCRED */, cred, len)) === -1) return null;
  const pid = new DataView(cred.buffer).getInt32(0, true);
  return pid > 0 ? pid : null;
}

/** Sends one message on a non-blocking SOCK_SEQPACKET socket; false if its buffer is full (try again when writable). */
export function sendMessage(fd: number, bytes: Uint8Array): boolean {
  const libc = loadLibc();
  const r = Number(libc.write(fd, bytes, bytes.length));
  if (r >= 0) return true;
  if (libc.koffi.errno() === EAGAIN) return false;
  check('write', r);
  return false;
}

/** Ends the sending direction of a connected socket (the peer reads the end of the stream); reading goes on. */
export function shutdownWrite(fd: number): void {
  check('shutdown', loadLibc().shutdown(fd, 1 /* SHUT_WR */) as number);
}
