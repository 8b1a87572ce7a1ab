import { BufferBurst } from '../../src/virtqueue/buffer-burst.js';
import type { VirtqueueDevice } from '../../src/virtqueue/types.js';

/**
 * Takes what a device offers as a burst-first device does (popBurst, and pop() for a chain) until it has nothing or
 * breaks; returns the buffers taken. The same hostile input must break the queue with the same error as pop() alone.
 */
export function popThroughBursts(dev: VirtqueueDevice): number {
  const burst = new BufferBurst(dev.size);
  let taken = 0;
  for (;;) {
    const n = dev.popBurst(burst, dev.size);
    taken += n;
    if (dev.error !== null) return taken;
    if (n > 0) continue;
    if (dev.pop() === null) return taken;
    taken++;
  }
}
