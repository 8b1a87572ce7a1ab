import { expectedWritten, readablePatternByte, writablePatternByte } from '../../spec/test-device.js';
import { Prng } from '../../util/prng.js';
import { BufferBurst } from '../../virtqueue/buffer-burst.js';
import type { Chain } from '../../virtqueue/chain.js';
import { VirtqueueUsageError } from '../../virtqueue/errors.js';
import { ringFeatures } from '../../virtqueue/features.js';
import type { VirtqueueDevice } from '../../virtqueue/types.js';

/** The order the test device completes buffers in: as popped, or shuffled (only without IN_ORDER). */
export type CompletionPolicy = 'in-order' | 'out-of-order';

/** How the test device checks and answers buffers. */
export interface TestDeviceOptions {
  /** 'out-of-order' holds up to `window` chains and completes them in random order; only without IN_ORDER. */
  completion?: CompletionPolicy;
  window?: number;
  /** Write a predictable prefix of some buffers instead of all their writable bytes (see expectedWritten). */
  partialWrites?: boolean;
  /**
   * The number of the first buffer this device will see (default 0): a device restarted on a ring that an earlier one
   * served continues the numbering, so the data patterns still line up.
   */
  firstSeq?: number;
  /** Check and write the data bytes (default). Off, only lengths flow: for benchmarks of the ring alone. */
  verifyData?: boolean;
  seed?: number;
}

/** Exact counts of what the test device did. */
export interface TestDeviceStats {
  buffers: number;
  bytesRead: number;
  bytesWritten: number;
}

/** The driver's data did not match the pattern: the ring delivered the wrong bytes, or the wrong buffer. */
export class TestDataError extends Error {
  override readonly name = 'TestDataError';
}

/**
 * The test device: reads every readable byte and checks it against the pattern of the buffer's position in
 * available order, writes the writable pattern, and completes. What Linux's vhost_test is to virtio_test.
 */
export class TestDevice {
  readonly stats: TestDeviceStats = { buffers: 0, bytesRead: 0, bytesWritten: 0 };
  failure: TestDataError | null = null;
  readonly #held: Chain[] = [];
  readonly #heldWritten: number[] = [];
  readonly #window: number;
  readonly #outOfOrder: boolean;
  readonly #partial: boolean;
  readonly #verifyData: boolean;
  readonly #firstSeq: number;
  readonly #prng: Prng;
  /** One-descriptor buffers popped at once, and what each was completed with. */
  readonly #burst: BufferBurst;
  readonly #burstWritten: Uint32Array;

  constructor(
    readonly queue: VirtqueueDevice,
    options: TestDeviceOptions = {},
  ) {
    this.#outOfOrder = options.completion === 'out-of-order';
    if (this.#outOfOrder && ringFeatures(queue.features).inOrder) {
      throw new VirtqueueUsageError('out-of-order completion is not allowed when IN_ORDER is negotiated');
    }
    this.#window = Math.max(1, Math.min(options.window ?? 8, queue.size));
    this.#partial = options.partialWrites ?? false;
    this.#verifyData = options.verifyData ?? true;
    this.#firstSeq = options.firstSeq ?? 0;
    this.#prng = new Prng((options.seed ?? 1) ^ 0xdecafbad);
    this.#burst = new BufferBurst(queue.size);
    this.#burstWritten = new Uint32Array(queue.size);
  }

