import { isBroadcast, isMulticast, macKey } from './frame.js';

/** Most MAC filter entries the device keeps (unicast and multicast together); more means "accept all". */
export const MAC_TABLE_ENTRIES = 64;

const PROMISC = 0;
const ALLMULTI = 1;
const PAIRS = 2;
const MAC_HI = 3;
const MAC_LO = 4;
const TABLE_COUNT = 5;
/** The table overflowed: accept every unicast / multicast address (as QEMU does). */
const UNI_OVERFLOW = 6;
const MULTI_OVERFLOW = 7;
const TABLE = 8;
const WORDS = TABLE + 2 * MAC_TABLE_ENTRIES;

/**
 * The receive filter and queue-pair count the control queue sets, shared by every worker of a port: the control
 * worker writes it, the data workers read it. Starts promiscuous (as QEMU's virtio-net does until the driver says
 * otherwise), with every pair active.
 */
export class NetState {
  readonly words: Int32Array;

  constructor(buffer: SharedArrayBuffer = new SharedArrayBuffer(WORDS * 4)) {
    this.words = new Int32Array(buffer);
  }

  static create(mac: Uint8Array, pairs: number): NetState {
    const s = new NetState();
    s.reset(mac, pairs);
    return s;
  }

  /** Back to the device's defaults (a new driver starts from them): promiscuous, every pair, no filter table. */
  reset(mac: Uint8Array, pairs: number): void {
    const w = this.words;
    for (let i = 0; i < WORDS; i++) Atomics.store(w, i, 0);
    this.setMac(mac);
    Atomics.store(w, PROMISC, 1);
    Atomics.store(w, PAIRS, pairs);
  }

  get buffer(): SharedArrayBuffer {
    return this.words.buffer as SharedArrayBuffer;
  }

  get promisc(): boolean {
    return Atomics.load(this.words, PROMISC) !== 0;
  }
  set promisc(on: boolean) {
    Atomics.store(this.words, PROMISC, on ? 1 : 0);
  }
  get allmulti(): boolean {
    return Atomics.load(this.words, ALLMULTI) !== 0;
  }
  set allmulti(on: boolean) {
    Atomics.store(this.words, ALLMULTI, on ? 1 : 0);
  }
  get pairs(): number {
    return Atomics.load(this.words, PAIRS);
  }
  set pairs(n: number) {
    Atomics.store(this.words, PAIRS, n);
  }

  setMac(mac: Uint8Array, at = 0): void {
    Atomics.store(this.words, MAC_HI, (mac[at] << 8) | mac[at + 1]);
    Atomics.store(this.words, MAC_LO, (mac[at + 2] << 24) | (mac[at + 3] << 16) | (mac[at + 4] << 8) | mac[at + 5]);
  }

  get macKey(): number {
    return Atomics.load(this.words, MAC_HI) * 0x1_0000_0000 + (Atomics.load(this.words, MAC_LO) >>> 0);
  }

  /** Replaces the filter table (unicast then multicast entries, 6 bytes each, as MAC_TABLE_SET carries them). */
  setTable(unicast: Uint8Array[], multicast: Uint8Array[]): void {
    const w = this.words;
    const all = [...unicast, ...multicast];
    Atomics.store(w, UNI_OVERFLOW, unicast.length > MAC_TABLE_ENTRIES ? 1 : 0);
    Atomics.store(w, MULTI_OVERFLOW, all.length > MAC_TABLE_ENTRIES ? 1 : 0);
    const kept = all.slice(0, MAC_TABLE_ENTRIES);
    Atomics.store(w, TABLE_COUNT, 0);
    kept.forEach((m, i) => {
      w[TABLE + 2 * i] = (m[0] << 8) | m[1];
      w[TABLE + 2 * i + 1] = (m[2] << 24) | (m[3] << 16) | (m[4] << 8) | m[5];
    });
    // Publishes the entries written above.
    Atomics.store(w, TABLE_COUNT, kept.length);
  }

  /** Whether a frame with this destination is delivered to the driver. */
  accepts(frame: Uint8Array, at: number): boolean {
    const w = this.words;
    if (Atomics.load(w, PROMISC) !== 0) return true;
    const key = macKey(frame, at);
    if (isBroadcast(frame, at)) return true;
    if (isMulticast(frame, at)) {
      if (Atomics.load(w, ALLMULTI) !== 0 || Atomics.load(w, MULTI_OVERFLOW) !== 0) return true;
    } else {
      if (Atomics.load(w, UNI_OVERFLOW) !== 0) return true;
      if (key === this.macKey) return true;
    }
    const n = Atomics.load(w, TABLE_COUNT);
    for (let i = 0; i < n; i++) {
      if (w[TABLE + 2 * i] * 0x1_0000_0000 + (w[TABLE + 2 * i + 1] >>> 0) === key) return true;
    }
    return false;
  }
}
