import { Chain } from './chain.js';
import { addressText, VirtqueueError, VirtqueueErrorCode as E, VirtqueueUsageError } from './errors.js';
import type { GuestMemory, MemoryFault } from '../memory/guest-memory.js';

const TWO_32 = 2 ** 32;
const MAX_CHAIN_BYTES = 0xffffffff;

/**
 * Turns descriptors into chain segments, whatever the ring layout: checks the readable-before-writable order, the
 * chain's total length and the address range, and records a zero-copy window onto guest memory.
 */
export class SegmentReader {
  error: VirtqueueError | null = null;

  constructor(
    readonly queue: string,
    readonly memory: GuestMemory,
  ) {}

  /** Adds descriptor `at` (addr as two 32-bit words) to `chain`; false with `error` set if it is bad. */
  addSegment(chain: Chain, at: number, lo: number, hi: number, len: number, writable: boolean): boolean {
    if (!writable && chain.segCount !== chain.readableCount) {
      return this.fail(E.READABLE_AFTER_WRITABLE, at, len, 'a device-readable descriptor follows a writable one');
    }
    const total = chain.readableLength + chain.writableLength + len;
    if (total > MAX_CHAIN_BYTES) {
      return this.fail(E.LENGTH_OVERFLOW, at, total, 'the chain is longer than 2^32 - 1 bytes');
    }
    if (len === 0) {
      chain.push(null, 0, 0, writable);
      return true;
    }
    const bytes = this.locate(at, lo, hi, len);
    if (bytes === null) return false;
    chain.push(bytes, this.memory.offset, len, writable);
    return true;
  }

  /**
   * The guest memory region holding `len` bytes at the address (two 32-bit words) of descriptor `at`, the range at
   * `memory.offset` in it; null with `error` set if the range is not all guest memory.
   */
  locate(at: number, lo: number, hi: number, len: number): Uint8Array | null {
    const memory = this.memory;
    const bytes = memory.bytesWords(lo, hi, len);
    if (bytes !== null) return bytes;
    const fault = memory.locateWords(lo, hi, len) as MemoryFault;
    this.fail(fault, at, hi * TWO_32 + lo, `descriptor ${at}: ${len} bytes`, addressText(lo, hi));
    return null;
  }

  /** Adds entry `index` of an indirect table at byte `o` of `view` (addr at +0 and len at +8, in both layouts). */
  addTableEntry(chain: Chain, index: number, view: DataView, o: number, writable: boolean): boolean {
    const lo = view.getUint32(o, true);
    const hi = view.getUint32(o + 4, true);
    return this.addSegment(chain, index, lo, hi, view.getUint32(o + 8, true), writable);
  }

  fail(code: E, index: number, value: number, detail: string, exactValue?: string): false {
    this.error = new VirtqueueError(code, this.queue, index, value, detail, exactValue);
    return false;
  }
}

/**
 * The device's chains: `size` Chain objects made once and reused, so popping a buffer allocates nothing. Also keeps
 * the popped/completed order that IN_ORDER requires of the code completing them.
 */
export class ChainPool {
  readonly #free: Chain[] = [];
  #inFlight = 0;
  #popped = 0;
  #completed = 0;

  constructor(size: number) {
    for (let i = 0; i < size; i++) this.#free.push(new Chain());
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  /** A cleared chain to parse into; commit() it on success, giveBack() it on failure. */
  take(): Chain {
    const chain = this.#free.pop()!;
    chain.reset();
    return chain;
  }

  giveBack(chain: Chain): void {
    this.#free.push(chain);
  }

  commit(chain: Chain): void {
    chain.seq = this.#popped++;
    chain.live = true;
    this.#inFlight++;
  }

  /** `n` buffers popped as a burst (no Chain objects): returns the position in available order of the first. */
  commitRun(n: number): number {
    const first = this.#popped;
    this.#popped += n;
    this.#inFlight += n;
    return first;
  }

  /** The position in available order of the oldest buffer not completed: IN_ORDER completes it next. */
  get oldestSeq(): number {
    return this.#completed;
  }

  /** `n` buffers of a burst completed (checked by checkBurstCompletion). */
  releaseRun(n: number): void {
    this.#completed += n;
    this.#inFlight -= n;
  }

  /** Checks a completion made by device code (not a peer: misuse throws) and returns the chain to the pool. */
  release(queue: string, chain: Chain, written: number, inOrder: boolean): void {
    if (!chain.live) throw new VirtqueueUsageError(`${queue}: chain ${chain.id} is not in flight`);
    if (inOrder && chain.seq !== this.#completed) {
      throw new VirtqueueUsageError(
        `${queue}: IN_ORDER: chain ${chain.id} (popped #${chain.seq}) completed before #${this.#completed}`,
      );
    }
    if (!Number.isInteger(written) || written < 0 || written > chain.writableLength) {
      throw new VirtqueueUsageError(`${queue}: ${written} bytes written to a chain with ${chain.writableLength}`);
    }
    chain.live = false;
    this.#completed++;
    this.#inFlight--;
    this.#free.push(chain);
  }
}
