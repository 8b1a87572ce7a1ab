import type { MeasuredWindow } from '../service-loops.js';
import type { TestDeviceOptions } from '../../devices/test-device.js';
import type { Features } from '../../virtqueue/features.js';
import type { RingAddresses, UsedEntryPolicy } from '../../virtqueue/types.js';
import type { LocalPlan } from '../local/plan.js';
import type { SharedRegion } from './memory-table.js';

/** Slots of a queue worker's shared control array. */
export const QueueControl = {
  STOP: 0,
  CALL_FD: 1,
  KICK_FD: 2,
  PROGRESS: 3,
  /** Test hook: the driver asks its front-end to stop and restart the ring, and waits until this is 0 again. */
  PAUSE: 4,
  LENGTH: 8,
} as const;

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
}

export interface DriverQueueInput {
  role: 'driver';
  /** Test hook: pause (see QueueControl.PAUSE) after every this many completed buffers. */
  pauseEvery?: number;
  plan: LocalPlan;
  memoryFd: number;
  control: SharedArrayBuffer;
}

export interface QueueResult {
  failure: string | null;
  stats: Record<string, unknown>;
  completed?: number;
  elapsedMs?: number;
  /** The driver's run after its warm-up (RunOptions.warmupMs). */
  measured?: MeasuredWindow | null;
  kicks?: number;
}
