import { describe, expect, it } from 'vitest';
import {
  VIRTQ_DESC_F_INDIRECT as IND,
  VIRTQ_DESC_F_NEXT as NEXT,
  VIRTQ_DESC_F_WRITE as WRITE,
} from '../src/spec/split.js';
import { VirtqueueError, type VirtqueueErrorCode } from '../src/virtqueue/errors.js';
import { SplitDevice } from '../src/virtqueue/split/split-device.js';
import { splitRingLayout } from '../src/virtqueue/split/layout.js';
import { popThroughBursts } from './support/burst-pop.js';
import { GUEST, TestRing, type FeatureFlags } from './support/split-ring.js';

/**
 * The device side against a buggy or hostile driver: each case writes a bad ring by hand, and the device must report
 * that exact error (code, queue, index, value), stop the queue, and touch nothing outside guest memory.
 */
interface Case {
  name: string;
  flags?: FeatureFlags;
  size?: number;
  memoryBytes?: number;
  setup: (ring: TestRing) => void;
  code: VirtqueueErrorCode;
  index: number;
  value: number;
}

const D = (ring: TestRing, off = 0): number => ring.dataBase + off;

const cases: Case[] = [
  {
    name: 'a head index out of range',
    setup: (r) => r.publish(8),
    code: 'HEAD_OUT_OF_RANGE',
    index: 0,
    value: 8,
  },
  {
    name: 'a next index out of range',
    setup: (r) => {
      r.writeDesc(0, D(r), 4, NEXT, 9);
      r.publish(0);
    },
    code: 'NEXT_OUT_OF_RANGE',
    index: 0,
    value: 9,
  },
  {
    name: 'a chain that loops (longer than the queue)',
    setup: (r) => {
      r.writeDesc(0, D(r), 4, NEXT, 1);
      r.writeDesc(1, D(r), 4, NEXT, 0);
      r.publish(0);
    },
    code: 'CHAIN_TOO_LONG',
    index: 0,
    value: 9,
  },
  {
    name: 'a total length beyond 2^32 - 1',
    memoryBytes: 0x4000_0000 + 0x30000,
    setup: (r) => {
      for (let i = 0; i < 4; i++) r.writeDesc(i, D(r), 0x4000_0000, NEXT, i + 1);
      r.writeDesc(4, D(r), 1, 0);
      r.publish(0);
    },
    code: 'LENGTH_OVERFLOW',
    index: 3,
    value: 0x1_0000_0000,
  },
  {
    name: 'an indirect table whose length is not a multiple of 16',
    flags: { indirect: true },
    setup: (r) => {
      r.writeDesc(0, r.tableAddr(0), 17, IND);
      r.publish(0);
    },
    code: 'INDIRECT_BAD_LENGTH',
    index: 0,
    value: 17,
  },
  {
    name: 'an empty indirect table',
    flags: { indirect: true },
    setup: (r) => {
      r.writeDesc(0, r.tableAddr(0), 0, IND);
      r.publish(0);
    },
    code: 'INDIRECT_BAD_LENGTH',
    index: 0,
    value: 0,
  },
  {
    name: 'an indirect table longer than the queue',
    flags: { indirect: true },
    setup: (r) => {
      r.writeDesc(0, r.tableAddr(0), 16 * 9, IND);
      r.publish(0);
    },
    code: 'INDIRECT_BAD_LENGTH',
    index: 0,
    value: 144,
  },
  {
    name: 'an indirect descriptor inside an indirect table',
    flags: { indirect: true },
    setup: (r) => {
      r.writeTableDesc(0, 0, D(r), 4, NEXT, 1);
      r.writeTableDesc(0, 1, r.tableAddr(1), 16, IND);
      r.writeDesc(0, r.tableAddr(0), 32, IND);
      r.publish(0);
    },
    code: 'INDIRECT_NESTED',
    index: 0,
    value: 1,
  },
  {
    name: 'INDIRECT together with NEXT',
    flags: { indirect: true },
    setup: (r) => {
      r.writeDesc(0, r.tableAddr(0), 16, IND | NEXT, 1);
      r.publish(0);
    },
    code: 'INDIRECT_WITH_NEXT',
    index: 0,
    value: IND | NEXT,
  },
  {
    name: 'INDIRECT when INDIRECT_DESC was not negotiated',
    setup: (r) => {
      r.writeTableDesc(0, 0, D(r), 4, 0);
      r.writeDesc(0, r.tableAddr(0), 16, IND);
      r.publish(0);
    },
    code: 'INDIRECT_NOT_NEGOTIATED',
    index: 0,
    value: IND,
  },
  {
    name: 'an indirect table that loops',
    flags: { indirect: true },
    setup: (r) => {
      r.writeTableDesc(0, 0, D(r), 4, NEXT, 1);
      r.writeTableDesc(0, 1, D(r), 4, NEXT, 0);
      r.writeDesc(0, r.tableAddr(0), 32, IND);
      r.publish(0);
    },
    code: 'CHAIN_TOO_LONG',
    index: 0,
    value: 3,
  },
  {
    name: 'a readable segment after a writable one',
    setup: (r) => {
      r.writeDesc(0, D(r), 4, WRITE | NEXT, 1);
      r.writeDesc(1, D(r, 4), 4, 0);
      r.publish(0);
    },
    code: 'READABLE_AFTER_WRITABLE',
    index: 1,
    value: 4,
  },
  {
    name: 'a readable segment after a writable one inside an indirect table',
    flags: { indirect: true },
    setup: (r) => {
      r.writeTableDesc(0, 0, D(r), 4, WRITE | NEXT, 1);
      r.writeTableDesc(0, 1, D(r, 4), 6, 0);
      r.writeDesc(0, r.tableAddr(0), 32, IND);
      r.publish(0);
    },
    code: 'READABLE_AFTER_WRITABLE',
    index: 1,
    value: 6,
  },
  {
    name: 'avail idx ahead by more than the queue size',
    setup: (r) => r.setAvailIdx(9),
    code: 'AVAIL_IDX_AHEAD',
    index: 0,
    value: 9,
  },
  {
    name: 'a buffer address outside guest memory',
    setup: (r) => {
      r.writeDesc(0, GUEST + r.memoryBytes, 4, 0);
      r.publish(0);
    },
    code: 'ADDRESS_OUT_OF_RANGE',
    index: 0,
    value: GUEST + 0x40000,
  },
  {
    name: 'a buffer that runs off the end of guest memory',
    setup: (r) => {
      r.writeDesc(0, GUEST + r.memoryBytes - 4, 8, WRITE);
      r.publish(0);
    },
    code: 'ADDRESS_OUT_OF_RANGE',
    index: 0,
    value: GUEST + 0x40000 - 4,
  },
  {
    name: 'a buffer below guest memory',
    setup: (r) => {
      r.writeDesc(0, GUEST - 4, 8, WRITE);
      r.publish(0);
    },
    code: 'ADDRESS_OUT_OF_RANGE',
    index: 0,
    value: GUEST - 4,
  },
  {
    name: 'a buffer address at 2^53',
    setup: (r) => {
      r.writeDesc(0, 2n ** 53n, 4, 0);
      r.publish(0);
    },
    code: 'ADDRESS_TOO_LARGE',
    index: 0,
    value: 2 ** 53,
  },
  {
    name: 'a buffer that wraps past 2^64',
    setup: (r) => {
      r.writeDesc(0, 2n ** 64n - 16n, 32, WRITE);
      r.publish(0);
    },
    code: 'ADDRESS_OVERFLOW',
    index: 0,
    value: 2 ** 64 - 16,
  },
  {
    name: 'an indirect table outside guest memory',
    flags: { indirect: true },
    setup: (r) => {
      r.writeDesc(0, GUEST + r.memoryBytes - 16, 32, IND);
      r.publish(0);
    },
    code: 'ADDRESS_OUT_OF_RANGE',
    index: 0,
    value: GUEST + 0x40000 - 16,
  },
  {
    name: 'an indirect table entry outside guest memory',
    flags: { indirect: true },
    setup: (r) => {
      r.writeTableDesc(0, 0, D(r), 4, NEXT, 1);
      r.writeTableDesc(0, 1, 0x10, 4, WRITE);
      r.writeDesc(0, r.tableAddr(0), 32, IND);
      r.publish(0);
    },
    code: 'ADDRESS_OUT_OF_RANGE',
    index: 1,
    value: 0x10,
  },
  {
    name: 'IN_ORDER: a head that is not the next sequential one',
    flags: { inOrder: true },
    setup: (r) => {
      r.writeDesc(3, D(r), 4, 0);
      r.publish(3);
    },
    code: 'IN_ORDER_HEAD_UNEXPECTED',
    index: 0,
    value: 3,
  },
  {
    name: 'IN_ORDER: a chain whose next skips a descriptor',
    flags: { inOrder: true },
    setup: (r) => {
      r.writeDesc(0, D(r), 4, NEXT, 2);
      r.writeDesc(2, D(r), 4, 0);
      r.publish(0);
    },
    code: 'IN_ORDER_NEXT_UNEXPECTED',
    index: 0,
    value: 2,
  },
  {
    name: 'IN_ORDER: an indirect table whose next is not sequential',
    flags: { inOrder: true, indirect: true },
    setup: (r) => {
      r.writeTableDesc(0, 0, D(r), 4, NEXT, 2);
      r.writeTableDesc(0, 2, D(r), 4, 0);
      r.writeDesc(0, r.tableAddr(0), 48, IND);
      r.publish(0);
    },
    code: 'IN_ORDER_NEXT_UNEXPECTED',
    index: 0,
    value: 2,
  },
];

