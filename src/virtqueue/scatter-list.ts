import { VirtqueueUsageError } from './errors.js';

/**
 * What a driver hands to add(): device-readable segments, then device-writable ones, as guest addresses. Reused
 * across calls (reset() then add*), so adding a buffer allocates nothing once the arrays have grown.
 */
export class ScatterList {
  readonly addrs: number[] = [];
  readonly lens: number[] = [];
  count = 0;
  readableCount = 0;
  writableLength = 0;

  reset(): this {
    this.count = 0;
    this.readableCount = 0;
    this.writableLength = 0;
    return this;
  }

  addReadable(addr: number, len: number): this {
    if (this.count !== this.readableCount) {
      throw new VirtqueueUsageError('device-readable segments must come before device-writable ones');
    }
    this.#push(addr, len);
    this.readableCount++;
    return this;
  }

  addWritable(addr: number, len: number): this {
    this.#push(addr, len);
    this.writableLength += len;
    return this;
  }

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
