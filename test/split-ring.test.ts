import { describe, expect, it } from 'vitest';
import { VIRTQ_DESC_F_INDIRECT, VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE } from '../src/spec/split.js';
import { RingSetupError } from '../src/virtqueue/ring-views.js';
import { ScatterList } from '../src/virtqueue/scatter-list.js';
import { VirtqueueUsageError } from '../src/virtqueue/errors.js';
import { SplitDevice } from '../src/virtqueue/split/split-device.js';
import { GUEST, TestRing } from './support/split-ring.js';

const sg = (ring: TestRing, readable: number[], writable: number[], at = 0): ScatterList => {
  const s = new ScatterList();
  let addr = ring.dataBase + at;
  for (const len of readable) {
    s.addReadable(addr, len);
    addr += len;
  }
  for (const len of writable) {
    s.addWritable(addr, len);
    addr += len;
  }
  return s;
};

describe('split ring without IN_ORDER', () => {
  it('moves buffers zero-copy and returns them in completion order with their lengths', () => {
    const ring = new TestRing(8);
    const drv = ring.driver<string>();
    const dev = ring.device();
    drv.add(sg(ring, [4], [8], 0), 'a', false);
    drv.add(sg(ring, [], [16], 0x100), 'b', false);
    drv.add(sg(ring, [2, 2], [], 0x200), 'c', false);
    expect(drv.kickPrepare()).toBe(true);
    ring.memory.translate(ring.dataBase, 4).set([9, 8, 7, 6]);

    const a = dev.pop()!;
    expect([a.readableCount, a.writableCount, a.readableLength, a.writableLength]).toEqual([1, 1, 4, 8]);
    expect([...a.segment(0)]).toEqual([9, 8, 7, 6]);
    expect(a.bytes[0].buffer).toBe(ring.buffer); // a window onto guest memory, not a copy
    a.bytes[1][a.offsets[1]] = 0x42;
    expect(ring.memory.translate(ring.dataBase + 4, 1)[0]).toBe(0x42);
    const b = dev.pop()!;
    const c = dev.pop()!;
    expect(dev.pop()).toBeNull();
    dev.complete(c, 0);
    dev.complete(a, 3);
    dev.complete(b, 16);
    expect(dev.flush()).toBe(true);
    expect(dev.stats.usedEntriesWritten).toBe(3);

    const got: [string, number][] = [];
    for (let t = drv.takeUsed(); t !== undefined; t = drv.takeUsed()) got.push([t, drv.usedLen]);
    expect(got).toEqual([
      ['c', 0],
      ['a', 3],
      ['b', 16],
    ]);
    expect(drv.numFree).toBe(8);
    expect(drv.inFlight).toBe(0);
  });

  it('recycles descriptors through its free list across many rounds', () => {
    const ring = new TestRing(4);
    const drv = ring.driver<number>();
    const dev = ring.device();
    for (let round = 0; round < 50; round++) {
      expect(drv.add(sg(ring, [1], [1, 1]), round, false)).toBe(true);
      expect(drv.numFree).toBe(1);
      drv.kickPrepare();
      const c = dev.pop()!;
      dev.complete(c, 2);
      dev.flush();
      expect(drv.takeUsed()).toBe(round);
      expect(drv.numFree).toBe(4);
    }
  });

  it('refuses adds that do not fit and undefined tokens', () => {
    const ring = new TestRing(4);
    const drv = ring.driver<number>();
    expect(drv.canAdd(sg(ring, [1, 1, 1, 1, 1], []), false)).toBe(false);
    expect(() => drv.add(sg(ring, [1, 1, 1, 1, 1], []), 1, false)).toThrow(VirtqueueUsageError);
    expect(() => drv.add(sg(ring, [1], []), undefined as unknown as number, false)).toThrow(VirtqueueUsageError);
    expect(() => new ScatterList().addWritable(0, 1).addReadable(0, 1)).toThrow(VirtqueueUsageError);
  });
});

