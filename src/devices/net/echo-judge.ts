import { CheckCounter, type DriverCheck } from '../../conformance/driver-judge.js';
import { FNV_OFFSET, fnv1a } from '../../util/fnv.js';

/** Frames remembered as delivered and not yet sent back. */
const REMEMBERED = 4096;

/** A frame's fingerprint: FNV-1a over its bytes, its length mixed in first. */
const frameHash = (bytes: Uint8Array, offset: number, length: number): number =>
  fnv1a(FNV_OFFSET ^ length, bytes, offset, offset + length);

/**
 * `vq check driver` against a driver that forwards what it receives, in order (testpmd in io mode): every frame it
 * sends, once frames have been delivered to it, must be one of those, byte for byte. Delivered frames wait in a FIFO;
 * a sent frame matches the oldest equal one (those before it were dropped by the driver, which a forwarder may do).
 * A frame that matches none was changed inside the driver (a receive path that took a wrong length, say).
 */
export class EchoJudge {
  readonly #counters: Int32Array;
  readonly #fifo = new Uint32Array(REMEMBERED);
  #head = 0;
  #count = 0;

  constructor(check: DriverCheck) {
    this.#counters = new Int32Array(check.counters);
  }

  delivered(bytes: Uint8Array, offset: number, length: number): void {
    if (this.#count === REMEMBERED) this.#drop(1);
    this.#fifo[(this.#head + this.#count++) % REMEMBERED] = frameHash(bytes, offset, length);
    Atomics.add(this.#counters, CheckCounter.DELIVERED, 1);
  }

  sent(bytes: Uint8Array, offset: number, length: number): void {
    // Before anything was delivered, the driver's frames are its own (testpmd's first burst).
    if (Atomics.load(this.#counters, CheckCounter.DELIVERED) === 0) return;
    const h = frameHash(bytes, offset, length);
    for (let k = 0; k < this.#count; k++) {
      if (this.#fifo[(this.#head + k) % REMEMBERED] !== h) continue;
      this.#drop(k + 1);
      return;
    }
    if (Atomics.add(this.#counters, CheckCounter.ALTERED, 1) === 0) {
      Atomics.store(this.#counters, CheckCounter.ALTERED_LENGTH, length);
    }
  }

  #drop(n: number): void {
    this.#head = (this.#head + n) % REMEMBERED;
    this.#count -= n;
  }
}
