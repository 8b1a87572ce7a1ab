import { VirtqueueUsageError } from './errors.js';

const EMPTY = new Uint8Array(0);

/**
 * Buffers that VirtqueueDevice.popBurst() took, each one direct descriptor, as parallel arrays: buffer i is
 * `lengths[i]` bytes at `offsets[i]` of `bytes[i]` (a window onto guest memory, as a Chain segment is), device-writable
 * if `writable[i]` is 1, and `ids[i]` is what completes it. Made once (`capacity` buffers) and reused by every burst,
 * so popping allocates nothing; the entries of one burst are valid until they are completed.
 */
export class BufferBurst {
  /** Buffers the last popBurst() put here. */
  count = 0;
  /** Position in available order of buffer 0 (Chain.seq of a chain popped there). */
  firstSeq = 0;
  /** The head descriptor (split) or Buffer ID (packed) of each. */
  readonly ids: Uint16Array;
  readonly bytes: Uint8Array[];
  readonly offsets: Float64Array;
  readonly lengths: Uint32Array;
  readonly writable: Uint8Array;

  constructor(readonly capacity: number) {
    this.ids = new Uint16Array(capacity);
    this.bytes = new Array<Uint8Array>(capacity).fill(EMPTY);
    this.offsets = new Float64Array(capacity);
    this.lengths = new Uint32Array(capacity);
    this.writable = new Uint8Array(capacity);
  }

  /** The writable bytes buffer `i` holds (0 for a device-readable one): what it can be completed with at most. */
  writableLength(i: number): number {
    return this.writable[i] === 1 ? this.lengths[i] : 0;
  }

  /** @internal used by ring parsers: buffer `i` is `len` bytes at `offset` of `bytes` (null: an empty descriptor). */
  set(i: number, id: number, bytes: Uint8Array | null, offset: number, len: number, writable: boolean): void {
    this.ids[i] = id;
    this.bytes[i] = bytes ?? EMPTY;
    this.offsets[i] = bytes === null ? 0 : offset;
    this.lengths[i] = len;
    this.writable[i] = writable ? 1 : 0;
  }
}

/**
 * Checks a completeBurst() call made by device code before anything is completed: the range lies in the burst, every
 * written length fits its buffer, and the buffers are in flight: under IN_ORDER (`oldestSeq` given) the range starts
 * with the oldest buffer not completed; without, `live[id]` is 1 for each. Misuse throws VirtqueueUsageError.
 */
export function checkBurstCompletion(
  queue: string,
  burst: BufferBurst,
  from: number,
  count: number,
  written: ArrayLike<number>,
  oldestSeq: number | null,
  live: Uint8Array,
): void {
  if (!Number.isInteger(from) || !Number.isInteger(count) || from < 0 || count < 0 || from + count > burst.count) {
    throw new VirtqueueUsageError(`${queue}: buffers ${from}+${count} of a burst of ${burst.count}`);
  }
  if (oldestSeq !== null && count > 0 && burst.firstSeq + from !== oldestSeq) {
    throw new VirtqueueUsageError(
      `${queue}: IN_ORDER: buffer #${burst.firstSeq + from} completed before #${oldestSeq} (or completed twice)`,
    );
  }
  for (let i = from; i < from + count; i++) {
    if (oldestSeq === null && live[burst.ids[i]] !== 1) {
      throw new VirtqueueUsageError(`${queue}: buffer ${burst.ids[i]} of the burst is not in flight`);
    }
    const w = written[i];
    if (!(w >= 0 && w <= burst.writableLength(i) && Math.floor(w) === w)) {
      throw new VirtqueueUsageError(`${queue}: ${w} bytes written to a buffer with ${burst.writableLength(i)}`);
    }
  }
}