describe('split ring with IN_ORDER', () => {
  it('allocates descriptors in ring order, wrapping, with next = x + 1', () => {
    const ring = new TestRing(8, { inOrder: true });
    const drv = ring.driver<number>();
    const dev = ring.device();
    drv.add(sg(ring, [1, 1], [1]), 0, false); // descriptors 0, 1, 2
    drv.add(sg(ring, [1], [1]), 1, false); // 3, 4
    expect([ring.availEntry(0), ring.availEntry(1)]).toEqual([0, 3]);
    expect([ring.readDesc(0).next, ring.readDesc(1).next, ring.readDesc(3).next]).toEqual([1, 2, 4]);
    expect(ring.readDesc(1).flags).toBe(VIRTQ_DESC_F_NEXT);
    expect(ring.readDesc(2).flags).toBe(VIRTQ_DESC_F_WRITE);
    drv.kickPrepare();
    for (let c = dev.pop(); c !== null; c = dev.pop()) dev.complete(c, 1);
    dev.flush();
    while (drv.takeUsed() !== undefined);
    drv.add(sg(ring, [1, 1, 1, 1], []), 2, false); // 5, 6, 7, then wraps to 0
    expect(ring.availEntry(2)).toBe(5);
    expect([5, 6, 7].map((d) => ring.readDesc(d).next)).toEqual([6, 7, 0]);
    drv.kickPrepare();
    const c = dev.pop()!;
    expect(c.id).toBe(5);
    expect(c.descCount).toBe(4);
  });

  it('chains indirect table entries sequentially', () => {
    const ring = new TestRing(8, { inOrder: true, indirect: true });
    const drv = ring.driver<number>(8);
    drv.add(sg(ring, [1, 2], [3]), 0, true);
    const head = ring.readDesc(0);
    expect(head.flags).toBe(VIRTQ_DESC_F_INDIRECT);
    expect(head.len).toBe(48);
    expect([0, 1, 2].map((i) => ring.readDescAt(head.addr + 16 * i).next)).toEqual([1, 2, 3]);
    expect(ring.readDescAt(head.addr + 32).flags).toBe(VIRTQ_DESC_F_WRITE);
    expect(drv.numFree).toBe(7);
    expect(drv.stats.indirectAdded).toBe(1);
  });

  it('writes one used entry per flushed batch: the last id, at the first slot, used idx advanced by the batch', () => {
    const ring = new TestRing(16, { inOrder: true });
    const drv = ring.driver<number>();
    const dev = ring.device('batched');
    const writable = [4, 8, 12, 16, 20];
    writable.forEach((w, i) => drv.add(sg(ring, [1], [w], i * 64), i, false));
    drv.kickPrepare();
    const heads: number[] = [];
    for (let c = dev.pop(); c !== null; c = dev.pop()) {
      heads.push(c.id);
      dev.complete(c, c.writableLength);
    }
    dev.flush();
    expect(dev.stats.usedEntriesWritten).toBe(1);
    expect(ring.usedIdx()).toBe(5);
    expect(ring.usedEntry(0)).toEqual({ id: heads[4], len: 20 });

    const lens: number[] = [];
    const tokens: number[] = [];
    for (let t = drv.takeUsed(); t !== undefined; t = drv.takeUsed()) {
      tokens.push(t);
      lens.push(drv.usedLen);
    }
    expect(tokens).toEqual([0, 1, 2, 3, 4]);
    expect(lens).toEqual(writable); // skipped buffers count as used completely
    expect(drv.stats.usedEntriesRead).toBe(1);
    expect(drv.numFree).toBe(16);
  });

  it('ends a batch at a buffer written only in part, so its length is reported truly', () => {
    const ring = new TestRing(16, { inOrder: true });
    const drv = ring.driver<number>();
    const dev = ring.device('batched');
    for (let i = 0; i < 5; i++) drv.add(sg(ring, [], [10], i * 16), i, false);
    drv.kickPrepare();
    const written = [10, 10, 3, 10, 10];
    for (const w of written) dev.complete(dev.pop()!, w);
    dev.flush();
    expect(dev.stats.usedEntriesWritten).toBe(2);
    expect(ring.usedEntry(0)).toEqual({ id: 2, len: 3 }); // buffers 0..2 end at the partial one (head 2)
    expect(ring.usedEntry(3)).toEqual({ id: 4, len: 10 }); // buffers 3..4, at buffer 3's slot
    const lens: number[] = [];
    while (drv.takeUsed() !== undefined) lens.push(drv.usedLen);
    expect(lens).toEqual(written);
  });

  it('writes one entry per buffer with the per-buffer policy', () => {
    const ring = new TestRing(16, { inOrder: true });
    const drv = ring.driver<number>();
    const dev = ring.device('per-buffer');
    for (let i = 0; i < 5; i++) drv.add(sg(ring, [], [10], i * 16), i, false);
    drv.kickPrepare();
    for (let c = dev.pop(); c !== null; c = dev.pop()) dev.complete(c, 10);
    dev.flush();
    expect(dev.stats.usedEntriesWritten).toBe(5);
    expect([0, 1, 2, 3, 4].map((s) => ring.usedEntry(s).id)).toEqual([0, 1, 2, 3, 4]);
  });

  it('refuses completions out of available order, and more bytes than the chain can hold', () => {
    const ring = new TestRing(8, { inOrder: true });
    const drv = ring.driver<number>();
    const dev = ring.device();
    drv.add(sg(ring, [], [4]), 0, false);
    drv.add(sg(ring, [], [4], 8), 1, false);
    drv.kickPrepare();
    const first = dev.pop()!;
    const second = dev.pop()!;
    expect(() => dev.complete(second, 4)).toThrow(/IN_ORDER/);
    expect(() => dev.complete(first, 5)).toThrow(VirtqueueUsageError);
    dev.complete(first, 4);
    expect(() => dev.complete(first, 4)).toThrow(/not in flight/);
    dev.complete(second, 4);
  });
});

