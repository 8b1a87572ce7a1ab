import { cpus, availableParallelism } from 'node:os';
import { planLocal } from '../transport/local/plan.js';
import { nsPer, perSecond } from '../transport/local/report.js';
import { runTwoThreads } from '../transport/local/threads.js';
import { DEFAULT_RUN, type RingLayout, type RunOptions } from './options.js';

/** One variant of a comparison: a name and how it differs from the group's base. */
export interface BenchVariant {
  name: string;
  options: Partial<RunOptions>;
}

export interface BenchGroup {
  /** e.g. "split, event-idx, poll". */
  name: string;
  base: RunOptions;
  variants: BenchVariant[];
}

export interface BenchSample {
  buffersPerSec: number;
  cpuNsPerBuffer: number;
  usedEntriesPerBuffer: number;
  kicksPerBuffer: number;
  interruptsPerBuffer: number;
  gcCount: number;
}

export interface VariantSummary {
  group: string;
  variant: string;
  samples: BenchSample[];
  medianBuffersPerSec: number;
  minBuffersPerSec: number;
  maxBuffersPerSec: number;
  medianCpuNsPerBuffer: number;
  usedEntriesPerBuffer: number;
  kicksPerBuffer: number;
  interruptsPerBuffer: number;
}

export interface RatioSummary {
  group: string;
  /** What the ratio shows, e.g. "split: IN_ORDER gain". */
  label: string;
  numerator: string;
  denominator: string;
  /** median(A) / median(B), both from this run. */
  ratioOfMedians: number;
  /** A/B of each interleaved round: min, median, max. */
  roundRatios: { min: number; median: number; max: number };
}

export interface BenchReport {
  suite: 'ring';
  date: string;
  machine: { cpus: number; model: string; node: string; pinned: boolean };
  command: string;
  runs: number;
  buffers: number;
  variants: VariantSummary[];
  ratios: RatioSummary[];
  gcCheck?: { buffers: number; gcCount: number }[];
}

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/**
 * What every benchmark here runs to measure the ring rather than the data: two threads, EVENT_IDX on, one 64-byte
 * segment of the same shape per buffer, data bytes untouched (tokens, order and lengths are still verified).
 */
export const RING_ONLY_TRAFFIC = {
  threads: true,
  eventIdx: true,
  maxChain: 1,
  maxSegment: 64,
  shape: 'fixed',
  verifyData: false,
} as const satisfies Partial<RunOptions>;

/** poll: both threads busy-poll; wait: both sleep on notifications; hybrid: busy-poll 50 us, then sleep. */
export type BenchMode = 'poll' | 'wait' | 'hybrid';
export const HYBRID_BUSY_POLL_US = 50;

export interface RingBenchOptions {
  runs: number;
  buffers: number;
  batch: number;
  queueSize: number;
  modes: BenchMode[];
  indirect: boolean[];
  rings: RingLayout[];
  gcCheck: boolean;
  command: string;
  onProgress?: (done: number, total: number, what: string) => void;
}

/**
 * The ring benchmark: driver and device on two pinned threads, no transport. For each notification mode and
 * indirect setting it compares, for each ring layout, IN_ORDER with batched used entries, IN_ORDER with per-buffer
 * entries, and no IN_ORDER, interleaving all the variants (A B C D E F A B C ...) so drift on a shared machine hits
 * them alike and ratios between any two come from the same run. Buffers are
 * fixed-shape (one writable segment) and data bytes are not touched, so the figure is the ring's; tokens, order and
 * lengths are still verified, and a run that fails verification aborts the benchmark.
 */
