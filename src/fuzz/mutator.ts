import { Prng } from '../util/prng.js';

const INTERESTING_8 = [0, 1, 2, 0x7f, 0x80, 0xff, 0x10, 0x20, 0x40];
const INTERESTING_16 = [0, 1, 0x7fff, 0x8000, 0xffff, 0x100, 0x1000, 0x80, 0x8080];
const INTERESTING_32 = [0, 1, 0x7fffffff, 0x80000000, 0xffffffff, 0x10000, 0x100000];

/**
 * libFuzzer/AFL-style havoc mutations over bytes: bit flips, interesting and dictionary values, arithmetic, range
 * deletes, inserts, copies and crossover with another corpus entry, stacked 1 to 16 deep.
 */
export class Mutator {
  readonly #rng: Prng;
  readonly #scratch: Uint8Array;

  constructor(
    seed: number,
    readonly maxLength: number,
    readonly dictionary: readonly number[],
  ) {
    this.#rng = new Prng(seed);
    this.#scratch = new Uint8Array(maxLength * 2 + 64);
  }

  random(n: number): number {
    return this.#rng.next31() % n;
  }

  /** A mutated copy of `parent`; `other` is another corpus entry for crossover. */
  mutate(parent: Uint8Array, other: Uint8Array): Uint8Array {
    const buf = this.#scratch;
    buf.set(parent);
    let len = parent.length;
    const stack = 1 << this.random(5);
    for (let s = 0; s < stack; s++) len = this.#once(buf, len, other);
    if (len === 0) len = 1;
    return buf.slice(0, Math.min(len, this.maxLength));
  }

  #once(b: Uint8Array, len: number, other: Uint8Array): number {
    const r = (n: number): number => this.random(n);
    const room = b.length - 16;
    switch (r(12)) {
      case 0:
        if (len > 0) b[r(len)] ^= 1 << r(8);
        return len;
      case 1:
        if (len > 0) b[r(len)] = r(256);
        return len;
      case 2:
        if (len > 0) b[r(len)] = INTERESTING_8[r(INTERESTING_8.length)];
        return len;
      case 3:
        if (len > 1) put(b, r(len - 1), INTERESTING_16[r(INTERESTING_16.length)], 2);
        return len;
      case 4:
        if (len > 3) put(b, r(len - 3), INTERESTING_32[r(INTERESTING_32.length)], 4);
        return len;
      case 5: {
        // A dictionary word, as 1, 2 or 4 bytes: where an input says "this index" or "these flags".
        if (this.dictionary.length === 0 || len === 0) return len;
        const width = [1, 2, 4][r(3)];
        if (len < width) return len;
        put(b, r(len - width + 1), this.dictionary[r(this.dictionary.length)], width);
        return len;
      }
      case 6:
        if (len > 0) {
          const at = r(len);
          b[at] = (b[at] + r(35) - 17) & 0xff;
        }
        return len;
      case 7: {
        // Delete a range.
        if (len < 2) return len;
        const at = r(len);
        const n = 1 + r(Math.min(16, len - at));
        b.copyWithin(at, at + n, len);
        return len - n;
      }
      case 8: {
        // Insert random bytes, or a repeat of the byte before.
        const n = 1 + r(8);
        if (len + n > room) return len;
        const at = r(len + 1);
        b.copyWithin(at + n, at, len);
        const same = r(2) === 0 && at > 0;
        for (let i = 0; i < n; i++) b[at + i] = same ? b[at - 1] : r(256);
        return len + n;
      }
      case 9: {
        // Duplicate a range (repeats an operation of the program).
        if (len === 0) return len;
        const from = r(len);
        const n = 1 + r(Math.min(32, len - from));
        if (len + n > room) return len;
        const at = r(len + 1);
        const piece = b.slice(from, from + n);
        b.copyWithin(at + n, at, len);
        b.set(piece, at);
        return len + n;
      }
      case 10: {
        // Crossover: our prefix, the other's suffix.
        if (other.length === 0) return len;
        const cut = r(len + 1);
        const from = r(other.length);
        const n = Math.min(other.length - from, room - cut);
        b.set(other.subarray(from, from + n), cut);
        return cut + n;
      }
      default: {
        // Overwrite a range with the other's bytes.
        if (other.length === 0 || len === 0) return len;
        const at = r(len);
        const from = r(other.length);
        const n = Math.min(1 + r(16), other.length - from, len - at);
        b.set(other.subarray(from, from + n), at);
        return len;
      }
    }
  }
}

function put(b: Uint8Array, at: number, v: number, width: number): void {
  for (let i = 0; i < width; i++) b[at + i] = (v / 2 ** (8 * i)) & 0xff;
}
