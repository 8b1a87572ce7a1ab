import { TestDevice } from './test-device.js';
import { judgeDriverOn, usedEntriesUnder, type DriverCheck } from '../../conformance/driver-judge.js';
import { signalEventFd } from '../../os/eventfd.js';
import type { DataPlaneUnit } from '../../runtime/data-plane.js';
import { createDeviceQueue } from '../../virtqueue/index.js';
import { copyStats, deviceFailure } from '../../transport/local/report.js';
import { mapMemoryTable } from '../../transport/vhost-user/memory-table.js';
import { logResume, QueueControl, sleepOnKick } from '../../transport/vhost-user/queue-control.js';
import type { SharedRegion } from '../../transport/vhost-user/memory-table.js';
import { hasFeature, type Features } from '../../virtqueue/features.js';
import { VIRTIO_F_RING_PACKED } from '../../spec/features.js';
import type { RingAddresses, UsedEntryPolicy } from '../../virtqueue/types.js';
import type { TestDeviceOptions } from './test-device.js';
import type { UnitResult } from '../../transport/vhost-user/served-device.js';

/** What a test-device unit is given (structured-cloneable, for a pool thread). */
export interface DeviceQueueInput {
  role: 'device';
  name: string;
  size: number;
  features: Features;
  regions: SharedRegion[];
  addresses: RingAddresses;
  availBase: number;
  usedEntries: UsedEntryPolicy;
  flushEvery: number;
  device: TestDeviceOptions;
  control: SharedArrayBuffer;
  /** Under `vq check driver`: judge the driver and play a device behaviour. */
  check?: DriverCheck;
}

/** A test-device queue for a pool thread: woken by its kick eventfd, signalling its call eventfd. */
export function openUnit(data: unknown, log: (line: string) => void): DataPlaneUnit {
  const o = data as DeviceQueueInput;
  const ctl = new Int32Array(o.control);
  const { memory, mappings } = mapMemoryTable(o.regions);
  let device: TestDevice;
  try {
    const index = Number(o.name.slice(o.name.lastIndexOf('.') + 1));
    const engine = createDeviceQueue({
      name: o.name,
      size: o.size,
      features: o.features,
      memory,
      addresses: o.addresses,
      usedEntries: usedEntriesUnder(o.check, o.usedEntries),
      availBase: o.availBase,
    });
    const queue = judgeDriverOn(engine, o.check, index);
    logResume(queue, log);
    // A split ring resumed mid-stream by a session that served none of it (a back-end restarted under a front-end
    // that reconnected): its buffers are numbered from the used idx it resumes at (exact below 65536 buffers).
    const resumed = (o.device.firstSeq ?? 0) === 0 && !hasFeature(o.features, VIRTIO_F_RING_PACKED);
    device = new TestDevice(queue, resumed ? { ...o.device, firstSeq: queue.lastAvailIdx } : o.device);
  } catch (e) {
    mappings.forEach((m) => m.close());
    throw e;
  }
  const queue = device.queue;
  let interrupts = 0;
  const flush = (): void => {
    if (!device.flush()) return;
    interrupts++;
    const call = Atomics.load(ctl, QueueControl.CALL_FD);
    if (call >= 0) signalEventFd(call);
  };
  // No kicks while busy.
  queue.disableNotifications();
  return {
    poll: () => {
      if (device.serve(o.flushEvery) > 0) {
        flush();
        return true;
      }
      device.releaseHeld();
      flush();
      return false;
    },
    ...sleepOnKick(queue, ctl),
    stopped: () => Atomics.load(ctl, QueueControl.STOP) !== 0 || device.failure !== null || queue.error !== null,
    stats: () => ({ queue: copyStats(queue.stats), test: copyStats(device.stats), interrupts }),
    finish(failure?: string): UnitResult {
      device.releaseHeld();
      flush();
      mappings.forEach((m) => m.close());
      return { failure: failure ?? deviceFailure(device), lastAvailIdx: [queue.lastAvailIdx], stats: this.stats() };
    },
  };
}
