import { describe, expect, it } from 'vitest';
import {
  RING_EVENT_FLAGS_DESC,
  RING_EVENT_FLAGS_DISABLE,
  RING_EVENT_FLAGS_ENABLE,
  VIRTQ_DESC_F_INDIRECT,
  VIRTQ_DESC_F_NEXT,
  VIRTQ_DESC_F_WRITE,
  packedNeedEvent,
} from '../src/spec/packed.js';
import { ScatterList } from '../src/virtqueue/scatter-list.js';
import { VirtqueueUsageError } from '../src/virtqueue/errors.js';
import { PackedTestRing } from './support/packed-ring.js';

const writable = (ring: PackedTestRing, lens: number[], at = 0, readable: number[] = []): ScatterList => {
  const s = new ScatterList();
  let addr = ring.dataBase + at;
  for (const len of readable) {
    s.addReadable(addr, len);
    addr += len;
  }
  for (const len of lens) {
    s.addWritable(addr, len);
    addr += len;
  }
  return s;
};

describe('packed ring', () => {
  it.each([
    { inOrder: true, usedEntries: 'batched' as const },
    { inOrder: true, usedEntries: 'per-buffer' as const },
    { inOrder: false, usedEntries: 'batched' as const },
  ])(
    'republishes addr, len and Buffer ID where the device wrote used descriptors (IN_ORDER $inOrder, $usedEntries)',
    ({ inOrder, usedEntries }) => {
      // The driver compares against its own record of the ring, not the ring: what the device wrote into the used
      // descriptors it took back (a short len, another id) must not survive into the next lap.
      const ring = new PackedTestRing(4, { inOrder, indirect: false });
      const drv = ring.driver<number>();
      const dev = ring.device(usedEntries);
      for (let lap = 0; lap < 3; lap++) {
        for (let i = 0; i < 4; i++) drv.add(writable(ring, [64], 64 * i), i, false);
        drv.kickPrepare();
        for (let i = 0; i < 4; i++) {
          const c = dev.pop()!;
          expect([c.writableLength, c.segCount]).toEqual([64, 1]);
          expect(ring.readDesc(i)).toMatchObject({ addr: ring.dataBase + 64 * i, len: 64 });
          dev.complete(c, 3 + i);
        }
        dev.flush();
        // The used descriptors now hold the device's lengths (3..6) and ids.
        expect(ring.readDesc(inOrder && usedEntries === 'batched' ? 0 : 3).len).not.toBe(64);
        const back: number[] = [];
        for (let t = drv.takeUsed(); t !== undefined; t = drv.takeUsed()) back.push(t);
        expect(back).toEqual([0, 1, 2, 3]);
      }
    },
  );

  it('exposes a list with its first descriptor last, Buffer ID in the last descriptor, AVAIL/USED per lap', () => {
    const ring = new PackedTestRing(4);
    const drv = ring.driver<string>();
    drv.add(writable(ring, [8], 0, [4, 4]), 'a', false);
    // Not exposed until kickPrepare: the head's flags are held back.
    expect(ring.readDesc(0).flags).toBe(0);
    expect(ring.readDesc(1).flags).toBe(VIRTQ_DESC_F_NEXT | ring.avail(1));
    expect(ring.readDesc(2).flags).toBe(VIRTQ_DESC_F_WRITE | ring.avail(1));
    expect(ring.readDesc(2).id).toBe(0);
    expect(drv.kickPrepare()).toBe(true);
    expect(ring.readDesc(0).flags).toBe(VIRTQ_DESC_F_NEXT | ring.avail(1));
    const dev = ring.device();
    const a = dev.pop()!;
    expect([a.id, a.descCount, a.readableLength, a.writableLength]).toEqual([0, 3, 8, 8]);
    expect(dev.pop()).toBeNull();
    dev.complete(a, 8);
    dev.flush();
    expect(drv.takeUsed()).toBe('a');
    expect(drv.usedLen).toBe(8);
    // The next list wraps: its second descriptor lands at position 0 in the next lap (driver wrap counter 0).
    drv.add(writable(ring, [8], 0x100, [4]), 'b', false);
    drv.kickPrepare();
    expect(ring.readDesc(3).flags).toBe(VIRTQ_DESC_F_NEXT | ring.avail(1));
    expect(ring.readDesc(0).flags).toBe(VIRTQ_DESC_F_WRITE | ring.avail(0));
    const b = dev.pop()!;
    expect([b.descCount, b.readableLength, b.writableLength]).toEqual([2, 4, 8]);
    dev.complete(b, 5);
    dev.flush();
    expect(ring.readDesc(3).flags).toBe(ring.used(1) | VIRTQ_DESC_F_WRITE);
    expect(drv.takeUsed()).toBe('b');
    expect(drv.usedLen).toBe(5);
  });

  it('IN_ORDER batched: one used descriptor per flush, last Buffer ID, at the first buffer, skipping the batch', () => {
    const ring = new PackedTestRing(10, { inOrder: true });
    const drv = ring.driver<number>();
    const dev = ring.device('batched');
    const lens = [[4], [4, 4], [8], [2, 2, 2]];
    lens.forEach((l, i) => drv.add(writable(ring, l, i * 64), i, false));
    drv.kickPrepare();
    const ids: number[] = [];
    for (let c = dev.pop(); c !== null; c = dev.pop()) {
      ids.push(c.id);
      dev.complete(c, c.writableLength);
    }
    dev.flush();
    expect(dev.stats.usedEntriesWritten).toBe(1);
    const used = ring.readDesc(0);
    expect(used.id).toBe(ids[3]);
    expect(used.len).toBe(6);
    expect(used.flags).toBe(ring.used(1) | VIRTQ_DESC_F_WRITE);
    expect(ring.readDesc(1).flags & ring.used(1)).not.toBe(ring.used(1)); // the rest were skipped, not written
    const got: [number, number][] = [];
    for (let t = drv.takeUsed(); t !== undefined; t = drv.takeUsed()) got.push([t, drv.usedLen]);
    expect(got).toEqual([
      [0, 4],
      [1, 8],
      [2, 8],
      [3, 6],
    ]);
    expect(drv.stats.usedEntriesRead).toBe(1);
    expect(drv.numFree).toBe(10);
  });

  it('without IN_ORDER: used descriptors in completion order, each skipping its own buffer’s descriptors', () => {
    const ring = new PackedTestRing(8);
    const drv = ring.driver<string>();
    const dev = ring.device();
    drv.add(writable(ring, [4, 4, 4]), 'three', false);
    drv.add(writable(ring, [4], 0x100), 'one', false);
    drv.kickPrepare();
    const three = dev.pop()!;
    const one = dev.pop()!;
    dev.complete(one, 2);
    dev.complete(three, 12);
    dev.flush();
    expect(ring.readDesc(0).id).toBe(one.id); // 'one' finished first: written at position 0, then skip 1
    expect(ring.readDesc(1).id).toBe(three.id);
    expect(drv.takeUsed()).toBe('one');
    expect(drv.usedLen).toBe(2);
    expect(drv.takeUsed()).toBe('three');
    expect(drv.usedLen).toBe(12);
  });

  it('wraps many times on a ring whose size is not a power of two', () => {
    for (const size of [1, 3, 7, 250]) {
      const ring = new PackedTestRing(size, { inOrder: true, eventIdx: true });
      const drv = ring.driver<number>();
      const dev = ring.device();
      let next = 0;
      let done = 0;
      for (let round = 0; round < 20 * size + 100; round++) {
        const shape = (): number[] => [1, 1].slice(0, 1 + (next % Math.min(2, size)));
        while (next < 10 * size + 50 && drv.canAdd(writable(ring, shape()), false)) {
          drv.add(writable(ring, shape(), (next % size) * 4), next++, false);
        }
        drv.kickPrepare();
        for (let c = dev.pop(); c !== null; c = dev.pop()) dev.complete(c, c.writableLength);
        dev.flush();
        for (let t = drv.takeUsed(); t !== undefined; t = drv.takeUsed()) expect(t).toBe(done++);
        expect(drv.error).toBeNull();
        expect(dev.error).toBeNull();
      }
      expect(done).toBe(next);
      expect(done).toBe(10 * size + 50); // at least ten laps of the ring
    }
  });

  it('indirect: one ring descriptor whose table lists the segments, WRITE the only flag', () => {
    const ring = new PackedTestRing(4, { indirect: true });
    const drv = ring.driver<number>(8);
    drv.add(writable(ring, [3], 0, [1, 2]), 7, true);
    drv.kickPrepare();
    const head = ring.readDesc(0);
    expect(head.flags).toBe(VIRTQ_DESC_F_INDIRECT | ring.avail(1));
    expect(head.len).toBe(48);
    const dev = ring.device();
    const c = dev.pop()!;
    expect([c.descCount, c.readableCount, c.writableCount, c.readableLength, c.writableLength]).toEqual([
      1, 2, 1, 3, 3,
    ]);
    expect(drv.numFree).toBe(3);
  });

  it('refuses completions out of order under IN_ORDER', () => {
    const ring = new PackedTestRing(4, { inOrder: true });
    const drv = ring.driver<number>();
    const dev = ring.device();
    drv.add(writable(ring, [4]), 0, false);
    drv.add(writable(ring, [4], 8), 1, false);
    drv.kickPrepare();
    dev.pop();
    expect(() => dev.complete(dev.pop()!, 4)).toThrow(VirtqueueUsageError);
  });
});

