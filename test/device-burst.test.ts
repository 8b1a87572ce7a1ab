import { describe, expect, it } from 'vitest';
import { BufferBurst } from '../src/virtqueue/buffer-burst.js';
import type { Chain } from '../src/virtqueue/chain.js';
import { VirtqueueUsageError } from '../src/virtqueue/errors.js';
import { ScatterList } from '../src/virtqueue/scatter-list.js';
import { ringPair } from './support/ring-pair.js';

/**
 * The device's burst calls. popBurst() must hand out what pop() would (the same buffers, in the same order, at the
 * same places in guest memory), stop before a chain, and completeBurst() must leave the used ring exactly as
 * complete() of the same buffers with the same lengths would, lap after lap.
 */
const pair = ringPair;

/** What a device sees of a buffer: [id, bytes as seen at its place in guest memory, writable]. */
type Seen = [number, string, boolean];

const hexOf = (bytes: Uint8Array, at: number, len: number): string =>
  Buffer.from(bytes.subarray(at, at + len)).toString('hex');

function seenChain(c: Chain): Seen {
  return [
    c.id,
    c.segCount === 1 ? hexOf(c.bytes[0], c.offsets[0], c.lengths[0]) : `chain of ${c.segCount}`,
    c.writableLength > 0,
  ];
}

