import type { BufferBurst } from './buffer-burst.js';
import { VirtqueueUsageError } from './errors.js';
import type { DeviceStats } from './types.js';

/** Where UsedBatcher.drain() writes: one call per used entry. */
export interface UsedSink {
  /**
   * Write a used entry for buffer `id` with `len` bytes. It stands for `buffers` buffers (occupying `descs` ring
   * descriptors in all), the first of which is the `at`-th buffer of this flush.
   */
  writeUsed(at: number, id: number, len: number, buffers: number, descs: number): void;
}

/**
 * Completions waiting for flush(), and the rule that turns them into used entries.
 *
 * Per buffer: one entry each. Batched (IN_ORDER only): one entry for a run of buffers, carrying the last buffer's id
 * and length, placed where the run's first buffer would go. The driver reports every skipped buffer as used
 * completely (its full writable length), so a run ends early at any buffer written only in part: that buffer's own
 * entry carries its true length. A fully written buffer only extends the open run, so batching costs a few field
 * writes per buffer and the used ring is touched once per run.
 */
export class UsedBatcher {
  /** Entries ready to write: per buffer, or (batched) the runs closed by a partly written buffer. */
  readonly #ids: Uint32Array;
  readonly #lens: Uint32Array;
  readonly #buffers: Uint32Array;
  readonly #descs: Uint32Array;
  #entries = 0;
  /** Batched: the open run of fully written buffers (its last buffer's id and length). */
  #runBuffers = 0;
  #runDescs = 0;
  #runId = 0;
  #runLen = 0;
  /** Buffers completed and not yet flushed. */
  pending = 0;

  constructor(
    size: number,
    /** Batched runs (IN_ORDER) or one entry per buffer; changed only while nothing is pending (setBatched). */
    public batched: boolean,
  ) {
    this.#ids = new Uint32Array(size);
    this.#lens = new Uint32Array(size);
    this.#buffers = new Uint32Array(size);
    this.#descs = new Uint32Array(size);
  }

  /** Switches between batched runs and one entry per buffer; only between flushes. */
  setBatched(batched: boolean): void {
    if (this.pending !== 0) throw new VirtqueueUsageError('the used-entry policy changes only between flushes');
    this.batched = batched;
  }

  add(id: number, len: number, full: boolean, descs: number): void {
    this.pending++;
    if (!this.batched) {
      this.#push(id, len, 1, descs);
    } else if (full) {
      this.#runBuffers++;
      this.#runDescs += descs;
      this.#runId = id;
      this.#runLen = len;
    } else {
      this.#push(id, len, this.#runBuffers + 1, this.#runDescs + descs);
      this.#runBuffers = 0;
      this.#runDescs = 0;
    }
  }

  /** add() for buffers `from` .. `from + count - 1` of a burst (one descriptor each), completed with `written`. */
  addBurst(burst: BufferBurst, from: number, count: number, written: ArrayLike<number>): void {
    const ids = burst.ids;
    const end = from + count;
    this.pending += count;
    if (!this.batched) {
      for (let i = from; i < end; i++) this.#push(ids[i], written[i], 1, 1);
      return;
    }
    let run = this.#runBuffers;
    for (let i = from; i < end; i++) {
      // A fully written buffer extends the open run; one written in part closes it with its own entry.
      if (written[i] === burst.writableLength(i)) {
        run++;
      } else {
        this.#push(ids[i], written[i], run + 1, this.#runDescs + (run - this.#runBuffers) + 1);
        run = 0;
        this.#runBuffers = 0;
        this.#runDescs = 0;
      }
    }
    if (count > 0 && run > 0) {
      this.#runDescs += run - this.#runBuffers;
      this.#runBuffers = run;
      this.#runId = ids[end - 1];
      this.#runLen = written[end - 1];
    }
  }

  #push(id: number, len: number, buffers: number, descs: number): void {
    const e = this.#entries++;
    this.#ids[e] = id;
    this.#lens[e] = len;
    this.#buffers[e] = buffers;
    this.#descs[e] = descs;
  }

  /** Writes the pending completions into `sink`, clears them, and returns the number of used entries written. */
  drain(sink: UsedSink): number {
    let at = 0;
    const n = this.#entries;
    for (let e = 0; e < n; e++) {
      const buffers = this.#buffers[e];
      sink.writeUsed(at, this.#ids[e], this.#lens[e], buffers, this.#descs[e]);
      at += buffers;
    }
    let written = n;
    if (this.#runBuffers > 0) {
      sink.writeUsed(at, this.#runId, this.#runLen, this.#runBuffers, this.#runDescs);
      written++;
      this.#runBuffers = 0;
      this.#runDescs = 0;
    }
    this.#entries = 0;
    this.pending = 0;
    return written;
  }
}

/** Counts a flush that published `entries` used entries and decided `interrupt`. */
export function recordFlush(stats: DeviceStats, entries: number, interrupt: boolean): void {
  stats.flushes++;
  stats.usedEntriesWritten += entries;
  if (interrupt) stats.interruptsWanted++;
  else stats.interruptsSuppressed++;
}
