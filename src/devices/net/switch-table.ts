import { macKey } from './frame.js';

const SLOTS = 1024;
const PROBE = 8;
const LOCK = 0;
const BASE = 1;

/**
 * The forwarding table of a learning L2 switch, shared by the worker threads of every port: source MAC -> port.
 * Writers (learning) take a short spin lock; readers check the address again after reading the port, so a lookup
 * racing a write either sees the old entry or misses (and the frame is flooded), never a torn one.
 */
export class SwitchTable {
  readonly words: Int32Array;

  constructor(buffer: SharedArrayBuffer = new SharedArrayBuffer((BASE + 3 * SLOTS) * 4)) {
    this.words = new Int32Array(buffer);
  }

  get buffer(): SharedArrayBuffer {
    return this.words.buffer as SharedArrayBuffer;
  }

  /** Records that the frame's source MAC (bytes at+6..at+12) lives on `port`. */
  learn(frame: Uint8Array, at: number, port: number): void {
    const key = macKey(frame, at + 6);
    if (this.lookupKey(key) === port) return;
    const w = this.words;
    const hi = Math.floor(key / 0x1_0000_0000);
    const lo = (key % 0x1_0000_0000) | 0;
    while (Atomics.compareExchange(w, LOCK, 0, 1) !== 0);
    try {
      const start = lo & (SLOTS - 1);
      let victim = start;
      for (let i = 0; i < PROBE; i++) {
        const s = (start + i) & (SLOTS - 1);
        const e = BASE + 3 * s;
        if (w[e + 2] === 0 || (w[e] === hi && w[e + 1] === lo)) {
          victim = s;
          break;
        }
      }
      const e = BASE + 3 * victim;
      Atomics.store(w, e + 2, 0);
      Atomics.store(w, e, hi);
      Atomics.store(w, e + 1, lo);
      Atomics.store(w, e + 2, port + 1);
    } finally {
      Atomics.store(w, LOCK, 0);
    }
  }

  /** The port the frame's destination MAC was learned on, or -1 (unknown: flood). */
  lookup(frame: Uint8Array, at: number): number {
    return this.lookupKey(macKey(frame, at));
  }

  lookupKey(key: number): number {
    const w = this.words;
    const hi = Math.floor(key / 0x1_0000_0000);
    const lo = (key % 0x1_0000_0000) | 0;
    const start = lo & (SLOTS - 1);
    for (let i = 0; i < PROBE; i++) {
      const e = BASE + 3 * ((start + i) & (SLOTS - 1));
      const port = Atomics.load(w, e + 2);
      if (port === 0) continue;
      if (Atomics.load(w, e) === hi && Atomics.load(w, e + 1) === lo && Atomics.load(w, e + 2) === port)
        return port - 1;
    }
    return -1;
  }
}
