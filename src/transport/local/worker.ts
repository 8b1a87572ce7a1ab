import { PerformanceObserver } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import { pinCurrentThread } from '../../os/affinity.js';
import type { TestDevice } from '../../devices/test-device.js';
import type { TestDriver } from '../../drivers/test-driver.js';
import { Control, busyPoll, signal, sleepOn } from './control.js';
import { buildDeviceSide, buildDriverSide, guestMemoryFor, type LocalPlan } from './plan.js';
import { copyStats, deviceFailure, driverFailure } from './report.js';

export interface WorkerInput {
  role: 'driver' | 'device';
  plan: LocalPlan;
  memory: SharedArrayBuffer;
  control: SharedArrayBuffer;
  cpu: number | null;
}

export type WorkerMessage =
  | { type: 'ready'; pinned: boolean }
  | { type: 'done'; role: 'driver'; failure: string | null; stats: DriverResult; gcCount: number }
  | { type: 'done'; role: 'device'; failure: string | null; stats: DeviceResult; gcCount: number };

export interface DriverResult {
  completed: number;
  kicks: number;
  elapsedMs: number;
  queue: TestDriver['queue']['stats'];
  test: TestDriver['stats'];
}

export interface DeviceResult {
  interrupts: number;
  queue: TestDevice['queue']['stats'];
  test: TestDevice['stats'];
}

const input = workerData as WorkerInput;
const ctl = new Int32Array(input.control);
const memory = guestMemoryFor(input.plan, input.memory);
const pinned = input.cpu !== null && pinCurrentThread(input.cpu);
let gcCount = 0;
const gcObserver = new PerformanceObserver((list) => (gcCount += list.getEntries().length));
gcObserver.observe({ entryTypes: ['gc'] });

const port = parentPort!;
const post = (m: WorkerMessage): void => port.postMessage(m);
const driver = input.role === 'driver' ? buildDriverSide(input.plan, memory) : null;
const device = input.role === 'device' ? buildDeviceSide(input.plan, memory) : null;
post({ type: 'ready', pinned });
Atomics.wait(ctl, Control.GO, 0);

const result = driver !== null ? runDriver(driver) : runDevice(device!);
if (result.failure !== null) {
  // Wake the other side so it sees STOP.
  Atomics.store(ctl, Control.STOP, 1);
  signal(ctl, Control.KICKS);
  signal(ctl, Control.IRQS);
}
// GC entries arrive as events: let them in before reporting.
await new Promise((resolve) => setTimeout(resolve, 20));
gcObserver.disconnect();
post({ ...result, gcCount } as WorkerMessage);

function runDriver(driver: TestDriver): Omit<Extract<WorkerMessage, { role: 'driver' }>, 'gcCount'> {
  const o = input.plan.options;
  const vq = driver.queue;
  const deadline = o.durationMs === undefined ? Infinity : performance.now() + o.durationMs;
  const started = performance.now();
  let kicks = 0;
  let failure: string | null = null;
  let rounds = 0;
  const usedPending = (): boolean => vq.hasUsed();
  // A polling driver asks not to be interrupted; a sleeping one turns interrupts off while it is busy.
  vq.disableInterrupts();
  while (!driver.done) {
    if (Atomics.load(ctl, Control.STOP) !== 0) break;
    let progress = 0;
    if (driver.wantsToAdd) {
      const added = driver.fill(driver.nextBatch());
      progress += added;
      if (added > 0 && vq.kickPrepare()) {
        kicks++;
        signal(ctl, Control.KICKS);
      }
    }
    const reaped = driver.reap();
    progress += reaped;
    if (driver.failure !== null || vq.error !== null) break;
    if ((++rounds & 0xff) === 0) {
      Atomics.store(ctl, Control.PROGRESS, driver.completed);
      if (performance.now() > deadline) driver.stopAdding = true;
    }
    if (progress > 0 || o.poll) continue;
    if (busyPoll(ctl, o.busyPollUs, usedPending)) continue;
    const seen = Atomics.load(ctl, Control.IRQS);
    if (!vq.enableInterrupts()) {
      vq.disableInterrupts();
      continue;
    }
    if (!sleepOn(ctl, Control.IRQS, seen, usedPending)) {
      failure = `lost notification: used buffers pending but no interrupt came (${driver.completed} done)`;
      break;
    }
    vq.disableInterrupts();
  }
  const elapsedMs = performance.now() - started;
  Atomics.store(ctl, Control.PROGRESS, driver.completed);
  failure ??= driverFailure(driver);
  // Done (or failed): the device leaves its loop when it sees STOP.
  Atomics.store(ctl, Control.STOP, 1);
  signal(ctl, Control.KICKS);
  return {
    type: 'done',
    role: 'driver',
    failure,
    stats: { completed: driver.completed, kicks, elapsedMs, queue: copyStats(vq.stats), test: copyStats(driver.stats) },
  };
}

function runDevice(device: TestDevice): Omit<Extract<WorkerMessage, { role: 'device' }>, 'gcCount'> {
  const o = input.plan.options;
  const dq = device.queue;
  let interrupts = 0;
  let failure: string | null = null;
  const interrupt = (): void => {
    interrupts++;
    signal(ctl, Control.IRQS);
  };
  const availablePending = (): boolean => dq.hasAvailable();
  // Likewise the device: no kicks while it is busy (or always, when polling).
  dq.disableNotifications();
  for (;;) {
    const served = device.serve(o.flushEvery);
    if (device.failure !== null || dq.error !== null) break;
    if (served > 0) {
      if (device.flush()) interrupt();
      continue;
    }
    device.releaseHeld();
    if (device.flush()) interrupt();
    if (Atomics.load(ctl, Control.STOP) !== 0) break;
    if (o.poll) continue;
    if (busyPoll(ctl, o.busyPollUs, availablePending)) continue;
    const seen = Atomics.load(ctl, Control.KICKS);
    if (!dq.enableNotifications()) {
      dq.disableNotifications();
      continue;
    }
    if (!sleepOn(ctl, Control.KICKS, seen, availablePending)) {
      failure = 'lost notification: buffers available but no kick came';
      break;
    }
    dq.disableNotifications();
  }
  // Whatever was completed is published, even when the run ends on an error.
  device.releaseHeld();
  if (device.flush()) interrupt();
  failure ??= deviceFailure(device);
  return {
    type: 'done',
    role: 'device',
    failure,
    stats: { interrupts, queue: copyStats(dq.stats), test: copyStats(device.stats) },
  };
}
