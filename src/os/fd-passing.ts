import { closeFd } from './fd.js';
import {
  AF_UNIX,
  MSG_CMSG_CLOEXEC,
  MSG_CTRUNC,
  MSG_DONTWAIT,
  MSG_NOSIGNAL,
  OsError,
  SCM_RIGHTS,
  SOCK_CLOEXEC,
  SOCK_STREAM,
  SOL_SOCKET,
  check,
  loadLibc,
} from './libc.js';

const EAGAIN = 11;

/** struct cmsghdr on 64-bit Linux: size_t cmsg_len, int cmsg_level, int cmsg_type, then data aligned to 8. */
const CMSG_HDR = 16;
const cmsgSpace = (dataBytes: number): number => CMSG_HDR + Math.ceil(dataBytes / 8) * 8;

/** vhost-user sends at most this many fds with one message (VHOST_MEMORY_BASELINE_NREGIONS is 8). */
export const MAX_FDS_PER_MESSAGE = 16;

export interface Received {
  /** Bytes read (0: the peer closed the connection). */
  data: Uint8Array;
  /** Descriptors that came with them, now owned by the caller. */
  fds: number[];
}

/** A connected AF_UNIX stream pair (for tests and in-process peers). */
export function socketPair(): [number, number] {
  const sv = [0, 0];
  check('socketpair', loadLibc().socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) as number);
  return [sv[0], sv[1]];
}

/** Sends `data` with `fds` as SCM_RIGHTS ancillary data; returns the bytes sent (EAGAIN throws, as any error). */
export function sendWithFds(sock: number, data: Uint8Array, fds: readonly number[] = []): number {
  const n = trySendWithFds(sock, data, fds);
  if (n === null) throw new OsError('sendmsg', EAGAIN);
  return n;
}

/**
 * Sends what the socket takes of `data` without blocking, `fds` travelling with its first byte: the bytes sent
 * (perhaps fewer than asked), or null if the socket buffer is full (EAGAIN: nothing was sent, fds included).
 */
export function trySendWithFds(sock: number, data: Uint8Array, fds: readonly number[] = []): number | null {
  if (fds.length > MAX_FDS_PER_MESSAGE) throw new RangeError(`${fds.length} fds in one message`);
  const libc = loadLibc();
  let control: Buffer | null = null;
  if (fds.length > 0) {
    control = Buffer.alloc(cmsgSpace(4 * fds.length));
    control.writeBigUInt64LE(BigInt(CMSG_HDR + 4 * fds.length), 0);
    control.writeInt32LE(SOL_SOCKET, 8);
    control.writeInt32LE(SCM_RIGHTS, 12);
    fds.forEach((fd, i) => control!.writeInt32LE(fd, CMSG_HDR + 4 * i));
  }
  const msg = {
    msg_name: null,
    msg_namelen: 0,
    msg_iov: [{ iov_base: data, iov_len: data.length }],
    msg_iovlen: 1,
    msg_control: control,
    msg_controllen: control?.length ?? 0,
    msg_flags: 0,
  };
  const n = Number(libc.sendmsg(sock, msg, MSG_DONTWAIT | MSG_NOSIGNAL));
  if (n === -1) {
    const errno = libc.koffi.errno();
    if (errno === EAGAIN) return null;
    throw new OsError('sendmsg', errno);
  }
  return n;
}

/**
 * Receives up to `maxBytes` and any fds sent with them, without blocking (EAGAIN gives null). Descriptors beyond
 * `maxFds` are closed by the kernel and reported as an OsError-like truncation: the caller treats the message as bad.
 */
export function recvWithFds(sock: number, maxBytes: number, maxFds = MAX_FDS_PER_MESSAGE): Received | null {
  const libc = loadLibc();
  const data = Buffer.alloc(maxBytes);
  const control = Buffer.alloc(cmsgSpace(4 * maxFds));
  const msg = {
    msg_name: null,
    msg_namelen: 0,
    msg_iov: [{ iov_base: data, iov_len: maxBytes }],
    msg_iovlen: 1,
    msg_control: control,
    msg_controllen: control.length,
    msg_flags: 0,
  };
  const n = Number(libc.recvmsg(sock, msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC));
  if (n === -1) {
    const errno = libc.koffi.errno();
    if (errno === EAGAIN) return null;
    throw new OsError('recvmsg', errno);
  }
  const fds = parseRights(control, Number(msg.msg_controllen));
  if ((msg.msg_flags & MSG_CTRUNC) !== 0) {
    fds.forEach(closeFd);
    throw new FdOverflowError(maxFds);
  }
  return { data: new Uint8Array(data.buffer, data.byteOffset, n), fds };
}

/** More descriptors arrived than the receiver allows: they were closed and the message must be refused. */
export class FdOverflowError extends Error {
  override readonly name = 'FdOverflowError';
  constructor(readonly maxFds: number) {
    super(`more than ${maxFds} file descriptors with one message`);
  }
}

/** The fds of every SCM_RIGHTS control message in `control[0, length)`. */
function parseRights(control: Buffer, length: number): number[] {
  const fds: number[] = [];
  let at = 0;
  while (at + CMSG_HDR <= length) {
    const len = Number(control.readBigUInt64LE(at));
    if (len < CMSG_HDR || at + len > length) break;
    if (control.readInt32LE(at + 8) === SOL_SOCKET && control.readInt32LE(at + 12) === SCM_RIGHTS) {
      for (let o = at + CMSG_HDR; o + 4 <= at + len; o += 4) fds.push(control.readInt32LE(o));
    }
    at += cmsgSpace(len - CMSG_HDR);
  }
  return fds;
}
