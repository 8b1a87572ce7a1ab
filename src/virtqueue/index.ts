import { RingSetupError } from './ring-views.js';
import { ringFeatures } from './features.js';
import { SplitDevice, type SplitDeviceConfig } from './split/split-device.js';
import { SplitDriver } from './split/split-driver.js';
import type { DriverQueueConfig, VirtqueueDevice, VirtqueueDriver } from './types.js';

export * from './chain.js';
export * from './errors.js';
export * from './features.js';
export * from './ring-views.js';
export * from './scatter-list.js';
export * from './types.js';
export { SplitDevice, SplitDriver };
export { splitRingLayout } from './split/layout.js';

/** The driver side of a queue, in the layout the negotiated features name. */
export function createDriverQueue<T>(config: DriverQueueConfig): VirtqueueDriver<T> {
  if (ringFeatures(config.features).packed)
    throw new RingSetupError(config.name, 'the packed ring is not implemented yet');
  return new SplitDriver<T>(config);
}

/** The device side of a queue, in the layout the negotiated features name. */
export function createDeviceQueue(config: SplitDeviceConfig): VirtqueueDevice {
  if (ringFeatures(config.features).packed)
    throw new RingSetupError(config.name, 'the packed ring is not implemented yet');
  return new SplitDevice(config);
}
