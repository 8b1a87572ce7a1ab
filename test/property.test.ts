import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_RUN, type RunOptions } from '../src/harness/options.js';
import { planLocal } from '../src/transport/local/plan.js';
import { runSingleThread } from '../src/transport/local/single-thread.js';
import type { Chain } from '../src/virtqueue/chain.js';
import { ScatterList } from '../src/virtqueue/scatter-list.js';
import { PackedTestRing } from './support/packed-ring.js';
import { TestRing, type FeatureFlags } from './support/split-ring.js';

const COMBINATIONS: FeatureFlags[] = [];
for (const inOrder of [false, true])
  for (const indirect of [false, true])
    for (const eventIdx of [false, true]) COMBINATIONS.push({ inOrder, indirect, eventIdx });
const label = (f: FeatureFlags): string =>
  [f.inOrder ? 'in-order' : 'no-in-order', f.indirect ? 'indirect' : '', f.eventIdx ? 'event-idx' : '']
    .filter(Boolean)
    .join(' ');

type Op =
  | { kind: 'add'; segs: number[]; readable: number; indirect: boolean }
  | { kind: 'kick' }
  | { kind: 'pop'; n: number }
  | { kind: 'complete'; pick: number; partial: boolean }
  | { kind: 'flush' }
  | { kind: 'reap'; n: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant('add' as const),
    segs: fc.array(fc.integer({ min: 1, max: 24 }), { minLength: 1, maxLength: 5 }),
    readable: fc.nat(),
    indirect: fc.boolean(),
  }),
  fc.constant({ kind: 'kick' as const }),
  fc.record({ kind: fc.constant('pop' as const), n: fc.integer({ min: 1, max: 16 }) }),
  fc.record({ kind: fc.constant('complete' as const), pick: fc.nat(), partial: fc.boolean() }),
  fc.constant({ kind: 'flush' as const }),
  fc.record({ kind: fc.constant('reap' as const), n: fc.integer({ min: 1, max: 16 }) }),
);

/**
 * Random operation sequences through a driver and a device on one ring; after each sequence everything is drained.
 * Checks that both sides agree on every buffer: the device sees buffer n as the n-th available (its readable bytes
 * say n), the driver gets every buffer back exactly once with exactly the length the device wrote and those bytes,
 * in add order under IN_ORDER; batched IN_ORDER writes the used entries the batching rule predicts.
 */
type Layout = 'split' | 'packed';
const LAYOUTS: Layout[] = ['split', 'packed'];
/** Ring sizes to try: any size for packed rings, powers of two for split ones. */
const SIZES: Record<Layout, number[]> = { split: [2, 4, 8, 16], packed: [1, 2, 3, 5, 8, 13] };

function runModel(layout: Layout, flags: FeatureFlags, size: number, batched: boolean, ops: Op[]): void {
  const ring = layout === 'packed' ? new PackedTestRing(size, flags) : new TestRing(size, flags);
  const drv = ring.driver<number>(8);
  const dev = ring.device(batched ? 'batched' : 'per-buffer');
  const slotBytes = 5 * 24;
  const bytes = (addr: number, len: number): Uint8Array => ring.memory.translate(addr, len);
  const added = new Map<number, { writable: number; addrs: number[]; lens: number[]; readable: number }>();
  const written = new Map<number, number>();
  const reaped: number[] = [];
  const held: { chain: Chain; token: number }[] = [];
  const freeSlots = Array.from({ length: size }, (_, i) => i);
  const slotOf = new Map<number, number>();
  let nextToken = 0;
  let expectedEntries = 0;
  let pendingFull: boolean[] = [];

  const pop = (n: number): void => {
    for (let i = 0; i < n; i++) {
      const chain = dev.pop();
      if (chain === null) return;
      // Buffer n's first readable bytes carry n: the device sees buffers in add order.
      const token = chain.readableCount > 0 ? chain.bytes[0][chain.offsets[0]] : chain.seq & 0xff;
      expect(token).toBe(chain.seq & 0xff);
      held.push({ chain, token: chain.seq });
    }
  };
  const complete = (pick: number, partial: boolean): void => {
    if (held.length === 0) return;
    const i = flags.inOrder ? 0 : pick % held.length;
    const { chain, token } = held.splice(i, 1)[0];
    const len = partial ? Math.floor(chain.writableLength / 2) : chain.writableLength;
    let j = 0;
    for (let s = chain.readableCount; s < chain.segCount && j < len; s++) {
      const n = Math.min(chain.lengths[s], len - j);
      chain.bytes[s].fill((token * 7 + 3) & 0xff, chain.offsets[s], chain.offsets[s] + n);
      j += n;
    }
    written.set(token, len);
    pendingFull.push(len === chain.writableLength);
    dev.complete(chain, len);
  };
  const flush = (): void => {
    if (flags.inOrder && batched)
      expectedEntries += pendingFull.filter((full, i) => !full || i === pendingFull.length - 1).length;
    else expectedEntries += pendingFull.length;
    pendingFull = [];
    dev.flush();
  };
  const reap = (n: number): void => {
    for (let i = 0; i < n; i++) {
      const token = drv.takeUsed();
      if (token === undefined) return;
      const buf = added.get(token)!;
      expect(drv.usedLen).toBe(written.get(token));
      let j = 0;
      for (let s = buf.readable; s < buf.addrs.length && j < drv.usedLen; s++) {
        const n = Math.min(buf.lens[s], drv.usedLen - j);
        expect(bytes(buf.addrs[s], n).every((b) => b === ((token * 7 + 3) & 0xff))).toBe(true);
        j += n;
      }
      reaped.push(token);
      freeSlots.push(slotOf.get(token)!);
    }
  };

  for (const op of ops) {
    switch (op.kind) {
      case 'add': {
        if (freeSlots.length === 0) break;
        const sg = new ScatterList();
        const readable = op.readable % (op.segs.length + 1);
        const slot = freeSlots[freeSlots.length - 1];
        const base = ring.dataBase + slot * slotBytes;
        const addrs: number[] = [];
        op.segs.forEach((len, i) => {
          const addr = base + i * 24;
          // The first readable segment starts with the buffer's number; the rest is filler.
          const lenHere = i === 0 && readable > 0 ? Math.max(len, 1) : len;
          if (i < readable) sg.addReadable(addr, lenHere);
          else sg.addWritable(addr, lenHere);
          addrs.push(addr);
        });
        if (!drv.canAdd(sg, op.indirect)) break;
        const token = nextToken;
        if (readable > 0) bytes(base, 1)[0] = token & 0xff;
        expect(drv.add(sg, token, op.indirect)).toBe(true);
        freeSlots.pop();
        slotOf.set(token, slot);
        added.set(token, { writable: sg.writableLength, addrs, lens: [...sg.lens.slice(0, sg.count)], readable });
        nextToken++;
        break;
      }
      case 'kick':
        drv.kickPrepare();
        break;
      case 'pop':
        pop(op.n);
        break;
      case 'complete':
        complete(op.pick, op.partial);
        break;
      case 'flush':
        flush();
        break;
      case 'reap':
        reap(op.n);
        break;
    }
    expect(drv.error).toBeNull();
    expect(dev.error).toBeNull();
  }
  // Drain: everything added comes back exactly once.
  drv.kickPrepare();
  pop(size);
  while (held.length > 0) complete(0, false);
  flush();
  reap(size * 2);
  expect(drv.error).toBeNull();
  expect(dev.error).toBeNull();
  expect([...reaped].sort((a, b) => a - b)).toEqual([...added.keys()]);
  if (flags.inOrder) expect(reaped).toEqual([...added.keys()]);
  expect(dev.stats.usedEntriesWritten).toBe(expectedEntries);
  expect(drv.numFree).toBe(size);
  expect(ring.guardsIntact()).toBe(true);
}