describe('notification suppression', () => {
  it('EVENT_IDX: the driver kicks only when it crosses avail_event, and counts the suppressed ones', () => {
    const ring = new TestRing(8, { eventIdx: true });
    const drv = ring.driver<number>();
    const dev = ring.device();
    expect(dev.enableNotifications()).toBe(true); // avail_event = 0
    drv.add(sg(ring, [1], []), 0, false);
    expect(drv.kickPrepare()).toBe(true);
    drv.add(sg(ring, [1], []), 1, false);
    expect(drv.kickPrepare()).toBe(false); // avail_event still 0: already crossed
    expect(drv.kickPrepare()).toBe(false); // nothing new: not counted at all
    expect(drv.stats).toMatchObject({ kicksWanted: 1, kicksSuppressed: 1 });
    dev.pop();
    dev.pop();
    expect(dev.enableNotifications()).toBe(true); // avail_event = 2
    drv.add(sg(ring, [1], []), 2, false);
    expect(drv.kickPrepare()).toBe(true);
  });

  it('EVENT_IDX: the device interrupts only when it crosses used_event', () => {
    const ring = new TestRing(8, { eventIdx: true });
    const drv = ring.driver<number>();
    const dev = ring.device();
    for (let i = 0; i < 4; i++) drv.add(sg(ring, [], [1], i), i, false);
    drv.kickPrepare();
    expect(drv.enableInterrupts()).toBe(true); // used_event = 0
    dev.complete(dev.pop()!, 1);
    expect(dev.flush()).toBe(true);
    dev.complete(dev.pop()!, 1);
    expect(dev.flush()).toBe(false);
    expect(dev.stats).toMatchObject({ interruptsWanted: 1, interruptsSuppressed: 1 });
    expect(drv.enableInterrupts()).toBe(false); // used buffers are pending: do not sleep
    drv.takeUsed();
    drv.takeUsed();
    expect(drv.enableInterrupts()).toBe(true); // used_event = 2
    dev.complete(dev.pop()!, 1);
    expect(dev.flush()).toBe(true);
  });

  it('without EVENT_IDX: NO_NOTIFY and NO_INTERRUPT flags', () => {
    const ring = new TestRing(8);
    const drv = ring.driver<number>();
    const dev = ring.device();
    dev.disableNotifications();
    drv.add(sg(ring, [1], []), 0, false);
    expect(drv.kickPrepare()).toBe(false);
    expect(dev.enableNotifications()).toBe(false); // a buffer is already there
    drv.add(sg(ring, [1], []), 1, false);
    expect(drv.kickPrepare()).toBe(true);
    drv.disableInterrupts();
    dev.complete(dev.pop()!, 0);
    expect(dev.flush()).toBe(false);
    drv.enableInterrupts();
    dev.complete(dev.pop()!, 0);
    expect(dev.flush()).toBe(true);
  });
});