function expectBroken(dev: SplitDevice, ring: TestRing, c: Pick<Case, 'code' | 'index' | 'value'>): void {
  expect(dev.error).toBeInstanceOf(VirtqueueError);
  expect(dev.error).toMatchObject({ code: c.code, queue: 'mock.0', index: c.index, value: c.value });
  expect(dev.error!.message).toContain(c.code);
  // The queue stays stopped, even once a well-formed buffer is there.
  ring.writeDesc(5, ring.dataBase, 4, 0);
  ring.setAvailIdx(ring.availIdx() + 1);
  expect(dev.pop()).toBeNull();
  expect(dev.hasAvailable()).toBe(false);
  expect(ring.guardsIntact()).toBe(true);
}

describe('device side: hostile driver input', () => {
  for (const c of cases) {
    it(`rejects ${c.name} with ${c.code}`, () => {
      const ring = new TestRing(c.size ?? 8, c.flags ?? {}, c.memoryBytes);
      const dev = ring.device();
      c.setup(ring);
      expect(() => dev.pop()).not.toThrow();
      expectBroken(dev, ring, c);
    });
  }

  for (const c of cases) {
    it(`through popBurst too: rejects ${c.name} with ${c.code}`, () => {
      const ring = new TestRing(c.size ?? 8, c.flags ?? {}, c.memoryBytes);
      const dev = ring.device();
      c.setup(ring);
      expect(() => popThroughBursts(dev)).not.toThrow();
      expectBroken(dev, ring, c);
    });
  }

  it('through popBurst: more buffers available than the queue holds, and a head reused while in flight', () => {
    const ring = new TestRing(4);
    const dev = ring.device();
    for (let i = 0; i < 4; i++) ring.writeDesc(i, ring.dataBase, 4, 0);
    ring.publish(0, 1, 2, 3);
    expect(popThroughBursts(dev)).toBe(4);
    ring.publish(0);
    expect(popThroughBursts(dev)).toBe(0);
    expectBroken(dev, ring, { code: 'TOO_MANY_IN_FLIGHT', index: 4, value: 5 });

    const again = new TestRing(8);
    const dev2 = again.device();
    again.writeDesc(0, again.dataBase, 4, 0);
    again.publish(0, 0);
    expect(popThroughBursts(dev2)).toBe(1);
    expectBroken(dev2, again, { code: 'HEAD_IN_FLIGHT', index: 1, value: 0 });
  });

  it('names a 64-bit address exactly in the message (hex from its two halves, never a rounded number)', () => {
    const ring = new TestRing(8);
    const dev = ring.device();
    ring.writeDesc(0, 2n ** 64n - 16n, 32, WRITE);
    ring.publish(0);
    expect(dev.pop()).toBeNull();
    expect(dev.error?.exactValue).toBe('0xfffffffffffffff0');
    expect(dev.error?.message).toContain('(value 0xfffffffffffffff0)');
    expect(dev.error?.message).not.toMatch(/e\+|18446744073709552000/);
  });

  it('rejects a driver that makes more buffers available than the queue holds (descriptor reuse)', () => {
    const ring = new TestRing(4);
    const dev = ring.device();
    for (let i = 0; i < 4; i++) ring.writeDesc(i, ring.dataBase, 4, 0);
    ring.publish(0, 1, 2, 3);
    const chains = [0, 1, 2, 3].map(() => dev.pop()!);
    // Completed but not yet published: the driver cannot have seen them come back.
    chains.forEach((c) => dev.complete(c, 0));
    ring.publish(0);
    expect(dev.pop()).toBeNull();
    expectBroken(dev, ring, { code: 'TOO_MANY_IN_FLIGHT', index: 4, value: 5 });
  });

  it('rejects a head made available again while its buffer is in flight (found by the fuzz campaign)', () => {
    const ring = new TestRing(8);
    const dev = ring.device();
    ring.writeDesc(0, ring.dataBase, 4, 0);
    ring.publish(0, 0);
    expect(dev.pop()).not.toBeNull();
    expect(dev.pop()).toBeNull();
    expectBroken(dev, ring, { code: 'HEAD_IN_FLIGHT', index: 1, value: 0 });
  });

  it('keeps what was completed before the bad buffer: it is still published', () => {
    const ring = new TestRing(8);
    const dev = ring.device();
    ring.writeDesc(0, ring.dataBase, 4, WRITE);
    ring.publish(0, 9);
    const good = dev.pop()!;
    expect(dev.pop()).toBeNull();
    expect(dev.error?.code).toBe('HEAD_OUT_OF_RANGE');
    dev.complete(good, 4);
    dev.flush();
    expect(ring.usedIdx()).toBe(1);
    expect(ring.usedEntry(0)).toEqual({ id: 0, len: 4 });
  });

  it('a broken queue leaves other queues on the same memory working', () => {
    const ring = new TestRing(8);
    const bad = ring.device();
    const otherRing = splitRingLayout(GUEST + 0x4000, 8).addresses;
    const good = new SplitDevice({
      name: 'mock.1',
      size: 8,
      features: ring.features,
      memory: ring.memory,
      addresses: otherRing,
    });
    ring.publish(200);
    expect(bad.pop()).toBeNull();
    expect(bad.error?.code).toBe('HEAD_OUT_OF_RANGE');
    ring.writeDescAt(otherRing.desc, ring.dataBase, 4, 0, 0);
    ring.setU16(otherRing.driver + 4, 0);
    ring.setU16(otherRing.driver + 2, 1);
    const chain = good.pop();
    expect(chain?.readableLength).toBe(4);
    expect(good.error).toBeNull();
  });
});
