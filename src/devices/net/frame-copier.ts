/**
 * The copy backend's work: each frame copied out of guest memory into the next buffer of a small pool, then dropped.
 * This is what DPDK's vhost PMD does per frame (a copy into an mbuf, which testpmd rxonly frees). The pool holds one
 * round of frames, so its buffers stay in cache as a mempool's per-core cache keeps mbufs.
 */
export class FrameCopier {
  readonly pool: Uint8Array;
  /** Bytes between buffers: a frame's room rounded up to 64, so buffers start on cache lines as mbuf data does. */
  readonly stride: number;
  #next = 0;

  constructor(
    readonly buffers: number,
    maxFrame: number,
  ) {
    this.stride = (maxFrame + 63) & ~63;
    this.pool = new Uint8Array(buffers * this.stride);
  }

  /** Copies the frame into the next buffer; returns where in the pool it went. */
  copy(bytes: Uint8Array, offset: number, length: number): number {
    if (length > this.stride) throw new RangeError(`a ${length}-byte frame; buffers hold ${this.stride}`);
    const at = this.#next * this.stride;
    this.#next = this.#next + 1 === this.buffers ? 0 : this.#next + 1;
    // Natively: a loop of 32-bit words, 4 times faster on one core, was half as fast here, each load waiting for a
    // line the driver's core had just written.
    this.pool.set(bytes.subarray(offset, offset + length), at);
    return at;
  }
}
