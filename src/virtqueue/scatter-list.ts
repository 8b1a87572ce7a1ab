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
    if (!Number.isSafeInteger(addr) || addr < 0 || !Number.isInteger(len) || len < 0 || len > 0xffffffff) {
      throw new VirtqueueUsageError(`bad segment ${addr}+${len}`);
    }
    this.addrs[this.count] = addr;
    this.lens[this.count] = len;
    this.count++;
  }
}