describe.each(['split', 'packed'] as const)('popBurst and completeBurst on the %s ring', (layout) => {
  it.each([true, false])(
    'see and complete exactly what pop() and complete() do, lap after lap (IN_ORDER %s)',
    (inOrder) => {
      const size = layout === 'packed' ? 5 : 8;
      const byPop = pair(layout, size, inOrder);
      const byBurst = pair(layout, size, inOrder);
      const burst = new BufferBurst(size);
      let token = 0;
      for (let round = 0; round < 40; round++) {
        // Up to two of them chains of two descriptors: the lap fits the ring.
        const n = 1 + (round % (size - 2));
        for (const p of [byPop, byBurst]) {
          for (let i = 0; i < n; i++) {
            const sg = new ScatterList();
            const addr = p.ring.dataBase + ((round + i) % 7) * 64;
            // Every fifth buffer is a two-segment chain, which popBurst leaves to pop().
            if ((token + i) % 5 === 3) sg.addReadable(addr, 4).addWritable(addr + 8, 8);
            else if ((round + i) % 2 === 0) sg.addWritable(addr, 8 + i);
            else sg.addReadable(addr, 8 + i);
            p.ring.memory.translate(addr, 8).fill(round + i);
            expect(p.drv.add(sg, token + i, false)).toBe(true);
          }
          p.drv.kickPrepare();
        }
        token += n;
        // A written length: all of a writable buffer, except some written in part (which ends an IN_ORDER run).
        const writtenFor = (writable: number, i: number): number => (i % 3 === 2 ? writable >> 1 : writable);
        const seenByPop: Seen[] = [];
        for (let c = byPop.dev.pop(), i = 0; c !== null; c = byPop.dev.pop(), i++) {
          seenByPop.push(seenChain(c));
          byPop.dev.complete(c, writtenFor(c.writableLength, i));
        }
        const seenByBurst: Seen[] = [];
        let i = 0;
        for (;;) {
          const got = byBurst.dev.popBurst(burst, 1 + (round % 3));
          if (got > 0) {
            const written = new Uint32Array(got);
            for (let k = 0; k < got; k++, i++) {
              seenByBurst.push([
                burst.ids[k],
                hexOf(burst.bytes[k], burst.offsets[k], burst.lengths[k]),
                burst.writable[k] === 1,
              ]);
              written[k] = writtenFor(burst.writableLength(k), i);
            }
            byBurst.dev.completeBurst(burst, 0, got, written);
            continue;
          }
          const c = byBurst.dev.pop();
          if (c === null) break;
          seenByBurst.push(seenChain(c));
          byBurst.dev.complete(c, writtenFor(c.writableLength, i++));
        }
        expect(seenByBurst).toEqual(seenByPop);
        expect(byBurst.dev.flush()).toBe(byPop.dev.flush());
        expect(Buffer.from(byBurst.ring.buffer).equals(Buffer.from(byPop.ring.buffer))).toBe(true);
        expect(byBurst.dev.stats).toEqual(byPop.dev.stats);
        expect([byBurst.dev.lastAvailIdx, byBurst.dev.inFlight]).toEqual([byPop.dev.lastAvailIdx, 0]);
        for (const p of [byPop, byBurst]) while (p.drv.takeUsed() !== undefined);
      }
    },
  );

  it('gives the burst its place in available order, shared with chains (Chain.seq)', () => {
    const p = pair(layout, 8, true);
    const base = p.ring.dataBase;
    p.drv.add(new ScatterList().addReadable(base, 4).addReadable(base + 8, 4), 0, false);
    p.drv.addBurst([base + 64, base + 128], [4, 4], [1, 2], 2, false);
    p.drv.kickPrepare();
    const burst = new BufferBurst(8);
    expect(p.dev.popBurst(burst, 8)).toBe(0);
    const chain = p.dev.pop()!;
    expect(chain.seq).toBe(0);
    expect(p.dev.popBurst(burst, 8)).toBe(2);
    expect([burst.count, burst.firstSeq]).toEqual([2, 1]);
    // IN_ORDER: the burst cannot be completed before the chain popped ahead of it.
    expect(() => p.dev.completeBurst(burst, 0, 2, [0, 0])).toThrow(VirtqueueUsageError);
    p.dev.complete(chain, 0);
    p.dev.completeBurst(burst, 0, 2, [0, 0]);
    p.dev.flush();
    expect([p.drv.takeUsed(), p.drv.takeUsed(), p.drv.takeUsed()]).toEqual([0, 1, 2]);
  });

  it('refuses a completion that device code got wrong, completing none of it', () => {
    for (const inOrder of [true, false]) {
      const p = pair(layout, 8, inOrder);
      const base = p.ring.dataBase;
      p.drv.addBurst([base, base + 64, base + 128], [8, 8, 8], [0, 1, 2], 3, true);
      p.drv.kickPrepare();
      const burst = new BufferBurst(8);
      expect(p.dev.popBurst(burst, 8)).toBe(3);
      const bad: [number, number, number[]][] = [
        [0, 4, [8, 8, 8, 8]], // past the burst
        [-1, 1, [8]],
        [0, 1.5, [8, 8]],
        [0, 2, [8, 9]], // more than the buffer holds
        [0, 1, [-1]],
        [0, 1, [Number.NaN]],
      ];
      if (inOrder) bad.push([1, 2, [8, 8, 8]]); // not the oldest
      for (const [from, count, written] of bad) {
        expect(() => p.dev.completeBurst(burst, from, count, written)).toThrow(VirtqueueUsageError);
      }
      expect(p.dev.inFlight).toBe(3);
      p.dev.completeBurst(burst, 0, 2, [8, 8, 8]);
      // Completed already: twice is misuse, in or out of order.
      expect(() => p.dev.completeBurst(burst, 0, 1, [8])).toThrow(VirtqueueUsageError);
      p.dev.completeBurst(burst, 2, 1, [0, 0, 3]);
      expect(p.dev.inFlight).toBe(0);
      p.dev.flush();
      const back: [number, number][] = [];
      for (let t = p.drv.takeUsed(); t !== undefined; t = p.drv.takeUsed()) back.push([t, p.drv.usedLen]);
      expect(back).toEqual([
        [0, 8],
        [1, 8],
        [2, 3],
      ]);
    }
  });

  it('without IN_ORDER completes a burst in any order, a piece at a time', () => {
    const p = pair(layout, 8, false);
    const base = p.ring.dataBase;
    p.drv.addBurst([base, base + 64, base + 128, base + 192], [8, 8, 8, 8], [0, 1, 2, 3], 4, true);
    p.drv.kickPrepare();
    const burst = new BufferBurst(8);
    expect(p.dev.popBurst(burst, 8)).toBe(4);
    p.dev.completeBurst(burst, 2, 2, [0, 0, 5, 6]);
    p.dev.completeBurst(burst, 0, 2, [1, 2]);
    p.dev.flush();
    const back: [number, number][] = [];
    for (let t = p.drv.takeUsed(); t !== undefined; t = p.drv.takeUsed()) back.push([t, p.drv.usedLen]);
    expect(back).toEqual([
      [2, 5],
      [3, 6],
      [0, 1],
      [1, 2],
    ]);
  });

  it('takes at most `max` and at most the burst capacity, and nothing from a broken queue', () => {
    const p = pair(layout, 8, true);
    const base = p.ring.dataBase;
    const addrs = [0, 1, 2, 3, 4, 5].map((i) => base + i * 64);
    p.drv.addBurst(addrs, [4, 4, 4, 4, 4, 4], [0, 1, 2, 3, 4, 5], 6, false);
    p.drv.kickPrepare();
    const small = new BufferBurst(2);
    expect(p.dev.popBurst(small, 8)).toBe(2);
    p.dev.completeBurst(small, 0, 2, [0, 0]);
    expect(p.dev.popBurst(small, 1)).toBe(1);
    expect(p.dev.popBurst(small, 0)).toBe(0);
    expect(small.count).toBe(0);
    expect(p.dev.hasAvailable()).toBe(true);
  });
});