export async function benchRing(o: RingBenchOptions): Promise<BenchReport> {
  const groups: BenchGroup[] = [];
  for (const mode of o.modes) {
    for (const indirect of o.indirect) {
      const base: RunOptions = {
        ...DEFAULT_RUN,
        ...RING_ONLY_TRAFFIC,
        indirect,
        indirectMode: 'always',
        queueSize: o.queueSize,
        batch: o.batch,
        buffers: o.buffers,
        poll: mode === 'poll',
        busyPollUs: mode === 'hybrid' ? HYBRID_BUSY_POLL_US : 0,
        seed: 1,
      };
      const variants: BenchVariant[] = [];
      for (const ring of o.rings) {
        variants.push(
          { name: `${ring} in-order batched`, options: { ring, inOrder: true, usedEntries: 'batched' } },
          { name: `${ring} in-order per-buffer`, options: { ring, inOrder: true, usedEntries: 'per-buffer' } },
          { name: `${ring} no in-order`, options: { ring, inOrder: false } },
        );
      }
      groups.push({ name: `event-idx${indirect ? ' indirect' : ''} ${mode}`, base, variants });
    }
  }
  const total = groups.reduce((n, g) => n + g.variants.length * o.runs, 0) + (o.gcCheck ? 2 : 0);
  let done = 0;
  let pinned = true;
  const variants: VariantSummary[] = [];
  const ratios: RatioSummary[] = [];
  for (const g of groups) {
    const samples = new Map<string, BenchSample[]>(g.variants.map((v) => [v.name, []]));
    for (let round = 0; round < o.runs; round++) {
      for (const v of g.variants) {
        o.onProgress?.(done, total, `${g.name}: ${v.name}`);
        const run = { ...g.base, ...v.options };
        const r = await runTwoThreads(planLocal(run));
        if (r.failure !== null)
          throw new Error(`benchmark run failed verification (${g.name}, ${v.name}): ${r.failure}`);
        pinned &&= r.pinned;
        samples.get(v.name)!.push({
          buffersPerSec: perSecond(r.completed, r.elapsedMs),
          cpuNsPerBuffer: nsPer(r.cpuMs, r.completed),
          usedEntriesPerBuffer: r.deviceQueue.usedEntriesWritten / r.completed,
          kicksPerBuffer: r.kicks / r.completed,
          interruptsPerBuffer: r.interrupts / r.completed,
          gcCount: r.gcCount ?? 0,
        });
        done++;
      }
    }
    for (const v of g.variants) {
      const s = samples.get(v.name)!;
      const bps = s.map((x) => x.buffersPerSec);
      variants.push({
        group: g.name,
        variant: v.name,
        samples: s,
        medianBuffersPerSec: median(bps),
        minBuffersPerSec: Math.min(...bps),
        maxBuffersPerSec: Math.max(...bps),
        medianCpuNsPerBuffer: median(s.map((x) => x.cpuNsPerBuffer)),
        usedEntriesPerBuffer: median(s.map((x) => x.usedEntriesPerBuffer)),
        kicksPerBuffer: median(s.map((x) => x.kicksPerBuffer)),
        interruptsPerBuffer: median(s.map((x) => x.interruptsPerBuffer)),
      });
    }
    const ratio = (label: string, numerator: string, denominator: string): void => {
      const a = samples.get(numerator)!.map((x) => x.buffersPerSec);
      const b = samples.get(denominator)!.map((x) => x.buffersPerSec);
      const perRound = a.map((x, i) => x / b[i]);
      ratios.push({
        group: g.name,
        label,
        numerator,
        denominator,
        ratioOfMedians: median(a) / median(b),
        roundRatios: { min: Math.min(...perRound), median: median(perRound), max: Math.max(...perRound) },
      });
    };
    for (const ring of o.rings) ratio(`${ring}: IN_ORDER gain`, `${ring} in-order batched`, `${ring} no in-order`);
    if (o.rings.length === 2) ratio('packed vs split, IN_ORDER', 'packed in-order batched', 'split in-order batched');
  }
  let gcCheck: BenchReport['gcCheck'];
  if (o.gcCheck) {
    gcCheck = [];
    for (const buffers of [1_000_000, 10_000_000]) {
      o.onProgress?.(done, total, `allocation check: ${buffers} buffers`);
      const base = groups[0].base;
      const run = { ...base, ring: o.rings[0], buffers, poll: true, inOrder: true, usedEntries: 'batched' as const };
      const r = await runTwoThreads(planLocal(run));
      if (r.failure !== null) throw new Error(`allocation check failed verification: ${r.failure}`);
      gcCheck.push({ buffers, gcCount: r.gcCount ?? 0 });
      done++;
    }
  }
  o.onProgress?.(done, total, 'done');
  return {
    suite: 'ring',
    date: new Date().toISOString(),
    machine: { cpus: availableParallelism(), model: cpus()[0]?.model ?? 'unknown', node: process.version, pinned },
    command: o.command,
    runs: o.runs,
    buffers: o.buffers,
    variants,
    ratios,
    gcCheck,
  };
}
