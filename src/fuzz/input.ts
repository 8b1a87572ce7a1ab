/**
 * A fuzz input read as a stream of small decisions. Reading past the end yields zeros, so every byte string is a
 * valid program for a target and the mutator never has to keep a structure intact.
 */
export class FuzzInput {
  #at = 0;

  constructor(readonly bytes: Uint8Array) {}

  get done(): boolean {
    return this.#at >= this.bytes.length;
  }

  u8(): number {
    return this.#at < this.bytes.length ? this.bytes[this.#at++] : 0;
  }

  u16(): number {
    return this.u8() | (this.u8() << 8);
  }

  u32(): number {
    return (this.u16() | (this.u16() << 16)) >>> 0;
  }

  bool(): boolean {
    return (this.u8() & 1) === 1;
  }

  /** A number in [0, n). */
  below(n: number): number {
    return n <= 256 ? this.u8() % n : this.u32() % n;
  }

  /** One of `choices`. */
  pick<T>(choices: readonly T[]): T {
    return choices[this.below(choices.length)];
  }

  /** The next `n` bytes (fewer at the end of the input), as a view. */
  take(n: number): Uint8Array {
    const end = Math.min(this.bytes.length, this.#at + n);
    const out = this.bytes.subarray(this.#at, end);
    this.#at = end;
    return out;
  }
}
