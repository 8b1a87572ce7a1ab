import { describe, expect, it } from 'vitest';
import {
  VIRTQ_DESC_F_INDIRECT as IND,
  VIRTQ_DESC_F_NEXT as NEXT,
  VIRTQ_DESC_F_WRITE as WRITE,
} from '../src/spec/packed.js';
import { VirtqueueError, type VirtqueueErrorCode } from '../src/virtqueue/errors.js';
import { BufferBurst } from '../src/virtqueue/buffer-burst.js';
import { ScatterList } from '../src/virtqueue/scatter-list.js';
import { popThroughBursts } from './support/burst-pop.js';
import { PackedTestRing } from './support/packed-ring.js';
import { GUEST, type FeatureFlags } from './support/split-ring.js';

/** The packed device against a buggy or hostile driver, and the packed driver against a buggy device. */
interface Case {
  name: string;
  flags?: FeatureFlags;
  size?: number;
  setup: (r: PackedTestRing) => void;
  code: VirtqueueErrorCode;
  index: number;
  value: number;
}

const A = (r: PackedTestRing, wrap = 1): number => r.avail(wrap);
const D = (r: PackedTestRing, off = 0): number => r.dataBase + off;

const deviceCases: Case[] = [
  {
    name: 'a mid-list descriptor whose AVAIL/USED flags do not match the wrap counter',
    setup: (r) => {
      r.writeDesc(1, D(r), 4, 0, A(r, 0)); // the previous lap's flags
      r.writeDesc(0, D(r), 4, 0, NEXT | A(r));
    },
    code: 'DESC_NOT_AVAILABLE',
    index: 1,
    value: 0x8000, // USED set, AVAIL clear: available only in a lap of wrap counter 0
  },
  {
    name: 'a list longer than the ring',
    size: 4,
    setup: (r) => {
      for (let i = 3; i >= 0; i--) r.writeDesc(i, D(r), 4, 0, NEXT | A(r));
    },
    code: 'CHAIN_TOO_LONG',
    index: 0,
    value: 5,
  },
  {
    name: 'a Buffer ID out of range',
    setup: (r) => r.writeDesc(0, D(r), 4, 8, A(r)),
    code: 'BUFFER_ID_OUT_OF_RANGE',
    index: 0,
    value: 8,
  },
  {
    name: 'an indirect table whose length is not a multiple of 16',
    flags: { indirect: true },
    setup: (r) => r.writeDesc(0, r.tableAddr(0), 17, 0, IND | A(r)),
    code: 'INDIRECT_BAD_LENGTH',
    index: 0,
    value: 17,
  },
  {
    name: 'an empty indirect table',
    flags: { indirect: true },
    setup: (r) => r.writeDesc(0, r.tableAddr(0), 0, 0, IND | A(r)),
    code: 'INDIRECT_BAD_LENGTH',
    index: 0,
    value: 0,
  },
  {
    name: 'an indirect table longer than the ring',
    flags: { indirect: true },
    setup: (r) => r.writeDesc(0, r.tableAddr(0), 16 * 9, 0, IND | A(r)),
    code: 'INDIRECT_BAD_LENGTH',
    index: 0,
    value: 144,
  },
  {
    name: 'a nested INDIRECT in an indirect table',
    flags: { indirect: true },
    setup: (r) => {
      r.writeTableDesc(0, 0, D(r), 4, 0);
      r.writeTableDesc(0, 1, r.tableAddr(1), 16, IND);
      r.writeDesc(0, r.tableAddr(0), 32, 0, IND | A(r));
    },
    code: 'INDIRECT_NESTED',
    index: 0,
    value: 1,
  },
  {
    name: 'INDIRECT together with NEXT',
    flags: { indirect: true },
    setup: (r) => r.writeDesc(0, r.tableAddr(0), 16, 0, IND | NEXT | A(r)),
    code: 'INDIRECT_WITH_NEXT',
    index: 0,
    value: IND | NEXT | 0x80,
  },
  {
    name: 'an indirect descriptor inside a NEXT list',
    flags: { indirect: true },
    setup: (r) => {
      r.writeDesc(1, r.tableAddr(0), 16, 0, IND | A(r));
      r.writeDesc(0, D(r), 4, 0, NEXT | A(r));
    },
    code: 'INDIRECT_IN_CHAIN',
    index: 1,
    value: IND | 0x80,
  },
  {
    name: 'INDIRECT when INDIRECT_DESC was not negotiated',
    setup: (r) => r.writeDesc(0, r.tableAddr(0), 16, 0, IND | A(r)),
    code: 'INDIRECT_NOT_NEGOTIATED',
    index: 0,
    value: IND | 0x80,
  },
  {
    name: 'a readable descriptor after a writable one',
    setup: (r) => {
      r.writeDesc(1, D(r, 8), 4, 0, A(r));
      r.writeDesc(0, D(r), 4, 0, WRITE | NEXT | A(r));
    },
    code: 'READABLE_AFTER_WRITABLE',
    index: 1,
    value: 4,
  },
  {
    name: 'a buffer address outside guest memory',
    setup: (r) => r.writeDesc(0, GUEST + r.memoryBytes, 4, 0, A(r)),
    code: 'ADDRESS_OUT_OF_RANGE',
    index: 0,
    value: GUEST + 0x40000,
  },
  {
    name: 'a buffer address at 2^53',
    setup: (r) => r.writeDesc(0, 2n ** 53n, 4, 0, WRITE | A(r)),
    code: 'ADDRESS_TOO_LARGE',
    index: 0,
    value: 2 ** 53,
  },
  {
    name: 'an indirect table outside guest memory',
    flags: { indirect: true },
    setup: (r) => r.writeDesc(0, GUEST - 16, 32, 0, IND | A(r)),
    code: 'ADDRESS_OUT_OF_RANGE',
    index: 0,
    value: GUEST - 16,
  },
  {
    name: 'an indirect table entry outside guest memory',
    flags: { indirect: true },
    setup: (r) => {
      r.writeTableDesc(0, 0, D(r), 4, 0);
      r.writeTableDesc(0, 1, GUEST + r.memoryBytes - 2, 4, WRITE);
      r.writeDesc(0, r.tableAddr(0), 32, 0, IND | A(r));
    },
    code: 'ADDRESS_OUT_OF_RANGE',
    index: 1,
    value: GUEST + 0x40000 - 2,
  },
];

