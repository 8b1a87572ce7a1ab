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
 * entry carries its true length.
 */
export class UsedBatcher {
  readonly #ids: Uint32Array;
  readonly #lens: Uint32Array;
  readonly #descs: Uint32Array;
  readonly #full: Uint8Array;
  pending = 0;

  constructor(
    size: number,
    readonly batched: boolean,
  ) {
    this.#ids = new Uint32Array(size);
    this.#lens = new Uint32Array(size);
    this.#descs = new Uint32Array(size);
    this.#full = new Uint8Array(size);
  }

  add(id: number, len: number, full: boolean, descs: number): void {
    const i = this.pending++;
    this.#ids[i] = id;
    this.#lens[i] = len;
    this.#descs[i] = descs;
    this.#full[i] = full ? 1 : 0;
  }

  /** Writes the pending completions into `sink`, clears them, and returns the number of used entries written. */
  drain(sink: UsedSink): number {
    const n = this.pending;
    let entries = 0;
    let first = 0;
    let descs = 0;
    for (let i = 0; i < n; i++) {
      descs += this.#descs[i];
      if (!this.batched || i === n - 1 || this.#full[i] === 0) {
        sink.writeUsed(first, this.#ids[i], this.#lens[i], i + 1 - first, descs);
        entries++;
        first = i + 1;
        descs = 0;
      }
    }
    this.pending = 0;
    return entries;
  }
}
