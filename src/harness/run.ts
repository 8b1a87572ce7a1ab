import { planLocal } from '../transport/local/plan.js';
import { nsPer, perSecond, type PairReport } from '../transport/local/report.js';
import { runSingleThread } from '../transport/local/single-thread.js';
import { runTwoThreads } from '../transport/local/threads.js';
import { runFrontend } from '../drivers/test/test-frontend.js';
import type { MeasuredWindow } from '../transport/service-loops.js';
import type { TestDriverStats } from '../drivers/test/test-driver.js';
import { describeFeatures } from '../virtqueue/features.js';
import type { DriverStats } from '../virtqueue/types.js';
import { AVAILABLE_RINGS } from './matrix.js';
import { describeRun, type RunOptions } from './options.js';

/** One row of `vq run`: what ran, what was negotiated, the counters, and PASS or the failure. */
export interface RunResult {
  label: string;
  options: RunOptions;
  negotiated: string;
  passed: boolean;
  failure: string | null;
  /** How to replay a failure. */
  replay: string | null;
  buffers: number;
  bytes: number;
  /** Device-side counters: null where the device runs in another process (vhost-user). */
  batches: number | null;
  kicks: number;
  kicksSuppressed: number;
  interrupts: number | null;
  interruptsSuppressed: number | null;
  usedEntries: number;
  buffersPerSec: number;
  elapsedMs: number;
  cpuNsPerBuffer: number;
  gcCount: number | null;
  pinned: boolean | null;
}

export class RunOptionsError extends Error {
  override readonly name = 'RunOptionsError';
}

/** The largest test driver buffer pool: two buffers for each slot of the largest ring. */
export const MAX_BUFFER_POOL = 65536;

/** Rejects combinations the engine cannot run, with the reason. */
export function validateRun(o: RunOptions): void {
  if (!AVAILABLE_RINGS.includes(o.ring)) throw new RunOptionsError(`the ${o.ring} ring is not implemented yet`);
  if (o.inOrder && o.completion === 'out-of-order') {
    throw new RunOptionsError('out-of-order completion needs IN_ORDER off (--no-in-order)');
  }
  const size = o.queueSize;
  if (!Number.isInteger(size) || size < 1 || size > 32768) {
    throw new RunOptionsError(`queue size ${size}: from 1 to 32768`);
  }
  if (o.ring === 'split' && (size & (size - 1)) !== 0) {
    throw new RunOptionsError(`queue size ${size}: a split ring needs a power of two (a packed ring takes any size)`);
  }
  if (o.batch !== 'random' && (!Number.isInteger(o.batch) || o.batch < 1)) {
    throw new RunOptionsError(`batch ${o.batch}: a positive integer or "random"`);
  }
  if (!Number.isInteger(o.maxChain) || o.maxChain < 1 || o.maxChain > size) {
    throw new RunOptionsError(`max chain ${o.maxChain}: from 1 to the queue size (${size})`);
  }
  if (!Number.isInteger(o.maxSegment) || o.maxSegment < 1 || o.maxSegment > 1 << 20) {
    throw new RunOptionsError(`max segment ${o.maxSegment}: from 1 to 1048576 bytes`);
  }
  if (!Number.isInteger(o.buffers) || o.buffers < 1) throw new RunOptionsError(`buffers ${o.buffers}: at least 1`);
  const pool = o.bufferPool;
  if (pool !== undefined && (!Number.isInteger(pool) || pool < 1 || pool > MAX_BUFFER_POOL)) {
    throw new RunOptionsError(`buffer pool ${pool}: from 1 to ${MAX_BUFFER_POOL} buffers`);
  }
  if (!Number.isInteger(o.window) || o.window < 1) throw new RunOptionsError(`window ${o.window}: at least 1`);
  if (!Number.isFinite(o.busyPollUs) || o.busyPollUs < 0) {
    throw new RunOptionsError(`busy poll ${o.busyPollUs}: microseconds, 0 or more`);
  }
  if (!Number.isInteger(o.flushEvery) || o.flushEvery < 1) {
    throw new RunOptionsError(`flush every ${o.flushEvery}: at least 1`);
  }
}

/**
 * Runs the test driver over vhost-user against the back-end at `path` (any back-end offering the test device). The
 * device side's counters live in that process; the driver's are reported (used entries read = written).
 */
