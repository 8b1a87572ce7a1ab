import { machineInfo, type MachineInfo } from './machine.js';
import type { UsedEntryPolicy } from '../virtqueue/types.js';
import { DEFAULT_RUN, type RingLayout, type RunOptions } from './options.js';

/** One variant of a comparison: a name and how it differs from the group's base. */
export interface BenchVariant {
  name: string;
  ring: RingLayout;
  inOrder: boolean;
  usedEntries: UsedEntryPolicy;
}

/** One interleaved comparison: every variant at one mode, indirect setting, batch size and queue size. */
export interface BenchGroup {
  /** e.g. "poll, queue 256, batch 32". */
  name: string;
  mode: BenchMode;
  indirect: boolean;
  batch: number;
  queueSize: number;
  base: RunOptions;
}

/** One run of one variant: rates from the clock, counters exact. */
export interface BenchSample {
  buffersPerSec: number;
  cpuNsPerBuffer: number;
  usedEntriesPerBuffer: number;
  kicksPerBuffer: number;
  /** Null where the device runs in another process (vhost-user): its interrupts are not counted here. */
  interruptsPerBuffer: number | null;
  /** Batches the driver published (kickPrepare calls that exposed buffers), per buffer. */
  batchesPerBuffer: number;
  /** Device flushes (used-buffer publications) per buffer; null where the device is in another process. */
  flushesPerBuffer: number | null;
  /** Garbage collections during the run; null where they are not counted (the vhost-user front-end). */
  gcCount: number | null;
}

export interface VariantSummary {
  group: string;
  variant: string;
  mode: BenchMode;
  ring: RingLayout;
  inOrder: boolean;
  usedEntries: UsedEntryPolicy;
  indirect: boolean;
  batch: number;
  queueSize: number;
  samples: BenchSample[];
  medianBuffersPerSec: number;
  minBuffersPerSec: number;
  maxBuffersPerSec: number;
  medianCpuNsPerBuffer: number;
  usedEntriesPerBuffer: number;
  kicksPerBuffer: number;
  interruptsPerBuffer: number | null;
  batchesPerBuffer: number;
  flushesPerBuffer: number | null;
}

export type RatioKind = 'in-order-gain' | 'packed-vs-split';

export interface RatioSummary {
  group: string;
  kind: RatioKind;
  /** The ring of an IN_ORDER gain; 'packed' for packed vs split. */
  ring: RingLayout;
  mode: BenchMode;
  indirect: boolean;
  batch: number;
  queueSize: number;
  /** What the ratio shows, e.g. "split: IN_ORDER gain". */
  label: string;
  numerator: string;
  denominator: string;
  /** median(A) / median(B), both from this run. */
  ratioOfMedians: number;
  /** A/B of each interleaved round: min, median, max. */
  roundRatios: { min: number; median: number; max: number };
}

export type SweepSuite = 'ring' | 'vhost-user';

/**
 * What the driver's buffers do between laps. recycled: the driver owns as many buffers as the ring has positions, so
 * under IN_ORDER each returns to the position it left and what the ring holds repeats lap after lap. rotating: two
 * buffers per position, handed out in turn, so every descriptor's address changes each lap, as in a driver that
 * draws from a pool larger than its ring.
 */
export type BufferWorkload = 'recycled' | 'rotating';
export const BUFFER_WORKLOADS: BufferWorkload[] = ['recycled', 'rotating'];

/** The test driver's buffer pool for a workload (undefined: the queue size). */
export const bufferPoolFor = (workload: BufferWorkload, queueSize: number): number | undefined =>
  workload === 'rotating' ? 2 * queueSize : undefined;

