import { TestDevice } from '../../devices/test/test-device.js';
import { TestDriver, dataAreaBytes, type BufferSlot } from '../../drivers/test/test-driver.js';
import type { RunOptions } from '../../harness/options.js';
import { GuestMemory } from '../../memory/guest-memory.js';
import { VIRTQ_DESC_SIZE } from '../../spec/split.js';
import { packedRingLayout } from '../../virtqueue/packed/layout.js';
import { splitRingLayout } from '../../virtqueue/split/layout.js';
import { RING_FEATURES, negotiate, ringWants, type Features } from '../../virtqueue/features.js';
import { createDeviceQueue, createDriverQueue } from '../../virtqueue/index.js';
import type { DriverQueueConfig, RingAddresses, VirtqueueDriver } from '../../virtqueue/types.js';

/** Where guest memory starts: not 0, so an address the ring forgot to translate does not work by accident. */
const GUEST_BASE = 0x10_0000;
const PAGE = 4096;
const alignPage = (n: number): number => Math.ceil(n / PAGE) * PAGE;

/**
 * Everything either side needs to build its half of a local driver/device pair, as plain data: a worker thread
 * receives this and the SharedArrayBuffer and builds the same view of the same memory.
 */
export interface LocalPlan {
  options: RunOptions;
  features: Features;
  guestBase: number;
  memoryBytes: number;
  addresses: RingAddresses;
  indirectArea: number;
  indirectMax: number;
  dataAddr: number;
  dataBytes: number;
}

/** What the test device offers: VERSION_1 and every ring feature vqkit implements. */
export const TEST_DEVICE_OFFER = RING_FEATURES;

export function planLocal(options: RunOptions): LocalPlan {
  const size = options.queueSize;
  const features = negotiate(TEST_DEVICE_OFFER, ringWants(options));
  const ring = (options.ring === 'packed' ? packedRingLayout : splitRingLayout)(GUEST_BASE, size);
  const indirectMax = Math.min(options.maxChain, size);
  const indirectArea = alignPage(GUEST_BASE + ring.bytes);
  const dataAddr = alignPage(indirectArea + size * indirectMax * VIRTQ_DESC_SIZE);
  const dataBytes = dataAreaBytes(options.bufferPool ?? size, options.maxChain, options.maxSegment);
  return {
    options,
    features,
    guestBase: GUEST_BASE,
    memoryBytes: alignPage(dataAddr + dataBytes) - GUEST_BASE,
    addresses: ring.addresses,
    indirectArea,
    indirectMax,
    dataAddr,
    dataBytes,
  };
}

export const guestMemoryFor = (plan: LocalPlan, buffer: ArrayBufferLike): GuestMemory =>
  new GuestMemory([{ guestAddr: plan.guestBase, size: plan.memoryBytes, buffer }]);

export function buildDriverSide(
  plan: LocalPlan,
  memory: GuestMemory,
  /** Wraps the queue the driver uses (a judge under `vq check device`). */
  wrap?: (queue: VirtqueueDriver<BufferSlot>, config: DriverQueueConfig) => VirtqueueDriver<BufferSlot>,
): TestDriver {
  const o = plan.options;
  const config: DriverQueueConfig = {
    name: 'test.0',
    size: o.queueSize,
    features: plan.features,
    memory,
    addresses: plan.addresses,
    indirectArea: plan.indirectArea,
    indirectMax: plan.indirectMax,
  };
  const engine = createDriverQueue<BufferSlot>(config);
  const queue = wrap === undefined ? engine : wrap(engine, config);
  return new TestDriver(queue, {
    buffers: o.buffers,
    batch: o.batch,
    maxChain: o.maxChain,
    maxSegment: o.maxSegment,
    indirect: o.indirect ? o.indirectMode : 'never',
    shape: o.shape,
    partialWrites: o.partialWrites,
    verifyData: o.verifyData,
    seed: o.seed,
    bufferPool: o.bufferPool,
    dataAddr: plan.dataAddr,
    data: memory.translate(plan.dataAddr, plan.dataBytes),
  });
}

export function buildDeviceSide(plan: LocalPlan, memory: GuestMemory): TestDevice {
  const o = plan.options;
  const queue = createDeviceQueue({
    name: 'test.0',
    size: o.queueSize,
    features: plan.features,
    memory,
    addresses: plan.addresses,
    usedEntries: o.usedEntries,
  });
  return new TestDevice(queue, {
    completion: o.completion,
    window: o.window,
    partialWrites: o.partialWrites,
    verifyData: o.verifyData,
    seed: o.seed,
  });
}
