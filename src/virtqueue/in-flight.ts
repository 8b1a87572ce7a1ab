import { VirtqueueErrorCode as E } from './errors.js';
import type { DriverStats } from './types.js';

/** Why a used entry cannot be accepted: what VirtqueueError to raise. */
export interface UsedEntryProblem {
  code: E;
  value: number;
  detail: string;
}

/**
 * The driver's own record of its in-flight buffers, keyed by what the device hands back (the head descriptor of a
 * split ring, the Buffer ID of a packed one). Everything needed to take a buffer back is here, never re-read from
 * shared memory. Also the IN_ORDER batch: after a used entry naming buffer X, every older in-flight buffer comes back
 * first (used completely, by the spec), then X with the entry's length.
 */
export class InFlightBuffers<T> {
  readonly #tokens: (T | undefined)[];
  readonly #descs: Uint16Array;
  readonly #writable: Float64Array;
  readonly #addSeq: Float64Array;
  #count = 0;
  #added = 0;
  #oldestSeq = 0;
  #batchLeft = 0;
  #batchLen = 0;
  /** Free ring descriptors. */
  numFree: number;
  /** After takeRun(): the key of the oldest buffer still in flight. */
  nextKey = 0;

  constructor(
    readonly size: number,
    readonly stats: DriverStats,
  ) {
    this.#tokens = new Array<T | undefined>(size).fill(undefined);
    this.#descs = new Uint16Array(size);
    this.#writable = new Float64Array(size);
    this.#addSeq = new Float64Array(size);
    this.numFree = size;
  }

  get count(): number {
    return this.#count;
  }

  /** Buffers of the current IN_ORDER batch still to hand out. */
  get batchLeft(): number {
    return this.#batchLeft;
  }

  descs(id: number): number {
    return this.#descs[id];
  }

  add(id: number, token: T, descs: number, writable: number): void {
    this.place(id, token, descs, writable, 0);
    this.added(1, descs);
  }

  /**
   * For a burst: records the `k`-th buffer of it (`descs` descriptors) without counting it; added() counts the whole
   * burst once it is placed.
   */
  place(id: number, token: T, descs: number, writable: number, k: number): void {
    this.#tokens[id] = token;
    this.#descs[id] = descs;
    this.#writable[id] = writable;
    this.#addSeq[id] = this.#added + k;
  }

  /** Counts `n` buffers placed, taking `descs` descriptors in all. */
  added(n: number, descs: number): void {
    this.#added += n;
    this.#count += n;
    this.numFree -= descs;
    this.stats.buffersAdded += n;
  }

  /** What is wrong with a used entry (id, len), or null. */
  check(id: number, len: number, inOrder: boolean): UsedEntryProblem | null {
    if (id >= this.size) return { code: E.USED_ID_OUT_OF_RANGE, value: id, detail: `queue size is ${this.size}` };
    if (this.#tokens[id] === undefined) {
      return inOrder
        ? { code: E.IN_ORDER_BATCH_UNKNOWN_ID, value: id, detail: 'the batch names no in-flight buffer' }
        : { code: E.USED_ID_NOT_IN_FLIGHT, value: id, detail: 'no buffer with that id is in flight' };
    }
    if (len > this.#writable[id]) {
      return {
        code: E.USED_LEN_TOO_LARGE,
        value: len,
        detail: `buffer ${id} has ${this.#writable[id]} writable bytes`,
      };
    }
    return null;
  }

  /** IN_ORDER: how many buffers a used entry naming `id` (in flight) completes: it and every older one. */
  batchSize(id: number): number {
    return this.#addSeq[id] - this.#oldestSeq + 1;
  }

  /** IN_ORDER: a used entry named a buffer `batch` buffers deep, with length `len` for that last one. */
  startBatch(batch: number, len: number): void {
    this.#batchLeft = batch;
    this.#batchLen = len;
  }

  /** IN_ORDER: the length the oldest buffer `id` of the current batch comes back with. */
  nextInBatch(id: number): number {
    this.#oldestSeq++;
    return --this.#batchLeft === 0 ? this.#batchLen : this.#writable[id];
  }

  /**
   * IN_ORDER: takes back `k` buffers of the current batch at once (at most batchLeft), oldest first from key `first`,
   * their tokens and lengths into `tokens` and `lens` from `at`. Keys follow each other by one (packed Buffer IDs) or
   * by each buffer's descriptor count (split heads). Returns the descriptors freed; `nextKey` is the oldest after.
   */
  takeRun(first: number, k: number, keysByDescs: boolean, tokens: T[], lens: Uint32Array, at: number): number {
    const size = this.size;
    const last = this.#batchLeft === k ? k - 1 : -1;
    let key = first;
    let descs = 0;
    for (let i = 0; i < k; i++) {
      tokens[at + i] = this.#tokens[key]!;
      this.#tokens[key] = undefined;
      lens[at + i] = i === last ? this.#batchLen : this.#writable[key];
      const d = this.#descs[key];
      descs += d;
      key += keysByDescs ? d : 1;
      if (key >= size) key -= size;
    }
    this.nextKey = key;
    this.#batchLeft -= k;
    this.#oldestSeq += k;
    this.#count -= k;
    this.numFree += descs;
    this.stats.buffersUsed += k;
    return descs;
  }

  /** Takes buffer `id` back: frees its descriptors and returns its token. */
  release(id: number): T | undefined {
    const token = this.#tokens[id];
    this.#tokens[id] = undefined;
    this.numFree += this.#descs[id];
    this.#count--;
    this.stats.buffersUsed++;
    return token;
  }
}
