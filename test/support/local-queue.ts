import type { GuestMemory } from '../../src/memory/guest-memory.js';
import type { Features } from '../../src/virtqueue/features.js';
import { createDeviceQueue, createDriverQueue } from '../../src/virtqueue/index.js';
import { splitRingLayout } from '../../src/virtqueue/split/layout.js';

/** A driver and a device queue on one split ring at `at` in local memory (for unit tests of device models). */
export function localQueue(features: Features, at: number, memory: GuestMemory, name: string, size = 16) {
  const ring = splitRingLayout(at, size);
  const config = { name, size, features, memory, addresses: ring.addresses };
  return { driver: createDriverQueue<number>(config), device: createDeviceQueue(config) };
}
