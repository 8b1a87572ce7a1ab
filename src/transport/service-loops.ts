import type { TestDevice } from '../devices/test/test-device.js';
import type { TestDriver } from '../drivers/test/test-driver.js';

/**
 * How one side of a pair waits for and signals the other: Atomics.wait/notify between threads, eventfds between
 * processes. The loops below are the same for every transport.
 */
export interface Notifier {
  /** Tell the other side there is work (a kick or an interrupt). */
  signal(): void;
  /** Called before re-enabling notifications: what a later sleep compares against, so no wake-up is missed. */
  arm(): number;
  /** Sleep until signalled since arm() (or a bounded slice passed). False if a notification was provably lost. */
  sleep(armed: number, workPending: () => boolean): boolean;
  /** The run is over (done, failed, or the peer went away). */
  stopped(): boolean;
  /** Busy-poll instead of sleeping. */
  poll: boolean;
  /** Before sleeping: spin a while for work; true if it came. */
  busyPoll?(workPending: () => boolean): boolean;
}

export interface DeviceLoopResult {
  interrupts: number;
  lostNotification: boolean;
}

/**
 * The device side: serve up to `flushEvery` chains, publish them, interrupt if asked; when there is nothing, re-enable
 * notifications with the re-check and sleep until kicked. Whatever was completed is published before it returns.
 */
export function serveDevice(device: TestDevice, flushEvery: number, n: Notifier): DeviceLoopResult {
  const queue = device.queue;
  const pending = (): boolean => queue.hasAvailable();
  let interrupts = 0;
  let lostNotification = false;
  const flush = (): void => {
    if (device.flush()) {
      interrupts++;
      n.signal();
    }
  };
  // No kicks while busy (or ever, when polling).
  queue.disableNotifications();
  while (!n.stopped()) {
    const served = device.serve(flushEvery);
    if (device.failure !== null || queue.error !== null) break;
    if (served > 0) {
      flush();
      continue;
    }
    device.releaseHeld();
    flush();
    if (n.poll || n.stopped() || n.busyPoll?.(pending)) continue;
    const armed = n.arm();
    if (!queue.enableNotifications()) {
      queue.disableNotifications();
      continue;
    }
    if (!n.sleep(armed, pending)) {
      lostNotification = true;
      break;
    }
    queue.disableNotifications();
  }
  device.releaseHeld();
  flush();
  return { interrupts, lostNotification };
}

/** Buffers completed after the warm-up mark and the time from it to the end. */
export interface MeasuredWindow {
  completed: number;
  elapsedMs: number;
}

export interface DriverLoopResult {
  kicks: number;
  elapsedMs: number;
  lostNotification: boolean;
  /** With a warm-up: the part of the run after it (null without one, or if the run ended first). */
  measured: MeasuredWindow | null;
}

/**
 * The driver side: add a batch and kick if asked, take back what is used; when neither is possible, re-enable
 * interrupts with the re-check and sleep until interrupted. Stops when every buffer is done, on a failure, or when
 * the notifier says so; `progress` hears the completed count now and then.
 */
export function driveDriver(
  driver: TestDriver,
  n: Notifier,
  progress: (completed: number) => void,
  durationMs?: number,
  warmupMs?: number,
): DriverLoopResult {
  const vq = driver.queue;
  const pending = (): boolean => vq.hasUsed();
  const deadline = durationMs === undefined ? Infinity : performance.now() + durationMs;
  const started = performance.now();
  const warmEnds = warmupMs === undefined ? Infinity : started + warmupMs;
  let warm: { completed: number; at: number } | null = null;
  let kicks = 0;
  let rounds = 0;
  let lostNotification = false;
  // No interrupts while busy (or ever, when polling).
  vq.disableInterrupts();
  while (!driver.done && !n.stopped()) {
    let progressed = 0;
    if (driver.wantsToAdd) {
      const added = driver.fill(driver.nextBatch());
      progressed += added;
      if (added > 0 && vq.kickPrepare()) {
        kicks++;
        n.signal();
      }
    }
    progressed += driver.reap();
    if (driver.failure !== null || vq.error !== null) break;
    if ((++rounds & 0xff) === 0) {
      progress(driver.completed);
      const now = performance.now();
      if (now > deadline) driver.stopAdding = true;
      if (warm === null && now >= warmEnds) warm = { completed: driver.completed, at: now };
    }
    if (progressed > 0 || n.poll || n.busyPoll?.(pending)) continue;
    const armed = n.arm();
    if (!vq.enableInterrupts()) {
      vq.disableInterrupts();
      continue;
    }
    if (!n.sleep(armed, pending)) {
      lostNotification = true;
      break;
    }
    vq.disableInterrupts();
  }
  progress(driver.completed);
  const ended = performance.now();
  const measured = warm === null ? null : { completed: driver.completed - warm.completed, elapsedMs: ended - warm.at };
  return { kicks, elapsedMs: ended - started, lostNotification, measured };
}
