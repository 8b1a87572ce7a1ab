import { ringFeatures } from './features.js';
import { PackedDevice, type PackedDeviceConfig } from './packed/packed-device.js';
import { PackedDriver } from './packed/packed-driver.js';
import { SplitDevice, type SplitDeviceConfig } from './split/split-device.js';
import { SplitDriver } from './split/split-driver.js';
import type { DriverQueueConfig, VirtqueueDevice, VirtqueueDriver } from './types.js';

export { BufferBurst } from './buffer-burst.js';
export * from './chain.js';
export * from './errors.js';
export * from './features.js';
export * from './ring-views.js';
export * from './scatter-list.js';
export * from './types.js';
export { PackedDevice, PackedDriver, SplitDevice, SplitDriver };
export { splitRingLayout } from './split/layout.js';
export { packedRingLayout } from './packed/layout.js';

/** The driver side of a queue, in the layout the negotiated features name (RING_PACKED or not). */
export function createDriverQueue<T>(config: DriverQueueConfig): VirtqueueDriver<T> {
  return ringFeatures(config.features).packed ? new PackedDriver<T>(config) : new SplitDriver<T>(config);
}

/** The device side of a queue, in the layout the negotiated features name (RING_PACKED or not). */
export function createDeviceQueue(config: SplitDeviceConfig & PackedDeviceConfig): VirtqueueDevice {
  return ringFeatures(config.features).packed ? new PackedDevice(config) : new SplitDevice(config);
}