export async function runOverVhostUser(
  path: string,
  o: RunOptions,
  onProgress?: (completed: number) => void,
): Promise<RunResult> {
  validateRun(o);
  const cpu0 = process.cpuUsage();
  const { negotiated, result } = await runFrontend(path, o, onProgress);
  const cpu = process.cpuUsage(cpu0);
  const stats = result.stats as { queue: DriverStats; test: TestDriverStats };
  const completed = result.completed ?? 0;
  const elapsedMs = result.elapsedMs ?? 0;
  return {
    label: `${describeRun({ ...o, threads: true })} vhost-user`,
    options: o,
    negotiated: describeFeatures(negotiated),
    passed: result.failure === null,
    failure: result.failure,
    replay: result.failure === null ? null : `${replayCommand(o)} --vhost-user ${path}`,
    buffers: completed,
    bytes: stats.test.bytesOut + stats.test.bytesIn,
    batches: null,
    kicks: result.kicks ?? 0,
    kicksSuppressed: stats.queue.kicksSuppressed,
    interrupts: null,
    interruptsSuppressed: null,
    usedEntries: stats.queue.usedEntriesRead,
    buffersPerSec: rateOf(completed, elapsedMs, result.measured),
    elapsedMs,
    cpuNsPerBuffer: nsPer((cpu.user + cpu.system) / 1000, completed),
    gcCount: null,
    pinned: null,
  };
}

/** Runs one combination of the harness and turns the pair's report into a row. */
export async function runOne(o: RunOptions, onProgress?: (completed: number) => void): Promise<RunResult> {
  validateRun(o);
  const plan = planLocal(o);
  const report: PairReport & { pinned?: boolean } = o.threads
    ? await runTwoThreads(plan, { onProgress })
    : runSingleThread(plan, { onProgress });
  return toResult(o, describeFeatures(plan.features), report);
}

export function toResult(o: RunOptions, negotiated: string, r: PairReport & { pinned?: boolean }): RunResult {
  const failure = r.failure;
  return {
    label: describeRun(o),
    options: o,
    negotiated,
    passed: failure === null,
    failure,
    replay: failure === null ? null : replayCommand(o, r.step),
    buffers: r.completed,
    bytes: r.testDriver.bytesOut + r.testDriver.bytesIn,
    batches: r.deviceQueue.flushes,
    kicks: r.kicks,
    kicksSuppressed: r.driverQueue.kicksSuppressed,
    interrupts: r.interrupts,
    interruptsSuppressed: r.deviceQueue.interruptsSuppressed,
    usedEntries: r.deviceQueue.usedEntriesWritten,
    buffersPerSec: rateOf(r.completed, r.elapsedMs, r.measured),
    elapsedMs: r.elapsedMs,
    cpuNsPerBuffer: nsPer(r.cpuMs, r.completed),
    gcCount: r.gcCount ?? null,
    pinned: r.pinned ?? null,
  };
}

/** Buffers per second: over the part after the warm-up where there was one, else over the whole run. */
export const rateOf = (completed: number, elapsedMs: number, measured?: MeasuredWindow | null): number =>
  measured ? perSecond(measured.completed, measured.elapsedMs) : perSecond(completed, elapsedMs);

/** The `vq run` command line that reproduces a run (one-thread runs replay exactly; `step` says where it failed). */
export function replayCommand(o: RunOptions, step?: number): string {
  const flags = [
    `--ring ${o.ring}`,
    o.inOrder ? '--in-order' : '--no-in-order',
    o.indirect ? '--indirect' : '--no-indirect',
    o.eventIdx ? '--event-idx' : '--no-event-idx',
    `--queue-size ${o.queueSize}`,
    `--batch ${o.batch}`,
    `--max-chain ${o.maxChain}`,
    `--max-segment ${o.maxSegment}`,
    `--indirect-mode ${o.indirectMode}`,
    `--shape ${o.shape}`,
    `--buffers ${o.buffers}`,
    o.bufferPool === undefined ? '' : `--buffer-pool ${o.bufferPool}`,
    `--used-entries ${o.usedEntries}`,
    `--flush-every ${o.flushEvery}`,
    `--completion ${o.completion}`,
    `--window ${o.window}`,
    o.partialWrites ? '--partial-writes' : '',
    o.verifyData ? '' : '--no-verify-data',
    o.threads ? '--threads' : '',
    o.poll ? '--poll' : '',
    o.busyPollUs > 0 ? `--busy-poll ${o.busyPollUs}` : '',
    `--seed ${o.seed}`,
  ];
  const where = step === undefined ? '' : ` (failed at step ${step})`;
  return `vq run ${flags.filter(Boolean).join(' ')}${where}`;
}
