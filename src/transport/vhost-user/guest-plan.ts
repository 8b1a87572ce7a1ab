import { packedRingLayout } from '../../virtqueue/packed/layout.js';
import { splitRingLayout } from '../../virtqueue/split/layout.js';
import type { RingAddresses } from '../../virtqueue/types.js';
import { QueueControl } from './queue-control.js';

/** Where a front-end of vqkit's puts its guest memory. */
export const GUEST_BASE = 0x10_0000;
export const PAGE = 4096;
const alignPage = (n: number): number => Math.ceil(n / PAGE) * PAGE;

/** One queue of a front-end's guest memory: its ring, the buffers behind it, and its control array. */
export interface QueuePlan {
  index: number;
  addresses: RingAddresses;
  /** This queue's buffers (receive buffers, transmit slots, command or event areas). */
  bufferAddr: number;
  bufferBytes: number;
  control: SharedArrayBuffer;
}

/** Lays out queue after queue from `base`: each ring, page-aligned, then its `areaBytes[q]` of buffers. */
export function planQueues(
  base: number,
  packed: boolean,
  size: number,
  areaBytes: readonly number[],
): { queues: QueuePlan[]; memoryBytes: number } {
  let at = base;
  const queues = areaBytes.map((bytes, index) => {
    const layout = (packed ? packedRingLayout : splitRingLayout)(at, size);
    at = alignPage(at + layout.bytes);
    const plan: QueuePlan = {
      index,
      addresses: layout.addresses,
      bufferAddr: at,
      bufferBytes: bytes,
      control: new SharedArrayBuffer(QueueControl.LENGTH * 4),
    };
    at = alignPage(at + bytes);
    return plan;
  });
  return { queues, memoryBytes: at - base };
}
