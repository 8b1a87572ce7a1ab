/**
 * Guest memory: the driver's physical address space as a list of regions, each a window onto an ArrayBuffer or
 * SharedArrayBuffer (for vhost-user, an mmap'd memfd). Every access a virtqueue makes on behalf of a peer goes through
 * here and is bounds-checked: a range must lie wholly inside one region.
 */

/** Why an address range could not be translated. */
export const MemoryFault = {
  /** The range is not wholly inside one region. */
  OUT_OF_RANGE: 'ADDRESS_OUT_OF_RANGE',
  /** addr + len wraps past 2^64. */
  OVERFLOW: 'ADDRESS_OVERFLOW',
  /** The range reaches 2^53: no region can be there, and a JS number cannot name it exactly. */
  TOO_LARGE: 'ADDRESS_TOO_LARGE',
} as const;
export type MemoryFault = (typeof MemoryFault)[keyof typeof MemoryFault];

/** No guest address reaches this (2^53): JavaScript numbers name addresses exactly below it. */
export const MAX_SAFE_ADDRESS = 2 ** 53;
const TWO_32 = 2 ** 32;

/** An address range outside guest memory, or a region that cannot be set up; `fault` says which. */
export class GuestMemoryError extends Error {
  override readonly name = 'GuestMemoryError';
  constructor(
    readonly fault: MemoryFault | 'BAD_REGION',
    readonly addr: number,
    readonly len: number,
    message: string,
  ) {
    super(message);
  }
}

/** One region of guest memory: where it sits in the guest and which bytes back it. */
export interface RegionInit {
  /** Guest physical address of the first byte. */
  guestAddr: number;
  size: number;
  buffer: ArrayBufferLike;
  /** Byte offset of the region inside `buffer` (default 0). */
  offset?: number;
}

/** A region of guest memory, with views onto its bytes. */
export class MemoryRegion {
  readonly guestAddr: number;
  readonly size: number;
  /** guestAddr + size. */
  readonly end: number;
  /** Exactly the region's bytes: index 0 is guestAddr. */
  readonly bytes: Uint8Array;
  /** Same bytes, for little-endian reads at any alignment. */
  readonly view: DataView;

  constructor(init: RegionInit) {
    const offset = init.offset ?? 0;
    const { guestAddr, size } = init;
    if (!Number.isSafeInteger(guestAddr) || guestAddr < 0 || !Number.isSafeInteger(size) || size <= 0) {
      throw new GuestMemoryError('BAD_REGION', guestAddr, size, `bad region: addr ${hex(guestAddr)} size ${size}`);
    }
    if (guestAddr + size > MAX_SAFE_ADDRESS) {
      throw new GuestMemoryError('BAD_REGION', guestAddr, size, `region ${hex(guestAddr)}+${size} reaches 2^53`);
    }
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + size > init.buffer.byteLength) {
      throw new GuestMemoryError(
        'BAD_REGION',
        guestAddr,
        size,
        `region ${hex(guestAddr)}+${size} at offset ${offset} does not fit its buffer of ${init.buffer.byteLength} bytes`,
      );
    }
    this.guestAddr = guestAddr;
    this.size = size;
    this.end = guestAddr + size;
    this.bytes = new Uint8Array(init.buffer, offset, size);
    this.view = new DataView(init.buffer, offset, size);
  }
}

/** The guest's memory as bounds-checked regions: every access a queue makes for a peer goes through locate(). */
export class GuestMemory {
  readonly regions: readonly MemoryRegion[];
  #lastHit = 0;
  /** Set by a successful locate(): byte offset of the range inside the located region's `bytes`. */
  offset = 0;

  constructor(regions: readonly RegionInit[]) {
    const built = regions.map((r) => new MemoryRegion(r)).sort((a, b) => a.guestAddr - b.guestAddr);
    for (let i = 1; i < built.length; i++) {
      if (built[i].guestAddr < built[i - 1].end) {
        throw new GuestMemoryError(
          'BAD_REGION',
          built[i].guestAddr,
          built[i].size,
          `region ${hex(built[i].guestAddr)} overlaps region ${hex(built[i - 1].guestAddr)}+${built[i - 1].size}`,
        );
      }
    }
    this.regions = built;
  }

  /** One region of `size` bytes at `guestAddr`, backed by a new SharedArrayBuffer (shareable with workers). */
  static shared(guestAddr: number, size: number): GuestMemory {
    return new GuestMemory([{ guestAddr, size, buffer: new SharedArrayBuffer(size) }]);
  }

