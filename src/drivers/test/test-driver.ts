import { expectedWritten, readablePatternByte, writablePatternByte } from '../../spec/test-device.js';
import { Prng } from '../../util/prng.js';
import { ringFeatures } from '../../virtqueue/features.js';
import { ScatterList } from '../../virtqueue/scatter-list.js';
import type { VirtqueueDriver } from '../../virtqueue/types.js';

/** Which buffers use indirect tables: none, all, a random half, or the driver's automatic rule ('auto'). */
export type IndirectMode = 'never' | 'always' | 'random' | 'auto';

/** How the test driver shapes, adds and checks its buffers. */
export interface TestDriverOptions {
  /** Buffers to complete. */
  buffers: number;
  /** Buffers added between kicks: a number, or random in 1..queue size for each batch. */
  batch: number | 'random';
  /** Segments per buffer: random in 1..maxChain. */
  maxChain: number;
  /** Bytes per segment: random in 1..maxSegment. */
  maxSegment: number;
  indirect: IndirectMode;
  /**
   * 'random': each buffer gets a random chain. 'fixed': every buffer is the same chain, built once per slot (maxChain
   * - 1 readable segments and one writable, maxSegment bytes each), so per-buffer driver work is only the ring's:
   * for benchmarks, as Linux's ringtest.
   */
  shape: 'random' | 'fixed';
  partialWrites: boolean;
  /** Write and check the data bytes; off, only tokens, order and lengths are verified. */
  verifyData: boolean;
  seed: number;
  /**
   * Buffers the driver owns, handed out oldest-freed first (default: the queue size). With as many as the ring has
   * slots, under IN_ORDER each buffer returns to the ring position it left, lap after lap; with more, a position
   * holds a different buffer each lap, as in a driver that draws from a larger pool.
   */
  bufferPool?: number;
  /** Guest address of the data area and a view of it: bufferPool slots of maxChain * maxSegment bytes. */
  dataAddr: number;
  data: Uint8Array;
}

/** One in-flight buffer's record: the token the queue hands back. Made once per slot and reused. */
export class BufferSlot {
  seq = 0;
  inFlight = false;
  readonly sg = new ScatterList();
  constructor(readonly index: number) {}
}

/** The driver put back a buffer the device did not complete as the test device must. */
export class TestVerifyError extends Error {
  override readonly name = 'TestVerifyError';
}

/** Exact counts of what the test driver did. */
export interface TestDriverStats {
  buffers: number;
  bytesOut: number;
  bytesIn: number;
}

export const dataAreaBytes = (buffers: number, maxChain: number, maxSegment: number): number =>
  buffers * maxChain * maxSegment;

/**
 * The test driver (what Linux's virtio_test is): adds buffers in random batches with random chains, readable data
 * in the pattern of their position, and verifies each completion: the token, the order (under IN_ORDER), the
 * written length and every written byte.
 */
export class TestDriver {
  readonly stats: TestDriverStats = { buffers: 0, bytesOut: 0, bytesIn: 0 };
  failure: TestVerifyError | null = null;
  /** Buffers added so far; buffer n is the n-th added (and the device's n-th popped). */
  added = 0;
  completed = 0;
  /** Stop adding (a duration ran out); in-flight buffers still complete. */
  stopAdding = false;
  readonly #slots: BufferSlot[] = [];
  /**
   * Free slots as a FIFO ring: a buffer reuses the slot freed longest ago. Under IN_ORDER buffer n then always lands
   * in the same slot as buffer n - pool, so with a pool of the queue size what the ring holds repeats lap after lap
   * (the queues store only what changed).
   */
  readonly #free: BufferSlot[] = [];
  #freeAt = 0;
  #freeCount = 0;
  readonly #prng: Prng;
  /** Fixed one-segment buffers: fill() adds them with addBurst(), from these. */
  readonly #oneSegment: boolean;
  readonly #burst: BufferSlot[];
  readonly #burstAddrs: Float64Array;
  readonly #burstLens: Uint32Array;
  /** What takeUsedBurst() hands back: a queue's worth of tokens and lengths. */
  readonly #used: BufferSlot[];
  readonly #usedLens: Uint32Array;
  readonly #inOrder: boolean;
  readonly #slotBytes: number;
  /** options.partialWrites and options.verifyData, read per buffer. */
  readonly #partialWrites: boolean;
  readonly #verifyData: boolean;

