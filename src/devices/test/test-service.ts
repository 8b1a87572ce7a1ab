import type { TestDeviceOptions } from './test-device.js';
import type { DriverCheck } from '../../conformance/driver-judge.js';
import { describeFeatures, type Features } from '../../virtqueue/features.js';
import type { UsedEntryPolicy } from '../../virtqueue/types.js';
import { compiledWorkerUrl } from '../../runtime/worker-url.js';
import type { DeviceQueueInput } from './test-unit.js';
import type { DeviceSession, ServedDevice, UnitResult, UnitStart } from '../../transport/vhost-user/served-device.js';

/** What the test device offers and how it completes buffers. */
export interface TestServiceOptions {
  /** Virtio features offered (VERSION_1 and ring features). */
  features: Features;
  queues: number;
  maxQueueSize: number;
  usedEntries: UsedEntryPolicy;
  flushEvery: number;
  device: TestDeviceOptions;
  /** Under `vq check driver`: judge the driver and play a device behaviour. */
  check?: DriverCheck;
}

/** The test device over vhost-user: every queue is independent and runs in its own worker. */
export class TestService implements ServedDevice {
  readonly kind = 'test';
  readonly protocolFeatures = 0n;

  constructor(readonly o: TestServiceOptions) {}

  get features(): Features {
    return this.o.features;
  }
  get queues(): number {
    return this.o.queues;
  }
  get queueNum(): number {
    return this.o.queues;
  }
  get maxQueueSize(): number {
    return this.o.maxQueueSize;
  }

  describe(features: Features): string {
    return describeFeatures(features);
  }

  config(): null {
    return null;
  }

  /** A front-end connected: each of its queues runs as a unit of its own. */
  openSession(): DeviceSession {
    const o = this.o;
    // Buffers served by each ring's earlier workers in this session: a restarted one continues their numbering.
    const served = new Array<number>(o.queues).fill(0);
    return {
      unitOf: (index) => [index],
      unit: (start: UnitStart) => {
        const q = start.queues[0];
        const data: DeviceQueueInput = {
          role: 'device',
          name: `test.${q.index}`,
          size: q.size,
          features: start.features,
          regions: start.regions,
          addresses: q.addresses,
          availBase: q.availBase,
          usedEntries: o.usedEntries,
          flushEvery: o.flushEvery,
          device: { ...o.device, firstSeq: served[q.index] },
          control: q.control,
          check: o.check,
        };
        return { url: compiledWorkerUrl(import.meta.url, './test-unit.js'), data };
      },
      stopped: (start: UnitStart, r: UnitResult) => {
        served[start.queues[0].index] += (r.stats.test as { buffers?: number } | undefined)?.buffers ?? 0;
      },
    };
  }
}
