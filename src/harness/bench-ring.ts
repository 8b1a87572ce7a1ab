import { planLocal } from '../transport/local/plan.js';
import { nsPer } from '../transport/local/report.js';
import { rateOf } from './run.js';
import { runTwoThreads } from '../transport/local/threads.js';
import { benchSweep, sweepGroups, sweepRuns, type BenchReport, type SampleRunner, type SweepOptions } from './bench.js';

/** Driver and device on two pinned threads of this process, no transport. */
export const runRingSample: SampleRunner = async (run) => {
  const r = await runTwoThreads(planLocal(run));
  if (r.failure !== null) throw new Error(`verification failed: ${r.failure}`);
  const n = r.completed;
  return {
    buffersPerSec: rateOf(n, r.elapsedMs, r.measured),
    cpuNsPerBuffer: nsPer(r.cpuMs, n),
    usedEntriesPerBuffer: r.deviceQueue.usedEntriesWritten / n,
    kicksPerBuffer: r.kicks / n,
    interruptsPerBuffer: r.interrupts / n,
    batchesPerBuffer: (r.driverQueue.kicksWanted + r.driverQueue.kicksSuppressed) / n,
    flushesPerBuffer: r.deviceQueue.flushes / n,
    gcCount: r.gcCount ?? 0,
    pinned: r.pinned,
  };
};

/**
 * The `ring` suite: the sweep on two threads, then (with `gcCheck`) the allocation check: IN_ORDER batched, polling,
 * for 1M and 10M buffers; a hot path that allocates nothing per buffer shows the same GC count for both.
 */
export async function benchRing(o: SweepOptions & { gcCheck: boolean }): Promise<BenchReport> {
  const gcRuns = o.gcCheck ? 2 : 0;
  const sweepTotal = sweepRuns(o);
  const report = await benchSweep(
    'ring',
    { ...o, onProgress: (d, _t, what) => o.onProgress?.(d, sweepTotal + gcRuns, what) },
    runRingSample,
  );
  if (o.gcCheck) {
    report.gcCheck = [];
    const base = sweepGroups(o)[0].base;
    for (const [i, buffers] of [1_000_000, 10_000_000].entries()) {
      o.onProgress?.(sweepTotal + i, sweepTotal + gcRuns, `allocation check: ${buffers} buffers`);
      const run = { ...base, ring: o.rings[0], buffers, durationMs: undefined, poll: true, inOrder: true };
      const r = await runTwoThreads(planLocal({ ...run, usedEntries: 'batched' }));
      if (r.failure !== null) throw new Error(`allocation check failed verification: ${r.failure}`);
      report.gcCheck.push({ buffers, gcCount: r.gcCount ?? 0 });
    }
  }
  return report;
}
