/**
 * A bounded FIFO of frames in one (possibly shared) buffer: each slot holds a length and up to `slotBytes` bytes.
 * Many producers may push (a short spin lock orders them); one consumer peeks and pops. Over a SharedArrayBuffer it
 * carries frames between worker threads (the switch's port inboxes); over a plain ArrayBuffer it is a local queue.
 */
export class FrameRing {
  static readonly #HEAD = 0;
  static readonly #TAIL = 1;
  static readonly #LOCK = 2;
  static readonly #CONTROL_WORDS = 4;
  readonly #ctl: Int32Array;
  readonly #lengths: Int32Array;
  readonly bytes: Uint8Array;
  readonly capacity: number;
  readonly slotBytes: number;

  /** Bytes a ring of `capacity` slots of `slotBytes` needs. */
  static bytesFor(capacity: number, slotBytes: number): number {
    return (FrameRing.#CONTROL_WORDS + capacity) * 4 + capacity * slotBytes;
  }

  static create(capacity: number, slotBytes: number, shared: boolean): FrameRing {
    const n = FrameRing.bytesFor(capacity, slotBytes);
    return new FrameRing(shared ? new SharedArrayBuffer(n) : new ArrayBuffer(n), capacity, slotBytes);
  }

  constructor(buffer: ArrayBufferLike, capacity: number, slotBytes: number) {
    this.capacity = capacity;
    this.slotBytes = slotBytes;
    this.#ctl = new Int32Array(buffer, 0, FrameRing.#CONTROL_WORDS);
    this.#lengths = new Int32Array(buffer, FrameRing.#CONTROL_WORDS * 4, capacity);
    this.bytes = new Uint8Array(buffer, (FrameRing.#CONTROL_WORDS + capacity) * 4, capacity * slotBytes);
  }

  get buffer(): ArrayBufferLike {
    return this.#ctl.buffer;
  }

  get count(): number {
    return (Atomics.load(this.#ctl, FrameRing.#TAIL) - Atomics.load(this.#ctl, FrameRing.#HEAD)) | 0;
  }

  get free(): number {
    return this.capacity - this.count;
  }

  /**
   * Copies a frame in (published at once) and returns its offset in `bytes`, or -1 if the ring is full or the frame
   * is larger than a slot (the caller counts a drop).
   */
  push(src: Uint8Array, offset: number, length: number): number {
    if (length > this.slotBytes) return -1;
    const ctl = this.#ctl;
    while (Atomics.compareExchange(ctl, FrameRing.#LOCK, 0, 1) !== 0);
    try {
      const tail = Atomics.load(ctl, FrameRing.#TAIL);
      if (((tail - Atomics.load(ctl, FrameRing.#HEAD)) | 0) >= this.capacity) return -1;
      const slot = (tail >>> 0) % this.capacity;
      this.bytes.set(src.subarray(offset, offset + length), slot * this.slotBytes);
      this.#lengths[slot] = length;
      // Publishes the slot's bytes and length to the consumer.
      Atomics.store(ctl, FrameRing.#TAIL, (tail + 1) | 0);
      return slot * this.slotBytes;
    } finally {
      Atomics.store(ctl, FrameRing.#LOCK, 0);
    }
  }

  /** The oldest frame's offset in `bytes` (its length is `peekLength`), or -1 if empty. Consumer only. */
  peek(): number {
    const head = Atomics.load(this.#ctl, FrameRing.#HEAD);
    if (head === Atomics.load(this.#ctl, FrameRing.#TAIL)) return -1;
    return ((head >>> 0) % this.capacity) * this.slotBytes;
  }

  get peekLength(): number {
    return this.#lengths[((Atomics.load(this.#ctl, FrameRing.#HEAD) >>> 0) % this.capacity) | 0];
  }

  /** Drops the oldest frame (after peek). Consumer only. */
  pop(): void {
    // Hands the slot back to producers only after the consumer is done with its bytes.
    Atomics.store(this.#ctl, FrameRing.#HEAD, (Atomics.load(this.#ctl, FrameRing.#HEAD) + 1) | 0);
  }
}
