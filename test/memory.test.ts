import { describe, expect, it } from 'vitest';
import { GuestMemory, GuestMemoryError, MemoryFault } from '../src/memory/guest-memory.js';

const twoRegions = (): GuestMemory =>
  new GuestMemory([
    { guestAddr: 0x1000, size: 0x1000, buffer: new ArrayBuffer(0x1000) },
    { guestAddr: 0x3000, size: 0x2000, buffer: new SharedArrayBuffer(0x3000), offset: 0x1000 },
  ]);

describe('GuestMemory', () => {
  it('translates a range inside a region to a view of exactly those bytes', () => {
    const m = twoRegions();
    const v = m.translate(0x3010, 4);
    v.set([1, 2, 3, 4]);
    expect(m.regions[1].bytes.subarray(0x10, 0x14)).toEqual(new Uint8Array([1, 2, 3, 4]));
    expect(m.translate(0x1000, 0x1000).length).toBe(0x1000);
  });

  it('honours the region offset inside its buffer', () => {
    const buffer = new ArrayBuffer(0x100);
    const m = new GuestMemory([{ guestAddr: 0x8000, size: 0x80, buffer, offset: 0x40 }]);
    m.translate(0x8000, 1)[0] = 7;
    expect(new Uint8Array(buffer)[0x40]).toBe(7);
  });

  it('rejects a range not wholly inside one region', () => {
    const m = twoRegions();
    expect(m.locate(0x0fff, 1)).toBe(MemoryFault.OUT_OF_RANGE);
    expect(m.locate(0x1fff, 2)).toBe(MemoryFault.OUT_OF_RANGE); // runs off the end of region 0
    expect(m.locate(0x2000, 1)).toBe(MemoryFault.OUT_OF_RANGE); // the hole between regions
    expect(m.locate(0x1800, 0x2000)).toBe(MemoryFault.OUT_OF_RANGE); // spans both regions and the hole
    expect(m.locate(0x4fff, 2)).toBe(MemoryFault.OUT_OF_RANGE);
    expect(() => m.translate(0x2000, 4)).toThrow(GuestMemoryError);
  });

  it('rejects ranges that reach 2^53 or wrap past 2^64', () => {
    const m = twoRegions();
    expect(m.locate(2 ** 53 - 1, 2)).toBe(MemoryFault.TOO_LARGE);
    expect(m.locateWords(0, 0x200000, 1)).toBe(MemoryFault.TOO_LARGE); // exactly 2^53
    expect(m.locateWords(0xfffffff0, 0xffffffff, 0x20)).toBe(MemoryFault.OVERFLOW);
    expect(m.locateWords(0x3000, 0, 4)).toBe(1);
    expect(m.offset).toBe(0);
  });

  it('accepts a zero-length range at a region end but nothing beyond', () => {
    const m = twoRegions();
    expect(m.locate(0x2000, 0)).toBe(0);
    expect(m.locate(0x2001, 0)).toBe(MemoryFault.OUT_OF_RANGE);
  });

  it('rejects overlapping regions, regions outside their buffer and regions reaching 2^53', () => {
    const buffer = new ArrayBuffer(0x2000);
    expect(
      () =>
        new GuestMemory([
          { guestAddr: 0x1000, size: 0x1000, buffer },
          { guestAddr: 0x1800, size: 0x1000, buffer },
        ]),
    ).toThrow(/overlaps/);
    expect(() => new GuestMemory([{ guestAddr: 0, size: 0x3000, buffer }])).toThrow(/does not fit/);
    expect(() => new GuestMemory([{ guestAddr: 2 ** 53 - 0x1000, size: 0x2000, buffer }])).toThrow(/2\^53/);
    expect(() => new GuestMemory([{ guestAddr: 0, size: 0, buffer }])).toThrow(/bad region/);
  });

  it('finds the right region among many, in any order given', () => {
    const regions = [5, 1, 7, 3, 0, 2, 6, 4].map((i) => ({
      guestAddr: i * 0x10000,
      size: 0x1000,
      buffer: new ArrayBuffer(0x1000),
    }));
    const m = new GuestMemory(regions);
    for (let i = 0; i < 8; i++) {
      expect(m.locate(i * 0x10000 + 0x10, 0x20)).toBe(i);
      expect(m.offset).toBe(0x10);
    }
  });
});
