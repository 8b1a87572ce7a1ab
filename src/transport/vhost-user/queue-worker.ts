import { parentPort, workerData } from 'node:worker_threads';
import { TestDevice } from '../../devices/test-device.js';
import type { TestDriver } from '../../drivers/test-driver.js';
import { GuestMemory } from '../../memory/guest-memory.js';
import { drainEventFd, signalEventFd, waitReadableSync } from '../../os/eventfd.js';
import { Mapping } from '../../os/mapping.js';
import { buildDriverSide } from '../local/plan.js';
import { copyStats, deviceFailure, driverFailure } from '../local/report.js';
import { createDeviceQueue } from '../../virtqueue/index.js';
import { mapMemoryTable } from './memory-table.js';
import { QueueControl, type DeviceQueueInput, type DriverQueueInput, type QueueResult } from './queue-control.js';

/** How long a sleeping queue waits on its eventfd before looking at STOP again. */
const WAIT_SLICE_MS = 100;

const input = workerData as DeviceQueueInput | DriverQueueInput;
const ctl = new Int32Array(input.control);
const stopped = (): boolean => Atomics.load(ctl, QueueControl.STOP) !== 0;
const notify = (slot: number): void => {
  const fd = Atomics.load(ctl, slot);
  if (fd >= 0) signalEventFd(fd);
};
/** Sleeps on the eventfd in `slot` until signalled or a slice passes; clears it. */
const sleepOn = (slot: number): void => {
  const fd = Atomics.load(ctl, slot);
  if (fd >= 0 && waitReadableSync(fd, WAIT_SLICE_MS)) drainEventFd(fd);
};

parentPort!.postMessage(input.role === 'device' ? runDevice(input) : runDriver(input));

/** A vhost-user back-end queue: the test device, woken by the kick eventfd, signalling the call eventfd. */
function runDevice(o: DeviceQueueInput): QueueResult {
  const { memory, mappings } = mapMemoryTable(o.regions);
  try {
    const queue = createDeviceQueue({
      name: o.name,
      size: o.size,
      features: o.features,
      memory,
      addresses: o.addresses,
      usedEntries: o.usedEntries,
      availBase: o.availBase,
    });
    const device = new TestDevice(queue, o.device);
    let interrupts = 0;
    const interrupt = (): void => {
      interrupts++;
      notify(QueueControl.CALL_FD);
    };
    queue.disableNotifications();
    while (!stopped()) {
      const served = device.serve(o.flushEvery);
      if (device.failure !== null || queue.error !== null) break;
      if (served > 0) {
        if (device.flush()) interrupt();
        continue;
      }
      device.releaseHeld();
      if (device.flush()) interrupt();
      if (!queue.enableNotifications()) {
        queue.disableNotifications();
        continue;
      }
      sleepOn(QueueControl.KICK_FD);
      queue.disableNotifications();
    }
    device.releaseHeld();
    if (device.flush()) interrupt();
    return {
      failure: deviceFailure(device),
      lastAvailIdx: queue.lastAvailIdx,
      stats: { queue: copyStats(queue.stats), test: copyStats(device.stats) },
      interrupts,
    };
  } finally {
    mappings.forEach((m) => m.close());
  }
}

/** The vhost-user front-end's driver: the test driver over the memfd it shares, kicking through the kick eventfd. */
function runDriver(o: DriverQueueInput): QueueResult {
  const plan = o.plan;
  const mapping = Mapping.map(o.memoryFd, plan.memoryBytes);
  try {
    const memory = new GuestMemory([{ guestAddr: plan.guestBase, size: plan.memoryBytes, buffer: mapping.buffer }]);
    const driver: TestDriver = buildDriverSide(plan, memory);
    const vq = driver.queue;
    const deadline = plan.options.durationMs === undefined ? Infinity : performance.now() + plan.options.durationMs;
    const started = performance.now();
    let kicks = 0;
    let rounds = 0;
    vq.disableInterrupts();
    while (!driver.done && !stopped()) {
      let progress = 0;
      if (driver.wantsToAdd) {
        const added = driver.fill(driver.nextBatch());
        progress += added;
        if (added > 0 && vq.kickPrepare()) {
          kicks++;
          notify(QueueControl.KICK_FD);
        }
      }
      progress += driver.reap();
      if (driver.failure !== null || vq.error !== null) break;
      if ((++rounds & 0xff) === 0) {
        Atomics.store(ctl, QueueControl.PROGRESS, driver.completed);
        if (performance.now() > deadline) driver.stopAdding = true;
      }
      if (progress > 0) continue;
      if (!vq.enableInterrupts()) {
        vq.disableInterrupts();
        continue;
      }
      sleepOn(QueueControl.CALL_FD);
      vq.disableInterrupts();
    }
    Atomics.store(ctl, QueueControl.PROGRESS, driver.completed);
    return {
      failure: driverFailure(driver) ?? (driver.done ? null : 'stopped before all buffers completed'),
      stats: { queue: copyStats(vq.stats), test: copyStats(driver.stats) },
      completed: driver.completed,
      elapsedMs: performance.now() - started,
      kicks,
    };
  } finally {
    mapping.close();
  }
}
