import { describe, expect, it } from 'vitest';
import { VirtqueueError, type VirtqueueErrorCode } from '../src/virtqueue/errors.js';
import { ScatterList } from '../src/virtqueue/scatter-list.js';
import type { SplitDriver } from '../src/virtqueue/split/split-driver.js';
import { TestRing, type FeatureFlags } from './support/split-ring.js';

/**
 * The driver side against a buggy device: each case writes a bad used ring by hand. The driver must report that
 * exact error, stop the queue (no more buffers in or out), and hand back nothing it should not.
 */
interface Case {
  name: string;
  flags?: FeatureFlags;
  /** Writable bytes of each buffer added before the bad used ring (heads 0, 1, 2...: one descriptor each). */
  buffers: number[];
  setup: (ring: TestRing) => void;
  code: VirtqueueErrorCode;
  index: number;
  value: number;
}

const cases: Case[] = [
  {
    name: 'a used id out of range',
    buffers: [8],
    setup: (r) => {
      r.writeUsedEntry(0, 8, 0);
      r.setUsedIdx(1);
    },
    code: 'USED_ID_OUT_OF_RANGE',
    index: 0,
    value: 8,
  },
  {
    name: 'a used id that is not in flight',
    buffers: [8, 8],
    setup: (r) => {
      r.writeUsedEntry(0, 5, 0);
      r.setUsedIdx(1);
    },
    code: 'USED_ID_NOT_IN_FLIGHT',
    index: 0,
    value: 5,
  },
  {
    name: 'a length larger than the buffer’s writable size',
    buffers: [8],
    setup: (r) => {
      r.writeUsedEntry(0, 0, 9);
      r.setUsedIdx(1);
    },
    code: 'USED_LEN_TOO_LARGE',
    index: 0,
    value: 9,
  },
  {
    name: 'used idx ahead by more than is in flight',
    buffers: [8, 8],
    setup: (r) => {
      r.writeUsedEntry(0, 0, 0);
      r.setUsedIdx(3);
    },
    code: 'USED_IDX_AHEAD',
    index: 0,
    value: 3,
  },
  {
    name: 'IN_ORDER: a batch whose id matches no in-flight buffer',
    flags: { inOrder: true },
    buffers: [8, 8],
    setup: (r) => {
      r.writeUsedEntry(0, 6, 8);
      r.setUsedIdx(2);
    },
    code: 'IN_ORDER_BATCH_UNKNOWN_ID',
    index: 0,
    value: 6,
  },
  {
    name: 'IN_ORDER: a batch that claims more buffers than used idx published',
    flags: { inOrder: true },
    buffers: [8, 8, 8],
    setup: (r) => {
      r.writeUsedEntry(0, 2, 8);
      r.setUsedIdx(1);
    },
    code: 'IN_ORDER_BATCH_OVERRUN',
    index: 0,
    value: 2,
  },
];

function addAll(ring: TestRing, drv: SplitDriver<number>, writable: number[]): void {
  writable.forEach((w, i) => drv.add(new ScatterList().addWritable(ring.dataBase + i * 64, w), i, false));
  drv.kickPrepare();
}

describe('driver side: buggy device input', () => {
  for (const c of cases) {
    it(`rejects ${c.name} with ${c.code}`, () => {
      const ring = new TestRing(8, c.flags ?? {});
      const drv = ring.driver<number>();
      addAll(ring, drv, c.buffers);
      c.setup(ring);
      expect(() => drv.takeUsed()).not.toThrow();
      expect(drv.error).toBeInstanceOf(VirtqueueError);
      expect(drv.error).toMatchObject({ code: c.code, queue: 'mock.0', index: c.index, value: c.value });
      // Stopped: nothing comes back, nothing more goes in.
      expect(drv.takeUsed()).toBeUndefined();
      expect(drv.hasUsed()).toBe(false);
      expect(drv.add(new ScatterList().addWritable(ring.dataBase, 4), 99, false)).toBe(false);
      expect(drv.kickPrepare()).toBe(false);
      expect(ring.guardsIntact()).toBe(true);
    });
  }

  for (const c of cases) {
    it(`takeUsedBurst: rejects ${c.name} with ${c.code}, handing back nothing`, () => {
      const ring = new TestRing(8, c.flags ?? {});
      const drv = ring.driver<number>();
      addAll(ring, drv, c.buffers);
      c.setup(ring);
      const tokens = new Array<number>(8).fill(-1);
      expect(drv.takeUsedBurst(tokens, new Uint32Array(8), 8)).toBe(0);
      expect(drv.error).toMatchObject({ code: c.code, index: c.index, value: c.value });
      expect(drv.takeUsedBurst(tokens, new Uint32Array(8), 8)).toBe(0);
      expect(tokens).toEqual(new Array<number>(8).fill(-1));
    });
  }

  it('takeUsedBurst hands back what the device completed correctly before the bad entry, then stops', () => {
    const ring = new TestRing(8, { inOrder: true });
    const drv = ring.driver<number>();
    addAll(ring, drv, [8, 8, 8, 8]);
    ring.writeUsedEntry(0, 1, 8); // completes buffers 0 and 1
    ring.writeUsedEntry(2, 6, 8); // names no buffer in flight
    ring.setUsedIdx(3);
    const tokens = new Array<number>(8).fill(-1);
    const lens = new Uint32Array(8);
    expect(drv.takeUsedBurst(tokens, lens, 8)).toBe(2);
    expect(tokens.slice(0, 2)).toEqual([0, 1]);
    expect(drv.error?.code).toBe('IN_ORDER_BATCH_UNKNOWN_ID');
    expect(drv.takeUsedBurst(tokens, lens, 8)).toBe(0);
  });

  it('hands back what the device completed correctly before the bad entry', () => {
    const ring = new TestRing(8);
    const drv = ring.driver<number>();
    addAll(ring, drv, [8, 8]);
    ring.writeUsedEntry(0, 1, 5);
    ring.writeUsedEntry(1, 7, 0);
    ring.setUsedIdx(2);
    expect(drv.takeUsed()).toBe(1);
    expect(drv.usedLen).toBe(5);
    expect(drv.takeUsed()).toBeUndefined();
    expect(drv.error?.code).toBe('USED_ID_NOT_IN_FLIGHT');
  });

  it('IN_ORDER: a used id completing a buffer twice is refused', () => {
    const ring = new TestRing(8, { inOrder: true });
    const drv = ring.driver<number>();
    addAll(ring, drv, [8, 8, 8]);
    ring.writeUsedEntry(0, 1, 8); // completes buffers 0 and 1
    ring.writeUsedEntry(2, 0, 8); // buffer 0 again
    ring.setUsedIdx(3);
    expect([drv.takeUsed(), drv.takeUsed()]).toEqual([0, 1]);
    expect(drv.takeUsed()).toBeUndefined();
    expect(drv.error?.code).toBe('IN_ORDER_BATCH_UNKNOWN_ID');
  });
});
