import { describe, expect, it } from 'vitest';
import { VirtqueueUsageError } from '../src/virtqueue/errors.js';
import { ScatterList } from '../src/virtqueue/scatter-list.js';
import type { VirtqueueDriver } from '../src/virtqueue/types.js';
import { TestRing } from './support/split-ring.js';
import { ringPair } from './support/ring-pair.js';

/**
 * The driver's burst calls. addBurst() must leave the ring exactly as add() of the same buffers would. takeUsedBurst()
 * must hand back exactly what takeUsed() would, in the same order with the same lengths, whatever `max` cuts a batch
 * into, and leave the ring where takeUsed() would (so the next lap works).
 */
const pair = ringPair;

/** Adds one buffer per writable length (tokens from `first`), and lets the device complete them with `written`. */
function lap(p: ReturnType<typeof pair>, writable: number[], written: number[], first: number): void {
  writable.forEach((w, i) => p.drv.add(new ScatterList().addWritable(p.ring.dataBase + i * 64, w), first + i, false));
  p.drv.kickPrepare();
  // Completion order is available order, the only order IN_ORDER allows (and a valid one without it).
  for (const w of written) p.dev.complete(p.dev.pop()!, w);
  p.dev.flush();
}

function burst(drv: VirtqueueDriver<number>, max: number): [number, number][] {
  const tokens = new Array<number>(64).fill(-1);
  const lens = new Uint32Array(64);
  const n = drv.takeUsedBurst(tokens, lens, max);
  return tokens.slice(0, n).map((t, i) => [t, lens[i]]);
}

function oneByOne(drv: VirtqueueDriver<number>): [number, number][] {
  const got: [number, number][] = [];
  for (let t = drv.takeUsed(); t !== undefined; t = drv.takeUsed()) got.push([t, drv.usedLen]);
  return got;
}

describe.each(['split', 'packed'] as const)('takeUsedBurst on the %s ring', (layout) => {
  it('IN_ORDER: a batch reported by one used entry comes back in pieces of `max`, with every length', () => {
    const p = pair(layout, 8, true);
    lap(p, [4, 8, 12, 16, 20], [4, 8, 12, 16, 20], 0);
    expect(p.dev.stats.usedEntriesWritten).toBe(1);
    expect(burst(p.drv, 2)).toEqual([
      [0, 4],
      [1, 8],
    ]);
    expect(p.drv.inFlight).toBe(3);
    expect(burst(p.drv, 64)).toEqual([
      [2, 12],
      [3, 16],
      [4, 20],
    ]);
    expect(burst(p.drv, 64)).toEqual([]);
    expect(p.drv.stats.usedEntriesRead).toBe(1);
    expect([p.drv.numFree, p.drv.inFlight, p.drv.stats.buffersUsed]).toEqual([8, 0, 5]);
  });

  it('IN_ORDER: a buffer written in part ends a batch, and its true length comes back', () => {
    const p = pair(layout, 8, true);
    lap(p, [10, 10, 10, 10, 10], [10, 10, 3, 10, 10], 0);
    expect(p.dev.stats.usedEntriesWritten).toBe(2);
    expect(burst(p.drv, 64).map(([, len]) => len)).toEqual([10, 10, 3, 10, 10]);
    expect(p.drv.stats.usedEntriesRead).toBe(2);
  });

  it('continues a batch that takeUsed() started', () => {
    const p = pair(layout, 8, true);
    lap(p, [4, 8, 12], [4, 8, 12], 0);
    expect(p.drv.takeUsed()).toBe(0);
    expect(burst(p.drv, 64)).toEqual([
      [1, 8],
      [2, 12],
    ]);
  });

  it('without IN_ORDER: one used entry per buffer, in the order written', () => {
    const p = pair(layout, 8, false);
    lap(p, [4, 8, 12], [1, 2, 3], 0);
    expect(burst(p.drv, 64)).toEqual([
      [0, 1],
      [1, 2],
      [2, 3],
    ]);
    expect(p.drv.stats.usedEntriesRead).toBe(3);
  });

  it.each([true, false])('hands back what takeUsed() does, lap after lap and across wraps (IN_ORDER %s)', (inOrder) => {
    // A ring of 5 (the packed ring's size need not be a power of two) and batches that do not divide it.
    const size = layout === 'packed' ? 5 : 8;
    const byBurst = pair(layout, size, inOrder);
    const byOne = pair(layout, size, inOrder);
    let token = 0;
    for (let round = 0; round < 40; round++) {
      const n = 1 + (round % size);
      const writable = Array.from({ length: n }, (_, i) => 8 + i);
      const written = writable.map((w, i) => ((round + i) % 3 === 0 ? w - 1 : w));
      lap(byBurst, writable, written, token);
      lap(byOne, writable, written, token);
      token += n;
      const got: [number, number][] = [];
      for (
        let part = burst(byBurst.drv, 1 + (round % 3));
        part.length > 0;
        part = burst(byBurst.drv, 1 + (round % 3))
      ) {
        got.push(...part);
      }
      expect(got).toEqual(oneByOne(byOne.drv));
      expect(byBurst.drv.stats).toEqual(byOne.drv.stats);
      expect([byBurst.drv.numFree, byBurst.drv.inFlight]).toEqual([size, 0]);
    }
  });
});

