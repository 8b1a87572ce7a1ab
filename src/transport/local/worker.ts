import { PerformanceObserver } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import { pinCurrentThread } from '../../os/affinity.js';
import type { TestDevice } from '../../devices/test/test-device.js';
import type { TestDriver } from '../../drivers/test/test-driver.js';
import { driveDriver, serveDevice, type MeasuredWindow, type Notifier } from '../service-loops.js';
import { AdaptiveSpin, Control, signal, sleepOn } from './control.js';
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
  measured: MeasuredWindow | null;
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

/** Threads signal through counters in the control array: one for kicks, one for interrupts. */
function notifier(signalSlot: number, waitSlot: number): Notifier {
  const o = input.plan.options;
  const spin = new AdaptiveSpin(o.busyPollUs);
  const stopped = (): boolean => Atomics.load(ctl, Control.STOP) !== 0;
  return {
    signal: () => signal(ctl, signalSlot),
    arm: () => Atomics.load(ctl, waitSlot),
    sleep: (armed, pending) => spin.timed(() => sleepOn(ctl, waitSlot, armed, pending)),
    stopped,
    poll: o.poll,
    busyPoll: (pending) => spin.spin(pending, stopped),
  };
}

function runDriver(driver: TestDriver): Omit<Extract<WorkerMessage, { role: 'driver' }>, 'gcCount'> {
  const vq = driver.queue;
  const r = driveDriver(
    driver,
    notifier(Control.KICKS, Control.IRQS),
    (completed) => Atomics.store(ctl, Control.PROGRESS, completed),
    input.plan.options.durationMs,
    input.plan.options.warmupMs,
  );
  const failure = r.lostNotification
    ? `lost notification: used buffers pending but no interrupt came (${driver.completed} done)`
    : driverFailure(driver);
  // Done (or failed): the device leaves its loop when it sees STOP.
  Atomics.store(ctl, Control.STOP, 1);
  signal(ctl, Control.KICKS);
  return {
    type: 'done',
    role: 'driver',
    failure,
    stats: {
      completed: driver.completed,
      kicks: r.kicks,
      elapsedMs: r.elapsedMs,
      measured: r.measured,
      queue: copyStats(vq.stats),
      test: copyStats(driver.stats),
    },
  };
}

function runDevice(device: TestDevice): Omit<Extract<WorkerMessage, { role: 'device' }>, 'gcCount'> {
  const r = serveDevice(device, input.plan.options.flushEvery, notifier(Control.IRQS, Control.KICKS));
  const failure = r.lostNotification ? 'lost notification: buffers available but no kick came' : deviceFailure(device);
  return {
    type: 'done',
    role: 'device',
    failure,
    stats: { interrupts: r.interrupts, queue: copyStats(device.queue.stats), test: copyStats(device.stats) },
  };
}
