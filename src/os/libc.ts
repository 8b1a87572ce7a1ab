import { createRequire } from 'node:module';
import { constants } from 'node:os';

type Koffi = typeof import('koffi');
/** A libc function as koffi binds it: synchronous, or `.async(...args, callback)` on libuv's thread pool. */
export type Fn = ((...args: unknown[]) => unknown) & {
  async: (...args: unknown[]) => void;
};

/** A failed system call: which call, errno and its name, e.g. "memfd_create: EMFILE (24)". */
export class OsError extends Error {
  override readonly name = 'OsError';
  constructor(
    readonly call: string,
    readonly errno: number,
  ) {
    super(`${call}: ${errnoName(errno)} (${errno})`);
  }
}

export function errnoName(errno: number): string {
  for (const [name, value] of Object.entries(constants.errno)) if (value === errno) return name;
  return 'errno';
}

/**
 * The few libc calls Node lacks, bound through koffi on first use (Linux x86-64 and arm64; types as glibc declares
 * them). Each is the raw call: callers check the result and raise OsError with errno.
 */
export interface Libc {
  koffi: Koffi;
  memfd_create: Fn;
  ftruncate: Fn;
  mmap: Fn;
  munmap: Fn;
  close: Fn;
  eventfd: Fn;
  read: Fn;
  write: Fn;
  socketpair: Fn;
  sendmsg: Fn;
  recvmsg: Fn;
  poll: Fn;
  fcntl: Fn;
  socket: Fn;
  bind: Fn;
  listen: Fn;
  accept4: Fn;
  connect: Fn;
  shutdown: Fn;
  unlink: Fn;
  open: Fn;
  ioctl: Fn;
  epoll_create1: Fn;
  epoll_ctl: Fn;
  epoll_wait: Fn;
  fstat: Fn;
  getsockopt: Fn;
  setsockopt: Fn;
  pthread_sigmask: Fn;
}

let libc: Libc | null = null;
let typesRegistered = false;

/** koffi keeps struct names process-wide: register them once, even if a later binding fails. */
function registerTypes(koffi: Koffi): void {
  if (typesRegistered) return;
  typesRegistered = true;
  koffi.struct('vq_iovec', { iov_base: 'void *', iov_len: 'size_t' });
  koffi.struct('vq_msghdr', {
    msg_name: 'void *',
    msg_namelen: 'uint32_t',
    msg_iov: 'vq_iovec *',
    msg_iovlen: 'size_t',
    msg_control: 'void *',
    msg_controllen: 'size_t',
    msg_flags: 'int',
  });
  koffi.struct('vq_pollfd', { fd: 'int', events: 'short', revents: 'short' });
}

export function loadLibc(): Libc {
  if (libc !== null) return libc;
  if (process.platform !== 'linux') throw new Error('vqkit/os: Linux only (memfd, eventfd, SCM_RIGHTS)');
  const koffi = createRequire(import.meta.url)('koffi') as Koffi;
  const lib = koffi.load('libc.so.6');
  registerTypes(koffi);
  const f = (decl: string): Fn => lib.func(decl) as unknown as Fn;
  libc = {
    koffi,
    memfd_create: f('int memfd_create(const char *name, unsigned int flags)'),
    ftruncate: f('int ftruncate(int fd, int64_t length)'),
    mmap: f('void *mmap(void *addr, size_t length, int prot, int flags, int fd, int64_t offset)'),
    munmap: f('int munmap(void *addr, size_t length)'),
    close: f('int close(int fd)'),
    eventfd: f('int eventfd(unsigned int initval, int flags)'),
    read: f('intptr_t read(int fd, _Out_ uint8_t *buf, size_t count)'),
    write: f('intptr_t write(int fd, const uint8_t *buf, size_t count)'),
    socketpair: f('int socketpair(int domain, int type, int protocol, _Out_ int *sv)'),
    sendmsg: f('intptr_t sendmsg(int fd, const vq_msghdr *msg, int flags)'),
    recvmsg: f('intptr_t recvmsg(int fd, _Inout_ vq_msghdr *msg, int flags)'),
    poll: f('int poll(_Inout_ vq_pollfd *fds, unsigned long nfds, int timeout)'),
    fcntl: f('int fcntl(int fd, int cmd, int arg)'),
    socket: f('int socket(int domain, int type, int protocol)'),
    bind: f('int bind(int fd, const uint8_t *addr, uint32_t len)'),
    listen: f('int listen(int fd, int backlog)'),
    accept4: f('int accept4(int fd, void *addr, void *len, int flags)'),
    connect: f('int connect(int fd, const uint8_t *addr, uint32_t len)'),
    shutdown: f('int shutdown(int fd, int how)'),
    unlink: f('int unlink(const char *path)'),
    open: f('int open(const char *path, int flags, int mode)'),
    ioctl: f('int ioctl(int fd, unsigned long request, _Inout_ uint8_t *arg)'),
    epoll_create1: f('int epoll_create1(int flags)'),
    epoll_ctl: f('int epoll_ctl(int epfd, int op, int fd, const uint8_t *event)'),
    // The event array is raw memory the kernel fills; `void *` hands koffi's async call the buffer's own bytes.
    epoll_wait: f('int epoll_wait(int epfd, void *events, int maxevents, int timeout)'),
    fstat: f('int fstat(int fd, _Out_ uint8_t *statbuf)'),
    pthread_sigmask: f('int pthread_sigmask(int how, const uint8_t *set, _Out_ uint8_t *old)'),
    getsockopt: f('int getsockopt(int fd, int level, int name, _Out_ uint8_t *value, _Inout_ uint32_t *len)'),
    setsockopt: f('int setsockopt(int fd, int level, int name, const uint8_t *value, uint32_t len)'),
  };
  return libc;
}

/** Throws OsError if a call returned -1. */
export function check(call: string, result: number | bigint): number {
  const r = Number(result);
  if (r === -1) throw new OsError(call, loadLibc().koffi.errno());
  return r;
}

// Linux x86-64 / arm64 constants (asm-generic).
export const MFD_CLOEXEC = 0x1;
export const MFD_ALLOW_SEALING = 0x2;
export const PROT_READ = 0x1;
export const PROT_WRITE = 0x2;
export const MAP_SHARED = 0x01;
export const EFD_CLOEXEC = 0o2000000;
export const EFD_NONBLOCK = 0o4000;
export const AF_UNIX = 1;
export const SOCK_STREAM = 1;
export const SOCK_SEQPACKET = 5;
export const SOCK_CLOEXEC = 0o2000000;
export const SOCK_NONBLOCK = 0o4000;
export const SOL_SOCKET = 1;
export const SCM_RIGHTS = 1;
export const MSG_CMSG_CLOEXEC = 0x40000000;
export const MSG_CTRUNC = 0x8;
export const MSG_DONTWAIT = 0x40;
export const POLLIN = 0x1;
export const MSG_NOSIGNAL = 0x4000;
export const O_RDWR = 0o2;
export const O_NONBLOCK = 0o4000;
export const O_CLOEXEC = 0o2000000;
export const F_GETFD = 1;
