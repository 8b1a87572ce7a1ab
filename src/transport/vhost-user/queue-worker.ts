import { parentPort, workerData } from 'node:worker_threads';
import { TestDevice } from '../../devices/test-device.js';
import { GuestMemory } from '../../memory/guest-memory.js';
import { drainEventFd, signalEventFd, waitReadableSync } from '../../os/eventfd.js';
import { Mapping } from '../../os/mapping.js';
import { buildDriverSide } from '../local/plan.js';
import { copyStats, deviceFailure, driverFailure } from '../local/report.js';
import { driveDriver, serveDevice, type Notifier } from '../service-loops.js';
import { busyPoll } from '../local/control.js';
import { createDeviceQueue } from '../../virtqueue/index.js';
import { mapMemoryTable } from './memory-table.js';
import { QueueControl, type DeviceQueueInput, type DriverQueueInput, type QueueResult } from './queue-control.js';
import type { UnitResult } from './served-device.js';

/** How long a sleeping queue waits on its eventfd before looking at STOP again. */
const WAIT_SLICE_MS = 100;

const input = workerData as DeviceQueueInput | DriverQueueInput;
const ctl = new Int32Array(input.control);
const stoppedQueue = (): boolean => Atomics.load(ctl, QueueControl.STOP) !== 0;

/** Across processes: signal by writing the other side's eventfd, sleep on our own (its counter keeps any signal). */
function notifier(signalSlot: number, waitSlot: number, busyPollUs: number): Notifier {
  const stopped = stoppedQueue;
  return {
    signal: () => {
      const fd = Atomics.load(ctl, signalSlot);
      if (fd >= 0) signalEventFd(fd);
    },
    arm: () => 0,
    sleep: () => {
      const fd = Atomics.load(ctl, waitSlot);
      if (fd >= 0 && waitReadableSync(fd, WAIT_SLICE_MS)) drainEventFd(fd);
      return true;
    },
    stopped,
    poll: false,
    busyPoll: (pending) => busyPoll(busyPollUs, pending, stopped),
  };
}

parentPort!.postMessage(input.role === 'device' ? runDevice(input) : runDriver(input));

/** A vhost-user back-end queue: the test device, woken by the kick eventfd, signalling the call eventfd. */
function runDevice(o: DeviceQueueInput): UnitResult {
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
    const r = serveDevice(device, o.flushEvery, notifier(QueueControl.CALL_FD, QueueControl.KICK_FD, o.busyPollUs));
    return {
      failure: deviceFailure(device),
      lastAvailIdx: [queue.lastAvailIdx],
      stats: { queue: copyStats(queue.stats), test: copyStats(device.stats), interrupts: r.interrupts },
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
    const driver = buildDriverSide(plan, memory);
    let nextPause = o.pauseEvery ?? Infinity;
    const r = driveDriver(
      driver,
      notifier(QueueControl.KICK_FD, QueueControl.CALL_FD, plan.options.busyPollUs),
      (completed) => {
        Atomics.store(ctl, QueueControl.PROGRESS, completed);
        if (completed < nextPause) return;
        nextPause = completed + o.pauseEvery!;
        // The front-end stops and restarts the ring meanwhile; buffers in flight stay in it.
        Atomics.store(ctl, QueueControl.PAUSE, 1);
        while (Atomics.load(ctl, QueueControl.PAUSE) !== 0 && !stoppedQueue())
          Atomics.wait(ctl, QueueControl.PAUSE, 1, 100);
      },
      plan.options.durationMs,
      plan.options.warmupMs,
    );
    return {
      failure: driverFailure(driver) ?? (driver.done ? null : 'stopped before all buffers completed'),
      stats: { queue: copyStats(driver.queue.stats), test: copyStats(driver.stats) },
      completed: driver.completed,
      elapsedMs: r.elapsedMs,
      measured: r.measured,
      kicks: r.kicks,
    };
  } finally {
    mapping.close();
  }
}
