import { check, loadLibc, MAP_SHARED, OsError, PROT_READ, PROT_WRITE } from './libc.js';

const MAP_FAILED = 0xffffffffffffffffn;
const MAP_PRIVATE = 0x02;
const MAP_FIXED = 0x10;
const MAP_ANONYMOUS = 0x20;

/**
 * Unmaps an address range once nothing in JS can reach the buffer over it. koffi's external ArrayBuffers cannot be
 * detached, so a range is only ever unmapped after its buffer has been collected.
 */
const unmapWhenCollected = new FinalizationRegistry<{ pointer: unknown; length: number }>(({ pointer, length }) => {
  loadLibc().munmap(pointer, length);
});

/**
 * A shared mapping of a file descriptor (mmap MAP_SHARED, read/write), as an ArrayBuffer the engine uses directly
 * (GuestMemory regions accept any ArrayBufferLike).
 *
 * close() lets go of the shared memory at once - the range is replaced, atomically, by private zero pages - so
 * /proc/self/maps no longer shows it and the peer's memory is released; a view kept by mistake then reads zeros
 * instead of faulting. The address range itself is unmapped when the buffer is garbage collected.
 */
export class Mapping {
  readonly buffer: ArrayBuffer;
  #pointer: unknown;

  private constructor(
    pointer: unknown,
    readonly length: number,
  ) {
    this.#pointer = pointer;
    this.buffer = loadLibc().koffi.view(pointer, length);
    unmapWhenCollected.register(this.buffer, { pointer, length });
  }

  /** Maps `length` bytes of `fd` from `offset`, shared and read-write. */
  static map(fd: number, length: number, offset = 0): Mapping {
    if (!Number.isSafeInteger(length) || length <= 0) throw new RangeError(`mapping length ${length}`);
    if (!Number.isSafeInteger(offset) || offset < 0 || offset % 4096 !== 0) {
      throw new RangeError(`mapping offset ${offset} (a multiple of the page size)`);
    }
    const libc = loadLibc();
    const p = libc.mmap(null, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, offset);
    if (p === null || libc.koffi.address(p) === MAP_FAILED) throw new OsError('mmap', libc.koffi.errno());
    return new Mapping(p, length);
  }

  get closed(): boolean {
    return this.#pointer === null;
  }

  /** The mapping's address in this process. */
  get address(): bigint {
    if (this.#pointer === null) throw new Error('mapping used after close');
    return loadLibc().koffi.address(this.#pointer);
  }

  /** Unmaps it (the range becomes private zero pages first, so a stale view reads zeros, not a fault). */
  close(): void {
    const p = this.#pointer;
    if (p === null) return;
    this.#pointer = null;
    const libc = loadLibc();
    const flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;
    const q = libc.mmap(p, this.length, PROT_READ | PROT_WRITE, flags, -1, 0);
    if (q === null || libc.koffi.address(q) === MAP_FAILED) {
      // Could not swap in placeholder pages: unmap now. Nothing may touch the buffer again.
      check('munmap', libc.munmap(p, this.length) as number);
      unmapWhenCollected.unregister(this.buffer);
    }
  }
}