describe('packed device: hostile driver input', () => {
  for (const c of deviceCases) {
    it(`rejects ${c.name} with ${c.code}`, () => {
      const ring = new PackedTestRing(c.size ?? 8, c.flags ?? {});
      const dev = ring.device();
      c.setup(ring);
      expect(() => dev.pop()).not.toThrow();
      expect(dev.error).toBeInstanceOf(VirtqueueError);
      expect(dev.error).toMatchObject({ code: c.code, queue: 'mock.0', index: c.index, value: c.value });
      expect(dev.pop()).toBeNull();
      expect(dev.hasAvailable()).toBe(false);
      expect(ring.guardsIntact()).toBe(true);
    });
  }

  for (const c of deviceCases) {
    it(`through popBurst too: rejects ${c.name} with ${c.code}`, () => {
      const ring = new PackedTestRing(c.size ?? 8, c.flags ?? {});
      const dev = ring.device();
      c.setup(ring);
      expect(() => popThroughBursts(dev)).not.toThrow();
      expect(dev.error).toMatchObject({ code: c.code, queue: 'mock.0', index: c.index, value: c.value });
      expect(dev.popBurst(new BufferBurst(8), 8)).toBe(0);
      expect(ring.guardsIntact()).toBe(true);
    });
  }

  it('through popBurst: a Buffer ID reused while in flight, and more descriptors than the ring holds', () => {
    const ring = new PackedTestRing(8);
    const dev = ring.device();
    ring.writeDesc(0, D(ring), 4, 3, A(ring));
    ring.writeDesc(1, D(ring, 8), 4, 3, A(ring));
    expect(popThroughBursts(dev)).toBe(1);
    expect(dev.error).toMatchObject({ code: 'BUFFER_ID_IN_FLIGHT', index: 1, value: 3 });

    const small = new PackedTestRing(2);
    const dev2 = small.device();
    small.writeDesc(0, D(small), 4, 0, A(small));
    small.writeDesc(1, D(small, 8), 4, 1, A(small));
    expect(popThroughBursts(dev2)).toBe(2);
    small.writeDesc(0, D(small, 16), 4, 0, A(small, 0)); // over a descriptor the device has not used yet
    expect(popThroughBursts(dev2)).toBe(0);
    expect(dev2.error).toMatchObject({ code: 'TOO_MANY_IN_FLIGHT', index: 0, value: 3 });
  });

  describe("DPDK's packed indirect tables with WRITE left set (docs/net.md)", () => {
    /** An indirect table of `flags`, one entry each, made available at position 0. */
    const table = (r: PackedTestRing, flags: number[]): void => {
      flags.forEach((f, i) => r.writeTableDesc(0, i, D(r, 16 * i), 12, f));
      r.writeDesc(0, r.tableAddr(0), 16 * flags.length, 0, IND | A(r));
    };

    it('a queue that does not tolerate it refuses it (READABLE_AFTER_WRITABLE), as every queue does by default', () => {
      const ring = new PackedTestRing(8, { indirect: true });
      const dev = ring.device();
      table(ring, [WRITE, 0, 0]);
      expect(dev.pop()).toBeNull();
      expect(dev.error).toMatchObject({ code: 'READABLE_AFTER_WRITABLE', index: 1 });
      expect(dev.stats.writeFlagsTolerated).toBe(0);
    });

    it('a transmit queue (readOnlyIndirectTables) reads the table as device-readable, and counts the table', () => {
      const ring = new PackedTestRing(8, { indirect: true });
      const dev = ring.device('batched', true);
      table(ring, [WRITE, WRITE, 0, WRITE]);
      const chain = dev.pop()!;
      expect(dev.error).toBeNull();
      expect([chain.readableCount, chain.writableCount, chain.readableLength]).toEqual([4, 0, 48]);
      expect(dev.stats.writeFlagsTolerated).toBe(1);
    });

    it('only in indirect tables: a direct chain with WRITE ahead of a readable descriptor is still refused', () => {
      const ring = new PackedTestRing(8, { indirect: true });
      const dev = ring.device('batched', true);
      ring.writeDesc(1, D(ring, 8), 4, 0, A(ring));
      ring.writeDesc(0, D(ring), 4, 0, WRITE | NEXT | A(ring));
      expect(dev.pop()).toBeNull();
      expect(dev.error).toMatchObject({ code: 'READABLE_AFTER_WRITABLE', index: 1 });
      expect(dev.stats.writeFlagsTolerated).toBe(0);
    });
  });

  it('rejects a Buffer ID reused while in flight (without IN_ORDER)', () => {
    const ring = new PackedTestRing(8);
    const dev = ring.device();
    ring.writeDesc(0, D(ring), 4, 3, A(ring));
    ring.writeDesc(1, D(ring, 8), 4, 3, A(ring));
    expect(dev.pop()?.id).toBe(3);
    expect(dev.pop()).toBeNull();
    expect(dev.error).toMatchObject({ code: 'BUFFER_ID_IN_FLIGHT', index: 1, value: 3 });
  });

  it('accepts a reused Buffer ID once the first buffer was completed', () => {
    const ring = new PackedTestRing(8);
    const dev = ring.device();
    ring.writeDesc(0, D(ring), 4, 3, A(ring));
    const first = dev.pop()!;
    dev.complete(first, 0);
    ring.writeDesc(1, D(ring, 8), 4, 3, A(ring));
    expect(dev.pop()?.id).toBe(3);
    expect(dev.error).toBeNull();
  });

  it('rejects more descriptors made available than the ring holds', () => {
    const ring = new PackedTestRing(2);
    const dev = ring.device();
    ring.writeDesc(0, D(ring), 4, 0, A(ring));
    ring.writeDesc(1, D(ring, 8), 4, 1, A(ring));
    expect(dev.pop()).not.toBeNull();
    expect(dev.pop()).not.toBeNull();
    ring.writeDesc(0, D(ring, 16), 4, 0, A(ring, 0)); // over a descriptor the device has not used yet
    expect(dev.pop()).toBeNull();
    expect(dev.error).toMatchObject({ code: 'TOO_MANY_IN_FLIGHT', index: 0, value: 3 });
  });
});

