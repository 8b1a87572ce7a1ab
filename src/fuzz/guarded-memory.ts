import { GuestMemory } from '../memory/guest-memory.js';
import { FuzzFailure } from './target.js';

const GUARD = 256;
const GUARD_BYTE = 0xa5;

/**
 * Guest memory for a fuzz run: one region with guard bytes on both sides in the same ArrayBuffer. A write outside
 * guest memory changes a guard (checked by assertIntact), and a chain segment must be a window onto the region's own
 * bytes (checked by assertInside): either is an 'out-of-bounds' failure, told apart from a mere exception.
 */
export class GuardedMemory {
  readonly memory: GuestMemory;
  /** The region's bytes (guest address `base` is index 0). */
  readonly bytes: Uint8Array;
  readonly #all: Uint8Array;

  constructor(
    readonly base: number,
    readonly size: number,
  ) {
    const buffer = new ArrayBuffer(GUARD + size + GUARD);
    this.#all = new Uint8Array(buffer);
    this.#all.fill(GUARD_BYTE, 0, GUARD);
    this.#all.fill(GUARD_BYTE, GUARD + size);
    this.memory = new GuestMemory([{ guestAddr: base, size, buffer, offset: GUARD }]);
    this.bytes = this.memory.regions[0].bytes;
  }

  /** Throws unless both guard areas are as they were made. */
  assertIntact(): void {
    const all = this.#all;
    const end = GUARD + this.size;
    for (let i = 0; i < GUARD; i++) {
      if (all[i] !== GUARD_BYTE)
        throw new FuzzFailure('out-of-bounds', `a byte ${GUARD - i} before guest memory changed`);
      if (all[end + i] !== GUARD_BYTE) throw new FuzzFailure('out-of-bounds', `byte ${i} after guest memory changed`);
    }
  }

  /** Throws unless `length` bytes at `offset` of `view` lie inside this guest memory (an empty segment always does). */
  assertInside(view: Uint8Array, offset: number, length: number, what: string): void {
    if (length === 0) return;
    const inRegion = view === this.bytes;
    if (!inRegion || !Number.isInteger(offset) || offset < 0 || offset + length > this.size) {
      throw new FuzzFailure(
        'out-of-bounds',
        `${what}: ${length} bytes at offset ${offset} are not inside guest memory`,
      );
    }
  }

  /** Copies `data` into guest memory at `offset` (clipped at its end): how a hostile peer writes shared memory. */
  poke(offset: number, data: Uint8Array): void {
    const n = Math.min(data.length, this.size - offset);
    if (n > 0) this.bytes.set(data.subarray(0, n), offset);
  }
}
