import { signalEventFd } from '../../os/eventfd.js';
import type { DataPlaneUnit } from '../../runtime/data-plane.js';
import { judgeDriverOn, usedEntriesUnder, type DriverCheck } from '../../conformance/driver-judge.js';
import { createDeviceQueue } from '../../virtqueue/index.js';
import type { VirtqueueDevice, UsedEntryPolicy } from '../../virtqueue/types.js';
import { mapMemoryTable } from './memory-table.js';
import { QueueControl, sleepOnKick } from './queue-control.js';
import type { UnitResult, UnitStart } from './served-device.js';

/**
 * What a device does with the queues of one unit, called on a data-plane thread. vqkit does the rest: mapping guest
 * memory, creating each queue's device side from the negotiated features, sleeping on the kicks, interrupting the
 * driver, stopping when the front-end asks, and reporting where each ring resumes.
 */
export interface QueueHandler {
  /**
   * Serves what the queues hold now and returns how many buffers it completed (0: nothing to do, the unit may
   * sleep). Keep it bounded: the thread's other units wait meanwhile. Completions are published after it returns.
   */
  serve(queues: readonly VirtqueueDevice[]): number;
  /** The device's own counters for `vq status` (structured-cloneable); the queues' counters are added. */
  stats?(): Record<string, unknown>;
  /** A failure of the device's own (not of a ring, which the queue reports itself), or null. */
  failure?(): string | null;
}

/** Options of {@link openQueueUnit}. */
export interface QueueUnitOptions {
  /** Names for errors and logs, per queue (default `${prefix}.${index}`). */
  prefix?: string;
  /** Used entries under IN_ORDER: 'batched' (default) or one per buffer. */
  usedEntries?: UsedEntryPolicy;
  /**
   * Under `vq check driver` (checkDriver): judge the driver on every queue and play the device behaviour the check
   * asks for. Pass what the device's session was given, so a device built on this can be checked too.
   */
  check?: DriverCheck;
}

/**
 * Opens the queues a {@link UnitStart} describes and returns the data-plane unit that serves them with `handler`.
 * Call it from a unit module's `openUnit` (the module the device's session names in `unit()`): the pool thread
 * that runs the unit imports that module and polls the unit with its others.
 *
 * The unit sleeps on every queue's kick when `serve` returns 0, and the driver is interrupted for a queue whenever
 * what was published asks for it (EVENT_IDX or the flags). A queue that a peer broke stops the unit; the other
 * units of the thread go on.
 */
export function openQueueUnit(
  start: UnitStart,
  makeHandler: (queues: readonly VirtqueueDevice[]) => QueueHandler,
  o: QueueUnitOptions = {},
): DataPlaneUnit {
  const { memory, mappings } = mapMemoryTable(start.regions);
  const controls = start.queues.map((q) => new Int32Array(q.control));
  let queues: VirtqueueDevice[];
  let handler: QueueHandler;
  try {
    queues = start.queues.map((q) =>
      judgeDriverOn(
        createDeviceQueue({
          name: `${o.prefix ?? 'queue'}.${q.index}`,
          size: q.size,
          features: start.features,
          memory,
          addresses: q.addresses,
          usedEntries: usedEntriesUnder(o.check, o.usedEntries ?? 'batched'),
          availBase: q.availBase,
        }),
        o.check,
        q.index,
      ),
    );
    handler = makeHandler(queues);
  } catch (e) {
    mappings.forEach((m) => m.close());
    throw e;
  }
  const sleepers = queues.map((q, i) => sleepOnKick(q, controls[i]));
  let interrupts = 0;
  const flush = (): void => {
    queues.forEach((q, i) => {
      if (!q.flush()) return;
      interrupts++;
      const call = Atomics.load(controls[i], QueueControl.CALL_FD);
      if (call >= 0) signalEventFd(call);
    });
  };
  const broken = (): string | null => {
    for (const q of queues) if (q.error !== null) return q.error.message;
    return handler.failure?.() ?? null;
  };
  // No kicks while busy.
  queues.forEach((q) => q.disableNotifications());
  return {
    poll: () => {
      const served = handler.serve(queues);
      flush();
      return served > 0;
    },
    arm: () => {
      const fds: number[] = [];
      for (const s of sleepers) {
        const armed = s.arm();
        if (armed === null) return null;
        fds.push(...armed);
      }
      return fds;
    },
    disarm: (fired) => sleepers.forEach((s) => s.disarm(fired)),
    stopped: () => controls.some((c) => Atomics.load(c, QueueControl.STOP) !== 0) || broken() !== null,
    stats: () => ({ queues: queues.map((q) => ({ ...q.stats })), interrupts, ...handler.stats?.() }),
    finish(failure?: string): UnitResult {
      flush();
      mappings.forEach((m) => m.close());
      return {
        failure: failure ?? broken(),
        lastAvailIdx: queues.map((q) => q.lastAvailIdx),
        stats: this.stats(),
      };
    },
  };
}