export interface BenchReport {
  suite: SweepSuite;
  date: string;
  machine: MachineInfo & { pinned: boolean | null };
  command: string;
  runs: number;
  /** How long the driver adds buffers in each run (it then waits for the last ones). */
  durationMs: number;
  /** What the driver's buffers do between laps (reports without it were 'recycled'). */
  workload?: BufferWorkload;
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

/** The batch sizes and queue sizes of a full sweep. */
export const SWEEP_BATCHES = [1, 4, 16, 32, 64, 128, 256];
export const SWEEP_QUEUE_SIZES = [256, 1024];

/** Upper bound on buffers per run: runs are timed (durationMs), this only keeps a counter finite. */
const BUFFER_CAP = 1_000_000_000;

export interface SweepOptions {
  runs: number;
  durationMs: number;
  batches: number[];
  queueSizes: number[];
  modes: BenchMode[];
  indirect: boolean[];
  rings: RingLayout[];
  workload: BufferWorkload;
  command: string;
  onProgress?: (done: number, total: number, what: string) => void;
}

/** Runs one variant once and returns its sample, or throws if the run failed verification. */
export type SampleRunner = (run: RunOptions) => Promise<BenchSample & { pinned: boolean | null }>;

/** The variants every group compares: for each ring, IN_ORDER batched, IN_ORDER per-buffer, no IN_ORDER. */
export function sweepVariants(rings: RingLayout[]): BenchVariant[] {
  return rings.flatMap((ring): BenchVariant[] => [
    { name: `${ring} in-order batched`, ring, inOrder: true, usedEntries: 'batched' },
    { name: `${ring} in-order per-buffer`, ring, inOrder: true, usedEntries: 'per-buffer' },
    { name: `${ring} no in-order`, ring, inOrder: false, usedEntries: 'batched' },
  ]);
}

/** How many runs a sweep makes: its progress total. */
export const sweepRuns = (o: SweepOptions): number => sweepGroups(o).length * sweepVariants(o.rings).length * o.runs;

export function sweepGroups(o: SweepOptions): BenchGroup[] {
  const groups: BenchGroup[] = [];
  for (const mode of o.modes) {
    for (const indirect of o.indirect) {
      for (const queueSize of o.queueSizes) {
        for (const requested of o.batches) {
          // A batch larger than the ring is the ring: the driver can never have more in flight.
          const batch = Math.min(requested, queueSize);
          if (
            groups.some(
              (g) => g.mode === mode && g.indirect === indirect && g.queueSize === queueSize && g.batch === batch,
            )
          )
            continue;
          const base: RunOptions = {
            ...DEFAULT_RUN,
            ...RING_ONLY_TRAFFIC,
            indirect,
            indirectMode: 'always',
            queueSize,
            batch,
            bufferPool: bufferPoolFor(o.workload, queueSize),
            buffers: BUFFER_CAP,
            durationMs: o.durationMs,
            // The first third warms the JIT up (each run is a fresh thread); the rate is measured over the rest.
            warmupMs: Math.round(o.durationMs / 3),
            poll: mode === 'poll',
            busyPollUs: mode === 'hybrid' ? HYBRID_BUSY_POLL_US : 0,
            seed: 1,
          };
          const rotating = o.workload === 'rotating' ? 'rotating buffers, ' : '';
          const name = `${rotating}${mode}${indirect ? ' indirect' : ''}, queue ${queueSize}, batch ${batch}`;
          groups.push({ name, mode, indirect, batch, queueSize, base });
        }
      }
    }
  }
  return groups;
}

/**
 * The sweep behind the `ring` and `vhost-user` suites: for each notification mode, indirect setting, queue size and
 * batch size, every variant (per ring: IN_ORDER batched, IN_ORDER per-buffer, no IN_ORDER) is run `runs` times,
 * interleaved (A B C D E F A B C ...), so drift on a shared machine hits them alike and every ratio comes from the
 * same run. Buffers are fixed-shape and data bytes are not touched, so the figure is the ring's; tokens, order and
 * lengths are still verified, and a run that fails verification aborts the sweep.
 */
export async function benchSweep(suite: SweepSuite, o: SweepOptions, runSample: SampleRunner): Promise<BenchReport> {
  const groups = sweepGroups(o);
  const variantsOf = sweepVariants(o.rings);
  const total = sweepRuns(o);
  let done = 0;
  let pinned: boolean | null = null;
  const variants: VariantSummary[] = [];
  const ratios: RatioSummary[] = [];
  for (const g of groups) {
    const samples = new Map<string, BenchSample[]>(variantsOf.map((v) => [v.name, []]));
    for (let round = 0; round < o.runs; round++) {
      for (const v of variantsOf) {
        o.onProgress?.(done, total, `${g.name}: ${v.name} (round ${round + 1} of ${o.runs})`);
        const { pinned: p, ...sample } = await runSample({
          ...g.base,
          ring: v.ring,
          inOrder: v.inOrder,
          usedEntries: v.usedEntries,
        }).catch((e: unknown) => {
          throw new Error(`benchmark run failed (${g.name}, ${v.name}): ${e instanceof Error ? e.message : String(e)}`);
        });
        if (p !== null) pinned = (pinned ?? true) && p;
        samples.get(v.name)!.push(sample);
        done++;
      }
    }
    for (const v of variantsOf) variants.push(summarize(g, v, samples.get(v.name)!));
    const ratio = (kind: RatioKind, ring: RingLayout, label: string, numerator: string, denominator: string): void => {
      const a = samples.get(numerator)!.map((x) => x.buffersPerSec);
      const b = samples.get(denominator)!.map((x) => x.buffersPerSec);
      const perRound = a.map((x, i) => x / b[i]);
      ratios.push({
        group: g.name,
        kind,
        ring,
        mode: g.mode,
        indirect: g.indirect,
        batch: g.batch,
        queueSize: g.queueSize,
        label,
        numerator,
        denominator,
        ratioOfMedians: median(a) / median(b),
        roundRatios: { min: Math.min(...perRound), median: median(perRound), max: Math.max(...perRound) },
      });
    };
    for (const ring of o.rings) {
      ratio('in-order-gain', ring, `${ring}: IN_ORDER gain`, `${ring} in-order batched`, `${ring} no in-order`);
    }
    if (o.rings.length === 2) {
      ratio(
        'packed-vs-split',
        'packed',
        'packed vs split, IN_ORDER',
        'packed in-order batched',
        'split in-order batched',
      );
    }
  }
  o.onProgress?.(done, total, 'done');
  return {
    suite,
    date: new Date().toISOString(),
    machine: { ...machineInfo(), pinned },
    command: o.command,
    runs: o.runs,
    durationMs: o.durationMs,
    workload: o.workload,
    variants,
    ratios,
  };
}

function summarize(g: BenchGroup, v: BenchVariant, s: BenchSample[]): VariantSummary {
  const bps = s.map((x) => x.buffersPerSec);
  const med = (f: (x: BenchSample) => number | null): number | null =>
    s.some((x) => f(x) === null) ? null : median(s.map((x) => f(x)!));
  return {
    group: g.name,
    variant: v.name,
    mode: g.mode,
    ring: v.ring,
    inOrder: v.inOrder,
    usedEntries: v.usedEntries,
    indirect: g.indirect,
    batch: g.batch,
    queueSize: g.queueSize,
    samples: s,
    medianBuffersPerSec: median(bps),
    minBuffersPerSec: Math.min(...bps),
    maxBuffersPerSec: Math.max(...bps),
    medianCpuNsPerBuffer: median(s.map((x) => x.cpuNsPerBuffer)),
    usedEntriesPerBuffer: median(s.map((x) => x.usedEntriesPerBuffer)),
    kicksPerBuffer: median(s.map((x) => x.kicksPerBuffer)),
    interruptsPerBuffer: med((x) => x.interruptsPerBuffer),
    batchesPerBuffer: median(s.map((x) => x.batchesPerBuffer)),
    flushesPerBuffer: med((x) => x.flushesPerBuffer),
  };
}