describe('property: driver and device agree on every buffer (model-based)', () => {
  for (const layout of LAYOUTS) {
    for (const flags of COMBINATIONS) {
      for (const batched of flags.inOrder ? [true, false] : [false]) {
        it(`${layout} ${label(flags)}${flags.inOrder ? (batched ? ' batched' : ' per-buffer') : ''}`, () => {
          fc.assert(
            fc.property(
              fc.constantFrom(...SIZES[layout]),
              fc.array(opArb, { minLength: 1, maxLength: 300 }),
              (size, ops) => runModel(layout, flags, size, batched, ops),
            ),
            { numRuns: 150 },
          );
        });
      }
    }
  }
});

describe('property: the harness passes for random options and seeds (no notification lost)', () => {
  for (const layout of LAYOUTS)
    for (const flags of COMBINATIONS) {
      it(`${layout} ${label(flags)}`, () => {
        const optionsArb = fc.record({
          queueSize:
            layout === 'split' ? fc.constantFrom(1, 2, 4, 16, 64, 256) : fc.constantFrom(1, 3, 7, 16, 100, 250),
          batch: fc.oneof(fc.constant('random' as const), fc.integer({ min: 1, max: 64 })),
          maxChain: fc.integer({ min: 1, max: 8 }),
          maxSegment: fc.integer({ min: 1, max: 64 }),
          indirectMode: fc.constantFrom('always' as const, 'random' as const, 'auto' as const, 'never' as const),
          usedEntries: fc.constantFrom('batched' as const, 'per-buffer' as const),
          outOfOrder: fc.boolean(),
          window: fc.integer({ min: 1, max: 16 }),
          partialWrites: fc.boolean(),
          seed: fc.integer({ min: 0, max: 0x7fffffff }),
          buffers: fc.integer({ min: 1, max: 1500 }),
        });
        fc.assert(
          fc.property(optionsArb, (g) => {
            const o: RunOptions = {
              ...DEFAULT_RUN,
              ...g,
              ring: layout,
              ...flags,
              inOrder: flags.inOrder!,
              indirect: flags.indirect!,
              eventIdx: flags.eventIdx!,
              maxChain: Math.min(g.maxChain, g.queueSize),
              completion: !flags.inOrder && g.outOfOrder ? 'out-of-order' : 'in-order',
            };
            const r = runSingleThread(planLocal(o));
            expect(r.failure).toBeNull();
            expect(r.completed).toBe(o.buffers);
            expect(r.driverQueue.buffersUsed).toBe(o.buffers);
            expect(r.deviceQueue.buffersUsed).toBe(o.buffers);
            // Every publication is counted once, as wanted or suppressed; kicks sent are the wanted ones.
            expect(r.kicks).toBe(r.driverQueue.kicksWanted);
            expect(r.interrupts).toBe(r.deviceQueue.interruptsWanted);
          }),
          { numRuns: 60 },
        );
      });
    }
});