describe('ring setup', () => {
  it('rejects bad sizes, misaligned areas and areas outside guest memory', () => {
    const ring = new TestRing(8);
    const base = { name: 'q', features: ring.features, memory: ring.memory };
    const addresses = ring.addresses;
    expect(() => new SplitDevice({ ...base, size: 12, addresses })).toThrow(/power of two/);
    expect(() => new SplitDevice({ ...base, size: 65536, addresses })).toThrow(RingSetupError);
    expect(() => new SplitDevice({ ...base, size: 8, addresses: { ...addresses, desc: GUEST + 8 } })).toThrow(
      /not aligned to 16/,
    );
    expect(() => new SplitDevice({ ...base, size: 8, addresses: { ...addresses, device: GUEST + 0x7ffff0 } })).toThrow(
      /not inside guest memory/,
    );
  });
});

describe('indirect choice', () => {
  it("'auto' uses an indirect table only above the segment threshold", () => {
    const ring = new TestRing(8, { indirect: true });
    const drv = ring.driver<number>(8);
    drv.add(sg(ring, [1], []), 0, 'auto');
    expect(drv.stats.indirectAdded).toBe(0);
    expect(drv.numFree).toBe(7);
    drv.add(sg(ring, [1, 1], [1]), 1, 'auto');
    expect(drv.stats.indirectAdded).toBe(1);
    expect(drv.numFree).toBe(6);
    expect(ring.readDesc(1).flags).toBe(VIRTQ_DESC_F_INDIRECT);
  });

  it('never uses indirect tables unless INDIRECT_DESC was negotiated', () => {
    const ring = new TestRing(8);
    const drv = ring.driver<number>(8);
    drv.add(sg(ring, [1, 1], [1]), 0, true);
    expect(drv.stats.indirectAdded).toBe(0);
    expect(drv.numFree).toBe(5);
  });
});

describe('resuming a ring (vhost-user SET_VRING_BASE)', () => {
  it('IN_ORDER: a resumed device takes the first head it finds, then holds the driver to the sequence', () => {
    const ring = new TestRing(8, { inOrder: true });
    // The ring has already moved on: 5 buffers were used; the next one starts at descriptor 5.
    ring.setUsedIdx(5);
    ring.setAvailIdx(5);
    ring.writeDesc(5, ring.dataBase, 4, 0);
    ring.writeDesc(6, ring.dataBase, 4, 0);
    ring.writeDesc(0, ring.dataBase, 4, 0);
    const dev = new SplitDevice({
      name: 'mock.0',
      size: 8,
      features: ring.features,
      memory: ring.memory,
      addresses: ring.addresses,
      availBase: 5,
    });
    ring.publish(5, 6, 0);
    expect(dev.pop()?.id).toBe(5);
    expect(dev.pop()?.id).toBe(6);
    expect(dev.pop()).toBeNull();
    expect(dev.error).toMatchObject({ code: 'IN_ORDER_HEAD_UNEXPECTED', value: 0 });
  });

  it('a base that disagrees with the used idx in memory (a reconnecting front-end): the ring resumes at the used idx', () => {
    const ring = new TestRing(8, { inOrder: true });
    // 17824 buffers were used and two more are available; the front-end, reconnecting, says 0 (as DPDK's does).
    ring.setUsedIdx(17824);
    ring.setAvailIdx(17824);
    ring.writeDesc(0, ring.dataBase, 4, 0);
    ring.writeDesc(1, ring.dataBase, 4, 0);
    const config = { name: 'mock.0', size: 8, features: ring.features, memory: ring.memory, addresses: ring.addresses };
    const dev = new SplitDevice({ ...config, availBase: 0 });
    expect(dev.resumedFromUsed).toEqual({ given: 0, used: 17824 });
    ring.publish(0, 1);
    expect(dev.pop()?.id).toBe(0);
    expect(dev.pop()?.id).toBe(1);
    expect(dev.error).toBeNull();
    expect(dev.lastAvailIdx).toBe(17826);
    // A base that agrees is taken as it is, and nothing is said.
    expect(new SplitDevice({ ...config, availBase: 17824 }).resumedFromUsed).toBeNull();
  });
});
