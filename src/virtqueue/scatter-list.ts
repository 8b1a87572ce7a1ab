import { VirtqueueUsageError } from './errors.js';

/**
 * What a driver hands to add(): device-readable segments, then device-writable ones, as guest addresses. Reused
 * across calls (reset() then add*), so adding a buffer allocates nothing once the arrays have grown.
 */
export class ScatterList {
  /** Guest address of each segment. */
  readonly addrs: number[] = [];
  /** Length of each segment. */
  readonly lens: number[] = [];
  /** Segments in the list. */
  count = 0;
  /** Device-readable segments (the first ones). */
  readableCount = 0;
  /** Bytes of the device-writable segments. */
  writableLength = 0;

  /** Empties the list for the next buffer (keeps its arrays). */
  reset(): this {
    this.count = 0;
    this.readableCount = 0;
    this.writableLength = 0;
    return this;
  }

  /** Adds a device-readable segment; throws VirtqueueUsageError after a writable one. */
  addReadable(addr: number, len: number): this {
    if (this.count !== this.readableCount) {
      throw new VirtqueueUsageError('device-readable segments must come before device-writable ones');
    }
    this.#push(addr, len);
    this.readableCount++;
    return this;
  }

  /** Adds a device-writable segment. */
  addWritable(addr: number, len: number): this {
    this.#push(addr, len);
    this.writableLength += len;
    return this;
  }

  /** Device-writable segments (the last ones). */
  get writableCount(): number {
    return this.count - this.readableCount;
  }

  #push(addr: number, len: number): void {
    checkSegment(addr, len);
    this.addrs[this.count] = addr;
    this.lens[this.count] = len;
    this.count++;
  }
}

/** A segment is a guest address (a safe integer, not negative) and a length that fits a descriptor's 32 bits. */
export function checkSegment(addr: number, len: number): void {
  // Comparisons V8 compiles inline (NaN fails both): addr a whole number in 0..2^53 - 1, len one in 0..2^32 - 1.
  if (!(addr >= 0 && addr <= Number.MAX_SAFE_INTEGER && Math.floor(addr) === addr) || len >>> 0 !== len) {
    throw new VirtqueueUsageError(`bad segment ${addr}+${len}`);
  }
}

/** Checks the first `count` segments and tokens of a burst (VirtqueueDriver.addBurst) before any is added. */
export function checkBurst<T>(
  queue: string,
  addrs: ArrayLike<number>,
  lens: ArrayLike<number>,
  tokens: ArrayLike<T>,
  count: number,
): void {
  for (let i = 0; i < count; i++) {
    checkSegment(addrs[i], lens[i]);
    if (tokens[i] === undefined) throw new VirtqueueUsageError(`${queue}: a buffer's token must not be undefined`);
  }
}
