import type { TestDevice } from '../devices/test/test-device.js';
import type { TestDriver } from '../drivers/test/test-driver.js';
import { buildDeviceSide, buildDriverSide, guestMemoryFor, planLocal } from '../transport/local/plan.js';
import type { RingLayout, RunOptions } from './options.js';

/** The steps of one batch, in the order they run: what each side of a ring pair spends a buffer's time on. */
export const RING_PHASES = ['fill', 'kick', 'serve', 'flush', 'reap'] as const;
export type RingPhase = (typeof RING_PHASES)[number];

/** Nanoseconds per buffer in each phase. */
export type PhaseCosts = Record<RingPhase, number>;

/** One variant's phase costs, one sample per round. */
export interface PhaseRow {
  ring: RingLayout;
  inOrder: boolean;
  samples: PhaseCosts[];
}

const BATCHES = 300_000;

/**
 * Where a buffer's time goes, on one thread: the test driver and device of `options` take turns (fill a batch, kick,
 * serve, flush, reap), each step timed. On one thread no cache line moves between CPUs, so these are the sides' own
 * costs; the first third of the batches warms the code up and is not counted.
 */
export function measurePhases(options: RunOptions): PhaseCosts {
  const plan = planLocal({ ...options, threads: false, poll: true, buffers: Number.MAX_SAFE_INTEGER });
  const memory = guestMemoryFor(plan, new SharedArrayBuffer(plan.memoryBytes));
  const driver = buildDriverSide(plan, memory);
  const device = buildDeviceSide(plan, memory);
  const batch = options.batch === 'random' ? 32 : options.batch;
  const ms: PhaseCosts = { fill: 0, kick: 0, serve: 0, flush: 0, reap: 0 };
  for (let b = 0; b < BATCHES; b++) {
    const t0 = performance.now();
    driver.fill(batch);
    const t1 = performance.now();
    driver.queue.kickPrepare();
    const t2 = performance.now();
    device.serve(2 * batch);
    const t3 = performance.now();
    device.flush();
    const t4 = performance.now();
    driver.reap();
    const t5 = performance.now();
    if (b < BATCHES / 3) continue;
    ms.fill += t1 - t0;
    ms.kick += t2 - t1;
    ms.serve += t3 - t2;
    ms.flush += t4 - t3;
    ms.reap += t5 - t4;
  }
  checkPassed(driver, device);
  const buffers = (BATCHES - Math.ceil(BATCHES / 3)) * batch;
  for (const p of RING_PHASES) ms[p] = (ms[p] * 1e6) / buffers;
  return ms;
}

function checkPassed(driver: TestDriver, device: TestDevice): void {
  const failure = driver.failure ?? device.failure ?? driver.queue.error ?? device.queue.error;
  if (failure !== null) throw new Error(`phase costs: the run failed: ${failure.message}`);
}