describe('packed driver: buggy device input', () => {
  const setup = (flags: FeatureFlags = {}) => {
    const ring = new PackedTestRing(8, flags);
    const drv = ring.driver<number>();
    for (let i = 0; i < 3; i++) drv.add(new ScatterList().addWritable(ring.dataBase + i * 16, 8), i, false);
    drv.kickPrepare();
    return { ring, drv };
  };
  const cases: {
    name: string;
    flags?: FeatureFlags;
    id: number;
    len: number;
    code: VirtqueueErrorCode;
    value: number;
  }[] = [
    { name: 'a used Buffer ID out of range', id: 9, len: 0, code: 'USED_ID_OUT_OF_RANGE', value: 9 },
    { name: 'a used Buffer ID not in flight', id: 5, len: 0, code: 'USED_ID_NOT_IN_FLIGHT', value: 5 },
    { name: 'a length beyond the buffer', id: 1, len: 9, code: 'USED_LEN_TOO_LARGE', value: 9 },
    {
      name: 'an IN_ORDER batch ID that matches no in-flight buffer',
      flags: { inOrder: true },
      id: 6,
      len: 0,
      code: 'IN_ORDER_BATCH_UNKNOWN_ID',
      value: 6,
    },
  ];
  for (const c of cases) {
    it(`rejects ${c.name} with ${c.code}`, () => {
      const { ring, drv } = setup(c.flags);
      ring.writeDesc(0, 0, c.len, c.id, ring.used(1) | WRITE);
      expect(() => drv.takeUsed()).not.toThrow();
      expect(drv.error).toMatchObject({ code: c.code, queue: 'mock.0', index: 0, value: c.value });
      expect(drv.takeUsed()).toBeUndefined();
      expect(drv.add(new ScatterList().addWritable(ring.dataBase, 4), 9, false)).toBe(false);
      expect(ring.guardsIntact()).toBe(true);
    });
  }

  it('ignores the length of a used descriptor without WRITE (reserved by the spec)', () => {
    const { ring, drv } = setup();
    ring.writeDesc(0, 0, 0xffff, 0, ring.used(1));
    expect(drv.takeUsed()).toBe(0);
    expect(drv.usedLen).toBe(0);
    expect(drv.error).toBeNull();
  });
});

