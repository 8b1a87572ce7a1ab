import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { compiledWorkerUrl } from '../../runtime/worker-url.js';
import { Control } from './control.js';
import type { LocalPlan } from './plan.js';
import type { PairReport } from './report.js';
import type { DeviceResult, DriverResult, WorkerInput, WorkerMessage } from './worker.js';

export interface TwoThreadHooks {
  onProgress?: (completed: number) => void;
}

export interface TwoThreadReport extends PairReport {
  /** Whether both threads were pinned to their own CPU. */
  pinned: boolean;
}

const workerUrl = (): URL => compiledWorkerUrl(import.meta.url, './worker.js');

/**
 * Runs the driver and the device in two worker threads sharing guest memory (a SharedArrayBuffer): real
 * concurrency, notified through Atomics.wait/notify (or busy-polling), each thread pinned to its own CPU.
 */
export async function runTwoThreads(plan: LocalPlan, hooks: TwoThreadHooks = {}): Promise<TwoThreadReport> {
  const memory = new SharedArrayBuffer(plan.memoryBytes);
  const control = new SharedArrayBuffer(Control.LENGTH * 4);
  const ctl = new Int32Array(control);
  const cpus = availableParallelism();
  const start = (role: WorkerInput['role'], cpu: number): Worker =>
    new Worker(workerUrl(), {
      workerData: { role, plan, memory, control, cpu: cpus >= 2 ? cpu : null } satisfies WorkerInput,
    });
  const workers = [start('driver', 0), start('device', 1)];
  const ready = workers.map((w) => nextMessage(w));
  const done = workers.map((w) => ready[workers.indexOf(w)].then(() => nextMessage(w)));
  let pinned = true;
  let startupFailure: string | null = null;
  try {
    for (const m of await Promise.all(ready)) if (m.type === 'ready') pinned &&= m.pinned;
  } catch (e) {
    startupFailure = String(e);
  }
  const cpu0 = process.cpuUsage();
  Atomics.store(ctl, Control.GO, 1);
  Atomics.notify(ctl, Control.GO);
  if (startupFailure !== null) {
    Atomics.store(ctl, Control.STOP, 1);
    Atomics.notify(ctl, Control.KICKS);
    Atomics.notify(ctl, Control.IRQS);
  }
  const timer = hooks.onProgress
    ? setInterval(() => hooks.onProgress!(Atomics.load(ctl, Control.PROGRESS)), 250)
    : null;
  const settled = await Promise.allSettled(done);
  if (timer !== null) clearInterval(timer);
  const cpu = process.cpuUsage(cpu0);
  await Promise.all(workers.map((w) => w.terminate()));

  let driver: DriverResult | null = null;
  let device: DeviceResult | null = null;
  const failures: string[] = startupFailure !== null ? [startupFailure] : [];
  let gcCount = 0;
  for (const s of settled) {
    if (s.status === 'rejected') {
      failures.push(String(s.reason));
      continue;
    }
    const m = s.value;
    if (m.type !== 'done') continue;
    gcCount += m.gcCount;
    if (m.failure !== null) failures.push(`${m.role}: ${m.failure}`);
    if (m.role === 'driver') driver = m.stats;
    else device = m.stats;
  }
  if (driver === null || device === null) throw new Error(`a worker did not finish: ${failures.join('; ')}`);
  hooks.onProgress?.(driver.completed);
  return {
    failure: failures.length > 0 ? failures.join('; ') : null,
    completed: driver.completed,
    driverQueue: driver.queue,
    deviceQueue: device.queue,
    testDriver: driver.test,
    testDevice: device.test,
    kicks: driver.kicks,
    interrupts: device.interrupts,
    elapsedMs: driver.elapsedMs,
    measured: driver.measured,
    cpuMs: (cpu.user + cpu.system) / 1000,
    gcCount,
    pinned,
  };
}

/** The worker's next message; rejects if it throws or exits first. */
export function nextMessage<M = WorkerMessage>(worker: Worker): Promise<M> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: M): void => {
      cleanup();
      resolve(m);
    };
    const onError = (e: Error): void => {
      cleanup();
      reject(e);
    };
    const onExit = (code: number): void => {
      cleanup();
      reject(new Error(`worker exited with code ${code}`));
    };
    const cleanup = (): void => {
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
    };
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', onExit);
  });
}