describe('packed event suppression', () => {
  it('packedNeedEvent fires when the event descriptor is among those just made available, across laps', () => {
    const size = 8;
    expect(packedNeedEvent(2 | (1 << 15), 4, 3, 1, size)).toBe(true); // 1..3 made available, event at 2
    expect(packedNeedEvent(5 | (1 << 15), 4, 3, 1, size)).toBe(false);
    expect(packedNeedEvent(7 | (1 << 15), 1, 3, 0, size)).toBe(true); // 6, 7 in lap 1 then 0 in lap 0
    expect(packedNeedEvent(7 | (0 << 15), 1, 3, 0, size)).toBe(false); // position 7 of lap 0 is not reached yet
  });

  it('EVENT_IDX: device asks for a kick at its next descriptor; driver kicks only when it reaches it', () => {
    const ring = new PackedTestRing(8, { eventIdx: true });
    const drv = ring.driver<number>();
    const dev = ring.device();
    expect(dev.enableNotifications()).toBe(true);
    expect(ring.event('device')).toEqual({ offWrap: 0 | (1 << 15), flags: RING_EVENT_FLAGS_DESC });
    drv.add(writable(ring, [1]), 0, false);
    expect(drv.kickPrepare()).toBe(true);
    drv.add(writable(ring, [1], 8), 1, false);
    expect(drv.kickPrepare()).toBe(false);
    expect(drv.stats).toMatchObject({ kicksWanted: 1, kicksSuppressed: 1 });
    dev.disableNotifications();
    expect(ring.event('device').flags).toBe(RING_EVENT_FLAGS_DISABLE);
  });

  it('EVENT_IDX: driver asks for an interrupt at its next used descriptor', () => {
    const ring = new PackedTestRing(8, { eventIdx: true });
    const drv = ring.driver<number>();
    const dev = ring.device();
    for (let i = 0; i < 3; i++) drv.add(writable(ring, [1], i * 8), i, false);
    drv.kickPrepare();
    expect(drv.enableInterrupts()).toBe(true);
    expect(ring.event('driver')).toEqual({ offWrap: 0 | (1 << 15), flags: RING_EVENT_FLAGS_DESC });
    dev.complete(dev.pop()!, 1);
    expect(dev.flush()).toBe(true);
    dev.complete(dev.pop()!, 1);
    expect(dev.flush()).toBe(false);
    expect(drv.enableInterrupts()).toBe(false); // pending used buffers: do not sleep
    drv.disableInterrupts();
    expect(ring.event('driver').flags).toBe(RING_EVENT_FLAGS_DISABLE);
  });

  it('without EVENT_IDX: ENABLE / DISABLE only', () => {
    const ring = new PackedTestRing(8);
    const drv = ring.driver<number>();
    const dev = ring.device();
    dev.disableNotifications();
    drv.add(writable(ring, [1]), 0, false);
    expect(drv.kickPrepare()).toBe(false);
    expect(dev.enableNotifications()).toBe(false);
    expect(ring.event('device').flags).toBe(RING_EVENT_FLAGS_ENABLE);
    drv.add(writable(ring, [1], 8), 1, false);
    expect(drv.kickPrepare()).toBe(true);
  });
});
