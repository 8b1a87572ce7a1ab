import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { DEFAULT_RUN, describeRun, type RunOptions } from '../src/harness/options.js';
import { planLocal } from '../src/transport/local/plan.js';
import { runTwoThreads } from '../src/transport/local/threads.js';

/** Real concurrency: driver and device in two worker threads over one SharedArrayBuffer. */
const runs: Partial<RunOptions>[] = [
  { inOrder: true, indirect: true, eventIdx: true, usedEntries: 'batched' },
  { inOrder: true, indirect: false, eventIdx: false, usedEntries: 'per-buffer' },
  { inOrder: false, indirect: true, eventIdx: true, completion: 'out-of-order', window: 16 },
  { inOrder: false, indirect: false, eventIdx: false },
  { inOrder: true, indirect: true, eventIdx: true, poll: true },
  { inOrder: true, eventIdx: true, partialWrites: true, maxChain: 8 },
  { ring: 'packed', queueSize: 250, inOrder: true, indirect: true, eventIdx: true, usedEntries: 'batched' },
  { ring: 'packed', queueSize: 100, inOrder: true, eventIdx: false, usedEntries: 'per-buffer', partialWrites: true },
  { ring: 'packed', queueSize: 64, inOrder: false, indirect: true, eventIdx: true, completion: 'out-of-order' },
  { ring: 'packed', queueSize: 7, inOrder: true, eventIdx: true, poll: true },
  { inOrder: true, eventIdx: true, busyPollUs: 50 },
  { ring: 'packed', inOrder: false, eventIdx: false, busyPollUs: 20, completion: 'out-of-order' },
];

describe('two worker threads', () => {
  for (const r of runs) {
    const o: RunOptions = { ...DEFAULT_RUN, buffers: 30_000, batch: 'random', threads: true, seed: 5, ...r };
    it(describeRun(o), async () => {
      const report = await runTwoThreads(planLocal(o));
      expect(report.failure).toBeNull();
      expect(report.completed).toBe(o.buffers);
      expect(report.testDevice.buffers).toBe(o.buffers);
      expect(report.pinned).toBe(availableParallelism() >= 2);
      if (o.inOrder && o.usedEntries === 'batched') {
        expect(report.deviceQueue.usedEntriesWritten).toBeLessThan(o.buffers);
      } else {
        expect(report.deviceQueue.usedEntriesWritten).toBe(o.buffers);
      }
    });
  }
});
