/**
 * A small seeded PRNG (mulberry32): the same seed gives the same run, so a failure can be replayed from its seed.
 * Not for cryptography. State and results stay within 31 bits, so V8 keeps them as small integers and drawing a
 * number allocates nothing.
 */
export class Prng {
  #state: number;

  constructor(seed: number) {
    this.#state = seed | 0 || 0x1e3779b9;
  }

  /** Uniform integer in [0, 2^31). */
  next31(): number {
    const s = (this.#state = (this.#state + 0x6d2b79f5) | 0);
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) & 0x7fffffff;
  }

  /** Uniform integer in [min, max]. */
  int(min: number, max: number): number {
    return min + (this.next31() % (max - min + 1));
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.next31() < p * 0x80000000;
  }
}
