import { GuestMemory } from '../../src/memory/guest-memory.js';
import type { Features } from '../../src/virtqueue/features.js';
import type { RingAddresses, UsedEntryPolicy } from '../../src/virtqueue/types.js';

/** Where the test rings' guest memory starts and how large it is (by default). */
export const GUEST = 0x10000;
export const MEMORY_BYTES = 0x40000;
const GUARD = 0x4000;
const GUARD_BYTE = 0xa5;

/**
 * Guest memory for ring unit tests: one region between two guard areas of the same ArrayBuffer, so guardsIntact()
 * tells whether anything outside guest memory was written. Rings lay themselves out from GUEST; indirect tables go
 * at tableBase (0x1000 bytes each), data at dataBase.
 */
export class GuardedGuestMemory {
  readonly buffer: ArrayBuffer;
  readonly memory: GuestMemory;
  readonly tableBase = GUEST + 0x8000;
  readonly dataBase = GUEST + 0x20000;
  /** Guest memory's bytes, byte 0 at GUEST (see off()). */
  protected readonly view: DataView;
  readonly #all: Uint8Array;

  constructor(readonly memoryBytes = MEMORY_BYTES) {
    this.buffer = new ArrayBuffer(GUARD + memoryBytes + GUARD);
    this.memory = new GuestMemory([{ guestAddr: GUEST, size: memoryBytes, buffer: this.buffer, offset: GUARD }]);
    this.#all = new Uint8Array(this.buffer);
    this.#all.fill(GUARD_BYTE, 0, GUARD);
    this.#all.fill(GUARD_BYTE, GUARD + memoryBytes);
    this.view = new DataView(this.buffer, GUARD, memoryBytes);
  }

  guardsIntact(): boolean {
    for (let i = 0; i < GUARD; i++) {
      if (this.#all[i] !== GUARD_BYTE || this.#all[GUARD + this.memoryBytes + i] !== GUARD_BYTE) return false;
    }
    return true;
  }

  /** Indirect table k. */
  tableAddr(k: number): number {
    return this.tableBase + k * 0x1000;
  }

  /** A guest address as an offset into view. */
  protected off(addr: number): number {
    return addr - GUEST;
  }
}

/** A ring of either layout in guarded guest memory: the configs its device and driver are built from. */
export abstract class GuardedRing extends GuardedGuestMemory {
  abstract readonly size: number;
  abstract readonly features: Features;
  abstract readonly addresses: RingAddresses;

  protected deviceConfig(usedEntries: UsedEntryPolicy) {
    const { size, features, memory, addresses } = this;
    return { name: 'mock.0', size, features, memory, addresses, usedEntries };
  }

  /** Indirect tables at tableBase, `indirectMax` entries each. */
  protected driverConfig(indirectMax: number) {
    const { size, features, memory, addresses } = this;
    return { name: 'mock.0', size, features, memory, addresses, indirectArea: this.tableBase, indirectMax };
  }
}
