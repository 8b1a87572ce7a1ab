import { OwnedFd } from './fd.js';
import { check, loadLibc, MFD_ALLOW_SEALING, MFD_CLOEXEC } from './libc.js';

/**
 * Anonymous shared memory (memfd_create + ftruncate): what a vhost-user frontend hands the backend as guest memory,
 * by sending the fd. The memory lives while any fd or mapping of it does.
 */
export class MemFd extends OwnedFd {
  constructor(
    fd: number,
    readonly size: number,
  ) {
    super(fd);
  }

  /**
   * `sealable`: made with MFD_ALLOW_SEALING, so the back-end can seal it against shrinking (as QEMU's memfds are);
   * false makes memory like DPDK's virtio-user shares, which a back-end cannot seal.
   */
  static create(name: string, size: number, sealable = true): MemFd {
    if (!Number.isSafeInteger(size) || size <= 0) throw new RangeError(`memfd size ${size}`);
    const libc = loadLibc();
    const fd = check(
      'memfd_create',
      libc.memfd_create(name, MFD_CLOEXEC | (sealable ? MFD_ALLOW_SEALING : 0)) as number,
    );
    try {
      check('ftruncate', libc.ftruncate(fd, size) as number);
    } catch (e) {
      libc.close(fd);
      throw e;
    }
    return new MemFd(fd, size);
  }
}