  constructor(
    readonly queue: VirtqueueDriver<BufferSlot>,
    readonly options: TestDriverOptions,
  ) {
    this.#prng = new Prng(options.seed);
    this.#inOrder = ringFeatures(queue.features).inOrder;
    this.#slotBytes = options.maxChain * options.maxSegment;
    this.#partialWrites = options.partialWrites;
    this.#verifyData = options.verifyData;
    const pool = options.bufferPool ?? queue.size;
    for (let i = 0; i < pool; i++) {
      const slot = new BufferSlot(i);
      if (options.shape === 'fixed') this.#fixedShape(slot);
      this.#slots.push(slot);
      this.#free.push(slot);
    }
    this.#freeCount = pool;
    this.#used = new Array<BufferSlot>(queue.size).fill(this.#slots[0]);
    // 'auto' puts a buffer in an indirect table only above one segment.
    this.#oneSegment =
      options.shape === 'fixed' &&
      options.maxChain === 1 &&
      options.indirect !== 'always' &&
      options.indirect !== 'random';
    this.#burst = this.#used.slice();
    this.#burstAddrs = new Float64Array(queue.size);
    this.#burstLens = new Uint32Array(queue.size);
    this.#usedLens = new Uint32Array(queue.size);
  }

  #fixedShape(slot: BufferSlot): void {
    const o = this.options;
    const base = o.dataAddr + slot.index * this.#slotBytes;
    for (let i = 0; i < o.maxChain - 1; i++) slot.sg.addReadable(base + i * o.maxSegment, o.maxSegment);
    slot.sg.addWritable(base + (o.maxChain - 1) * o.maxSegment, o.maxSegment);
  }

  get done(): boolean {
    return this.completed === (this.stopAdding ? this.added : this.options.buffers) || this.failure !== null;
  }

  /** Whether fill() could add a buffer now (ignoring whether the ring has room). */
  get wantsToAdd(): boolean {
    return !this.stopAdding && this.added < this.options.buffers && this.#freeCount > 0;
  }

  /** Random batch size for the next fill(). */
  nextBatch(): number {
    const b = this.options.batch;
    return b === 'random' ? this.#prng.int(1, this.queue.size) : b;
  }

  /** Adds up to `max` buffers, stopping early when the ring is full; returns how many it added. */
  fill(max: number): number {
    if (this.#oneSegment) return this.#fillBurst(max);
    const o = this.options;
    const prng = this.#prng;
    let n = 0;
    while (n < max && this.wantsToAdd) {
      const slot = this.#free[this.#freeAt];
      const sg = slot.sg;
      if (o.shape === 'random') this.#randomShape(slot);
      const indirect =
        o.indirect === 'auto' ? 'auto' : o.indirect === 'always' || (o.indirect === 'random' && prng.chance(0.5));
      if (!this.queue.canAdd(sg, indirect)) break;
      slot.seq = this.added;
      if (o.verifyData) this.#writeReadable(slot);
      if (!this.queue.add(sg, slot, indirect)) break;
      slot.inFlight = true;
      this.#freeAt = this.#freeAt + 1 === this.#free.length ? 0 : this.#freeAt + 1;
      this.#freeCount--;
      this.added++;
      n++;
    }
    return n;
  }

  /** Fixed one-segment buffers (never indirect): up to `max` go to the queue in one addBurst(). */
  #fillBurst(max: number): number {
    if (this.stopAdding) return 0;
    const want = Math.min(max, this.options.buffers - this.added, this.#freeCount, this.#burst.length);
    const slots = this.#burst;
    const free = this.#free;
    const addrs = this.#burstAddrs;
    const lens = this.#burstLens;
    for (let i = 0, at = this.#freeAt; i < want; i++) {
      const slot = free[at];
      slots[i] = slot;
      addrs[i] = slot.sg.addrs[0];
      lens[i] = slot.sg.lens[0];
      slot.seq = this.added + i;
      slot.inFlight = true;
      at = at + 1 === free.length ? 0 : at + 1;
    }
    const n = this.queue.addBurst(addrs, lens, slots, want, true);
    // Only a full ring adds fewer: those stay free.
    for (let i = n; i < want; i++) slots[i].inFlight = false;
    this.#freeAt = (this.#freeAt + n) % this.#free.length;
    this.#freeCount -= n;
    this.added += n;
    return n;
  }

  #randomShape(slot: BufferSlot): void {
    const o = this.options;
    const prng = this.#prng;
    const sg = slot.sg.reset();
    const segs = prng.int(1, o.maxChain);
    const readable = prng.int(0, segs);
    const base = o.dataAddr + slot.index * this.#slotBytes;
    for (let i = 0; i < segs; i++) {
      const len = prng.int(1, o.maxSegment);
      if (i < readable) sg.addReadable(base + i * o.maxSegment, len);
      else sg.addWritable(base + i * o.maxSegment, len);
    }
  }

  /** Takes back up to `max` used buffers, a burst at a time, and verifies each; returns how many it took. */
  reap(max = Infinity): number {
    const used = this.#used;
    const lens = this.#usedLens;
    let n = 0;
    while (n < max && this.failure === null) {
      const got = this.queue.takeUsedBurst(used, lens, Math.min(max - n, used.length));
      if (got === 0) break;
      const free = this.#free;
      const oldest = this.completed;
      let at = this.#freeAt + this.#freeCount;
      let bytesIn = 0;
      let verified = 0;
      let i = 0;
      for (; i < got && this.failure === null; i++) {
        const slot = used[i];
        const len = lens[i];
        if (this.#verify(slot, len, oldest + i)) {
          bytesIn += len;
          verified++;
        }
        slot.inFlight = false;
        if (at >= free.length) at -= free.length;
        free[at++] = slot;
      }
      // Counted once per burst (a buffer whose written bytes are wrong is counted, as its length was right).
      this.stats.bytesIn += bytesIn;
      this.stats.buffers += verified;
      this.#freeCount += i;
      this.completed += i;
      n += got;
    }
    return n;
  }

  #writeReadable(slot: BufferSlot): void {
    const sg = slot.sg;
    const data = this.options.data;
    const dataAddr = this.options.dataAddr;
    let j = 0;
    for (let i = 0; i < sg.readableCount; i++) {
      const start = sg.addrs[i] - dataAddr;
      const end = start + sg.lens[i];
      for (let k = start; k < end; k++, j++) data[k] = readablePatternByte(slot.seq, j);
    }
    this.stats.bytesOut += j;
  }

  /**
   * Checks buffer `slot` coming back with `len` bytes, when `oldest` is the oldest buffer not back yet: false (and
   * `failure`) unless it was in flight, is the one due and has the expected length. Its written bytes are then
   * checked too, when data is verified.
   */
  #verify(slot: BufferSlot, len: number, oldest: number): boolean {
    const n = slot.seq;
    if (!slot.inFlight) return this.#fail(`buffer #${n} came back but was not in flight`);
    if (this.#inOrder && n !== oldest) {
      return this.#fail(`IN_ORDER: buffer #${n} came back when #${oldest} was oldest`);
    }
    const expected = expectedWritten(n, slot.sg.writableLength, this.#partialWrites);
    if (len !== expected) return this.#fail(`buffer #${n}: used length ${len}, expected ${expected}`);
    if (this.#verifyData) this.#verifyBytes(slot, len);
    return true;
  }

  /** The `len` bytes the device wrote into `slot` follow the pattern of its buffer number. */
  #verifyBytes(slot: BufferSlot, len: number): void {
    const n = slot.seq;
    const sg = slot.sg;
    const data = this.options.data;
    const dataAddr = this.options.dataAddr;
    let j = 0;
    for (let i = sg.readableCount; i < sg.count && j < len; i++) {
      const start = sg.addrs[i] - dataAddr;
      const end = start + Math.min(sg.lens[i], len - j);
      for (let k = start; k < end; k++, j++) {
        if (data[k] !== writablePatternByte(n, j)) {
          this.#fail(`buffer #${n}: written byte ${j} is ${data[k]}, expected ${writablePatternByte(n, j)}`);
          return;
        }
      }
    }
  }

  /** Records the first failure; false, for the checks that return it. */
  #fail(message: string): false {
    this.failure ??= new TestVerifyError(`${this.queue.name}: ${message}`);
    return false;
  }
}