  /**
   * Hot path, allocates nothing: the index of the region holding [addr, addr+len) wholly, with `this.offset` set to
   * the range's offset in that region; or a MemoryFault. `addr` must already be a number below 2^53 (see
   * locateWords for a raw 64-bit address).
   */
  locate(addr: number, len: number): number | MemoryFault {
    // MAX - addr is exact where addr + len could round.
    if (len > MAX_SAFE_ADDRESS - addr) return MemoryFault.TOO_LARGE;
    const end = addr + len;
    const regions = this.regions;
    let r = regions[this.#lastHit];
    if (r !== undefined && addr >= r.guestAddr && end <= r.end) {
      this.offset = addr - r.guestAddr;
      return this.#lastHit;
    }
    for (let i = 0; i < regions.length; i++) {
      r = regions[i];
      if (addr >= r.guestAddr && addr < r.end) {
        if (end > r.end) return MemoryFault.OUT_OF_RANGE;
        this.#lastHit = i;
        this.offset = addr - r.guestAddr;
        return i;
      }
    }
    // A zero-length range at the very end of a region names no byte; accept it there.
    if (len === 0) {
      for (let i = 0; i < regions.length; i++) {
        if (addr === regions[i].end) {
          this.offset = regions[i].size;
          return i;
        }
      }
    }
    return MemoryFault.OUT_OF_RANGE;
  }

  /** locate() for a little-endian 64-bit address given as two 32-bit words, as rings store them. */
  locateWords(lo: number, hi: number, len: number): number | MemoryFault {
    if (hi >= 0x200000) {
      // hi >= 2^21 means addr >= 2^53; an address near 2^64 whose range wraps is reported as the overflow it is.
      return hi === 0xffffffff && lo + len > TWO_32 ? MemoryFault.OVERFLOW : MemoryFault.TOO_LARGE;
    }
    return this.locate(hi * TWO_32 + lo, len);
  }

  /**
   * locateWords() for ring parsers' hot path: the bytes of the region holding the range wholly (the range at
   * `this.offset`), or null where locateWords() names a fault. Inside the region of the last hit it is a two-compare
   * check (hi < 2^21 keeps the address exact; a sum past 2^53 rounds up, never into the region).
   */
  bytesWords(lo: number, hi: number, len: number): Uint8Array | null {
    const addr = hi * TWO_32 + lo;
    const hit = this.regions[this.#lastHit];
    if (hi < 0x200000 && hit !== undefined && addr >= hit.guestAddr && addr + len <= hit.end) {
      this.offset = addr - hit.guestAddr;
      return hit.bytes;
    }
    const r = this.locateWords(lo, hi, len);
    return typeof r === 'number' ? this.regions[r].bytes : null;
  }

  /** Convenience (allocates): a view of [addr, addr+len), or a thrown GuestMemoryError. Not for hot paths. */
  translate(addr: number, len: number): Uint8Array {
    if (!Number.isSafeInteger(addr) || addr < 0 || !Number.isSafeInteger(len) || len < 0) {
      throw new GuestMemoryError(MemoryFault.TOO_LARGE, addr, len, `bad address range ${addr}+${len}`);
    }
    const r = this.locate(addr, len);
    if (typeof r !== 'number') throw new GuestMemoryError(r, addr, len, describeFault(r, addr, len));
    return this.regions[r].bytes.subarray(this.offset, this.offset + len);
  }

  /** A DataView of [addr, addr+len) (allocates; for setup, not per buffer). */
  dataView(addr: number, len: number): DataView {
    const bytes = this.translate(addr, len);
    return new DataView(bytes.buffer, bytes.byteOffset, len);
  }
}

export function describeFault(fault: MemoryFault, addr: number, len: number): string {
  switch (fault) {
    case MemoryFault.OUT_OF_RANGE:
      return `range ${hex(addr)}+${len} is not inside guest memory`;
    case MemoryFault.OVERFLOW:
      return `range at ${hex(addr)}+${len} wraps past 2^64`;
    case MemoryFault.TOO_LARGE:
      return `range ${hex(addr)}+${len} reaches 2^53`;
  }
}

export const hex = (n: number): string => (Number.isFinite(n) && n >= 0 ? `0x${n.toString(16)}` : String(n));