/** Breaks the driver with a used entry naming a buffer that is not in flight. */
function breakDriver(p: ReturnType<typeof pair>): void {
  if (p.ring instanceof TestRing) {
    p.ring.writeUsedEntry(0, 7, 0);
    p.ring.setUsedIdx(1);
  } else {
    p.ring.writeDesc(0, 0, 0, 7, p.ring.used());
  }
  p.drv.takeUsed();
  expect(p.drv.error).not.toBeNull();
}

describe.each(['split', 'packed'] as const)('addBurst on the %s ring', (layout) => {
  it.each([true, false])('writes the ring exactly as add() does, lap after lap (IN_ORDER %s)', (inOrder) => {
    const size = layout === 'packed' ? 5 : 8;
    const byAdd = pair(layout, size, inOrder);
    const byBurst = pair(layout, size, inOrder);
    let token = 0;
    for (let round = 0; round < 30; round++) {
      const n = 1 + (round % size);
      const writable = round % 2 === 0;
      // Addresses change from lap to lap, so descriptors are rewritten as well as republished.
      const addrs = Array.from({ length: n }, (_, i) => byAdd.ring.dataBase + ((round + i) % 7) * 64);
      const lens = Array.from({ length: n }, (_, i) => 8 + i + round);
      const tokens = Array.from({ length: n }, (_, i) => token + i);
      token += n;
      for (let i = 0; i < n; i++) {
        const sg = new ScatterList();
        if (writable) sg.addWritable(addrs[i], lens[i]);
        else sg.addReadable(addrs[i], lens[i]);
        byAdd.drv.add(sg, tokens[i], false);
      }
      expect(byBurst.drv.addBurst(addrs, lens, tokens, n, writable)).toBe(n);
      expect(byBurst.drv.kickPrepare()).toBe(byAdd.drv.kickPrepare());
      expect(Buffer.from(byBurst.ring.buffer).equals(Buffer.from(byAdd.ring.buffer))).toBe(true);
      for (const p of [byAdd, byBurst]) {
        for (let c = p.dev.pop(); c !== null; c = p.dev.pop()) p.dev.complete(c, writable ? c.writableLength : 0);
        p.dev.flush();
      }
      expect(oneByOne(byBurst.drv)).toEqual(oneByOne(byAdd.drv));
      expect(byBurst.drv.stats).toEqual(byAdd.drv.stats);
    }
  });

  it('hands the device one-segment chains, readable or writable, with their tokens coming back', () => {
    const p = pair(layout, 8, true);
    const base = p.ring.dataBase;
    expect(p.drv.addBurst([base, base + 64], [10, 20], [1, 2], 2, false)).toBe(2);
    expect(p.drv.addBurst([base + 128], [30], [3], 1, true)).toBe(1);
    p.drv.kickPrepare();
    const seen: [number, number, number][] = [];
    for (let c = p.dev.pop(); c !== null; c = p.dev.pop()) {
      seen.push([c.segCount, c.readableLength, c.writableLength]);
      p.dev.complete(c, c.writableLength);
    }
    expect(seen).toEqual([
      [1, 10, 0],
      [1, 20, 0],
      [1, 0, 30],
    ]);
    p.dev.flush();
    expect(burst(p.drv, 64)).toEqual([
      [1, 0],
      [2, 0],
      [3, 30],
    ]);
  });

  it('adds only what fits, and nothing once the queue is broken', () => {
    const p = pair(layout, 8, false);
    const addrs = Array.from({ length: 10 }, (_, i) => p.ring.dataBase + i * 64);
    const lens = new Array<number>(10).fill(16);
    const tokens = addrs.map((_, i) => i);
    expect(p.drv.addBurst(addrs, lens, tokens, 3, true)).toBe(3);
    expect(p.drv.addBurst(addrs, lens, tokens, 10, true)).toBe(5);
    expect(p.drv.addBurst(addrs, lens, tokens, 10, true)).toBe(0);
    expect([p.drv.numFree, p.drv.inFlight]).toEqual([0, 8]);
    const fresh = pair(layout, 8, false);
    fresh.drv.addBurst(addrs, lens, tokens, 1, true);
    fresh.drv.kickPrepare();
    breakDriver(fresh);
    expect(fresh.drv.addBurst(addrs, lens, tokens, 3, true)).toBe(0);
    expect(fresh.drv.inFlight).toBe(1);
  });

  it.each([
    { what: 'a negative address', addr: -64, len: 16, token: 1 },
    { what: 'an address past 2^53', addr: 2 ** 54, len: 16, token: 1 },
    { what: 'a fractional length', addr: null, len: 1.5, token: 1 },
    { what: 'a length past 32 bits', addr: null, len: 2 ** 32, token: 1 },
    { what: 'an undefined token', addr: null, len: 16, token: undefined },
  ])('refuses $what, adding none of the burst', ({ addr, len, token }) => {
    const p = pair(layout, 8, true);
    const base = p.ring.dataBase;
    const before = Buffer.from(p.ring.buffer);
    expect(() =>
      p.drv.addBurst([base, addr ?? base + 64], [16, len], [7, token as unknown as number], 2, true),
    ).toThrow(VirtqueueUsageError);
    expect([p.drv.inFlight, p.drv.numFree, p.drv.kickPrepare()]).toEqual([0, 8, false]);
    expect(Buffer.from(p.ring.buffer).equals(before)).toBe(true);
  });
});
