/**
 * The coverage map the instrumented code counts into, and the "virgin" map of (counter, hit-count bucket) pairs seen
 * so far: an input is kept when it reaches a new pair, as AFL and libFuzzer do.
 */
export class CoverageMap {
  readonly counters: Uint8Array;
  readonly #words: Uint32Array;
  readonly #seen: Uint8Array;
  /** Counters hit at least once by any input so far. */
  covered = 0;

  constructor(readonly size: number) {
    const padded = Math.ceil(size / 4) * 4;
    this.counters = new Uint8Array(padded);
    this.#words = new Uint32Array(this.counters.buffer);
    this.#seen = new Uint8Array(padded);
  }

  reset(): void {
    this.counters.fill(0);
  }

  /** Folds the last run into what has been seen; true if it reached a new (counter, bucket) pair. */
  merge(): boolean {
    const words = this.#words;
    const c = this.counters;
    const seen = this.#seen;
    let fresh = false;
    for (let w = 0; w < words.length; w++) {
      if (words[w] === 0) continue;
      for (let i = w * 4; i < w * 4 + 4; i++) {
        if (c[i] === 0) continue;
        const b = bucket(c[i]);
        if ((seen[i] & b) === 0) {
          if (seen[i] === 0) this.covered++;
          seen[i] |= b;
          fresh = true;
        }
      }
    }
    return fresh;
  }

  /** The (counter, bucket) pairs of the last run, as numbers (for corpus distillation). */
  features(): Uint32Array {
    const out: number[] = [];
    const c = this.counters;
    for (let i = 0; i < c.length; i++) if (c[i] !== 0) out.push(i * 8 + Math.clz32(bucket(c[i])));
    return Uint32Array.from(out);
  }
}

/** AFL's hit-count buckets: 1, 2, 3, 4-7, 8-15, 16-31, 32-127, 128+. */
function bucket(n: number): number {
  if (n < 4) return n === 3 ? 4 : n;
  if (n < 8) return 8;
  if (n < 16) return 16;
  if (n < 32) return 32;
  if (n < 128) return 64;
  return 128;
}
