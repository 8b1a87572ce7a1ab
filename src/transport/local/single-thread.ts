import { Prng } from '../../util/prng.js';
import { buildDeviceSide, buildDriverSide, guestMemoryFor, type LocalPlan } from './plan.js';
import { copyStats, firstFailure, type PairReport } from './report.js';

export interface SingleThreadHooks {
  /** Called now and then with the buffers completed so far. */
  onProgress?: (completed: number) => void;
}

/**
 * Runs driver and device in this thread, each step chosen by the seed, so a run is exactly reproducible.
 *
 * Each side sleeps as a real one would: when it has nothing to do it re-enables notifications (with the re-check)
 * and only a notification from the other side wakes it. If both sides sleep before the work is done, a notification
 * was lost: the run fails at that step instead of hanging.
 */
export function runSingleThread(plan: LocalPlan, hooks: SingleThreadHooks = {}): PairReport {
  const o = plan.options;
  const memory = guestMemoryFor(plan, new ArrayBuffer(plan.memoryBytes));
  const driver = buildDriverSide(plan, memory);
  const device = buildDeviceSide(plan, memory);
  const vq = driver.queue;
  const dq = device.queue;
  const prng = new Prng(o.seed ^ 0x51ed270b);
  const deadline = o.durationMs === undefined ? Infinity : performance.now() + o.durationMs;

  let kicks = 0;
  let interrupts = 0;
  let step = 0;
  let failure: string | null = null;
  let driverAwake = true;
  // The device starts asleep, waiting for its first kick.
  let deviceAwake = !dq.enableNotifications();
  let wokeDriver = false;
  let wokeDevice = false;

  const started = performance.now();
  const cpu0 = process.cpuUsage();
  while (!driver.done) {
    step++;
    failure = firstFailure(driver, device);
    if (failure !== null) break;
    if (!driverAwake && !deviceAwake) {
      failure = `lost notification: driver and device both wait, ${driver.completed} of ${driver.added} buffers done`;
      break;
    }
    if ((step & 0x3ff) === 0) {
      hooks.onProgress?.(driver.completed);
      if (performance.now() > deadline) driver.stopAdding = true;
    }
    const driverTurn = driverAwake && (!deviceAwake || prng.chance(0.5));
    if (driverTurn) {
      if (wokeDriver) vq.disableInterrupts();
      wokeDriver = false;
      let progress = 0;
      if (driver.wantsToAdd) {
        const added = driver.fill(prng.chance(0.2) ? prng.int(1, 4) : driver.nextBatch());
        progress += added;
        if (added > 0 && vq.kickPrepare()) {
          kicks++;
          if (!deviceAwake) wokeDevice = true;
          deviceAwake = true;
        }
      }
      // Sometimes take only a few, so a batch is handed out across several calls.
      progress += driver.reap(prng.chance(0.5) ? prng.int(1, 8) : Infinity);
      if (progress === 0 && !driver.done) {
        if (vq.enableInterrupts()) driverAwake = false;
        else wokeDriver = true;
      }
    } else {
      if (wokeDevice) dq.disableNotifications();
      wokeDevice = false;
      const served = device.serve(prng.int(1, o.queueSize));
      // Flush at random points, so used batches of every size form.
      if (served > 0 && (prng.chance(0.6) || !dq.hasAvailable())) {
        if (device.flush()) wakeDriver();
      }
      if (served === 0) {
        device.releaseHeld();
        if (device.flush()) wakeDriver();
        if (dq.enableNotifications()) deviceAwake = false;
        else wokeDevice = true;
      }
    }
  }
  failure ??= firstFailure(driver, device);
  const cpu = process.cpuUsage(cpu0);
  hooks.onProgress?.(driver.completed);
  return {
    failure,
    step,
    completed: driver.completed,
    driverQueue: copyStats(vq.stats),
    deviceQueue: copyStats(dq.stats),
    testDriver: copyStats(driver.stats),
    testDevice: copyStats(device.stats),
    kicks,
    interrupts,
    elapsedMs: performance.now() - started,
    cpuMs: (cpu.user + cpu.system) / 1000,
  };

  function wakeDriver(): void {
    interrupts++;
    if (!driverAwake) wokeDriver = true;
    driverAwake = true;
  }
}