describe('packed driver side: an IN_ORDER batch that crosses the end of the ring', () => {
  /** Ring of 8, IN_ORDER: a first lap of 6 buffers completed honestly, then 4 more at positions 6, 7, 0, 1. */
  const setup = () => {
    const ring = new PackedTestRing(8, { inOrder: true });
    const drv = ring.driver<number>();
    const dev = ring.device();
    const add = (token: number): void => {
      expect(drv.add(new ScatterList().addWritable(ring.dataBase + token * 16, 8), token, false)).toBe(true);
    };
    for (let t = 0; t < 6; t++) add(t);
    drv.kickPrepare();
    for (let t = 0; t < 6; t++) dev.complete(dev.pop()!, 8);
    dev.flush();
    for (let t = 0; t < 6; t++) expect(drv.takeUsed()).toBe(t);
    for (let t = 6; t < 10; t++) add(t);
    drv.kickPrepare();
    return { ring, drv };
  };

  it('one used descriptor at position 6 naming the buffer at position 1 completes all four, in order', () => {
    const { ring, drv } = setup();
    // Written by the device in its first lap (wrap 1) at the batch's first position; Buffer IDs run in ring order.
    ring.writeDesc(6, 0, 8, 1, ring.used(1) | WRITE);
    expect([6, 7, 8, 9].map(() => drv.takeUsed())).toEqual([6, 7, 8, 9]);
    expect(drv.error).toBeNull();
    expect(drv.takeUsed()).toBeUndefined();
    expect(ring.guardsIntact()).toBe(true);
  });

  it('a batch naming a buffer of the previous lap is refused (IN_ORDER_BATCH_UNKNOWN_ID), nothing handed back', () => {
    const { ring, drv } = setup();
    ring.writeDesc(6, 0, 8, 3, ring.used(1) | WRITE);
    expect(drv.takeUsed()).toBeUndefined();
    expect(drv.error).toMatchObject({ code: 'IN_ORDER_BATCH_UNKNOWN_ID', value: 3 });
    expect(ring.guardsIntact()).toBe(true);
  });

  it('a used descriptor written past the end (position 0) instead of at the batch start is not read', () => {
    const { ring, drv } = setup();
    // The driver looks for its next used descriptor at position 6 only.
    ring.writeDesc(0, 0, 8, 1, ring.used(0) | WRITE);
    expect(drv.takeUsed()).toBeUndefined();
    expect(drv.error).toBeNull();
  });
});