  /**
   * Pops and serves up to `max` available buffers; returns how many it popped. Completing in order, one-descriptor
   * buffers come in bursts (popBurst) and the rest as chains.
   */
  serve(max: number): number {
    if (this.#outOfOrder) return this.#serveChains(max);
    const queue = this.queue;
    let n = 0;
    while (n < max && this.failure === null) {
      const got = queue.popBurst(this.#burst, max - n);
      if (got > 0) {
        n += got;
        this.#serveBurst(got);
      } else if (this.#serveChains(1) === 1) {
        n++;
      } else {
        break;
      }
    }
    return n;
  }

  #serveChains(max: number): number {
    const queue = this.queue;
    let n = 0;
    while (n < max && this.failure === null) {
      const chain = queue.pop();
      if (chain === null) break;
      n++;
      if (this.#verifyData && !this.#check(chain)) break;
      const written = this.#verifyData
        ? this.#fill(chain)
        : expectedWritten(this.#firstSeq + chain.seq, chain.writableLength, this.#partial);
      this.stats.buffers++;
      if (!this.#outOfOrder) {
        queue.complete(chain, written);
        continue;
      }
      if (this.#held.length === this.#window) this.#completeHeld(this.#prng.int(0, this.#held.length - 1));
      this.#held.push(chain);
      this.#heldWritten.push(written);
    }
    return n;
  }

  /** Checks or writes the `count` buffers of the burst just popped and completes them (up to a bad one). */
  #serveBurst(count: number): void {
    const burst = this.#burst;
    const written = this.#burstWritten;
    const verify = this.#verifyData;
    const partial = this.#partial;
    const first = this.#firstSeq + burst.firstSeq;
    let bytesRead = 0;
    let bytesWritten = 0;
    let good = 0;
    for (; good < count; good++) {
      const n = first + good;
      const len = burst.lengths[good];
      const writable = burst.writable[good] === 1;
      if (verify && !writable && !this.#checkBytes(n, burst.ids[good], burst.bytes[good], burst.offsets[good], len, 0))
        break;
      const w = writable ? expectedWritten(n, len, partial) : 0;
      if (verify) this.#writeBytes(n, burst.bytes[good], burst.offsets[good], w, 0);
      written[good] = w;
      if (writable) bytesWritten += w;
      else bytesRead += len;
    }
    this.stats.bytesRead += bytesRead;
    this.stats.bytesWritten += bytesWritten;
    this.stats.buffers += good;
    this.queue.completeBurst(burst, 0, good, written);
  }

  /** Completes every chain held back for out-of-order completion, in random order. */
  releaseHeld(): number {
    const n = this.#held.length;
    while (this.#held.length > 0) this.#completeHeld(this.#prng.int(0, this.#held.length - 1));
    return n;
  }

  /** Chains held back and not completed yet. */
  get held(): number {
    return this.#held.length;
  }

  /** Publishes completed buffers; true if the driver asked for an interrupt. */
  flush(): boolean {
    return this.queue.flush();
  }

  #completeHeld(i: number): void {
    const last = this.#held.length - 1;
    const chain = this.#held[i];
    const written = this.#heldWritten[i];
    this.#held[i] = this.#held[last];
    this.#heldWritten[i] = this.#heldWritten[last];
    this.#held.pop();
    this.#heldWritten.pop();
    this.queue.complete(chain, written);
  }

  #check(chain: Chain): boolean {
    const n = this.#firstSeq + chain.seq;
    let j = 0;
    for (let i = 0; i < chain.readableCount; i++) {
      if (!this.#checkBytes(n, chain.id, chain.bytes[i], chain.offsets[i], chain.lengths[i], j)) return false;
      j += chain.lengths[i];
    }
    this.stats.bytesRead += j;
    return true;
  }

  /** Readable bytes j.. of buffer n are the `len` at `at` of `bytes`: false (and `failure`) on the first wrong one. */
  #checkBytes(n: number, id: number, bytes: Uint8Array, at: number, len: number, j: number): boolean {
    for (let k = 0; k < len; k++) {
      if (bytes[at + k] !== readablePatternByte(n, j + k)) {
        this.failure = new TestDataError(
          `${this.queue.name}: buffer #${n} (head ${id}) readable byte ${j + k} is ${bytes[at + k]}, expected ${readablePatternByte(n, j + k)}`,
        );
        return false;
      }
    }
    return true;
  }

  #fill(chain: Chain): number {
    const n = this.#firstSeq + chain.seq;
    const written = expectedWritten(n, chain.writableLength, this.#partial);
    let j = 0;
    for (let i = chain.readableCount; i < chain.segCount && j < written; i++) {
      const len = Math.min(chain.lengths[i], written - j);
      this.#writeBytes(n, chain.bytes[i], chain.offsets[i], len, j);
      j += len;
    }
    this.stats.bytesWritten += written;
    return written;
  }

  /** Writes writable bytes j.. of buffer n into the `len` at `at` of `bytes`. */
  #writeBytes(n: number, bytes: Uint8Array, at: number, len: number, j: number): void {
    for (let k = 0; k < len; k++) bytes[at + k] = writablePatternByte(n, j + k);
  }
}
