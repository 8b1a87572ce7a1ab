import type { CompletionPolicy } from '../devices/test/test-device.js';
import type { IndirectMode } from '../drivers/test/test-driver.js';
import type { UsedEntryPolicy } from '../virtqueue/types.js';

export type RingLayout = 'split' | 'packed';

/** One harness run: a ring, its features, the traffic, and how driver and device are run. */
export interface RunOptions {
  ring: RingLayout;
  inOrder: boolean;
  indirect: boolean;
  eventIdx: boolean;
  queueSize: number;
  /** Buffers added between kicks: fixed, or random in 1..queueSize per batch. */
  batch: number | 'random';
  maxChain: number;
  maxSegment: number;
  /** Random chains per buffer, or one fixed chain shape (benchmarks: see TestDriverOptions.shape). */
  shape: 'random' | 'fixed';
  /** How the driver uses indirect tables when INDIRECT_DESC is negotiated. */
  indirectMode: IndirectMode;
  /** Buffers to complete; with durationMs, an upper bound. */
  buffers: number;
  durationMs?: number;
  /** With durationMs: the rate is measured from this many ms in (after JIT warm-up) to the end (MeasuredWindow). */
  warmupMs?: number;
  /** Two worker threads sharing a SharedArrayBuffer instead of one thread stepping both sides. */
  threads: boolean;
  /** Threads busy-poll instead of sleeping on notifications. */
  poll: boolean;
  /** Threads that sleep on notifications first busy-poll this many microseconds for work (0: sleep at once). */
  busyPollUs: number;
  seed: number;
  /** Buffers the test driver owns (default: the queue size); more makes each ring position hold a new one each lap. */
  bufferPool?: number;
  /** With IN_ORDER: one used entry per flushed batch, or one per buffer. */
  usedEntries: UsedEntryPolicy;
  /** The device publishes used buffers after serving at most this many chains (and whenever the ring runs dry). */
  flushEvery: number;
  /** Without IN_ORDER the device may complete out of order within a window. */
  completion: CompletionPolicy;
  window: number;
  partialWrites: boolean;
  /** Skip the per-byte data pattern (benchmarks of the ring alone); lengths and order are still verified. */
  verifyData: boolean;
}

/**
 * How long a sleeping side spins for work first, at most (AdaptiveSpin): about one batch of the peer's work, so an
 * active peer is caught without a wake-up, while an idle one costs a few microseconds per sleep.
 */
export const DEFAULT_SPIN_US = 10;

export const DEFAULT_RUN: RunOptions = {
  ring: 'split',
  inOrder: true,
  indirect: true,
  eventIdx: true,
  queueSize: 256,
  batch: 'random',
  maxChain: 4,
  maxSegment: 256,
  shape: 'random',
  indirectMode: 'random',
  buffers: 100_000,
  threads: false,
  poll: false,
  busyPollUs: DEFAULT_SPIN_US,
  seed: 1,
  usedEntries: 'batched',
  flushEvery: 64,
  completion: 'in-order',
  window: 8,
  partialWrites: false,
  verifyData: true,
};

/** "split in-order indirect event-idx batched 2T", the row label of a run. */
export function describeRun(o: RunOptions): string {
  const parts: string[] = [o.ring, o.inOrder ? 'in-order' : 'no-in-order'];
  if (o.indirect) parts.push('indirect');
  if (o.eventIdx) parts.push('event-idx');
  parts.push(o.inOrder ? o.usedEntries : o.completion === 'out-of-order' ? `ooo/${o.window}` : 'fifo');
  if (o.partialWrites) parts.push('partial');
  if (o.shape === 'fixed') parts.push('fixed');
  if (o.bufferPool !== undefined) parts.push(`pool ${o.bufferPool}`);
  parts.push(o.threads ? (o.poll ? '2T-poll' : o.busyPollUs > 0 ? `2T-busy${o.busyPollUs}us` : '2T') : '1T');
  return parts.join(' ');
}
