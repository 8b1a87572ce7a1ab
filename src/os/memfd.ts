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

  static create(name: string, size: number): MemFd {
    if (!Number.isSafeInteger(size) || size <= 0) throw new RangeError(`memfd size ${size}`);
    const libc = loadLibc();
    const fd = check('memfd_create', libc.memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING) as number);
    try {
      check('ftruncate', libc.ftruncate(fd, size) as number);
    } catch (e) {
      libc.close(fd);
      throw e;
    }
    return new MemFd(fd, size);
  }
}
