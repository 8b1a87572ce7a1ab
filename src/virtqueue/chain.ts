const EMPTY = new Uint8Array(0);

/**
 * A descriptor chain as the device sees it: readable segments, then writable ones, each a window onto guest memory
 * (zero copy: `bytes[i]` is the whole region, the segment is `offsets[i]` .. `offsets[i] + lengths[i]`). Chains are
 * pooled by the queue and reused; hold one only until it is completed.
 */
export class Chain {
  /** What completes it: the head descriptor index (split) or the Buffer ID (packed). */
  id = 0;
  /** Ring descriptors the chain occupies (1 for an indirect chain): the IN_ORDER skip distance. */
  descCount = 0;
  /** Position in available order, counted from 0 when the queue starts. */
  seq = 0;
  /** Popped and not yet completed. */
  live = false;
  segCount = 0;
  readableCount = 0;
  readableLength = 0;
  writableLength = 0;
  readonly bytes: Uint8Array[] = [];
  readonly offsets: number[] = [];
  readonly lengths: number[] = [];

  get writableCount(): number {
    return this.segCount - this.readableCount;
  }

  /** @internal used by ring parsers. */
  reset(): void {
    this.segCount = 0;
    this.readableCount = 0;
    this.readableLength = 0;
    this.writableLength = 0;
  }

  /** @internal used by ring parsers; the caller has already checked the range and the readable/writable order. */
  push(bytes: Uint8Array | null, offset: number, length: number, writable: boolean): void {
    const i = this.segCount++;
    this.bytes[i] = bytes ?? EMPTY;
    this.offsets[i] = bytes === null ? 0 : offset;
    this.lengths[i] = length;
    if (writable) {
      this.writableLength += length;
    } else {
      this.readableCount++;
      this.readableLength += length;
    }
  }

  /** Segment i as its own view (allocates: for convenience, not for hot paths). */
  segment(i: number): Uint8Array {
    return this.bytes[i].subarray(this.offsets[i], this.offsets[i] + this.lengths[i]);
  }

  /** Copies the readable bytes out, in order (allocates). */
  readAll(): Uint8Array {
    const out = new Uint8Array(this.readableLength);
    let at = 0;
    for (let i = 0; i < this.readableCount; i++) {
      out.set(this.segment(i), at);
      at += this.lengths[i];
    }
    return out;
  }

  /** Copies the readable bytes, in order, into `out` as far as it holds them; returns the bytes copied. */
  readInto(out: Uint8Array): number {
    let at = 0;
    for (let i = 0; i < this.readableCount && at < out.length; i++) {
      const n = Math.min(this.lengths[i], out.length - at);
      out.set(this.bytes[i].subarray(this.offsets[i], this.offsets[i] + n), at);
      at += n;
    }
    return at;
  }

  /** Writes `data` across the writable segments from their start; returns the bytes written. */
  write(data: Uint8Array): number {
    let at = 0;
    for (let i = this.readableCount; i < this.segCount && at < data.length; i++) {
      const n = Math.min(this.lengths[i], data.length - at);
      this.bytes[i].set(data.subarray(at, at + n), this.offsets[i]);
      at += n;
    }
    return at;
  }
}
