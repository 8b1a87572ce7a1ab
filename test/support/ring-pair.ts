import type { VirtqueueDevice, VirtqueueDriver } from '../../src/virtqueue/types.js';
import { PackedTestRing } from './packed-ring.js';
import { TestRing } from './split-ring.js';

export type Layout = 'split' | 'packed';

/** A test ring of either layout with its driver (number tokens) and its device (batched used entries). */
export function ringPair(layout: Layout, size: number, inOrder: boolean) {
  const ring = layout === 'split' ? new TestRing(size, { inOrder }) : new PackedTestRing(size, { inOrder });
  return {
    ring,
    drv: ring.driver<number>() as VirtqueueDriver<number>,
    dev: ring.device('batched') as VirtqueueDevice,
  };
}
